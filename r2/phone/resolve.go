package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// resolveVia turns host:port into ip:port by asking the DNS server at
// server for the host's A record, as a phone asks the server its DHCP lease
// named. IP literals are returned as they are.
func resolveVia(ctx context.Context, server string, localIP netip.Addr, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return hostport, nil
	}
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	if localIP.IsValid() {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: localIP.AsSlice()}}
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(host), dns.TypeA)
	r, _, err := c.ExchangeContext(ctx, q, server)
	if err != nil {
		return "", fmt.Errorf("phone: resolving %s via %s: %w", host, server, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("phone: resolving %s via %s: %s", host, server, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return net.JoinHostPort(a.A.String(), port), nil
		}
	}
	return "", fmt.Errorf("phone: resolving %s via %s: no A record", host, server)
}
