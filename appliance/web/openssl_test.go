package web

import (
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

// TestOpenSSLReadsCertNewP7B: the hand-encoded PKCS#7 is what OpenSSL
// (and Windows' certutil) read as a certificates-only bundle.
func TestOpenSSLReadsCertNewP7B(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install openssl): cannot cross-check the PKCS#7 encoding")
	}
	certs := newTestCerts(t, selfSignedConfig(t))
	der, err := certsOnlyPKCS7(certs.caChain())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "pkcs7", "-inform", "DER", "-print_certs", "-noout")
	cmd.Stdin = strings.NewReader(string(der))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "subject=O = Tanjay lab appliance, CN = Tanjay appliance CA") {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
}
