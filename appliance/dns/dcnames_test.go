package dns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// samba417Records are the locator records samba_dnsupdate --all-names
// lists for a Samba 4.17 DC "tanjay" of realm LAB.LOCAL (a subset: one of
// each shape).
func samba417Records(realm string) []Record {
	return []Record{
		{Name: "tanjay." + realm, Type: "A"},
		{Name: "f47fa00b-f6aa-4ad2-ac69-ab173662b9d4._msdcs." + realm, Type: "CNAME", Target: "tanjay." + realm},
		{Name: realm, Type: "A"},
		{Name: "_ldap._tcp." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 389},
		{Name: "_ldap._tcp.dc._msdcs." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 389},
		{Name: "_ldap._tcp.caba2f95-0d99-48c7-8ecd-ecc0b30a3f2b.domains._msdcs." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 389},
		{Name: "_kerberos._tcp." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 88},
		{Name: "_kerberos._udp." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 88},
		{Name: "_kpasswd._udp." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 464},
		{Name: "_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 389},
		{Name: "gc._msdcs." + realm, Type: "A"},
		{Name: "_gc._tcp." + realm, Type: "SRV", Target: "tanjay." + realm, Port: 3268},
	}
}

// TestDirectoryAnswers asks the DC locator names of real servers on
// 127.0.0.1, over UDP and TCP: every mode answers them authoritatively
// with the appliance, for a realm inside the lab domains and outside them.
func TestDirectoryAnswers(t *testing.T) {
	upstream := startUpstream(t)
	dc := func(mode Mode, realm string) Config {
		cfg := Config{Domains: []string{"lab.local"}, Mode: mode, Records: samba417Records(realm)}
		if mode == ModeForward {
			cfg.Upstream = upstream
		}
		return cfg
	}
	servers := map[string]*testServer{
		"lab":            startServer(t, dc(ModeLab, "lab.local"), nil),
		"strict":         startServer(t, dc(ModeStrict, "lab.local"), nil),
		"forward":        startServer(t, dc(ModeForward, "lab.local"), nil),
		"strict-realm":   startServer(t, dc(ModeStrict, "corp.example"), nil),
		"forward-realm":  startServer(t, dc(ModeForward, "corp.example"), nil),
		"strict-no-dc":   startServer(t, Config{Domains: []string{"lab.local"}, Mode: ModeStrict}, nil),
		"lab-advertised": startServer(t, Config{Records: samba417Records("lab.local"), Advertise6: netip.MustParseAddr("2001:db8::7"), TTL: 30}, nil),
	}
	srv := func(name, port, target string) summary {
		return summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{name + " 60 IN SRV 0 0 " + port + " " + target},
			Extra:  []string{target + " 60 IN A 127.0.0.1"},
		}
	}
	host := func(name string) summary {
		return summary{Rcode: "NOERROR", AA: true, Answer: []string{name + " 60 IN A 127.0.0.1"}}
	}
	const guid = "f47fa00b-f6aa-4ad2-ac69-ab173662b9d4._msdcs."
	tests := []answerCase{
		{"dc ldap srv", "lab", in("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV),
			srv("_ldap._tcp.dc._msdcs.lab.local.", "389", "tanjay.lab.local.")},
		{"domain ldap srv, case kept", "lab", in("_LDAP._tcp.Lab.Local.", dns.TypeSRV),
			srv("_LDAP._tcp.Lab.Local.", "389", "tanjay.lab.local.")},
		{"kerberos udp", "lab", in("_kerberos._udp.lab.local.", dns.TypeSRV),
			srv("_kerberos._udp.lab.local.", "88", "tanjay.lab.local.")},
		{"global catalog", "lab", in("_gc._tcp.lab.local.", dns.TypeSRV),
			srv("_gc._tcp.lab.local.", "3268", "tanjay.lab.local.")},
		{"site", "lab", in("_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs.lab.local.", dns.TypeSRV),
			srv("_ldap._tcp.Default-First-Site-Name._sites.dc._msdcs.lab.local.", "389", "tanjay.lab.local.")},
		{"domain guid", "lab", in("_ldap._tcp.caba2f95-0d99-48c7-8ecd-ecc0b30a3f2b.domains._msdcs.lab.local.", dns.TypeSRV),
			srv("_ldap._tcp.caba2f95-0d99-48c7-8ecd-ecc0b30a3f2b.domains._msdcs.lab.local.", "389", "tanjay.lab.local.")},
		{"A of an srv name has no data", "lab", in("_kerberos._tcp.lab.local.", dns.TypeA), summary{Rcode: "NOERROR", AA: true}},
		{"ntds guid alias, A", "lab", in(guid+"lab.local.", dns.TypeA), summary{Rcode: "NOERROR", AA: true, Answer: []string{
			guid + "lab.local. 60 IN CNAME tanjay.lab.local.", "tanjay.lab.local. 60 IN A 127.0.0.1"}}},
		{"ntds guid alias, CNAME", "lab", in(guid+"lab.local.", dns.TypeCNAME), summary{Rcode: "NOERROR", AA: true, Answer: []string{
			guid + "lab.local. 60 IN CNAME tanjay.lab.local."}}},
		{"ntds guid alias, SRV", "lab", in(guid+"lab.local.", dns.TypeSRV), summary{Rcode: "NOERROR", AA: true, Answer: []string{
			guid + "lab.local. 60 IN CNAME tanjay.lab.local."}}},
		{"dc host", "lab", in("tanjay.lab.local.", dns.TypeA), host("tanjay.lab.local.")},
		{"the domain itself", "lab", in("lab.local.", dns.TypeA), host("lab.local.")},
		{"gc host", "lab", in("gc._msdcs.lab.local.", dns.TypeA), host("gc._msdcs.lab.local.")},

		{"strict: dc ldap srv", "strict", in("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV),
			srv("_ldap._tcp.dc._msdcs.lab.local.", "389", "tanjay.lab.local.")},
		{"strict: the domain itself", "strict", in("lab.local.", dns.TypeA), host("lab.local.")},
		{"strict: other locator name refused", "strict", in("_ldap._tcp.pdc._msdcs.lab.local.", dns.TypeSRV), summary{Rcode: "REFUSED"}},
		{"strict: without a directory refused", "strict-no-dc", in("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV), summary{Rcode: "REFUSED"}},
		{"forward: dc ldap srv is local", "forward", in("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV),
			srv("_ldap._tcp.dc._msdcs.lab.local.", "389", "tanjay.lab.local.")},

		{"realm outside the lab domains: strict", "strict-realm", in("_ldap._tcp.dc._msdcs.corp.example.", dns.TypeSRV),
			srv("_ldap._tcp.dc._msdcs.corp.example.", "389", "tanjay.corp.example.")},
		{"realm outside the lab domains: dc host", "strict-realm", in("tanjay.corp.example.", dns.TypeA), host("tanjay.corp.example.")},
		{"realm outside the lab domains: forward", "forward-realm", in("_kerberos._tcp.corp.example.", dns.TypeSRV),
			srv("_kerberos._tcp.corp.example.", "88", "tanjay.corp.example.")},
		{"realm outside the lab domains: alias", "forward-realm", in(guid+"corp.example.", dns.TypeA), summary{Rcode: "NOERROR", AA: true, Answer: []string{
			guid + "corp.example. 60 IN CNAME tanjay.corp.example.", "tanjay.corp.example. 60 IN A 127.0.0.1"}}},

		{"advertise6: srv with both addresses", "lab-advertised", in("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV), summary{
			Rcode: "NOERROR", AA: true,
			Answer: []string{"_ldap._tcp.dc._msdcs.lab.local. 30 IN SRV 0 0 389 tanjay.lab.local."},
			Extra:  []string{"tanjay.lab.local. 30 IN A 127.0.0.1", "tanjay.lab.local. 30 IN AAAA 2001:db8::7"},
		}},
		{"advertise6: alias AAAA", "lab-advertised", in(guid+"lab.local.", dns.TypeAAAA), summary{Rcode: "NOERROR", AA: true, Answer: []string{
			guid + "lab.local. 30 IN CNAME tanjay.lab.local.", "tanjay.lab.local. 30 IN AAAA 2001:db8::7"}}},
	}
	checkAnswers(t, servers, tests)
}

// TestDirectoryClass: the locator names are counted in class directory.
func TestDirectoryClass(t *testing.T) {
	s, err := New(Config{Mode: ModeStrict, Records: samba417Records("lab.local")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV}, {"lab.local.", dns.TypeA}, {"_ldap._tcp.pdc._msdcs.lab.local.", dns.TypeSRV}} {
		s.ServeDNS(newFakeWriter("10.0.0.5"), query(q.name, q.qtype))
	}
	if diff := cmp.Diff(map[string]uint64{"directory/NOERROR": 2, "other/REFUSED": 1}, s.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// TestValidateRecords: a bad record stops start-up, naming it.
func TestValidateRecords(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string // substring of the error; "" for none
	}{
		{"srv", Record{Name: "_ldap._tcp.lab.local", Type: "SRV", Target: "tanjay.lab.local", Port: 389}, ""},
		{"cname", Record{Name: "x._msdcs.lab.local", Type: "CNAME", Target: "tanjay.lab.local"}, ""},
		{"a", Record{Name: "lab.local", Type: "A"}, ""},
		{"srv without port", Record{Name: "_ldap._tcp.lab.local", Type: "SRV", Target: "tanjay.lab.local"}, "no port"},
		{"srv without target", Record{Name: "_ldap._tcp.lab.local", Type: "SRV", Port: 389}, "bad target"},
		{"mx", Record{Name: "lab.local", Type: "MX", Target: "tanjay.lab.local"}, `type "MX"`},
		{"root", Record{Name: ".", Type: "A"}, "not a domain name"},
	}
	for _, tt := range tests {
		err := Config{Records: []Record{tt.rec}}.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one with %q", tt.name, err, tt.want)
		}
	}
}
