package web

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Authorization headers a Windows client (and, per its trace, the CX700)
// sends to an IIS that demands Windows authentication on /certsrv.
var certsrvAuthHeaders = []struct{ name, value string }{
	{"no auth", ""},
	{"Negotiate", "Negotiate YIIFyQYGKwYBBQUCoIIFvTCCBbmgMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCqKCBYMEggV/"},
	{"NTLM", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGNFAAAADw=="},
}

// TestCertsrvDownloads: every certsrv download, asked the way a phone, a
// script or a browser asks it, with or without credentials, answers 200
// as Windows does, and holds the CA byte-identical to /ca.cer.
func TestCertsrvDownloads(t *testing.T) {
	certs := newTestCerts(t, selfSignedConfig(t))
	h := phoneMux(certs)
	caCer := fetch(t, h, "GET", CACerPath, "").Body.Bytes()
	if !bytes.Equal(caCer, certs.ca.cert.Raw) {
		t.Fatal("/ca.cer is not the appliance CA")
	}
	paths := []struct {
		name, path, ctype string
		pkcs7             bool
	}{
		{"p7b", CertNewP7BPath, "application/x-pkcs7-certificates", true},
		{"p7b any case", "/CertSrv/CertNew.P7B", "application/x-pkcs7-certificates", true},
		{"cer", CertNewCerPath, "application/pkix-cert", false},
		{"cer any case", "/CERTSRV/certnew.CER", "application/pkix-cert", false},
	}
	queries := []struct {
		name, query string
		enc         certsrvEncoding
	}{
		{"Enc=b64 (the phone)", "?ReqID=CACert&Renewal=-1&Enc=b64", encBase64Header},
		{"Enc=bin", "?ReqID=CACert&Renewal=-1&Enc=bin", encBinary},
		{"lower-case names", "?reqid=CACert&renewal=-1&enc=b64", encBase64Header},
		{"upper-case names and value", "?REQID=CACERT&RENEWAL=0&ENC=BIN", encBinary},
		{"no Enc", "?ReqID=CACert&Renewal=-1", encBinary},
		{"no query", "", encBinary},
	}
	for _, p := range paths {
		for _, q := range queries {
			for _, auth := range certsrvAuthHeaders {
				t.Run(p.name+"/"+q.name+"/"+auth.name, func(t *testing.T) {
					rec := fetch(t, h, "GET", p.path+q.query, auth.value)
					if rec.Code != http.StatusOK || rec.Header().Get("WWW-Authenticate") != "" {
						t.Fatalf("status %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
					}
					if got := rec.Header().Get("Content-Type"); got != p.ctype {
						t.Errorf("Content-Type %q, want %q", got, p.ctype)
					}
					if got := rec.Header().Get("Content-Disposition"); got != "" {
						t.Errorf("Content-Disposition %q: Windows sends none", got)
					}
					der := rec.Body.Bytes()
					if q.enc == encBase64Header {
						der = decodeCertsrvBase64(t, der)
					}
					if p.pkcs7 {
						chain, err := parseCertsOnlyPKCS7(der)
						if err != nil || len(chain) != 1 {
							t.Fatalf("PKCS#7: %d certificates, %v", len(chain), err)
						}
						der = chain[0].Raw
					}
					if !bytes.Equal(der, caCer) {
						t.Fatal("the certificate is not /ca.cer's")
					}
				})
			}
		}
	}
}

// TestCertsrvOtherAnswers: the home page, Mode=inst, HEAD, methods, other
// paths, and /ca.cer with credentials.
func TestCertsrvOtherAnswers(t *testing.T) {
	certs := newTestCerts(t, selfSignedConfig(t))
	h := certs.CAHandler()
	for _, tc := range []struct {
		name, method, path, auth string
		status                   int
		ctype, disposition       string
	}{
		{"home", "GET", "/certsrv/", "", 200, "text/html; charset=utf-8", ""},
		{"home any case, no slash", "GET", "/CertSrv", "", 200, "text/html; charset=utf-8", ""},
		{"home with NTLM", "GET", "/certsrv/", certsrvAuthHeaders[2].value, 200, "text/html; charset=utf-8", ""},
		{"install mode", "GET", "/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Mode=inst&Enc=b64", "", 200, "application/x-x509-ca-cert", ""},
		{"head p7b", "HEAD", "/certsrv/certnew.p7b?ReqID=CACert&Renewal=-1&Enc=b64", "", 200, "application/x-pkcs7-certificates", ""},
		{"ca.cer", "GET", "/ca.cer", "", 200, "application/pkix-cert", `attachment; filename="ca.cer"`},
		{"ca.cer with Negotiate", "GET", "/CA.CER", certsrvAuthHeaders[1].value, 200, "application/pkix-cert", `attachment; filename="ca.cer"`},
		{"head ca.cer", "HEAD", "/ca.cer", "", 200, "application/pkix-cert", `attachment; filename="ca.cer"`},
		{"post", "POST", "/ca.cer", "", 405, "", ""},
		{"other certsrv page", "GET", "/certsrv/certcarc.asp", "", 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := fetch(t, h, tc.method, tc.path, tc.auth)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := rec.Header().Get("Content-Disposition"); got != tc.disposition {
				t.Errorf("Content-Disposition %q, want %q", got, tc.disposition)
			}
			if tc.method == "HEAD" && (rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "") {
				t.Errorf("HEAD: %d body bytes, Content-Length %q", rec.Body.Len(), rec.Header().Get("Content-Length"))
			}
		})
	}
	home := fetch(t, h, "GET", "/certsrv/", "").Body.String()
	for _, link := range []string{"certnew.cer?ReqID=CACert&amp;Renewal=0&amp;Enc=bin", "certnew.p7b?ReqID=CACert&amp;Renewal=0&amp;Enc=b64"} {
		if !strings.Contains(home, link) {
			t.Errorf("home page lacks %s", link)
		}
	}
	if len(home) > 1024 {
		t.Errorf("home page is %d bytes: keep it small", len(home))
	}
}

func TestCAHandlerNoCA(t *testing.T) {
	c := &Certs{}
	for _, path := range []string{"/ca.cer", CertNewP7BPath, CertNewCerPath, CertSrvPath} {
		rec := httptest.NewRecorder()
		c.CAHandler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", path, rec.Code)
		}
	}
}

