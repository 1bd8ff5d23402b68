package dns

import (
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Observer is told about queries, coalesced: at most once per (client,
// name, type) per Config.CoalesceWindow. Queried is called on the serving
// goroutine before the answer goes out (so a timeline shows the query before
// whatever the phone did with the answer) and must not block.
type Observer interface {
	Queried(q Query)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Query)

// Queried calls f(q).
func (f ObserverFunc) Queried(q Query) { f(q) }

// Query is one question a client asked and how it was answered.
type Query struct {
	At       time.Time
	ClientIP netip.Addr // IPv4 clients unmapped
	Name     string     // as asked (case kept), without the final dot
	Type     string     // "A", "AAAA", "SRV", "TYPE65", ...
	Class    string     // "appliance", "ntp", "sip" or "other"
	Rcode    string     // "NOERROR", "REFUSED", "SERVFAIL", ...
}

// observe reports q, answered with rcode, to the Observer unless an
// identical query from client was reported less than a window ago.
func (s *Server) observe(client netip.Addr, q dns.Question, class string, rcode int) {
	if s.obs == nil {
		return
	}
	now := s.now()
	if !s.coalesce.allow(client, q.Name, q.Qtype, now) {
		return
	}
	s.obs.Queried(Query{
		At:       now,
		ClientIP: client,
		Name:     strings.TrimSuffix(q.Name, "."),
		Type:     dns.Type(q.Qtype).String(),
		Class:    class,
		Rcode:    rcodeName(rcode),
	})
}
