package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
)

// A fleet on loopback gives each phone its own source address. The
// appliance tells phones apart by address until they check in, and a
// download names no MAC at all (PROTOCOL.md §2): a whole fleet from one
// address looks like one phone that keeps changing its mind. On Linux every
// 127.0.0.0/8 address is local, so there are 16 M to hand out.

// firstLoopbackPhone is the source address of the first phone of a
// loopback fleet: 127.0.0.1 is left to the server and the operator's tools.
var firstLoopbackPhone = netip.AddrFrom4([4]byte{127, 0, 0, 2})

// loopbackBroadcast is the one 127.0.0.0/8 address no phone may use.
var loopbackBroadcast = netip.AddrFrom4([4]byte{127, 255, 255, 255})

// LoopbackAddrs returns n distinct source addresses for a loopback fleet,
// in order from 127.0.0.2 (and first when it is valid), skipping the
// addresses in avoid (the server's own) and 127.255.255.255. It fails when
// 127.0.0.0/8 has fewer than n left after first.
func LoopbackAddrs(first netip.Addr, n int, avoid ...netip.Addr) ([]netip.Addr, error) {
	if !first.IsValid() {
		first = firstLoopbackPhone
	}
	if !first.Is4() || !first.IsLoopback() {
		return nil, fmt.Errorf("phone: loopback fleet from %s: want an address in 127.0.0.0/8", first)
	}
	out := make([]netip.Addr, 0, n)
	for ip := first; len(out) < n; ip = ip.Next() {
		if !ip.IsLoopback() || ip == loopbackBroadcast {
			return nil, fmt.Errorf("phone: %d phones from %s: 127.0.0.0/8 holds only %d more addresses", n, first, len(out))
		}
		if !contains(avoid, ip) {
			out = append(out, ip)
		}
	}
	return out, nil
}

func contains(addrs []netip.Addr, ip netip.Addr) bool {
	for _, a := range addrs {
		if a == ip {
			return true
		}
	}
	return false
}

// LoopbackServer reports the address server (a base URL) is reached at,
// and whether it is on 127.0.0.0/8. A host name is resolved through the
// DNS server at dnsAddr, as the phones will resolve it, or through the
// system when dnsAddr is empty; "localhost" is 127.0.0.1 either way. A DNS
// server on loopback is asked from the first phone's address (127.0.0.2):
// the appliance's DNS responder records who asks, and the question is one
// that phone asks anyway.
func LoopbackServer(ctx context.Context, server, dnsAddr string) (netip.Addr, bool, error) {
	u, err := url.Parse(server)
	if err != nil || u.Hostname() == "" {
		return netip.Addr{}, false, fmt.Errorf("phone: server %q: want a base URL like http://127.0.0.1:8080", server)
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil:
	case host == "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case dnsAddr != "":
		var from netip.Addr
		if LoopbackDNS(dnsAddr) {
			from = firstLoopbackPhone
		}
		resolved, err := resolveVia(ctx, dnsAddr, from, net.JoinHostPort(host, "0"))
		if err != nil {
			return netip.Addr{}, false, err
		}
		ip = netip.MustParseAddrPort(resolved).Addr()
	default:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("phone: resolving %s: %w", host, err)
		}
		ip = ips[0]
	}
	ip = ip.Unmap()
	return ip, ip.Is4() && ip.IsLoopback(), nil
}

// LoopbackDNS reports whether the DNS server at dnsAddr (host:port) is on
// 127.0.0.0/8: phones that find every server through it (signing in) are
// then on loopback too.
func LoopbackDNS(dnsAddr string) bool {
	ap, err := netip.ParseAddrPort(dnsAddr)
	return err == nil && ap.Addr().Unmap().Is4() && ap.Addr().IsLoopback()
}
