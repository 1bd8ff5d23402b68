package dns

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// TestAnswers asks every name form in every mode over UDP and over TCP of
// a real server on 127.0.0.1 and compares the answers.
func TestAnswers(t *testing.T) {
	domains := []string{"lab.local", "Corp.Example"}
	servers := map[string]*testServer{
		"lab": startServer(t, Config{Domains: domains}, nil),
		"advertise": startServer(t, Config{
			Domains:    domains,
			Host:       "Updater",
			Advertise:  netip.MustParseAddr("10.1.2.3"),
			Advertise6: netip.MustParseAddr("2001:db8::7"),
			NTPPort:    1123,
			TTL:        30,
		}, nil),
		"strict":  startServer(t, Config{Domains: domains, Mode: ModeStrict}, nil),
		"forward": startServer(t, Config{Domains: domains, Mode: ModeForward, Upstream: startUpstream(t)}, nil),
	}
	// aa is an authoritative NOERROR answer.
	aa := func(answer ...string) summary { return summary{Rcode: "NOERROR", AA: true, Answer: answer} }
	refused := summary{Rcode: "REFUSED"}
	tests := []answerCase{
		// The appliance's names, lab mode, no advertise address: the
		// address the query arrived on.
		{"update name under the first domain", "lab", in("ucupdates-r2.lab.local.", dns.TypeA),
			aa("ucupdates-r2.lab.local. 60 IN A 127.0.0.1")},
		{"case kept in the answer", "lab", in("UCUpdates-R2.Lab.LOCAL.", dns.TypeA),
			aa("UCUpdates-R2.Lab.LOCAL. 60 IN A 127.0.0.1")},
		{"update name under the second domain", "lab", in("ucupdates-r2.corp.example.", dns.TypeA),
			aa("ucupdates-r2.corp.example. 60 IN A 127.0.0.1")},
		{"RTM update name", "lab", in("ucupdates.lab.local.", dns.TypeA),
			aa("ucupdates.lab.local. 60 IN A 127.0.0.1")},
		{"bare update name as in the seed trace", "lab", in("ucUpdates-r2.", dns.TypeA),
			aa("ucUpdates-r2. 60 IN A 127.0.0.1")},
		{"bare RTM update name", "lab", in("ucupdates.", dns.TypeA),
			aa("ucupdates. 60 IN A 127.0.0.1")},
		{"host name under a domain", "lab", in("tanjay.corp.example.", dns.TypeA),
			aa("tanjay.corp.example. 60 IN A 127.0.0.1")},
		{"bare host name", "lab", in("tanjay.", dns.TypeA),
			aa("tanjay. 60 IN A 127.0.0.1")},
		{"time fallback", "lab", in("time.windows.com.", dns.TypeA),
			aa("time.windows.com. 60 IN A 127.0.0.1")},
		{"ntp srv", "lab", in("_ntp._udp.lab.local.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_ntp._udp.lab.local. 60 IN SRV 0 0 123 tanjay.lab.local."},
			Extra:  []string{"tanjay.lab.local. 60 IN A 127.0.0.1"},
		}},
		{"ntp srv under the second domain", "lab", in("_NTP._udp.corp.example.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_NTP._udp.corp.example. 60 IN SRV 0 0 123 tanjay.corp.example."},
			Extra:  []string{"tanjay.corp.example. 60 IN A 127.0.0.1"},
		}},
		{"AAAA without advertise6 has no data", "lab", in("ucupdates-r2.lab.local.", dns.TypeAAAA), aa()},
		{"other type of an own name has no data", "lab", in("ucupdates-r2.lab.local.", dns.TypeMX), aa()},
		{"A of the srv name has no data", "lab", in("_ntp._udp.lab.local.", dns.TypeA), aa()},
		{"ANY is the A record (RFC 8482)", "lab", in("ucupdates-r2.lab.local.", dns.TypeANY),
			aa("ucupdates-r2.lab.local. 60 IN A 127.0.0.1")},
		{"ANY of the srv name is the SRV record", "lab", in("_ntp._udp.lab.local.", dns.TypeANY), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_ntp._udp.lab.local. 60 IN SRV 0 0 123 tanjay.lab.local."},
			Extra:  []string{"tanjay.lab.local. 60 IN A 127.0.0.1"},
		}},

		// Other names, lab mode.
		{"old pool FQDN reaches the appliance", "lab", in("Pool01.ocs.contoso.com.", dns.TypeA),
			summary{Rcode: "NOERROR", Answer: []string{"Pool01.ocs.contoso.com. 60 IN A 127.0.0.1"}}},
		{"other name inside a lab domain is authoritative", "lab", in("printer.lab.local.", dns.TypeA),
			aa("printer.lab.local. 60 IN A 127.0.0.1")},
		{"lab domain itself", "lab", in("lab.local.", dns.TypeA),
			aa("lab.local. 60 IN A 127.0.0.1")},
		{"other name AAAA has no data", "lab", in("pool01.ocs.contoso.com.", dns.TypeAAAA), summary{Rcode: "NOERROR"}},
		{"other name MX has no data", "lab", in("contoso.com.", dns.TypeMX), summary{Rcode: "NOERROR"}},
		{"other name ANY is the A record", "lab", in("pool01.ocs.contoso.com.", dns.TypeANY),
			summary{Rcode: "NOERROR", Answer: []string{"pool01.ocs.contoso.com. 60 IN A 127.0.0.1"}}},
		{"AXFR refused", "lab", in("lab.local.", dns.TypeAXFR), refused},
		{"IXFR refused", "lab", in("lab.local.", dns.TypeIXFR), refused},
		{"CHAOS class refused", "lab", dns.Question{Name: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}, refused},
		{"ANY class refused", "lab", dns.Question{Name: "ucupdates-r2.lab.local.", Qtype: dns.TypeA, Qclass: dns.ClassANY}, refused},

		// Advertise addresses, another host name, NTP port and TTL.
		{"advertised address", "advertise", in("ucupdates-r2.lab.local.", dns.TypeA),
			aa("ucupdates-r2.lab.local. 30 IN A 10.1.2.3")},
		{"advertised IPv6 address", "advertise", in("ucupdates-r2.lab.local.", dns.TypeAAAA),
			aa("ucupdates-r2.lab.local. 30 IN AAAA 2001:db8::7")},
		{"configured host name", "advertise", in("updater.", dns.TypeA),
			aa("updater. 30 IN A 10.1.2.3")},
		{"default host name is not an own name", "advertise", in("tanjay.lab.local.", dns.TypeA),
			aa("tanjay.lab.local. 30 IN A 10.1.2.3")},
		{"srv with both addresses", "advertise", in("_ntp._udp.lab.local.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_ntp._udp.lab.local. 30 IN SRV 0 0 1123 updater.lab.local."},
			Extra:  []string{"updater.lab.local. 30 IN A 10.1.2.3", "updater.lab.local. 30 IN AAAA 2001:db8::7"},
		}},
		{"other name AAAA with advertise6", "advertise", in("pool01.ocs.contoso.com.", dns.TypeAAAA),
			summary{Rcode: "NOERROR", Answer: []string{"pool01.ocs.contoso.com. 30 IN AAAA 2001:db8::7"}}},

		// Strict mode.
		{"strict: update name", "strict", in("ucupdates-r2.corp.example.", dns.TypeA),
			aa("ucupdates-r2.corp.example. 60 IN A 127.0.0.1")},
		{"strict: bare update name", "strict", in("ucupdates-r2.", dns.TypeA),
			aa("ucupdates-r2. 60 IN A 127.0.0.1")},
		{"strict: time fallback", "strict", in("time.windows.com.", dns.TypeA),
			aa("time.windows.com. 60 IN A 127.0.0.1")},
		{"strict: ntp srv", "strict", in("_ntp._udp.lab.local.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_ntp._udp.lab.local. 60 IN SRV 0 0 123 tanjay.lab.local."},
			Extra:  []string{"tanjay.lab.local. 60 IN A 127.0.0.1"},
		}},
		{"strict: old pool FQDN refused", "strict", in("pool01.ocs.contoso.com.", dns.TypeA), refused},
		{"strict: other name in a lab domain refused", "strict", in("printer.lab.local.", dns.TypeA), refused},
		{"strict: AXFR refused", "strict", in("lab.local.", dns.TypeAXFR), refused},

		// Forward mode: own names locally, without RA; the rest as the
		// upstream said.
		{"forward: update name is local", "forward", in("ucupdates-r2.lab.local.", dns.TypeA),
			aa("ucupdates-r2.lab.local. 60 IN A 127.0.0.1")},
		{"forward: time fallback is local", "forward", in("time.windows.com.", dns.TypeA),
			aa("time.windows.com. 60 IN A 127.0.0.1")},
		{"forward: other name from upstream", "forward", in("Pool01.ocs.contoso.com.", dns.TypeA),
			summary{Rcode: "NOERROR", RA: true, Answer: []string{"pool01.ocs.contoso.com. 300 IN A 192.0.2.7"}}},
		{"forward: NXDOMAIN from upstream", "forward", in("nx.example.", dns.TypeA),
			summary{Rcode: "NXDOMAIN", RA: true}},
		{"forward: upstream's REFUSED", "forward", in("unknown.example.", dns.TypeA),
			summary{Rcode: "REFUSED", RA: true}},
		{"forward: AXFR refused without asking", "forward", in("lab.local.", dns.TypeAXFR), refused},
	}
	checkAnswers(t, servers, tests)
}

// in is a class IN question.
func in(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}

// TestForwardTransport checks that forwarding keeps the client's transport.
func TestForwardTransport(t *testing.T) {
	srv := startServer(t, Config{Mode: ModeForward, Upstream: startUpstream(t)}, nil)
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": srv.udp, "tcp": srv.tcp}[network]
		r := exchange(t, network, addr, query("transport.test.", dns.TypeTXT))
		want := summary{Rcode: "NOERROR", RA: true, Answer: []string{`transport.test. 300 IN TXT "` + network + `"`}}
		if diff := cmp.Diff(want, summarise(r)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", network, diff)
		}
	}
}
