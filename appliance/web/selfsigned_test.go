package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTLSConfigValidateNamesFlags(t *testing.T) {
	base := TLSConfig{Dir: "/d", Names: []string{"ucupdates-r2.lab.example"}}
	for _, tc := range []struct {
		name string
		mut  func(*TLSConfig)
		want string // substring of the error; "" for none
	}{
		{"default is self-signed", func(*TLSConfig) {}, ""},
		{"unknown mode", func(c *TLSConfig) { c.Mode = "letsencrypt" }, "--tls-mode"},
		{"files without key", func(c *TLSConfig) { c.Mode, c.CertFile = ModeFiles, "c.pem" }, "--tls-key"},
		{"files complete", func(c *TLSConfig) { c.Mode, c.CertFile, c.KeyFile = ModeFiles, "c.pem", "k.pem" }, ""},
		{"cert without files mode", func(c *TLSConfig) { c.CertFile = "c.pem" }, "--tls-cert"},
		{"acme without directory", func(c *TLSConfig) { c.Mode = ModeACME }, "--acme-directory"},
		{"acme with directory", func(c *TLSConfig) { c.Mode, c.ACMEDirectory = ModeACME, "https://ca.lab/dir" }, ""},
		{"acme with bare names only", func(c *TLSConfig) {
			c.Mode, c.ACMEDirectory, c.Names = ModeACME, "https://ca.lab/dir", []string{"ucupdates-r2"}
		}, "--domain"},
		{"directory without acme", func(c *TLSConfig) { c.ACMEDirectory = "https://ca.lab/dir" }, "--acme-directory"},
		{"bad phone signature", func(c *TLSConfig) { c.PhoneSigAlg = "md5" }, "--tls-phone-sig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mut(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestServerNames(t *testing.T) {
	got := ServerNames("Box.lab.example", []string{"lab.example", "corp.example."})
	want := []string{
		"ucupdates-r2.lab.example", "ucupdates.lab.example", "box.lab.example",
		"ucupdates-r2.corp.example", "ucupdates.corp.example", "box.corp.example",
		"ucupdates-r2", "ucupdates", "box",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ServerNames (-want +got):\n%s", d)
	}
}

// TestSelfSignedCAIsKeptAcrossStarts: the CA is created once (phones
// trust it), the leaves are SHA-1 (phone) and SHA-256 (dashboard), both
// signed by it and covering every name and the IP; a second start reuses
// everything.
func TestSelfSignedCAIsKeptAcrossStarts(t *testing.T) {
	cfg := selfSignedConfig(t)
	first := newTestCerts(t, cfg)
	info := first.Info()
	roles := []string{}
	for _, i := range info {
		roles = append(roles, i.Role)
	}
	if d := cmp.Diff([]string{"ca", "phone", "dashboard"}, roles); d != "" {
		t.Fatalf("roles (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		cert *x509.Certificate
		alg  x509.SignatureAlgorithm
	}{
		{first.ca.cert, x509.SHA1WithRSA},
		{first.phone.Load().Leaf, x509.SHA1WithRSA},
		{first.dashboard.Load().Leaf, x509.SHA256WithRSA},
	} {
		if tc.cert.SignatureAlgorithm != tc.alg {
			t.Errorf("%s: %s, want %s", tc.cert.Subject, tc.cert.SignatureAlgorithm, tc.alg)
		}
		if err := checkSignedBy(tc.cert, first.ca.cert); err != nil {
			t.Errorf("%s not signed by the CA: %v", tc.cert.Subject, err)
		}
	}
	leaf := first.phone.Load().Leaf
	for _, n := range append(slices.Clone(cfg.Names), "127.0.0.1") {
		if err := leaf.VerifyHostname(n); err != nil {
			t.Errorf("phone leaf: %v", err)
		}
	}
	if st, err := os.Stat(filepath.Join(cfg.Dir, caKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode: %v %v", st.Mode(), err)
	}
	second := newTestCerts(t, cfg)
	if d := cmp.Diff(info, second.Info()); d != "" {
		t.Fatalf("second start changed certificates (-first +second):\n%s", d)
	}
}

func TestSelfSignedPhoneSHA256(t *testing.T) {
	cfg := selfSignedConfig(t)
	cfg.PhoneSigAlg = SigSHA256
	c := newTestCerts(t, cfg)
	if alg := c.phone.Load().Leaf.SignatureAlgorithm; alg != x509.SHA256WithRSA {
		t.Fatalf("phone leaf %s", alg)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	if _, err := c.phone.Load().Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ucupdates-r2"}); err != nil {
		t.Fatal(err)
	}
}

// TestSelfSignedRenewsWithoutRestart: when less than 30 days remain, one
// pass of the renewal loop issues new leaves and the listener's
// GetCertificate serves them at once; the CA stays. New names at start
// reissue too.
func TestSelfSignedRenewsWithoutRestart(t *testing.T) {
	cfg := selfSignedConfig(t)
	now := time.Now()
	cfg.Now = func() time.Time { return now }
	c := newTestCerts(t, cfg)
	phoneTLS := c.PhoneTLS()
	old, _ := phoneTLS.GetCertificate(&tls.ClientHelloInfo{})
	c.refresh(context.Background())
	if same, _ := phoneTLS.GetCertificate(&tls.ClientHelloInfo{}); same != old {
		t.Fatal("renewed a fresh certificate")
	}
	now = old.Leaf.NotAfter.Add(-RenewBefore + time.Hour)
	c.refresh(context.Background())
	renewed, _ := phoneTLS.GetCertificate(&tls.ClientHelloInfo{})
	if renewed == old || !renewed.Leaf.NotAfter.After(old.Leaf.NotAfter) {
		t.Fatalf("not renewed: old until %s, now until %s", old.Leaf.NotAfter, renewed.Leaf.NotAfter)
	}
	if err := checkSignedBy(renewed.Leaf, c.ca.cert); err != nil {
		t.Fatal(err)
	}

	cfg.Names = append(cfg.Names, "ucupdates-r2.new.example")
	again := newTestCerts(t, cfg)
	if err := again.phone.Load().Leaf.VerifyHostname("ucupdates-r2.new.example"); err != nil {
		t.Fatalf("new domain not covered after restart: %v", err)
	}
	if !again.ca.cert.Equal(c.ca.cert) {
		t.Fatal("CA replaced")
	}
}

func TestSelfSignedRefusesHalfACA(t *testing.T) {
	cfg := selfSignedConfig(t)
	newTestCerts(t, cfg)
	os.Remove(filepath.Join(cfg.Dir, caKeyFile))
	_, err := NewCerts(cfg)
	if err == nil || !strings.Contains(err.Error(), caKeyFile) {
		t.Fatalf("err = %v, want one naming %s", err, caKeyFile)
	}
}

// TestRunStopsWithContext: Run returns when its context ends.
func TestRunStopsWithContext(t *testing.T) {
	c := newTestCerts(t, selfSignedConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
