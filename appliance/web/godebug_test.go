// The test binary runs with the GODEBUG setting cmd/tanjay/main.go must
// carry (see README.md): a //go:debug line in a _test.go file applies to
// the test's main package.

//go:debug tlssha1=1

package web

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTLS12ClientWithOnlySHA1Signatures: a TLS 1.2 client whose
// signature_algorithms lists only RSA+SHA1 (Windows CE era Schannel
// [inferred]) completes an ECDHE-RSA handshake. Go 1.25+ refuses SHA-1 in
// TLS 1.2 handshake signatures unless GODEBUG tlssha1=1, which is why the
// binary needs that line; without it this client gets a handshake_failure
// alert even though it also offers RSA key exchange.
func TestTLS12ClientWithOnlySHA1Signatures(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install openssl): cannot send a SHA-1-only signature_algorithms")
	}
	certs := newTestCerts(t, selfSignedConfig(t))
	addr := serve(t, http.NotFoundHandler(), certs.PhoneTLS())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-tls1_2", "-sigalgs", "RSA+SHA1",
		"-cipher", "ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0")
	cmd.Stdin = strings.NewReader("Q\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Cipher    : ECDHE-RSA-AES128-SHA\n") {
		t.Fatalf("s_client -tls1_2 -sigalgs RSA+SHA1: %v\n%s", err, out)
	}
}
