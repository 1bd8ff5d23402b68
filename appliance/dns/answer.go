package dns

import (
	"net/netip"

	"github.com/miekg/dns"
)

// answerOwn fills m, a reply to q, for one of the appliance's names:
// authoritative unless synthesized, NODATA for a type the name does not
// have, NXDOMAIN for a name that does not exist. local is the address the
// query arrived on.
func (s *Server) answerOwn(m *dns.Msg, q dns.Question, own ownName, local netip.Addr) {
	m.Authoritative = !own.synthesized
	switch own.kind {
	case kindHost:
		m.Answer = s.addressRecords(q.Name, q.Qtype, local)
	case kindSRV:
		if q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeANY {
			m.Answer = []dns.RR{s.srv(q.Name, own)}
			m.Extra = []dns.RR{s.a(own.target, s.advertised(local))}
			if v6 := s.cfg.Advertise6; v6.IsValid() {
				m.Extra = append(m.Extra, s.aaaa(own.target, v6))
			}
		}
	case kindCNAME:
		m.Answer = s.cnameRecords(q, own, local)
	case kindAbsent:
		m.Rcode = dns.RcodeNameError
	}
}

// answerLab fills m, a reply to q, for a name that is not the appliance's,
// in lab mode: the appliance's address, so a phone still holding an old
// pool's FQDN reaches the appliance anyway. The answer is authoritative only
// inside the lab domains; elsewhere it is a synthesized answer the
// appliance has no authority for.
func (s *Server) answerLab(m *dns.Msg, q dns.Question, local netip.Addr) {
	m.Authoritative = inZone(q.Name, s.cfg.Domains)
	m.Answer = s.addressRecords(q.Name, q.Qtype, local)
}

// addressRecords answers qtype for a name that resolves to the appliance:
// A for A, AAAA (when Advertise6 is set) for AAAA, and, following RFC 8482,
// only the A record for ANY. Any other type has no data.
func (s *Server) addressRecords(name string, qtype uint16, local netip.Addr) []dns.RR {
	switch qtype {
	case dns.TypeA, dns.TypeANY:
		return []dns.RR{s.a(name, s.advertised(local))}
	case dns.TypeAAAA:
		if v6 := s.cfg.Advertise6; v6.IsValid() {
			return []dns.RR{s.aaaa(name, v6)}
		}
	}
	return nil
}

// advertised is the IPv4 address answered for the appliance: Advertise,
// else the address the query arrived on, else the machine's.
func (s *Server) advertised(local netip.Addr) netip.Addr {
	if s.cfg.Advertise.IsValid() {
		return s.cfg.Advertise
	}
	if local = local.Unmap(); local.Is4() && !local.IsUnspecified() {
		return local
	}
	return s.fallback.addr()
}

func (s *Server) header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: s.cfg.TTL}
}

func (s *Server) a(name string, ip netip.Addr) *dns.A {
	v4 := ip.As4()
	return &dns.A{Hdr: s.header(name, dns.TypeA), A: v4[:]}
}

func (s *Server) aaaa(name string, ip netip.Addr) *dns.AAAA {
	v6 := ip.As16()
	return &dns.AAAA{Hdr: s.header(name, dns.TypeAAAA), AAAA: v6[:]}
}

// srv is own's SRV record, priority 0 and weight 0: one target, the
// appliance.
func (s *Server) srv(name string, own ownName) *dns.SRV {
	return &dns.SRV{Hdr: s.header(name, dns.TypeSRV), Port: own.port, Target: own.target}
}
