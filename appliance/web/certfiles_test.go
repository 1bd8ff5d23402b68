package web

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// operatorFiles writes a certificate for names, issued by a throwaway
// "enterprise CA", with the chain in the file, as an operator would.
func operatorFiles(t *testing.T, names ...string) (certPath, keyPath string) {
	t.Helper()
	ca := newTestCerts(t, TLSConfig{Dir: t.TempDir(), Names: names, Logger: discardLogger()})
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := writeKeyPair(certPath, keyPath, ca.phone.Load()); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func filesConfig(certPath, keyPath string, log *slog.Logger) TLSConfig {
	return TLSConfig{Mode: ModeFiles, Dir: filepath.Dir(certPath), CertFile: certPath, KeyFile: keyPath,
		Names: ServerNames("testhost", []string{"lab.example"}), Logger: log}
}

// TestFilesRefuseMismatchedKey: the message names both files.
func TestFilesRefuseMismatchedKey(t *testing.T) {
	certPath, _ := operatorFiles(t, "ucupdates-r2.lab.example")
	_, otherKey := operatorFiles(t, "other.lab.example")
	_, err := NewCerts(filesConfig(certPath, otherKey, discardLogger()))
	if err == nil {
		t.Fatal("mismatched key accepted")
	}
	for _, want := range []string{certPath, otherKey, "--tls-cert", "--tls-key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// TestFilesWarnAboutEachUncoveredName and serve the pair on both
// listeners, offering the chain's CA for download.
func TestFilesWarnAboutEachUncoveredName(t *testing.T) {
	certPath, keyPath := operatorFiles(t, "ucupdates-r2.lab.example", "ucupdates-r2")
	var logBuf bytes.Buffer
	c, err := NewCerts(filesConfig(certPath, keyPath, slog.New(slog.NewTextHandler(&logBuf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ucupdates.lab.example", "testhost.lab.example", "ucupdates", "testhost"}
	info := c.Info()
	if d := cmp.Diff(want, info[0].Missing); d != "" {
		t.Errorf("missing names (-want +got):\n%s", d)
	}
	for _, n := range want {
		if !strings.Contains(logBuf.String(), "name="+n+"\n") {
			t.Errorf("no warning for %s in:\n%s", n, logBuf.String())
		}
	}
	if chain := c.caChain(); len(chain) != 1 || !chain[0].IsCA {
		t.Errorf("offered chain: %d certificates", len(chain))
	}
	p, _ := c.PhoneTLS().GetCertificate(&tls.ClientHelloInfo{})
	d, _ := c.DashboardTLS().GetCertificate(&tls.ClientHelloInfo{})
	if p == nil || p != d {
		t.Error("the operator's pair is not served on both listeners")
	}
}

func TestFilesRefuseECDSAKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"ucupdates-r2"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	_, err := NewCerts(filesConfig(certPath, keyPath, discardLogger()))
	if err == nil || !strings.Contains(err.Error(), "RSA") {
		t.Fatalf("err = %v, want a refusal naming RSA", err)
	}
}

// TestFilesReloadWhenReplaced: the operator replaces the files; the next
// renewal pass serves the new pair, and a broken replacement keeps the old.
func TestFilesReloadWhenReplaced(t *testing.T) {
	certPath, keyPath := operatorFiles(t, "ucupdates-r2.lab.example")
	c, err := NewCerts(filesConfig(certPath, keyPath, discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	old := c.phone.Load()
	newCert, newKey := operatorFiles(t, "ucupdates-r2.lab.example", "ucupdates.lab.example")
	later := time.Now().Add(time.Minute)
	for _, mv := range [][2]string{{newCert, certPath}, {newKey, keyPath}} {
		b, _ := os.ReadFile(mv[0])
		os.WriteFile(mv[1], b, 0o600)
		os.Chtimes(mv[1], later, later)
	}
	c.refresh(context.Background())
	if cur := c.phone.Load(); cur == old || cur.Leaf.VerifyHostname("ucupdates.lab.example") != nil {
		t.Fatal("replacement not served")
	}
	served := c.phone.Load()
	os.WriteFile(keyPath, []byte("garbage"), 0o600)
	later = later.Add(time.Minute)
	os.Chtimes(keyPath, later, later)
	c.refresh(context.Background())
	if c.phone.Load() != served {
		t.Fatal("a broken replacement replaced the served pair")
	}
}
