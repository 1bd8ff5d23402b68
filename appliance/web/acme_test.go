package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestACMEObtainsRenewsAndCaches: acme mode gets one RSA certificate for
// every fully qualified update name from a loopback ACME server that
// validates http-01 against the appliance's HTTP listener, serves it on the
// legacy profile (also to a phone that sends no SNI), offers the ACME CA
// for download, reuses the cache at the next start and renews before
// expiry without a restart.
func TestACMEObtainsRenewsAndCaches(t *testing.T) {
	srv := newACMETestServer(t)
	now := time.Now()
	cfg := TLSConfig{
		Mode: ModeACME, Dir: t.TempDir(), ACMEDirectory: srv.DirectoryURL(), ACMECAFile: srv.CAFile(t),
		ACMEEmail: "lab@lab.example", Names: ServerNames("testhost", []string{"lab.example"}),
		Logger: discardLogger(), Now: func() time.Time { return now },
	}
	c := newTestCerts(t, cfg)
	srv.ApplianceHTTP = serve(t, phoneMux(c), nil)
	if _, err := c.PhoneTLS().GetCertificate(&tls.ClientHelloInfo{}); err == nil || len(c.Info()) != 0 {
		t.Fatal("a certificate before the first order")
	}

	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatalf("first order failed (retry in %s)", wait)
	}
	wantNames := []string{"ucupdates-r2.lab.example", "ucupdates.lab.example", "testhost.lab.example"}
	if d := cmp.Diff(wantNames, srv.Validations); d != "" {
		t.Fatalf("http-01 validations (-want +got):\n%s", d)
	}
	httpsAddr := serve(t, phoneMux(c), c.PhoneTLS())
	roots := x509.NewCertPool()
	roots.AddCert(srv.ca)
	conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: roots, ServerName: "ucupdates-r2.lab.example",
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}})
	if err != nil {
		t.Fatalf("TLS 1.0 handshake with the ACME certificate: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if leaf.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("ACME leaf key %s, want RSA", leaf.PublicKeyAlgorithm)
	}
	// A phone dialing the IP sends no SNI and still gets the certificate.
	host, port, _ := net.SplitHostPort(httpsAddr)
	if conn, err := tls.Dial("tcp", net.JoinHostPort(host, port), &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("handshake without SNI: %v", err)
	} else {
		conn.Close()
	}
	roots2, err := parseCertsOnlyPKCS7(get(t, http.DefaultClient, "http://"+srv.ApplianceHTTP+CertNewP7BPath+"?ReqID=CACert&Renewal=-1&Enc=bin"))
	if err != nil || len(roots2) != 1 || !roots2[0].Equal(srv.ca) {
		t.Errorf("certnew.p7b in acme mode: %d certs, %v", len(roots2), err)
	}
	if info := c.Info(); len(info) != 1 || info[0].SHA256 != fingerprintSHA256(leaf) {
		t.Errorf("Info: %+v", info)
	}

	restarted := newTestCerts(t, cfg)
	if got, _ := restarted.PhoneTLS().GetCertificate(&tls.ClientHelloInfo{}); got == nil || !got.Leaf.Equal(leaf) {
		t.Fatal("cached certificate not served after a restart")
	}
	restarted.refresh(context.Background())
	if srv.Orders != 1 {
		t.Fatalf("%d orders, want the cached certificate reused", srv.Orders)
	}

	now = leaf.NotAfter.Add(-RenewBefore + time.Hour)
	if wait := c.refresh(context.Background()); wait != 0 {
		t.Fatal("renewal order failed")
	}
	renewed, _ := c.PhoneTLS().GetCertificate(&tls.ClientHelloInfo{})
	if srv.Orders != 2 || renewed.Leaf.Equal(leaf) {
		t.Fatalf("not renewed: %d orders", srv.Orders)
	}
}

// TestACMEFailureIsRetried: an unreachable ACME server is logged and
// retried, never fatal.
func TestACMEFailureIsRetried(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := newTestCerts(t, TLSConfig{Mode: ModeACME, Dir: t.TempDir(), ACMEDirectory: "http://" + addr + "/dir",
		Names: []string{"ucupdates-r2.lab.example"}, Logger: discardLogger()})
	if wait := c.refresh(context.Background()); wait != acmeRetry {
		t.Fatalf("wait %s, want the retry interval", wait)
	}
}

func fingerprintSHA256(c *x509.Certificate) string { return fingerprint(sha256.New(), c.Raw) }
