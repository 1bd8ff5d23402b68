package dns

import "github.com/miekg/dns"

// headerSize is the length of a DNS header.
const headerSize = 12

// Header bits acceptQuery looks at.
const (
	bitQR = 1 << 15
)

// acceptQuery is the server's MsgAcceptFunc policy, decided on the header
// alone before the body is parsed: responses are dropped (answering them
// invites reflection loops), any opcode but QUERY is NOTIMP (NOTIFY and
// UPDATE included: the appliance is no secondary and takes no updates), and
// a query must ask exactly one question and carry no answer records, at
// most one authority record (an IXFR's SOA, which is then REFUSED) and at
// most two additional ones (OPT and TSIG). Anything else is FORMERR.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&bitQR != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount > 1 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// accept is the MsgAcceptFunc of both listeners: acceptQuery, counted.
func (s *Server) accept(dh dns.Header) dns.MsgAcceptAction {
	action := acceptQuery(dh)
	switch action {
	case dns.MsgIgnore:
		s.counts.dropped(classMalformed)
	case dns.MsgReject:
		s.counts.add(classMalformed, dns.RcodeFormatError)
	case dns.MsgRejectNotImplemented:
		s.counts.add(classMalformed, dns.RcodeNotImplemented)
	}
	return action
}

// invalid is the MsgInvalidFunc of both listeners. miekg/dns calls it for
// a packet too short to hold a header, which it drops, and for one whose
// body does not parse (bad names, compression loops, lying counts), which
// it answers FORMERR.
func (s *Server) invalid(m []byte, _ error) {
	if len(m) < headerSize {
		s.counts.dropped(classMalformed)
		return
	}
	s.counts.add(classMalformed, dns.RcodeFormatError)
}
