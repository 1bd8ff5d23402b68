package web

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// fileState remembers the operator's files as last loaded, so Run reloads
// them when they change.
type fileState struct {
	certMod, keyMod time.Time
}

// loadFiles reads --tls-cert and --tls-key and checks them: the key must
// match (a mismatch is refused naming both files), the key must be RSA
// (the legacy profile has only RSA suites), and each configured name the
// certificate does not cover is logged as a warning.
func (c *Certs) loadFiles() error {
	certPath, keyPath := c.cfg.CertFile, c.cfg.KeyFile
	st, err := statFiles(certPath, keyPath)
	if err != nil {
		return err
	}
	kp, err := loadKeyPair(certPath, keyPath)
	if err != nil {
		return fmt.Errorf("--tls-cert %s and --tls-key %s: %w", certPath, keyPath, err)
	}
	if _, ok := kp.PrivateKey.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("--tls-key %s: phones need an RSA key (the CX700's TLS knows no ECDSA); this is %T", keyPath, kp.PrivateKey)
	}
	leaf := kp.Leaf
	if now := c.cfg.Now(); now.After(leaf.NotAfter) {
		return fmt.Errorf("--tls-cert %s expired on %s", certPath, leaf.NotAfter.Format(time.DateOnly))
	}
	var missing []string
	for _, n := range c.cfg.Names {
		if leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
			c.log.Warn("tls: --tls-cert does not cover an update host name; phones using it will refuse the certificate", "file", certPath, "name", n)
		}
	}
	for _, ip := range c.cfg.IPs {
		if leaf.VerifyHostname(ip.String()) != nil {
			missing = append(missing, ip.String())
			c.log.Warn("tls: --tls-cert does not cover the advertised address", "file", certPath, "ip", ip.String())
		}
	}
	if leaf.SignatureAlgorithm != x509.SHA1WithRSA {
		c.log.Warn("tls: --tls-cert is not SHA-1 signed; the Polycom CX700 cannot verify SHA-2 signatures", "file", certPath, "sig_alg", leaf.SignatureAlgorithm.String())
	}
	var chain []*x509.Certificate
	for _, der := range kp.Certificate[1:] {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("--tls-cert %s: chain: %w", certPath, err)
		}
		chain = append(chain, cert)
	}
	// Offer the top of the chain (the root, when the file holds it) first.
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	c.files = st
	c.missing.Store(&missing)
	c.chain.Store(&chain)
	c.phone.Store(kp)
	c.dashboard.Store(kp)
	return nil
}

func statFiles(certPath, keyPath string) (*fileState, error) {
	ci, err := os.Stat(certPath)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert: %w", err)
	}
	ki, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("--tls-key: %w", err)
	}
	return &fileState{certMod: ci.ModTime(), keyMod: ki.ModTime()}, nil
}

// reloadFilesIfChanged loads the operator's files again when either
// changed on disk; a bad pair is reported and the served one kept.
func (c *Certs) reloadFilesIfChanged() (bool, error) {
	st, err := statFiles(c.cfg.CertFile, c.cfg.KeyFile)
	if err != nil {
		return false, err
	}
	if st.certMod.Equal(c.files.certMod) && st.keyMod.Equal(c.files.keyMod) {
		return false, nil
	}
	return true, c.loadFiles()
}
