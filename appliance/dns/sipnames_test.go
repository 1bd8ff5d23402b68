package dns

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// TestSIPAnswers asks every SIP discovery name (SIGNIN.md §1.3) of real
// servers on 127.0.0.1, over UDP and TCP, in every mode and with each SIP
// listener on and off.
func TestSIPAnswers(t *testing.T) {
	domains := []string{"lab.local", "Corp.Example"}
	sip := func(mode Mode, tcp, tls uint16) Config {
		return Config{Domains: domains, Mode: mode, SIPPort: tcp, SIPTLSPort: tls}
	}
	upstream := startUpstream(t)
	forward := func(tcp, tls uint16) Config {
		cfg := sip(ModeForward, tcp, tls)
		cfg.Upstream = upstream
		return cfg
	}
	servers := map[string]*testServer{
		"lab":         startServer(t, sip(ModeLab, 5060, 5061), nil),
		"lab-tls-off": startServer(t, sip(ModeLab, 5060, 0), nil),
		"lab-tcp-off": startServer(t, sip(ModeLab, 0, 5061), nil),
		"lab-sip-off": startServer(t, sip(ModeLab, 0, 0), nil),
		"advertise": startServer(t, Config{
			Domains:    domains,
			Advertise:  netip.MustParseAddr("10.1.2.3"),
			Advertise6: netip.MustParseAddr("2001:db8::7"),
			TTL:        30,
			SIPPort:    15060,
			SIPTLSPort: 15061,
		}, nil),
		"strict":          startServer(t, sip(ModeStrict, 5060, 5061), nil),
		"strict-tls-off":  startServer(t, sip(ModeStrict, 5060, 0), nil),
		"strict-tcp-off":  startServer(t, sip(ModeStrict, 0, 5061), nil),
		"strict-sip-off":  startServer(t, sip(ModeStrict, 0, 0), nil),
		"forward":         startServer(t, forward(5060, 5061), nil),
		"forward-tls-off": startServer(t, forward(5060, 0), nil),
		"forward-sip-off": startServer(t, forward(0, 0), nil),
	}
	// srv is the answer pointing name at target on port, with the
	// target's A record in the additional section; aa says whether it is
	// authoritative.
	srv := func(aa bool, name string, port, target string) summary {
		return summary{
			Rcode: "NOERROR", AA: aa,
			Answer: []string{name + " 60 IN SRV 0 0 " + port + " " + target},
			Extra:  []string{target + " 60 IN A 127.0.0.1"},
		}
	}
	// host is the answer of A 127.0.0.1 for name.
	host := func(aa bool, name string) summary {
		return summary{Rcode: "NOERROR", AA: aa, Answer: []string{name + " 60 IN A 127.0.0.1"}}
	}
	nodata := func(aa bool) summary { return summary{Rcode: "NOERROR", AA: aa} }
	nxdomain := summary{Rcode: "NXDOMAIN", AA: true}
	refused := summary{Rcode: "REFUSED"}
	upstreamPool := func(name string) summary {
		return summary{Rcode: "NOERROR", RA: true, Answer: []string{name + " 300 IN SRV 0 0 5061 pool01.ocs.contoso.com."}}
	}
	tests := []answerCase{
		// Lab mode, both listeners on, under a lab domain: authoritative.
		{"tls srv", "lab", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternaltls._tcp.lab.local.", "5061", "sip.lab.local.")},
		{"external tls srv", "lab", in("_sip._tls.lab.local.", dns.TypeSRV),
			srv(true, "_sip._tls.lab.local.", "5061", "sip.lab.local.")},
		{"tcp srv", "lab", in("_sipinternal._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternal._tcp.lab.local.", "5060", "sip.lab.local.")},
		{"srv under the second domain, case kept", "lab", in("_SIPInternalTLS._TCP.Corp.Example.", dns.TypeSRV),
			srv(true, "_SIPInternalTLS._TCP.Corp.Example.", "5061", "sip.corp.example.")},
		{"sip host", "lab", in("sip.lab.local.", dns.TypeA), host(true, "sip.lab.local.")},
		{"sipinternal host", "lab", in("SIPInternal.corp.example.", dns.TypeA), host(true, "SIPInternal.corp.example.")},
		{"sipexternal host", "lab", in("sipexternal.lab.local.", dns.TypeA), host(true, "sipexternal.lab.local.")},
		{"A of an srv name has no data", "lab", in("_sipinternaltls._tcp.lab.local.", dns.TypeA), nodata(true)},
		{"ANY of an srv name is the SRV record", "lab", in("_sip._tls.lab.local.", dns.TypeANY),
			srv(true, "_sip._tls.lab.local.", "5061", "sip.lab.local.")},
		{"AAAA without advertise6 has no data", "lab", in("sip.lab.local.", dns.TypeAAAA), nodata(true)},

		// Lab mode under any other domain: the same records,
		// synthesized, so not authoritative.
		{"any domain: tls srv", "lab", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV),
			srv(false, "_sipinternaltls._tcp.contoso.com.", "5061", "sip.contoso.com.")},
		{"any domain: external tls srv", "lab", in("_sip._tls.contoso.com.", dns.TypeSRV),
			srv(false, "_sip._tls.contoso.com.", "5061", "sip.contoso.com.")},
		{"any domain: tcp srv", "lab", in("_sipinternal._tcp.contoso.com.", dns.TypeSRV),
			srv(false, "_sipinternal._tcp.contoso.com.", "5060", "sip.contoso.com.")},
		{"any domain: case kept, target lower-case", "lab", in("_SipInternalTls._Tcp.Contoso.COM.", dns.TypeSRV),
			srv(false, "_SipInternalTls._Tcp.Contoso.COM.", "5061", "sip.contoso.com.")},
		{"any domain: sip host", "lab", in("sip.contoso.com.", dns.TypeA), host(false, "sip.contoso.com.")},
		{"any domain: sipinternal host", "lab", in("sipinternal.contoso.com.", dns.TypeA), host(false, "sipinternal.contoso.com.")},
		{"any domain: sipexternal host", "lab", in("SIPEXTERNAL.Contoso.com.", dns.TypeA), host(false, "SIPEXTERNAL.Contoso.com.")},
		{"any domain: single-label domain", "lab", in("_sip._tls.contoso.", dns.TypeSRV),
			srv(false, "_sip._tls.contoso.", "5061", "sip.contoso.")},
		{"any domain: A of an srv name has no data", "lab", in("_sipinternal._tcp.contoso.com.", dns.TypeA), nodata(false)},
		{"any domain: ANY of an srv name is the SRV record", "lab", in("_sipinternaltls._tcp.contoso.com.", dns.TypeANY),
			srv(false, "_sipinternaltls._tcp.contoso.com.", "5061", "sip.contoso.com.")},
		{"any domain: AAAA without advertise6 has no data", "lab", in("sip.contoso.com.", dns.TypeAAAA), nodata(false)},
		{"sub-domain of a lab domain is authoritative", "lab", in("_sip._tls.eng.lab.local.", dns.TypeSRV),
			srv(true, "_sip._tls.eng.lab.local.", "5061", "sip.eng.lab.local.")},
		{"retry with the DNS suffix appended", "lab", in("_sipinternaltls._tcp.contoso.com.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternaltls._tcp.contoso.com.lab.local.", "5061", "sip.contoso.com.lab.local.")},
		{"bare sip is another name", "lab", in("sip.", dns.TypeSRV), nodata(false)},
		{"name below a sip host is another name", "lab", in("x.sip.contoso.com.", dns.TypeSRV), nodata(false)},

		// Lab mode with a listener off: its SRV names have no SRV data and
		// are otherwise answered as any name in lab mode.
		{"tls off: tls srv has no data", "lab-tls-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV), nodata(true)},
		{"tls off: external tls srv has no data", "lab-tls-off", in("_sip._tls.lab.local.", dns.TypeSRV), nodata(true)},
		{"tls off: any domain tls srv has no data", "lab-tls-off", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV), nodata(false)},
		{"tls off: A of the tls srv name is the lab answer", "lab-tls-off", in("_sip._tls.contoso.com.", dns.TypeA),
			host(false, "_sip._tls.contoso.com.")},
		{"tls off: tcp srv", "lab-tls-off", in("_sipinternal._tcp.contoso.com.", dns.TypeSRV),
			srv(false, "_sipinternal._tcp.contoso.com.", "5060", "sip.contoso.com.")},
		{"tls off: sip host", "lab-tls-off", in("sip.lab.local.", dns.TypeA), host(true, "sip.lab.local.")},
		{"tcp off: tcp srv has no data", "lab-tcp-off", in("_sipinternal._tcp.lab.local.", dns.TypeSRV), nodata(true)},
		{"tcp off: any domain tcp srv has no data", "lab-tcp-off", in("_sipinternal._tcp.contoso.com.", dns.TypeSRV), nodata(false)},
		{"tcp off: tls srv", "lab-tcp-off", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV),
			srv(false, "_sipinternaltls._tcp.contoso.com.", "5061", "sip.contoso.com.")},
		{"sip off: srv has no data", "lab-sip-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV), nodata(true)},
		{"sip off: any domain srv has no data", "lab-sip-off", in("_sipinternal._tcp.contoso.com.", dns.TypeSRV), nodata(false)},
		{"sip off: sip host is the lab answer", "lab-sip-off", in("sip.contoso.com.", dns.TypeA), host(false, "sip.contoso.com.")},

		// Advertise addresses, the listeners' bound ports and the TTL.
		{"advertise: srv with both addresses", "advertise", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV), summary{
			Rcode:  "NOERROR",
			Answer: []string{"_sipinternaltls._tcp.contoso.com. 30 IN SRV 0 0 15061 sip.contoso.com."},
			Extra:  []string{"sip.contoso.com. 30 IN A 10.1.2.3", "sip.contoso.com. 30 IN AAAA 2001:db8::7"},
		}},
		{"advertise: tcp srv with both addresses", "advertise", in("_sipinternal._tcp.lab.local.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_sipinternal._tcp.lab.local. 30 IN SRV 0 0 15060 sip.lab.local."},
			Extra:  []string{"sip.lab.local. 30 IN A 10.1.2.3", "sip.lab.local. 30 IN AAAA 2001:db8::7"},
		}},
		{"advertise: A", "advertise", in("sipinternal.lab.local.", dns.TypeA),
			summary{Rcode: "NOERROR", AA: true, Answer: []string{"sipinternal.lab.local. 30 IN A 10.1.2.3"}}},
		{"advertise: AAAA", "advertise", in("sipinternal.lab.local.", dns.TypeAAAA),
			summary{Rcode: "NOERROR", AA: true, Answer: []string{"sipinternal.lab.local. 30 IN AAAA 2001:db8::7"}}},
		{"advertise: any domain AAAA", "advertise", in("Sip.Contoso.com.", dns.TypeAAAA),
			summary{Rcode: "NOERROR", Answer: []string{"Sip.Contoso.com. 30 IN AAAA 2001:db8::7"}}},

		// Strict mode: only under the lab domains.
		{"strict: tls srv", "strict", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternaltls._tcp.lab.local.", "5061", "sip.lab.local.")},
		{"strict: external tls srv", "strict", in("_sip._tls.Corp.Example.", dns.TypeSRV),
			srv(true, "_sip._tls.Corp.Example.", "5061", "sip.corp.example.")},
		{"strict: tcp srv", "strict", in("_sipinternal._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternal._tcp.lab.local.", "5060", "sip.lab.local.")},
		{"strict: sip host", "strict", in("sip.lab.local.", dns.TypeA), host(true, "sip.lab.local.")},
		{"strict: sipinternal host", "strict", in("sipinternal.corp.example.", dns.TypeA), host(true, "sipinternal.corp.example.")},
		{"strict: sipexternal host", "strict", in("SipExternal.lab.local.", dns.TypeA), host(true, "SipExternal.lab.local.")},
		{"strict: A of an srv name has no data", "strict", in("_sipinternal._tcp.lab.local.", dns.TypeA), nodata(true)},
		{"strict: other domain refused", "strict", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV), refused},
		{"strict: other domain's sip host refused", "strict", in("sip.contoso.com.", dns.TypeA), refused},
		{"strict: sub-domain of a lab domain refused", "strict", in("_sip._tls.eng.lab.local.", dns.TypeSRV), refused},
		{"strict: tls off: tls srv does not exist", "strict-tls-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV), nxdomain},
		{"strict: tls off: external tls srv does not exist", "strict-tls-off", in("_sip._tls.Corp.Example.", dns.TypeSRV), nxdomain},
		{"strict: tls off: nor for A", "strict-tls-off", in("_sip._tls.lab.local.", dns.TypeA), nxdomain},
		{"strict: tls off: tcp srv", "strict-tls-off", in("_sipinternal._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternal._tcp.lab.local.", "5060", "sip.lab.local.")},
		{"strict: tls off: sip host", "strict-tls-off", in("sip.lab.local.", dns.TypeA), host(true, "sip.lab.local.")},
		{"strict: tcp off: tcp srv does not exist", "strict-tcp-off", in("_sipinternal._tcp.lab.local.", dns.TypeSRV), nxdomain},
		{"strict: tcp off: tls srv", "strict-tcp-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternaltls._tcp.lab.local.", "5061", "sip.lab.local.")},
		{"strict: sip off: srv refused", "strict-sip-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV), refused},
		{"strict: sip off: sip host refused", "strict-sip-off", in("sip.lab.local.", dns.TypeA), refused},

		// Forward mode: the lab domains locally, other domains upstream.
		{"forward: tls srv is local", "forward", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternaltls._tcp.lab.local.", "5061", "sip.lab.local.")},
		{"forward: sip host is local", "forward", in("sip.corp.example.", dns.TypeA), host(true, "sip.corp.example.")},
		{"forward: other domain from upstream", "forward", in("_sipinternaltls._tcp.contoso.com.", dns.TypeSRV),
			upstreamPool("_sipinternaltls._tcp.contoso.com.")},
		{"forward: tls off: tls srv does not exist", "forward-tls-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV), nxdomain},
		{"forward: tls off: tcp srv", "forward-tls-off", in("_sipinternal._tcp.lab.local.", dns.TypeSRV),
			srv(true, "_sipinternal._tcp.lab.local.", "5060", "sip.lab.local.")},
		{"forward: sip off: srv from upstream", "forward-sip-off", in("_sipinternaltls._tcp.lab.local.", dns.TypeSRV),
			upstreamPool("_sipinternaltls._tcp.lab.local.")},
	}
	checkAnswers(t, servers, tests)
}

// TestSplitSIP: the SIP names by their leading labels, with a non-empty
// SIP domain after them.
func TestSplitSIP(t *testing.T) {
	type split struct {
		Rec    sipRecord
		Domain string
		OK     bool
	}
	tests := []struct {
		name string
		want split
	}{
		{"_sipinternaltls._tcp.lab.local.", split{sipTLS, "lab.local.", true}},
		{"_sip._tls.contoso.com.", split{sipTLS, "contoso.com.", true}},
		{"_sipinternal._tcp.x.", split{sipTCP, "x.", true}},
		{"sipinternal.lab.local.", split{sipHost, "lab.local.", true}},
		{"sip.lab.local.", split{sipHost, "lab.local.", true}},
		{"sipexternal.lab.local.", split{sipHost, "lab.local.", true}},
		{"sip.", split{}},
		{"_sip._tls.", split{}},
		{"sipx.lab.local.", split{}},
		{"_sip._tcp.lab.local.", split{}},
		{"_sipfederationtls._tcp.lab.local.", split{}},
		{"x.sip.lab.local.", split{}},
		{"ucupdates-r2.lab.local.", split{}},
		{"", split{}},
	}
	for _, tt := range tests {
		var got split
		got.Rec, got.Domain, got.OK = splitSIP(tt.name)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("splitSIP(%q) (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestSIPClass: SIP names are counted and observed in class sip, whatever
// the mode, the domain and the answer; a bare "sip" is not one.
func TestSIPClass(t *testing.T) {
	rec := &recorder{}
	lab, err := New(Config{SIPTLSPort: 5061}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	strict, err := New(Config{Mode: ModeStrict, SIPTLSPort: 5061}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	asks := []struct {
		s     *Server
		name  string
		qtype uint16
	}{
		{lab, "_sipinternaltls._tcp.Contoso.com.", dns.TypeSRV}, // answered
		{lab, "_sipinternal._tcp.contoso.com.", dns.TypeSRV},    // listener off: no data
		{lab, "sip.contoso.com.", dns.TypeA},
		{lab, "sip.", dns.TypeA},
		{strict, "_sipinternal._tcp.lab.local.", dns.TypeSRV}, // listener off: NXDOMAIN
		{strict, "sipexternal.contoso.com.", dns.TypeA},       // other domain: REFUSED
	}
	for _, a := range asks {
		w := newFakeWriter("10.0.0.5")
		a.s.ServeDNS(w, query(a.name, a.qtype))
		if len(w.written) != 1 {
			t.Fatalf("%s: %d answers", a.name, len(w.written))
		}
	}
	type heard struct{ Name, Type, Class, Rcode string }
	var got []heard
	for _, q := range rec.take() {
		got = append(got, heard{q.Name, q.Type, q.Class, q.Rcode})
	}
	want := []heard{
		{"_sipinternaltls._tcp.Contoso.com", "SRV", "sip", "NOERROR"},
		{"_sipinternal._tcp.contoso.com", "SRV", "sip", "NOERROR"},
		{"sip.contoso.com", "A", "sip", "NOERROR"},
		{"sip", "A", "other", "NOERROR"},
		{"_sipinternal._tcp.lab.local", "SRV", "sip", "NXDOMAIN"},
		{"sipexternal.contoso.com", "A", "sip", "REFUSED"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queries heard (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"sip/NOERROR": 3, "other/NOERROR": 1}, lab.Counts()); diff != "" {
		t.Errorf("lab counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"sip/NXDOMAIN": 1, "sip/REFUSED": 1}, strict.Counts()); diff != "" {
		t.Errorf("strict counts (-want +got):\n%s", diff)
	}
}
