package web

import (
	"crypto/sha1"
	"strings"
	"testing"
)

func TestFingerprintFormat(t *testing.T) {
	// SHA-1("abc"), as Windows and openssl -fingerprint print it.
	if got, want := fingerprint(sha1.New(), []byte("abc")), "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestCertInfoStringForServe(t *testing.T) {
	c := newTestCerts(t, selfSignedConfig(t))
	for _, i := range c.Info() {
		s := i.String()
		for _, want := range []string{i.Role + ": ", i.SHA256, i.SHA1, "expires " + i.NotAfter.UTC().Format("2006-01-02")} {
			if !strings.Contains(s, want) {
				t.Errorf("%q lacks %q", s, want)
			}
		}
	}
}
