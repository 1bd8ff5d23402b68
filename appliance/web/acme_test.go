package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// acmeConfig is acme mode against srv, in a fresh directory, for names.
func acmeConfig(t testing.TB, srv *acmeTestServer, names []string) TLSConfig {
	return TLSConfig{
		Mode: ModeACME, Dir: t.TempDir(), ACMEDirectory: srv.DirectoryURL(), ACMECAFile: srv.CAFile(t),
		ACMEEmail: "lab@lab.example", Names: names, Logger: discardLogger(),
	}
}

// startACME serves c's phone routes on an HTTP and an HTTPS listener and
// points srv's validations at them.
func startACME(t testing.TB, srv *acmeTestServer, c *Certs) (httpAddr, httpsAddr string) {
	srv.ApplianceHTTP = serve(t, phoneMux(c), nil)
	srv.ApplianceHTTPS = serve(t, phoneMux(c), c.PhoneTLS())
	return srv.ApplianceHTTP, srv.ApplianceHTTPS
}

// dialLeaf handshakes with addr as cfg says and returns the served leaf,
// verified against the test CA for the name want.
func dialLeaf(t *testing.T, srv *acmeTestServer, addr string, cfg *tls.Config, want string) (*x509.Certificate, error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.InsecureSkipVerify = true // verified below, for want rather than the server name sent
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	roots := x509.NewCertPool()
	roots.AddCert(srv.ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: want}); err != nil {
		t.Errorf("served certificate for %s: %v", want, err)
	}
	return leaf, nil
}

// rsaOnlyPhone is a CX700-like ClientHello: TLS 1.0, RSA key exchange,
// no ECDHE suite at all.
var rsaOnlyPhone = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
	CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}}

// TestACMEObtainsServesAndCaches: acme mode orders one RSA certificate per
// fully qualified update name from a loopback ACME server that validates
// tls-alpn-01 against the appliance's HTTPS listener; serves each on the
// legacy profile by server name, the first to a phone that sends none,
// and a bare name's under its domain; refuses a name outside its own;
// offers the ACME CA for download; and reuses the cache at the next start.
func TestACMEObtainsServesAndCaches(t *testing.T) {
	srv := newACMETestServer(t)
	cfg := acmeConfig(t, srv, ServerNames("testhost", []string{"lab.example"}))
	c := newTestCerts(t, cfg)
	httpAddr, httpsAddr := startACME(t, srv, c)
	if len(c.Info()) != 0 || len(c.CAPEM()) != 0 {
		t.Fatal("a certificate before the first order")
	}

	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatalf("first orders failed (retry in %s)", wait)
	}
	want := []string{"tls-alpn-01 ucupdates-r2.lab.example", "tls-alpn-01 ucupdates.lab.example", "tls-alpn-01 testhost.lab.example"}
	if d := cmp.Diff(want, srv.Validations()); d != "" {
		t.Fatalf("validations (-want +got):\n%s", d)
	}
	if n := srv.Orders(); n != 3 {
		t.Fatalf("%d orders, want one per name", n)
	}

	served := map[string]*x509.Certificate{}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want string // the name whose certificate is served
	}{
		{"RSA-only phone", &tls.Config{ServerName: "ucupdates-r2.lab.example", MinVersion: rsaOnlyPhone.MinVersion,
			MaxVersion: rsaOnlyPhone.MaxVersion, CipherSuites: rsaOnlyPhone.CipherSuites}, "ucupdates-r2.lab.example"},
		{"modern client offering ECDSA", &tls.Config{ServerName: "testhost.lab.example"}, "testhost.lab.example"},
		{"RSA-only phone without SNI", rsaOnlyPhone, "ucupdates-r2.lab.example"},
		{"bare name", &tls.Config{ServerName: "ucupdates"}, "ucupdates.lab.example"},
		{"upper case", &tls.Config{ServerName: "UCUPDATES-R2.LAB.EXAMPLE"}, "ucupdates-r2.lab.example"},
	} {
		leaf, err := dialLeaf(t, srv, httpsAddr, tc.cfg, tc.want)
		if err != nil {
			t.Errorf("%s: handshake: %v", tc.name, err)
			continue
		}
		if leaf.PublicKeyAlgorithm != x509.RSA {
			t.Errorf("%s: %s certificate, want RSA", tc.name, leaf.PublicKeyAlgorithm)
		}
		if d := cmp.Diff([]string{tc.want}, leaf.DNSNames); d != "" {
			t.Errorf("%s: certificate names (-want +got):\n%s", tc.name, d)
		}
		served[tc.want] = leaf
	}
	dashAddr := serve(t, http.NotFoundHandler(), c.DashboardTLS())
	if leaf, err := dialLeaf(t, srv, dashAddr, &tls.Config{ServerName: "testhost.lab.example"}, "testhost.lab.example"); err != nil || !leaf.Equal(served["testhost.lab.example"]) {
		t.Errorf("dashboard listener: %v, want the certificate the phone listener serves", err)
	}

	// A phone dialing the IP over TLS 1.0 gets HTTP answers on the phone
	// listener, which now also offers acme-tls/1.
	phone := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: rsaOnlyPhone.CipherSuites}}}
	if der := get(t, phone, "https://"+httpsAddr+CACerPath); !bytes.Equal(der, srv.ca.Raw) {
		t.Error("/ca.cer over HTTPS is not the ACME CA")
	}
	roots, err := parseCertsOnlyPKCS7(get(t, http.DefaultClient, "http://"+httpAddr+CertNewP7BPath+"?ReqID=CACert&Renewal=-1&Enc=bin"))
	if err != nil || len(roots) != 1 || !roots[0].Equal(srv.ca) {
		t.Errorf("certnew.p7b in acme mode: %d certs, %v", len(roots), err)
	}

	if _, err := dialLeaf(t, srv, httpsAddr, &tls.Config{ServerName: "other.lab.example"}, "other.lab.example"); err == nil {
		t.Error("handshake for a name outside the policy succeeded")
	}
	if _, err := c.acme.certificate(&tls.ClientHelloInfo{ServerName: "other.lab.example"}); err == nil || !strings.Contains(err.Error(), "other.lab.example") {
		t.Errorf("a name outside the policy: %v, want an error naming it", err)
	}
	if n := srv.Orders(); n != 3 {
		t.Fatalf("%d orders after the policy refusal, want 3", n)
	}

	gotInfo, wantInfo := infoLines(c.Info()), []string(nil)
	for _, n := range []string{"ucupdates-r2.lab.example", "ucupdates.lab.example", "testhost.lab.example"} {
		wantInfo = append(wantInfo, "acme "+n+" "+fingerprintSHA256(served[n]))
	}
	if d := cmp.Diff(wantInfo, gotInfo); d != "" {
		t.Errorf("Info (-want +got):\n%s", d)
	}

	restarted := newTestCerts(t, cfg)
	if d := cmp.Diff(gotInfo, infoLines(restarted.Info())); d != "" {
		t.Errorf("Info after a restart, before any handshake (-before +after):\n%s", d)
	}
	addr := serve(t, phoneMux(restarted), restarted.PhoneTLS())
	if leaf, err := dialLeaf(t, srv, addr, rsaOnlyPhone, "ucupdates-r2.lab.example"); err != nil || !leaf.Equal(served["ucupdates-r2.lab.example"]) {
		t.Fatalf("cached certificate not served after a restart (%v)", err)
	}
	if wait := restarted.refresh(context.Background()); wait != 0 || srv.Orders() != 3 {
		t.Fatalf("%d orders after a restart (wait %s), want the cache reused", srv.Orders(), wait)
	}
}

