package appliance

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/tanjay-lab/tanjay/legacy/sip"
)

const signInTestPassword = "Lab-Pa$$w0rd"

var signInTestURLs = sip.UpdateURLs{
	Internal: "http://10.77.0.1/RequestHandler/ucdevice.upx",
	External: "https://10.77.0.1/RequestHandlerExt/ucdevice.upx",
}

// signInZone is a tiny DNS server on 127.0.0.1 answering from fixed
// records: NXDOMAIN for a name it has nothing for, an empty NOERROR for a
// name it has other types for. It remembers every question.
type signInZone struct {
	addr    string
	records map[string][]dns.RR // fully qualified lower-case name → records

	mu   sync.Mutex
	seen []string // "SRV _sip._tls.lab.test. from 127.0.0.1"
}

func startSignInZone(t *testing.T, rrs ...string) *signInZone {
	t.Helper()
	z := &signInZone{records: map[string][]dns.RR{}}
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(rr.Header().Name)
		z.records[name] = append(z.records[name], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(z.serveDNS)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return z
}

func (z *signInZone) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	r := new(dns.Msg)
	r.SetReply(q)
	question := q.Question[0]
	host, _, _ := net.SplitHostPort(w.RemoteAddr().String())
	z.mu.Lock()
	z.seen = append(z.seen, dns.TypeToString[question.Qtype]+" "+question.Name+" from "+host)
	z.mu.Unlock()
	rrs, ok := z.records[strings.ToLower(question.Name)]
	if !ok {
		r.Rcode = dns.RcodeNameError
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == question.Qtype {
			r.Answer = append(r.Answer, rr)
		}
	}
	w.WriteMsg(r)
}

func (z *signInZone) questions() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.seen...)
}