// fetch is h's answer to method on target, with an Authorization header
// when auth is set.
func fetch(t *testing.T, h http.Handler, method, target, auth string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// decodeCertsrvBase64 checks body is CryptBinaryToString's
// CRYPT_STRING_BASE64HEADER form (CERTIFICATE armour whatever it holds,
// 64-character lines, every line ended by CR LF) and decodes it.
func decodeCertsrvBase64(t *testing.T, body []byte) []byte {
	t.Helper()
	const begin, end = "-----BEGIN CERTIFICATE-----\r\n", "-----END CERTIFICATE-----\r\n"
	s := string(body)
	if !strings.HasPrefix(s, begin) || !strings.HasSuffix(s, end) || len(s) <= len(begin)+len(end) {
		t.Fatalf("not CERTIFICATE-armoured with CR LF:\n%q", s)
	}
	inner := s[len(begin) : len(s)-len(end)]
	if strings.Count(s, "\n") != strings.Count(s, "\r\n") {
		t.Fatalf("a line ends in a bare LF:\n%q", s)
	}
	lines := strings.Split(strings.TrimSuffix(inner, "\r\n"), "\r\n")
	for i, l := range lines {
		if len(l) > 64 || (i < len(lines)-1 && len(l) != 64) || l == "" {
			t.Fatalf("line %d is %d characters, want 64 (the last 1 to 64)", i, len(l))
		}
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// readAll is resp's body, closed.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