func infoLines(info []CertInfo) []string {
	var out []string
	for _, i := range info {
		out = append(out, i.Role+" "+strings.Join(i.Names, ",")+" "+i.SHA256)
	}
	return out
}

// TestACMEHTTP01: with an ACME server that offers only http-01, the
// certificate is validated through the phone HTTP listener.
func TestACMEHTTP01(t *testing.T) {
	srv := newACMETestServer(t)
	srv.Challenges = []string{"http-01"}
	c := newTestCerts(t, acmeConfig(t, srv, []string{"ucupdates-r2.lab.example"}))
	srv.ApplianceHTTP = serve(t, phoneMux(c), nil)
	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatalf("order failed (retry in %s)", wait)
	}
	if d := cmp.Diff([]string{"http-01 ucupdates-r2.lab.example"}, srv.Validations()); d != "" {
		t.Fatalf("validations (-want +got):\n%s", d)
	}
}

// TestACMERenewsWithoutRestart: a certificate is renewed by autocert when
// within RenewBefore of expiry, not before, while the appliance runs;
// the new one is served from the next handshake on, logged, and shown by
// Info; a renewal that does not happen in time is logged by Run.
func TestACMERenewsWithoutRestart(t *testing.T) {
	// Renewed 5 to 6 s after issue: autocert renews RenewBefore (less a
	// jitter of up to a tenth of it) before expiry.
	const lifetime, renewBefore = 15 * time.Second, 10 * time.Second
	old := acmeRenewBefore
	acmeRenewBefore = renewBefore
	t.Cleanup(func() { acmeRenewBefore = old })
	srv := newACMETestServer(t)
	srv.SetLifetime(lifetime)
	var logs lockedBuffer
	now := time.Now()
	cfg := acmeConfig(t, srv, []string{"ucupdates-r2.lab.example"})
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.Now = func() time.Time { return now }
	c := newTestCerts(t, cfg)
	_, httpsAddr := startACME(t, srv, c)

	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatalf("first order failed (retry in %s)", wait)
	}
	srv.SetLifetime(90 * 24 * time.Hour)
	first, err := dialLeaf(t, srv, httpsAddr, rsaOnlyPhone, "ucupdates-r2.lab.example")
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Orders(); n != 1 {
		t.Fatalf("%d orders right after the first: renewed long before RenewBefore", n)
	}

	hello := &tls.ClientHelloInfo{ServerName: "ucupdates-r2.lab.example"}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		cert, err := c.acme.certificate(hello)
		if err == nil && cert.Leaf.NotAfter.After(time.Now().Add(time.Hour)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not renewed within 2 minutes: %d orders, %v", srv.Orders(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	renewed, err := dialLeaf(t, srv, httpsAddr, rsaOnlyPhone, "ucupdates-r2.lab.example")
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Equal(first) || srv.Orders() < 2 {
		t.Fatalf("the same certificate served after renewal (%d orders)", srv.Orders())
	}
	if info := c.Info(); len(info) != 1 || info[0].SHA256 != fingerprintSHA256(renewed) {
		t.Errorf("Info after renewal: %+v", info)
	}
	if n := strings.Count(logs.String(), "ACME certificate obtained"); n != srv.Orders() {
		t.Errorf("%d certificates logged for %d orders:\n%s", n, srv.Orders(), logs.String())
	}
	if c.refresh(context.Background()); strings.Contains(logs.String(), "overdue") {
		t.Fatalf("a fresh certificate reported overdue:\n%s", logs.String())
	}

	now = renewed.NotAfter.Add(2 * time.Hour)
	if wait := c.refresh(context.Background()); wait != 0 {
		t.Errorf("refresh waits %s", wait)
	}
	if !strings.Contains(logs.String(), "ACME renewal overdue") || !strings.Contains(logs.String(), "name=ucupdates-r2.lab.example") {
		t.Errorf("an overdue renewal not logged:\n%s", logs.String())
	}
}

