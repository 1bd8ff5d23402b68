package web

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
)

// Files of the self-signed mode, in <data>/tls.
const (
	caCertFile        = "ca.pem"
	caKeyFile         = "ca.key"
	phoneCertFile     = "phone.pem"
	phoneKeyFile      = "phone.key"
	dashboardCertFile = "dashboard.pem"
	dashboardKeyFile  = "dashboard.key"
)

// Lifetimes of what the appliance issues. Leaves stay under 398 days so
// browsers accept the dashboard's; the phones do not care. Not-before is
// backdated a day for phones whose clock is a little behind.
const (
	caLifetime   = 20 * 365 * 24 * time.Hour
	leafLifetime = 397 * 24 * time.Hour
	backdate     = 24 * time.Hour
	rsaBits      = 2048
)

// generateKey makes an RSA key; tests replace it with a cache of keys.
var generateKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, rsaBits) }

// authority is the appliance CA.
type authority struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// sigAlg maps PhoneSigAlg to x509's constant.
//
// Device quirk: the Polycom CX700 cannot verify SHA-2 signatures
// [confirmed: Polycom deployment guide], so the CA and the phone leaf are
// SHA-1 signed by default. Go 1.26's x509.CreateCertificate still creates
// SHA1WithRSA certificates; only verification refuses them (checkSignedBy
// below does it by hand).
func sigAlg(name string) x509.SignatureAlgorithm {
	if name == SigSHA256 {
		return x509.SHA256WithRSA
	}
	return x509.SHA1WithRSA
}

// initSelfSigned loads or creates the CA and both leaves.
func (c *Certs) initSelfSigned() error {
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	ca, err := c.loadOrCreateCA()
	if err != nil {
		return err
	}
	c.ca = ca
	c.chain.Store(&[]*x509.Certificate{ca.cert})
	_, err = c.renewDue()
	return err
}

// renewDue (re)issues each leaf that is missing, expiring within
// RenewBefore, not signed by the CA, of the wrong algorithm or not covering
// the configured names; it reports whether it issued one.
func (c *Certs) renewDue() (bool, error) {
	renewed := false
	for _, l := range []struct {
		cert, key string
		alg       x509.SignatureAlgorithm
		slot      *atomic.Pointer[tls.Certificate]
	}{
		{phoneCertFile, phoneKeyFile, sigAlg(c.cfg.PhoneSigAlg), &c.phone},
		{dashboardCertFile, dashboardKeyFile, x509.SHA256WithRSA, &c.dashboard},
	} {
		cur := l.slot.Load()
		if cur == nil {
			cur, _ = loadKeyPair(c.path(l.cert), c.path(l.key))
		}
		if cur != nil && !c.leafDue(cur.Leaf, l.alg) {
			l.slot.Store(cur)
			continue
		}
		cert, err := c.issueLeaf(l.alg)
		if err != nil {
			return renewed, err
		}
		if err := writeKeyPair(c.path(l.cert), c.path(l.key), cert); err != nil {
			return renewed, err
		}
		l.slot.Store(cert)
		renewed = true
		c.log.Info("tls: issued certificate", "file", c.path(l.cert),
			"sha256", fingerprint(sha256.New(), cert.Leaf.Raw), "not_after", cert.Leaf.NotAfter)
	}
	return renewed, nil
}

// leafDue reports whether leaf must be reissued.
func (c *Certs) leafDue(leaf *x509.Certificate, alg x509.SignatureAlgorithm) bool {
	now := c.cfg.Now()
	switch {
	case leaf.SignatureAlgorithm != alg, now.Add(RenewBefore).After(leaf.NotAfter), now.Before(leaf.NotBefore):
		return true
	case checkSignedBy(leaf, c.ca.cert) != nil:
		return true
	}
	for _, n := range c.cfg.Names {
		if !slices.Contains(leaf.DNSNames, n) {
			return true
		}
	}
	for _, ip := range c.cfg.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return true
		}
	}
	return false
}

