package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// upstreamUDPSize is the EDNS buffer size offered to the upstream.
const upstreamUDPSize = dns.DefaultMsgSize

// warnEvery spaces out the warnings about a failing upstream: a phone
// retrying every second must not fill the log.
const warnEvery = 10 * time.Second

// forwarder asks the upstream resolver for names that are not the
// appliance's (forward mode).
type forwarder struct {
	upstream string
	timeout  time.Duration
	udp, tcp *dns.Client
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last warning
}

func newForwarder(upstream string, timeout time.Duration, log *slog.Logger) *forwarder {
	return &forwarder{
		upstream: upstream,
		timeout:  timeout,
		udp:      &dns.Client{Net: "udp", UDPSize: upstreamUDPSize, Timeout: timeout},
		tcp:      &dns.Client{Net: "tcp", Timeout: timeout},
		log:      log,
	}
}

// answerForward fills m, a reply to r, with the upstream's answer: its
// flags (RA and AA as the upstream said), rcode and sections, with the
// upstream's OPT record dropped (EDNS is hop by hop). When the upstream
// fails or does not answer within the timeout m is SERVFAIL.
func (f *forwarder) answerForward(m *dns.Msg, r *dns.Msg, tcp bool) {
	resp, err := f.exchange(r, tcp)
	if err != nil {
		f.warn(err)
		m.Rcode = dns.RcodeServerFailure
		return
	}
	id, question := m.Id, m.Question
	*m = *resp
	m.Id, m.Question = id, question
	m.Extra = withoutOPT(resp.Extra)
}

// exchange asks the upstream r's question over the transport the client
// used, retrying over TCP when a UDP answer comes back truncated.
func (f *forwarder) exchange(r *dns.Msg, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	q := upstreamQuery(r)
	client := f.udp
	if tcp {
		client = f.tcp
	}
	resp, _, err := client.ExchangeContext(ctx, q, f.upstream)
	if err == nil && resp.Truncated && !tcp {
		resp, _, err = f.tcp.ExchangeContext(ctx, q, f.upstream)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", f.upstream, err)
	}
	if resp.Rcode > 0xF && r.IsEdns0() == nil {
		// An extended rcode cannot reach a client without EDNS.
		return nil, fmt.Errorf("upstream %s: extended rcode %d for a client without EDNS", f.upstream, resp.Rcode)
	}
	return resp, nil
}

// upstreamQuery is r's question with a fresh ID (the upstream sees many
// clients' IDs on one path), r's RD, CD and AD bits, and the appliance's
// own EDNS record carrying the client's DO bit.
func upstreamQuery(r *dns.Msg) *dns.Msg {
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.RecursionDesired = r.RecursionDesired
	q.CheckingDisabled = r.CheckingDisabled
	q.AuthenticatedData = r.AuthenticatedData
	q.Question = []dns.Question{r.Question[0]}
	do := false
	if opt := r.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	q.SetEdns0(upstreamUDPSize, do)
	return q
}

func withoutOPT(rrs []dns.RR) []dns.RR {
	out := rrs[:0:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// warn logs an upstream failure, at most once per warnEvery; the SERVFAIL
// counter counts them all.
func (f *forwarder) warn(err error) {
	now := time.Now().UnixNano()
	last := f.lastWarn.Load()
	if now-last < int64(warnEvery) || !f.lastWarn.CompareAndSwap(last, now) {
		return
	}
	f.log.Warn("dns: forwarding failed; answering SERVFAIL", "err", err, "timeout", f.timeout)
}

// forwardsToItself reports whether upstream, when an IP literal, is the
// responder bound at bound: the same port on the bound address, or, on a
// wildcard bind, on any address of the machine. Every forwarded query
// would come back as a new one, without end.
func forwardsToItself(upstream string, bound netip.AddrPort, interfaceAddrs func() ([]net.Addr, error)) bool {
	up, err := netip.ParseAddrPort(upstream)
	if err != nil || up.Port() != bound.Port() {
		return false
	}
	ip, local := up.Addr().Unmap(), bound.Addr().Unmap()
	if !local.IsUnspecified() {
		return ip == local
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, _ := interfaceAddrs() // unknown: assume no loop
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if mine, ok := netip.AddrFromSlice(ipn.IP); ok && mine.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