// TestACMEFailureIsRetried: an unreachable ACME server is logged and
// retried, never fatal.
func TestACMEFailureIsRetried(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var logs lockedBuffer
	c := newTestCerts(t, TLSConfig{Mode: ModeACME, Dir: t.TempDir(), ACMEDirectory: "http://" + addr + "/dir",
		Names: []string{"ucupdates-r2.lab.example"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if wait := c.refresh(context.Background()); wait != acmeRetry {
		t.Fatalf("wait %s, want the retry interval", wait)
	}
	if !strings.Contains(logs.String(), "ACME order failed; retrying") || !strings.Contains(logs.String(), addr) {
		t.Errorf("the failure is not logged with the directory:\n%s", logs.String())
	}
}

// TestACMECertName: which name's certificate a server name gets.
func TestACMECertName(t *testing.T) {
	names := ServerNames("testhost", []string{"lab.example", "other.example"})
	full := acmeNames(names)
	m := &acmeManager{names: full, bare: bareNames(names, full)}
	for _, tc := range []struct{ name, sni, want string }{
		{"none", "", "ucupdates-r2.lab.example"},
		{"IPv4 literal", "192.0.2.10", "ucupdates-r2.lab.example"},
		{"IPv6 literal", "2001:db8::1", "ucupdates-r2.lab.example"},
		{"bare", "ucupdates", "ucupdates.lab.example"},
		{"bare host, upper case", "TESTHOST", "testhost.lab.example"},
		{"second domain", "ucupdates.other.example", "ucupdates.other.example"},
		{"trailing dot", "ucupdates-r2.lab.example.", "ucupdates-r2.lab.example"},
		{"not ours", "www.lab.example", "www.lab.example"},
	} {
		if got := m.certName(tc.sni); got != tc.want {
			t.Errorf("%s: certName(%q) = %q, want %q", tc.name, tc.sni, got, tc.want)
		}
	}
}

// FuzzACMECertName: whatever server name a client sends, certName maps it
// to the first name when it is empty or an IP literal, and otherwise to a
// lower-case name without a trailing dot, which is one of the appliance's
// names whenever its first label is a bare one.
func FuzzACMECertName(f *testing.F) {
	names := ServerNames("testhost", []string{"lab.example"})
	full := acmeNames(names)
	m := &acmeManager{names: full, bare: bareNames(names, full)}
	for _, s := range []string{"", "192.0.2.1", "::1", "UCUPDATES", "testhost.", "ucupdates-r2.lab.example", "x.y.z", "\xff."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sni string) {
		got := m.certName(sni)
		norm := strings.ToLower(strings.TrimSuffix(sni, "."))
		switch {
		case norm == "" || net.ParseIP(norm) != nil:
			if got != full[0] {
				t.Fatalf("certName(%q) = %q, want %q", sni, got, full[0])
			}
		case m.bare[norm] != "":
			if !slices.Contains(full, got) {
				t.Fatalf("certName(%q) = %q, not one of %v", sni, got, full)
			}
		case got != norm:
			t.Fatalf("certName(%q) = %q, want %q unchanged", sni, got, norm)
		}
	})
}

// BenchmarkACMEHandshake compares full TLS 1.0 handshakes of a phone that
// dials the IP (no SNI, RSA key exchange) in acme mode, through autocert
// and the name mapping, with the same in self-signed mode.
func BenchmarkACMEHandshake(b *testing.B) {
	srv := newACMETestServer(b)
	acmeCerts := newTestCerts(b, acmeConfig(b, srv, []string{"ucupdates-r2.lab.example"}))
	startACME(b, srv, acmeCerts)
	if wait := acmeCerts.refresh(context.Background()); wait != 0 {
		b.Fatal("order failed")
	}
	for _, tc := range []struct {
		name  string
		certs *Certs
	}{
		{"self-signed", newTestCerts(b, selfSignedConfig(b))},
		{"acme", acmeCerts},
	} {
		addr := handshakeServer(b, tc.certs.PhoneTLS())
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10,
					MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}})
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkACMEGetCertificate is the server side's certificate lookup for
// a phone without SNI, acme mode against self-signed: what the name mapping
// and autocert add to every handshake, without the RSA operation.
func BenchmarkACMEGetCertificate(b *testing.B) {
	srv := newACMETestServer(b)
	acmeCerts := newTestCerts(b, acmeConfig(b, srv, []string{"ucupdates-r2.lab.example"}))
	startACME(b, srv, acmeCerts)
	if wait := acmeCerts.refresh(context.Background()); wait != 0 {
		b.Fatal("order failed")
	}
	hello := &tls.ClientHelloInfo{CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
	for _, tc := range []struct {
		name  string
		certs *Certs
	}{
		{"self-signed", newTestCerts(b, selfSignedConfig(b))},
		{"acme", acmeCerts},
	} {
		get := tc.certs.PhoneTLS().GetCertificate
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := get(hello); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// handshakeServer completes a TLS handshake on every connection to the
// address it returns, then closes it.
func handshakeServer(b *testing.B, cfg *tls.Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				tc.Handshake()
				tc.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// lockedBuffer is a log destination for tests whose logs are written by
// other goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func fingerprintSHA256(c *x509.Certificate) string { return fingerprint(sha256.New(), c.Raw) }

// TestACMESIPListenerWithoutSNI: in acme mode each name has its own
// certificate, so a client of the SIP TLS listener that sends no server
// name (or an IP) gets sip.<domain>'s, the name it dialed, while the
// phone HTTPS listener keeps giving such a client ucupdates-r2's.
func TestACMESIPListenerWithoutSNI(t *testing.T) {
	srv := newACMETestServer(t)
	names := append(ServerNames("testhost", []string{"lab.example"}), "sip.lab.example")
	c := newTestCerts(t, acmeConfig(t, srv, names))
	_, httpsAddr := startACME(t, srv, c)
	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatalf("orders failed (retry in %s)", wait)
	}
	sipAddr := serve(t, http.NotFoundHandler(), c.SIPTLS("sip.lab.example"))
	for _, tc := range []struct {
		listener, addr, sni, want string
	}{
		{"SIP TLS", sipAddr, "", "sip.lab.example"},
		{"SIP TLS", sipAddr, "ucupdates.lab.example", "ucupdates.lab.example"},
		{"phone HTTPS", httpsAddr, "", "ucupdates-r2.lab.example"},
	} {
		cfg := rsaOnlyPhone.Clone()
		cfg.ServerName = tc.sni
		leaf, err := dialLeaf(t, srv, tc.addr, cfg, tc.want)
		if err != nil {
			t.Fatalf("%s, server name %q: %v", tc.listener, tc.sni, err)
		}
		if leaf.PublicKeyAlgorithm != x509.RSA {
			t.Errorf("%s, server name %q: %s certificate, want RSA", tc.listener, tc.sni, leaf.PublicKeyAlgorithm)
		}
	}
	// Go's client never sends an IP as the server name; some phone stacks
	// do: asked directly, the SIP listener answers it as it answers none.
	cert, err := c.SIPTLS("sip.lab.example").GetCertificate(&tls.ClientHelloInfo{ServerName: "10.77.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || !slices.Equal(cert.Leaf.DNSNames, []string{"sip.lab.example"}) {
		t.Errorf("SIP TLS, server name 10.77.0.1: certificate for %v, want [sip.lab.example]", cert.Leaf.DNSNames)
	}
}
