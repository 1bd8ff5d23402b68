package web

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
)

// TestCX700CheckInOverTLS10With3DES is the acceptance case: a client
// limited to TLS 1.0 and TLS_RSA_WITH_3DES_EDE_CBC_SHA fetches the CA
// from /certsrv/certnew.p7b on the phone HTTP listener, checks in over the
// legacy HTTPS profile verifying the SHA-1 chain against it, and is
// refused by the dashboard profile.
func TestCX700CheckInOverTLS10With3DES(t *testing.T) {
	certs := newTestCerts(t, selfSignedConfig(t))
	h := phoneMux(certs)
	httpAddr := serve(t, h, nil)
	httpsAddr := serve(t, h, certs.PhoneTLS())
	dashAddr := serve(t, http.NotFoundHandler(), certs.DashboardTLS())

	roots, err := parseCertsOnlyPKCS7(get(t, http.DefaultClient, "http://"+httpAddr+"/CertSrv/certnew.p7b?ReqID=CACert&Renewal=0&Enc=bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].SignatureAlgorithm.String() != "SHA1-RSA" {
		t.Fatalf("p7b roots: %d, want 1 SHA1-RSA", len(roots))
	}
	client := cx700Client(roots, "ucupdates-r2.lab.example")
	resp, body, err := postCheckin(client, "https://"+httpsAddr+"/RequestHandlerExt/ucdevice.upx")
	if err != nil {
		t.Fatalf("check-in over TLS 1.0/3DES: %v", err)
	}
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<NumOfFiles>0</NumOfFiles>") {
		t.Fatalf("check-in: %s %s", resp.Status, body)
	}
	st := resp.TLS
	if st.Version != tls.VersionTLS10 || st.CipherSuite != tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA {
		t.Errorf("negotiated %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	if alg := st.PeerCertificates[0].SignatureAlgorithm.String(); alg != "SHA1-RSA" {
		t.Errorf("phone leaf signed with %s", alg)
	}
	// The phone connecting by IP sends no SNI: same certificate, names the IP.
	if _, _, err := postCheckin(cx700Client(roots, "127.0.0.1"), "https://"+httpsAddr+"/RequestHandler/ucdevice.upx"); err != nil {
		t.Errorf("check-in by IP: %v", err)
	}

	if _, _, err := postCheckin(client, "https://"+dashAddr+"/"); err == nil {
		t.Fatal("dashboard accepted a TLS 1.0/3DES client")
	}
}

// TestPhoneProfileSuites: each suite the legacy profile lists completes a
// handshake at each version it is defined for; a modern client still gets
// TLS 1.2 with ECDHE.
func TestPhoneProfileSuites(t *testing.T) {
	certs := newTestCerts(t, selfSignedConfig(t))
	addr := serve(t, http.NotFoundHandler(), certs.PhoneTLS())
	for _, suite := range phoneCipherSuites {
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12} {
			name := tls.CipherSuiteName(suite) + "/" + tls.VersionName(v)
			tls12Only := strings.Contains(name, "GCM")
			t.Run(name, func(t *testing.T) {
				c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v, CipherSuites: []uint16{suite}})
				if tls12Only && v != tls.VersionTLS12 {
					if err == nil {
						c.Close()
						t.Fatal("GCM below TLS 1.2 negotiated")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			})
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.ConnectionState(); st.Version != tls.VersionTLS12 || !strings.HasPrefix(tls.CipherSuiteName(st.CipherSuite), "TLS_ECDHE_RSA") {
		t.Errorf("modern client got %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
}
