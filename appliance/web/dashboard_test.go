package web

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
)

// TestDashboardTLSIsModern: a browser-like client verifying against the
// appliance CA gets TLS 1.3 and HTTP/2 from the dashboard listener, with
// the SHA-256 leaf.
func TestDashboardTLSIsModern(t *testing.T) {
	certs := newTestCerts(t, selfSignedConfig(t))
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.Proto)) }), certs.DashboardTLS())
	roots := x509.NewCertPool()
	roots.AddCert(certs.ca.cert)
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "testhost"}}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 || resp.Proto != "HTTP/2.0" {
		t.Errorf("dashboard: %s %s", tls.VersionName(resp.TLS.Version), resp.Proto)
	}
	if alg := resp.TLS.PeerCertificates[0].SignatureAlgorithm; alg != x509.SHA256WithRSA {
		t.Errorf("dashboard leaf %s", alg)
	}
}
