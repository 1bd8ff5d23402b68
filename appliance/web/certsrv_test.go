package web

import (
	"bytes"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCAHandler(t *testing.T) {
	c := newTestCerts(t, selfSignedConfig(t))
	h := c.CAHandler()
	for _, tc := range []struct {
		name, method, path string
		status             int
		ctype              string
	}{
		{"p7b", "GET", "/certsrv/certnew.p7b?ReqID=CACert&Renewal=0&Enc=bin", 200, "application/x-pkcs7-certificates"},
		{"p7b any case", "GET", "/CertSrv/CertNew.P7B", 200, "application/x-pkcs7-certificates"},
		{"cer", "GET", "/ca.cer", 200, "application/pkix-cert"},
		{"head", "HEAD", "/ca.cer", 200, "application/pkix-cert"},
		{"post", "POST", "/ca.cer", 405, ""},
		{"other", "GET", "/certsrv/other", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q", got)
			}
			if tc.method == "HEAD" {
				return
			}
			body, _ := io.ReadAll(rec.Body)
			var certs []*x509.Certificate
			var err error
			if tc.ctype == "application/pkix-cert" {
				var one *x509.Certificate
				one, err = x509.ParseCertificate(body)
				certs = []*x509.Certificate{one}
			} else {
				certs, err = parseCertsOnlyPKCS7(body)
			}
			if err != nil || len(certs) != 1 || !certs[0].Equal(c.ca.cert) {
				t.Fatalf("got %d certs, err %v; want the CA", len(certs), err)
			}
		})
	}
}

// TestCertsOnlyPKCS7IsWhatOpenSSLReads pins the encoding against a
// hand-checked prefix: ContentInfo SEQUENCE, signedData OID, [0], SignedData
// version 1 with empty digest algorithms and a data ContentInfo.
func TestCertsOnlyPKCS7Prefix(t *testing.T) {
	c := newTestCerts(t, selfSignedConfig(t))
	der, err := certsOnlyPKCS7([]*x509.Certificate{c.ca.cert})
	if err != nil {
		t.Fatal(err)
	}
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	if der[0] != 0x30 || !bytes.Contains(der[:16], oid) {
		t.Fatalf("not a signedData ContentInfo: % x", der[:16])
	}
	tail := []byte{0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0}
	if !bytes.Contains(der, tail) {
		t.Fatalf("SignedData header missing")
	}
	if !bytes.HasSuffix(der, []byte{0x31, 0x00}) {
		t.Fatal("signerInfos not an empty SET at the end")
	}
}

func TestCAHandlerNoCA(t *testing.T) {
	c := &Certs{}
	rec := httptest.NewRecorder()
	c.CAHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ca.cer", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d", rec.Code)
	}
}
