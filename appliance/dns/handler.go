package dns

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// advertisedUDPSize is the EDNS buffer size the responder offers.
const advertisedUDPSize = maxQuerySize

// ServeDNS answers one query: the dns.Handler of both listeners. It never
// sets RA on a local answer (the appliance does not recurse); a forwarded
// answer carries the upstream's flags. Every query is counted; the Observer
// hears of it coalesced.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Response {
		s.counts.dropped(classMalformed)
		return
	}
	p := peerOf(w)
	m, class := s.reply(r, p)
	if p.tcp {
		m.Compress = true
	} else {
		m.Truncate(udpSize(r))
	}
	// Counted and observed before the answer leaves: a phone acts on the
	// answer at once (it checks in), and its timeline must show the query
	// first. The Observer does not block.
	s.counts.add(class, m.Rcode)
	if class != classMalformed {
		s.observe(p.client, r.Question[0], class, m.Rcode)
	}
	if err := w.WriteMsg(m); err != nil {
		// The client went away or the answer did not pack; neither is
		// the operator's to act on.
		s.log.Debug("dns: writing answer", "client", p.client, "err", err)
	}
}

// reply builds the answer to r and names its class.
func (s *Server) reply(r *dns.Msg, p peer) (*dns.Msg, string) {
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case r.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m, classMalformed
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m, classMalformed
	}
	opt, ok := requestOPT(r)
	if !ok {
		m.Rcode = dns.RcodeFormatError
		return m, classMalformed
	}
	q := r.Question[0]
	own := s.lookup(q.Name)
	switch {
	case opt != nil && opt.Version() != 0:
		m.Rcode = dns.RcodeBadVers
	case q.Qclass == 0:
		// Reserved; also what miekg/dns makes of a question cut off
		// after its name.
		m.Rcode = dns.RcodeFormatError
	case q.Qclass != dns.ClassINET:
		// CHAOS (version.bind), HESIOD, ANY: nothing here lives there.
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused
	case own.kind != kindNone:
		s.answerOwn(m, q, own, p.local)
	case s.cfg.Mode == ModeLab:
		s.answerLab(m, q, p.local)
	case s.cfg.Mode == ModeForward:
		s.fwd.answerForward(m, r, p.tcp)
	default:
		m.Rcode = dns.RcodeRefused
	}
	if opt != nil {
		m.SetEdns0(advertisedUDPSize, opt.Do())
	}
	return m, own.class
}

// requestOPT is r's OPT record, nil without one; ok is false when r has
// more than one (RFC 6891 §6.1.1: FORMERR).
func requestOPT(r *dns.Msg) (opt *dns.OPT, ok bool) {
	for _, rr := range r.Extra {
		if o, isOPT := rr.(*dns.OPT); isOPT {
			if opt != nil {
				return nil, false
			}
			opt = o
		}
	}
	return opt, true
}

// udpSize is the largest UDP answer r's sender takes: its EDNS buffer size
// within [512, advertisedUDPSize], 512 without EDNS.
func udpSize(r *dns.Msg) int {
	opt := r.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	return min(max(int(opt.UDPSize()), dns.MinMsgSize), advertisedUDPSize)
}

// peer is who asked and on which of the machine's addresses.
type peer struct {
	client netip.Addr // unmapped
	local  netip.Addr // unmapped; invalid when unknown
	tcp    bool
}

func peerOf(w dns.ResponseWriter) peer {
	switch ra := w.RemoteAddr().(type) {
	case *udpSession:
		return peer{client: ra.remote.Addr().Unmap(), local: ra.local}
	case *net.TCPAddr:
		return peer{client: ra.AddrPort().Addr().Unmap(), local: localIP(w.LocalAddr()), tcp: true}
	case *net.UDPAddr:
		return peer{client: ra.AddrPort().Addr().Unmap(), local: localIP(w.LocalAddr())}
	}
	return peer{local: localIP(w.LocalAddr())}
}

func localIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
