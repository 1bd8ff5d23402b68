package dns

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// FuzzServeDNS feeds whatever parses as a DNS message to the handler of a
// lab and a strict responder: it must not panic, must answer a query
// exactly once with a message that packs, carries the query's ID and fits
// the client's UDP buffer, and must not answer a response.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"ucupdates-r2.lab.local.", dns.TypeA},
		{"UCUPDATES.", dns.TypeAAAA},
		{"_ntp._udp.lab.local.", dns.TypeSRV},
		{"time.windows.com.", dns.TypeANY},
		{"pool01.ocs.contoso.com.", dns.TypeA},
		{"lab.local.", dns.TypeAXFR},
		{"_sipinternaltls._tcp.Contoso.com.", dns.TypeSRV},
		{"_sipinternal._tcp.lab.local.", dns.TypeANY},
		{"sipexternal.contoso.com.", dns.TypeAAAA},
	} {
		f.Add(rawQuery(1, q.name, q.qtype, nil))
		f.Add(rawQuery(2, q.name, q.qtype, func(m *dns.Msg) { m.SetEdns0(1232, true) }))
	}
	for _, bad := range badInputs {
		f.Add(bad.packet)
	}
	// The lab responder runs only the SIP TLS listener, the strict one
	// only the plain-TCP one: both paths of a listener that is off.
	lab, err := New(Config{
		Domains:    []string{"lab.local", "corp.example"},
		Advertise6: netip.MustParseAddr("2001:db8::7"),
		SIPTLSPort: 5061,
	}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	strict, err := New(Config{Mode: ModeStrict, SIPPort: 5060}, ObserverFunc(func(Query) {}), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		if len(packet) >= headerSize {
			_ = acceptQuery(dns.Header{Bits: uint16(packet[2])<<8 | uint16(packet[3])}) // must not panic on any header
		}
		r := new(dns.Msg)
		if r.Unpack(packet) != nil {
			return
		}
		for _, s := range []*Server{lab, strict} {
			w := newFakeWriter("10.0.0.5")
			s.ServeDNS(w, r)
			if w.packErr != nil {
				t.Fatalf("answer does not pack: %v\nquery: %v", w.packErr, r)
			}
			if r.Response {
				if len(w.written) != 0 {
					t.Fatalf("answered a response: %v", w.written[0])
				}
				continue
			}
			if len(w.written) != 1 {
				t.Fatalf("%d answers to %v", len(w.written), r)
			}
			m := w.written[0]
			if m.Id != r.Id || !m.Response {
				t.Fatalf("answer ID %d response %v, query ID %d", m.Id, m.Response, r.Id)
			}
			if w.sizes[0] > udpSize(r) {
				t.Fatalf("UDP answer of %d bytes for a %d byte buffer", w.sizes[0], udpSize(r))
			}
		}
	})
}