// loadOrCreateCA reads ca.pem and ca.key, creating both on first start.
func (c *Certs) loadOrCreateCA() (*authority, error) {
	certPath, keyPath := c.path(caCertFile), c.path(caKeyFile)
	kp, err := loadKeyPair(certPath, keyPath)
	if err == nil {
		key, ok := kp.PrivateKey.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("tls: %s is not an RSA key", keyPath)
		}
		return &authority{cert: kp.Leaf, key: key}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tls: appliance CA: %w", err)
	}
	if fileExists(certPath) || fileExists(keyPath) {
		return nil, fmt.Errorf("tls: appliance CA: one of %s and %s is missing; remove the other to create a new CA (phones must then trust it again)", certPath, keyPath)
	}
	key, err := generateKey()
	if err != nil {
		return nil, fmt.Errorf("tls: appliance CA key: %w", err)
	}
	now := c.cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Tanjay appliance CA " + now.UTC().Format("2006-01-02"), Organization: []string{"Tanjay lab appliance"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SignatureAlgorithm:    sigAlg(c.cfg.PhoneSigAlg),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls: appliance CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	kpNew := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	if err := writeKeyPair(certPath, keyPath, kpNew); err != nil {
		return nil, err
	}
	c.log.Info("tls: created appliance CA", "file", certPath, "sha256", fingerprint(sha256.New(), der))
	return &authority{cert: cert, key: key}, nil
}

// issueLeaf signs a new server certificate for the configured names and
// IPs with alg. The chain sent to clients is leaf then CA.
func (c *Certs) issueLeaf(alg x509.SignatureAlgorithm) (*tls.Certificate, error) {
	key, err := generateKey()
	if err != nil {
		return nil, fmt.Errorf("tls: leaf key: %w", err)
	}
	now := c.cfg.Now()
	notAfter := now.Add(leafLifetime)
	if notAfter.After(c.ca.cert.NotAfter) {
		notAfter = c.ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:       randomSerial(),
		Subject:            pkix.Name{CommonName: c.cfg.Names[0]},
		NotBefore:          now.Add(-backdate),
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:           slices.Clone(c.cfg.Names),
		IPAddresses:        slices.Clone(c.cfg.IPs),
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca.cert, &key.PublicKey, c.ca.key)
	if err != nil {
		return nil, fmt.Errorf("tls: issue leaf: %w", err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, c.ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// checkSignedBy verifies that parent's key signed cert. crypto/x509 refuses
// SHA-1 signatures since Go 1.24 (CheckSignatureFrom reports an
// InsecureAlgorithmError), so SHA1WithRSA, which the CX700 needs, is
// checked here by hand over RawTBSCertificate.
func checkSignedBy(cert, parent *x509.Certificate) error {
	if !bytes.Equal(cert.RawIssuer, parent.RawSubject) {
		return errors.New("issuer does not match")
	}
	if cert.SignatureAlgorithm != x509.SHA1WithRSA {
		return cert.CheckSignatureFrom(parent)
	}
	pub, ok := parent.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("SHA1-RSA signature from a non-RSA key")
	}
	sum := sha1.Sum(cert.RawTBSCertificate)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], cert.Signature)
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// loadKeyPair reads a PEM certificate chain and key; Leaf is set.
func loadKeyPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &kp, nil
}

// writeKeyPair writes the chain and the key as PEM, each by temp file,
// fsync and rename; the key is readable by the owner only.
func writeKeyPair(certPath, keyPath string, kp *tls.Certificate) error {
	var certPEM bytes.Buffer
	for _, der := range kp.Certificate {
		pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(kp.PrivateKey)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := atomicfile.Write(keyPath, 0o600, keyPEM); err != nil {
		return err
	}
	return atomicfile.Write(certPath, 0o644, certPEM.Bytes())
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