func TestSignInFindsTheSIPServerInThePhonesOrder(t *testing.T) {
	const (
		tlsInternal = "_sipinternaltls._tcp.lab.test. 60 IN SRV 0 0 5061 sip.lab.test."
		tlsExternal = "_sip._tls.lab.test. 60 IN SRV 0 0 5062 sip.lab.test."
		tcpInternal = "_sipinternal._tcp.lab.test. 60 IN SRV 0 0 5060 sip.lab.test."
		host        = "sip.lab.test. 60 IN A 127.0.0.1"
		from        = " from 127.0.0.42"
	)
	roots := []*x509.Certificate{{}} // only counted: nothing connects here
	tests := []struct {
		name      string
		records   []string
		transport string
		noRoots   bool
		want      signInServer
		asked     []string
		err       string
	}{
		{
			name:    "auto takes the first TLS name",
			records: []string{tlsInternal, tlsExternal, tcpInternal, host},
			want:    signInServer{name: "_sipinternaltls._tcp.lab.test", target: "sip.lab.test", addr: "127.0.0.1:5061", tls: true},
			asked:   []string{"SRV _sipinternaltls._tcp.lab.test.", "A sip.lab.test."},
		},
		{
			name:    "auto moves on to the external TLS name",
			records: []string{tlsExternal, tcpInternal, host},
			want:    signInServer{name: "_sip._tls.lab.test", target: "sip.lab.test", addr: "127.0.0.1:5062", tls: true},
			asked:   []string{"SRV _sipinternaltls._tcp.lab.test.", "SRV _sip._tls.lab.test.", "A sip.lab.test."},
		},
		{
			name: "auto falls back to TCP past names without SRV data",
			// Lab mode: the TLS listener is off, its names exist but hold
			// no SRV record.
			records: []string{"_sipinternaltls._tcp.lab.test. 60 IN A 127.0.0.1", "_sip._tls.lab.test. 60 IN A 127.0.0.1", tcpInternal, host},
			want:    signInServer{name: "_sipinternal._tcp.lab.test", target: "sip.lab.test", addr: "127.0.0.1:5060"},
			asked:   []string{"SRV _sipinternaltls._tcp.lab.test.", "SRV _sip._tls.lab.test.", "SRV _sipinternal._tcp.lab.test.", "A sip.lab.test."},
		},
		{
			name:    "auto without a trusted CA asks only for TCP",
			records: []string{tlsInternal, tlsExternal, tcpInternal, host}, noRoots: true,
			want:  signInServer{name: "_sipinternal._tcp.lab.test", target: "sip.lab.test", addr: "127.0.0.1:5060"},
			asked: []string{"SRV _sipinternal._tcp.lab.test.", "A sip.lab.test."},
		},
		{
			name:    "tcp chosen",
			records: []string{tlsInternal, tcpInternal, host}, transport: signInTCP,
			want:  signInServer{name: "_sipinternal._tcp.lab.test", target: "sip.lab.test", addr: "127.0.0.1:5060"},
			asked: []string{"SRV _sipinternal._tcp.lab.test.", "A sip.lab.test."},
		},
		{
			name: "lowest priority, then highest weight",
			records: []string{
				"_sipinternal._tcp.lab.test. 60 IN SRV 10 0 5070 backup.lab.test.",
				"_sipinternal._tcp.lab.test. 60 IN SRV 0 10 5071 light.lab.test.",
				"_sipinternal._tcp.lab.test. 60 IN SRV 0 90 5072 Heavy.Lab.Test.",
				"heavy.lab.test. 60 IN A 127.0.0.9",
			},
			transport: signInTCP,
			want:      signInServer{name: "_sipinternal._tcp.lab.test", target: "heavy.lab.test", addr: "127.0.0.9:5072"},
			asked:     []string{"SRV _sipinternal._tcp.lab.test.", "A heavy.lab.test."},
		},
		{
			name:    "tls chosen, only TCP published",
			records: []string{tcpInternal, host}, transport: signInTLS,
			asked: []string{"SRV _sipinternaltls._tcp.lab.test.", "SRV _sip._tls.lab.test."},
			err:   "no SIP server found through %s: _sipinternaltls._tcp.lab.test: NXDOMAIN; _sip._tls.lab.test: NXDOMAIN",
		},
		{
			name:    "nothing published, no CA",
			records: nil, noRoots: true,
			asked: []string{"SRV _sipinternal._tcp.lab.test."},
			err:   "no SIP server found through %s: _sipinternal._tcp.lab.test: NXDOMAIN (TLS names not asked: no trusted CA given)",
		},
		{
			name:    "target without an address",
			records: []string{tcpInternal}, transport: signInTCP,
			asked: []string{"SRV _sipinternal._tcp.lab.test.", "A sip.lab.test."},
			err:   "SIP server sip.lab.test (from _sipinternal._tcp.lab.test): A sip.lab.test: NXDOMAIN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := startSignInZone(t, tt.records...)
			s := phoneSignIn{Address: "tech@Lab.Test", DNS: z.addr, LocalIP: netip.MustParseAddr("127.0.0.42"),
				Transport: tt.transport, Roots: roots, Timeout: 5 * time.Second}
			if tt.noRoots {
				s.Roots = nil
			}
			got, err := s.locate(t.Context())
			if tt.err != "" {
				want := tt.err
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, z.addr)
				}
				if err == nil || err.Error() != want {
					t.Errorf("locate: %v, want error %s", err, want)
				}
			} else if err != nil {
				t.Fatalf("locate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(signInServer{})); diff != "" {
				t.Errorf("server (-want +got):\n%s", diff)
			}
			var asked []string
			for _, q := range tt.asked {
				asked = append(asked, q+from)
			}
			if diff := cmp.Diff(asked, z.questions()); diff != "" {
				t.Errorf("questions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignInDNSServerDown(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := phoneSignIn{Address: "tech@lab.test", DNS: pc.LocalAddr().String(), Timeout: 200 * time.Millisecond}
	_, err = s.SignIn(t.Context())
	if want := "tech@lab.test: asking " + s.DNS + " for SRV _sipinternal._tcp.lab.test: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("SignIn: %v, want an error starting %q", err, want)
	}
}

// signInLab is a SIP front end (legacy/sip) on TCP and, with a
// certificate, TLS, and a DNS zone publishing both under lab.test.
type signInLab struct {
	zone   *signInZone
	mu     sync.Mutex
	events []sip.Event
}

func startSignInLab(t *testing.T, cert *tls.Certificate) *signInLab {
	t.Helper()
	lab := &signInLab{}
	s, err := sip.New(sip.Config{
		Password: func() string { return signInTestPassword },
		URLs:     func() sip.UpdateURLs { return signInTestURLs },
		Observer: sip.ObserverFunc(func(e sip.Event) {
			lab.mu.Lock()
			defer lab.mu.Unlock()
			lab.events = append(lab.events, e)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	serve := func(transport string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		if transport == "tls" {
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
		}
		wg.Go(func() {
			if err := s.Serve(ctx, ln, transport); err != nil {
				t.Errorf("Serve %s: %v", transport, err)
			}
		})
		_, port, _ := net.SplitHostPort(addr)
		return port
	}
	rrs := []string{
		"_sipinternal._tcp.lab.test. 60 IN SRV 0 0 " + serve("tcp") + " sip.lab.test.",
		"sip.lab.test. 60 IN A 127.0.0.1",
	}
	if cert != nil {
		rrs = append(rrs, "_sipinternaltls._tcp.lab.test. 60 IN SRV 0 0 "+serve("tls")+" sip.lab.test.")
	}
	lab.zone = startSignInZone(t, rrs...)
	return lab
}

// steps are "transport step user from ip", in order.
func (lab *signInLab) steps() []string {
	lab.mu.Lock()
	defer lab.mu.Unlock()
	var out []string
	for _, e := range lab.events {
		if e.Step == sip.StepSignedIn || e.Step == sip.StepProvisioned || e.Step == sip.StepAuthFailed {
			out = append(out, fmt.Sprintf("%s %s %s from %s", e.Transport, e.Step, e.User, e.ClientIP))
		}
	}
	return out
}

func TestSignIn(t *testing.T) {
	ca := newSignInCA(t, "Tanjay test CA", x509.SHA1WithRSA)
	leaf := ca.issue(t, x509.SHA1WithRSA, "sip.lab.test")
	tests := []struct {
		name      string
		transport string
		user      string
		want      []string
	}{
		{"auto over TLS", signInAuto, "", []string{`tls signed-in LAB\tech from 127.0.0.43`, `tls provisioned LAB\tech from 127.0.0.43`}},
		{"TCP", signInTCP, `CONTOSO\alice`, []string{`tcp signed-in CONTOSO\alice from 127.0.0.43`, `tcp provisioned CONTOSO\alice from 127.0.0.43`}},
		{"TLS", signInTLS, `LAB\bob`, []string{`tls signed-in LAB\bob from 127.0.0.43`, `tls provisioned LAB\bob from 127.0.0.43`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := startSignInLab(t, leaf)
			s := phoneSignIn{Address: "tech@lab.test", User: tt.user, Password: signInTestPassword, Transport: tt.transport,
				Roots: []*x509.Certificate{ca.cert}, DNS: lab.zone.addr, LocalIP: netip.MustParseAddr("127.0.0.43")}
			got, err := s.SignIn(t.Context())
			if err != nil {
				t.Fatalf("SignIn: %v", err)
			}
			if got != signInTestURLs.Internal {
				t.Errorf("SignIn handed %q, want %q", got, signInTestURLs.Internal)
			}
			if diff := cmp.Diff(tt.want, lab.steps()); diff != "" {
				t.Errorf("sign-in steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignInRefused(t *testing.T) {
	ca := newSignInCA(t, "Tanjay test CA", x509.SHA256WithRSA)
	other := newSignInCA(t, "Some other CA", x509.SHA256WithRSA)
	tests := []struct {
		name      string
		leafNames []string
		roots     []*x509.Certificate
		want      string // in the error
	}{
		{"untrusted CA", []string{"sip.lab.test"}, []*x509.Certificate{other.cert},
			`TLS handshake: certificate "CN=sip.lab.test" is not signed by a trusted CA`},
		{"certificate for another name", []string{"sip.other.test"}, []*x509.Certificate{ca.cert},
			"TLS handshake: x509: certificate is valid for sip.other.test, not sip.lab.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := startSignInLab(t, ca.issue(t, x509.SHA256WithRSA, tt.leafNames...))
			s := phoneSignIn{Address: "tech@lab.test", Password: signInTestPassword, Transport: signInTLS, Roots: tt.roots, DNS: lab.zone.addr}
			_, err := s.SignIn(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SignIn: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("wrong password says REGISTER", func(t *testing.T) {
		lab := startSignInLab(t, nil)
		s := phoneSignIn{Address: "tech@lab.test", Password: "wrong", DNS: lab.zone.addr}
		_, err := s.SignIn(t.Context())
		if err == nil || !strings.Contains(err.Error(), "REGISTER") {
			t.Errorf("SignIn: %v, want a REGISTER failure", err)
		}
		if diff := cmp.Diff([]string{`tcp auth-failed LAB\tech from 127.0.0.1`}, lab.steps()); diff != "" {
			t.Errorf("sign-in steps (-want +got):\n%s", diff)
		}
	})
}

func TestPhoneSignInCheck(t *testing.T) {
	roots := []*x509.Certificate{{}}
	tests := []struct {
		name string
		s    phoneSignIn
		want string // "" = fine
	}{
		{"tcp", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", Transport: signInTCP}, ""},
		{"auto without CA", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53"}, ""},
		{"tls with CA", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", Transport: signInTLS, Roots: roots, User: `LAB\tech`}, ""},
		{"no address", phoneSignIn{DNS: "127.0.0.1:53"}, `sign-in address "": want user@sip-domain, e.g. tech@lab.local`},
		{"address without user", phoneSignIn{Address: "@lab.local", DNS: "127.0.0.1:53"}, `sign-in address "@lab.local": want user@sip-domain, e.g. tech@lab.local`},
		{"address is a user name", phoneSignIn{Address: `LAB\tech`, DNS: "127.0.0.1:53"}, `sign-in address "LAB\\tech": want user@sip-domain, e.g. tech@lab.local`},
		{"no DNS", phoneSignIn{Address: "tech@lab.local"}, "sign-in: no DNS server to find the SIP server with"},
		{"tls without CA", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", Transport: signInTLS},
			"sign-in over TLS needs the CA the phone trusts (the appliance CA); without it only TCP can be used"},
		{"bad transport", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", Transport: "udp"}, `sign-in transport "udp": want tls, tcp or auto`},
		{"half a user", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", User: `LAB\`}, `sign-in user "LAB\\": want DOMAIN\user`},
		{"a UPN", phoneSignIn{Address: "tech@lab.local", DNS: "127.0.0.1:53", User: "tech@lab.local"}, `sign-in user "tech@lab.local": want DOMAIN\user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.check()
			if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
				t.Errorf("check() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignInDefaultUser(t *testing.T) {
	for address, want := range map[string]string{"tech@lab.local": `LAB\tech`, "alice@contoso.test": `CONTOSO\alice`, "bob@corp": `CORP\bob`} {
		if got := signInDefaultUser(address); got != want {
			t.Errorf("signInDefaultUser(%q) = %q, want %q", address, got, want)
		}
	}
}

func TestVerifySignInChain(t *testing.T) {
	now := time.Now()
	root := newSignInCA(t, "Root", x509.SHA1WithRSA)
	mid := signInCert(t, root, "Intermediate", true, x509.SHA1WithRSA)
	other := newSignInCA(t, "Other", x509.SHA256WithRSA)
	leaf := root.issue(t, x509.SHA1WithRSA, "sip.lab.test").Leaf
	midLeaf := mid.issue(t, x509.SHA256WithRSA, "sip.lab.test").Leaf
	notCA := signInCert(t, root, "not-a-ca.lab.test", false, x509.SHA256WithRSA)
	fakeLeaf := signInCert(t, notCA, "sip.lab.test", false, x509.SHA256WithRSA).cert
	tests := []struct {
		name  string
		chain []*x509.Certificate
		roots []*x509.Certificate
		host  string
		at    time.Time
		want  string // "" = trusted
	}{
		{"SHA-1 leaf under the root", []*x509.Certificate{leaf}, []*x509.Certificate{root.cert}, "sip.lab.test", now, ""},
		{"leaf and root sent", []*x509.Certificate{leaf, root.cert}, []*x509.Certificate{root.cert}, "sip.lab.test", now, ""},
		{"through an intermediate", []*x509.Certificate{midLeaf, mid.cert}, []*x509.Certificate{root.cert}, "sip.lab.test", now, ""},
		{"host name is case-insensitive", []*x509.Certificate{leaf}, []*x509.Certificate{root.cert}, "SIP.lab.test", now, ""},
		{"intermediate missing", []*x509.Certificate{midLeaf}, []*x509.Certificate{root.cert}, "sip.lab.test", now,
			`certificate "CN=sip.lab.test" is not signed by a trusted CA`},
		{"other root", []*x509.Certificate{leaf, root.cert}, []*x509.Certificate{other.cert}, "sip.lab.test", now,
			`certificate "CN=Root" is not signed by a trusted CA`},
		{"wrong name", []*x509.Certificate{leaf}, []*x509.Certificate{root.cert}, "sip.other.test", now,
			"x509: certificate is valid for sip.lab.test, not sip.other.test"},
		{"expired", []*x509.Certificate{leaf}, []*x509.Certificate{root.cert}, "sip.lab.test", now.Add(2 * 365 * 24 * time.Hour),
			`certificate "CN=sip.lab.test" is not valid now`},
		{"signed by a leaf", []*x509.Certificate{fakeLeaf, notCA.cert}, []*x509.Certificate{other.cert}, "sip.lab.test", now,
			`certificate "CN=sip.lab.test" is signed by "CN=not-a-ca.lab.test", which is not a CA`},
		{"no certificate", nil, []*x509.Certificate{root.cert}, "sip.lab.test", now, "the server sent no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignInChain(tt.chain, tt.roots, tt.host, tt.at)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("verifySignInChain: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseSignInRoots(t *testing.T) {
	ca := newSignInCA(t, "Tanjay test CA", x509.SHA1WithRSA)
	two := append(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("skipped")}), ca.pem()...)
	two = append(two, newSignInCA(t, "Second", x509.SHA256WithRSA).pem()...)
	roots, err := parseSignInRoots(two)
	if err != nil || len(roots) != 2 || roots[0].Subject.CommonName != "Tanjay test CA" {
		t.Errorf("parseSignInRoots: %d roots, %v", len(roots), err)
	}
	der, err := parseSignInRoots(ca.cert.Raw) // /ca.cer
	if err != nil || len(der) != 1 || !der[0].Equal(ca.cert) {
		t.Errorf("parseSignInRoots(DER): %d roots, %v", len(der), err)
	}
	if _, err := parseSignInRoots([]byte("not PEM")); err == nil || err.Error() != "no certificate (want PEM or DER)" {
		t.Errorf("parseSignInRoots(garbage): %v", err)
	}
}

// signInCA is a CA for the sign-in tests.
type signInCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// signInKeys are RSA keys the sign-in tests share in turn: generating one
// takes a while.
var signInKeys struct {
	sync.Mutex
	n    int
	keys []*rsa.PrivateKey
}

func signInKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	signInKeys.Lock()
	defer signInKeys.Unlock()
	if len(signInKeys.keys) < 4 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		signInKeys.keys = append(signInKeys.keys, k)
	}
	signInKeys.n++
	return signInKeys.keys[signInKeys.n%len(signInKeys.keys)]
}

// signInCert makes a certificate named cn (a CA, or a server certificate
// for cn and names) signed by parent's key with alg; parent nil makes it
// self-signed.
func signInCert(t *testing.T, parent *signInCA, cn string, isCA bool, alg x509.SignatureAlgorithm, names ...string) *signInCA {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		SignatureAlgorithm:    alg,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if isCA {
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageCertSign|x509.KeyUsageCRLSign, nil
	} else {
		tmpl.DNSNames = append([]string{cn}, names...)
	}
	key := signInKey(t)
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &signInCA{cert: cert, key: key}
}

func newSignInCA(t *testing.T, name string, alg x509.SignatureAlgorithm) *signInCA {
	t.Helper()
	return signInCert(t, nil, name, true, alg)
}

func (ca *signInCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// issue makes a server certificate for names (the first is its CN) under
// ca, ready for a TLS listener.
func (ca *signInCA) issue(t *testing.T, alg x509.SignatureAlgorithm, names ...string) *tls.Certificate {
	t.Helper()
	c := signInCert(t, ca, names[0], false, alg, names[1:]...)
	return &tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}
