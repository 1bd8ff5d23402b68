package web

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpenSSLTLS10Handshake: openssl s_client speaking TLS 1.0 at
// security level 0, as a stand-in for the CX700's stack, completes a
// handshake with the phone listener for each legacy suite this OpenSSL
// build has (DES-CBC3-SHA is TLS_RSA_WITH_3DES_EDE_CBC_SHA, AES128-SHA
// TLS_RSA_WITH_AES_128_CBC_SHA).
func TestOpenSSLTLS10Handshake(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install openssl): cannot run the s_client handshake test")
	}
	if out, err := exec.Command(openssl, "ciphers", "-tls1", "AES128-SHA:@SECLEVEL=0").CombinedOutput(); err != nil {
		t.Skipf("this OpenSSL build cannot do TLS 1.0 at all, even at SECLEVEL=0 (built with no-tls1): %s", strings.TrimSpace(string(out)))
	}
	certs := newTestCerts(t, selfSignedConfig(t))
	addr := serve(t, http.NotFoundHandler(), certs.PhoneTLS())
	for _, cipher := range []string{"DES-CBC3-SHA", "AES128-SHA", "AES256-SHA", "ECDHE-RSA-AES128-SHA"} {
		t.Run(cipher, func(t *testing.T) {
			// Debian's OpenSSL 3 ships without 3DES in the default provider.
			if out, err := exec.Command(openssl, "ciphers", "-tls1", cipher+":@SECLEVEL=0").CombinedOutput(); err != nil {
				t.Skipf("this OpenSSL build has no %s for TLS 1.0 (ciphers: %s); the Go client test covers it", cipher, strings.TrimSpace(string(out)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-tls1",
				"-cipher", cipher+":@SECLEVEL=0", "-servername", "ucupdates-r2")
			cmd.Stdin = strings.NewReader("Q\n") // s_client: Q quits once connected
			out, err := cmd.CombinedOutput()
			s := string(out)
			if err != nil {
				t.Fatalf("s_client: %v\n%s", err, s)
			}
			for _, want := range []string{"Protocol  : TLSv1\n", "Cipher    : " + cipher + "\n", "Verify return code: 19"} {
				if !strings.Contains(s, want) {
					t.Errorf("s_client output lacks %q:\n%s", want, s)
				}
			}
		})
	}
}

// TestOpenSSLReadsCertsrvBodies: OpenSSL, as an independent reader,
// finds in each certsrv body, fetched over a socket with Windows
// credentials attached, the appliance CA byte-identical to /ca.cer. The
// base64 chain carries Windows' CERTIFICATE armour, which OpenSSL's PKCS#7
// reader does not accept; relabelled PKCS7 it must read as it is, proving
// the body is the PEM of the PKCS#7 and nothing else.
func TestOpenSSLReadsCertsrvBodies(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install openssl): cannot cross-check the certsrv encodings")
	}
	certs := newTestCerts(t, selfSignedConfig(t))
	base := "http://" + serve(t, phoneMux(certs), nil)
	caCer := get(t, http.DefaultClient, base+CACerPath)
	if !bytes.Equal(caCer, certs.ca.cert.Raw) {
		t.Fatal("/ca.cer is not the appliance CA")
	}
	toDER := []string{"x509", "-outform", "DER"}
	for _, tc := range []struct {
		name, target, auth string
		relabel            bool // CERTIFICATE armour to PKCS7
		steps              [][]string
	}{
		{"p7b DER", CertNewP7BPath + "?ReqID=CACert&Renewal=-1&Enc=bin", certsrvAuthHeaders[1].value, false,
			[][]string{{"pkcs7", "-inform", "DER", "-print_certs"}, toDER}},
		{"p7b base64", CertNewP7BPath + "?ReqID=CACert&Renewal=-1&Enc=b64", certsrvAuthHeaders[1].value, true,
			[][]string{{"pkcs7", "-inform", "PEM", "-print_certs"}, toDER}},
		{"cer DER", CertNewCerPath + "?ReqID=CACert&Renewal=-1&Enc=bin", certsrvAuthHeaders[2].value, false,
			[][]string{{"x509", "-inform", "DER", "-outform", "DER"}}},
		{"cer base64", CertNewCerPath + "?ReqID=CACert&Renewal=-1&Enc=b64", certsrvAuthHeaders[2].value, false,
			[][]string{{"x509", "-inform", "PEM", "-outform", "DER"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tc.target, nil)
			req.Header.Set("Authorization", tc.auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out := readAll(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %s", tc.target, resp.Status)
			}
			if tc.relabel {
				out = bytes.ReplaceAll(out, []byte("-----BEGIN CERTIFICATE-----"), []byte("-----BEGIN PKCS7-----"))
				out = bytes.ReplaceAll(out, []byte("-----END CERTIFICATE-----"), []byte("-----END PKCS7-----"))
			}
			for _, args := range tc.steps {
				out = runOpenSSL(t, openssl, out, args...)
				if args[0] == "pkcs7" && !strings.Contains(string(out), "subject=O = Tanjay lab appliance, CN = Tanjay appliance CA") {
					t.Fatalf("openssl %s lists no appliance CA:\n%s", strings.Join(args, " "), out)
				}
			}
			if !bytes.Equal(out, caCer) {
				t.Fatalf("openssl found %d bytes that are not /ca.cer's %d", len(out), len(caCer))
			}
		})
	}
}

// runOpenSSL is openssl's standard output for args with stdin in.
func runOpenSSL(t *testing.T, openssl string, in []byte, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(openssl, args...)
	cmd.Stdin, cmd.Stderr = bytes.NewReader(in), &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
