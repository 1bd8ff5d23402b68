package appliance

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDemoPhonesSignIn: the demo's phones on the beta build sign in, over
// TCP and TLS in turn, each from its own address; the rest resolve
// ucupdates-r2 as before.
func TestDemoPhonesSignIn(t *testing.T) {
	ca := newSignInCA(t, "Tanjay demo CA", x509.SHA1WithRSA)
	a := Addrs{DNS: "127.0.0.1:5353", SIP: "127.0.0.1:5060", SIPTLS: "127.0.0.1:5061", CAPEM: ca.pem()}
	signIn, err := newDemoSignIn("lab.local", "pw-pw-pw", a)
	if err != nil {
		t.Fatal(err)
	}
	phones := demoPhones("http://ucupdates-r2.lab.local:8081", a.DNS, 12, signIn)
	var got []string
	for _, p := range phones {
		switch {
		case p.SignIn != nil && p.Server == "" && p.Version.String() == demoSignInBuild:
			got = append(got, p.Identity.MAC+" signs in from "+p.LocalIP.String())
		case p.SignIn == nil && p.Server == "http://ucupdates-r2.lab.local:8081" && p.Version.String() != demoSignInBuild:
		default:
			t.Errorf("phone %s on %s: server %q, signs in %v", p.Identity.MAC, p.Version, p.Server, p.SignIn != nil)
		}
	}
	want := []string{
		"02AA7A000002 signs in from 127.1.0.12", "02AA7A000003 signs in from 127.1.0.13",
		"02AA7A00000A signs in from 127.1.0.20", "02AA7A00000B signs in from 127.1.0.21",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phones that sign in (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{signInTCP, signInTLS}, signIn.transports); diff != "" {
		t.Errorf("transports (-want +got):\n%s", diff)
	}
	var out strings.Builder
	signIn.describe(&out, phones)
	for _, w := range []string{"02AA7A000002, 02AA7A000003, 02AA7A00000A, 02AA7A00000B", "tech@lab.local", `LAB\tech`, "pw-pw-pw", "TCP 127.0.0.1:5060", "TLS 127.0.0.1:5061"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("description lacks %q:\n%s", w, out.String())
		}
	}

	off, err := newDemoSignIn("lab.local", "pw", Addrs{DNS: a.DNS, SIPTLS: a.SIPTLS, CAPEM: a.CAPEM})
	if err != nil || !cmp.Equal(off.transports, []string{signInTLS}) {
		t.Errorf("TCP listener off: transports %v, %v", off.transports, err)
	}
	none, _ := newDemoSignIn("lab.local", "pw", Addrs{DNS: a.DNS})
	for _, p := range demoPhones("http://ucupdates-r2.lab.local:8081", a.DNS, 12, none) {
		if p.SignIn != nil {
			t.Errorf("phone %s signs in with every SIP listener off", p.Identity.MAC)
		}
	}
}
