package web

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"

	"strings"
	"time"
)

// CertInfo describes one certificate the appliance serves or offers, for
// `tanjay serve` to print at start and for the dashboard.
type CertInfo struct {
	// Role is "ca", "phone", "dashboard", "files" (the operator's
	// certificate, served on both listeners) or "acme".
	Role      string    `json:"role"`
	Subject   string    `json:"subject"`
	SHA256    string    `json:"sha256"` // colon-separated upper-case hex, as Windows shows it
	SHA1      string    `json:"sha1"`   // the thumbprint OCS administrators know
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SigAlg    string    `json:"sig_alg"`
	Names     []string  `json:"names,omitempty"` // DNS names and IPs
	// Missing is, for the operator's certificate, each configured name it
	// does not cover.
	Missing []string `json:"missing,omitempty"`
}

// Info describes the CA and the served certificates. In acme mode it has
// one entry per fully qualified name with a certificate in the cache, none
// until Run has obtained the first.
func (c *Certs) Info() []CertInfo {
	var out []CertInfo
	switch {
	case c.cfg.Mode == ModeACME:
		out = c.acmeInfo()
	case c.cfg.Mode == ModeFiles:
		i := certInfo("files", c.phone.Load().Leaf)
		if m := c.missing.Load(); m != nil {
			i.Missing = *m
		}
		out = append(out, i)
	default:
		out = append(out, certInfo("ca", c.ca.cert),
			certInfo("phone", c.phone.Load().Leaf),
			certInfo("dashboard", c.dashboard.Load().Leaf))
	}
	return out
}

func certInfo(role string, cert *x509.Certificate) CertInfo {
	i := CertInfo{
		Role: role, Subject: cert.Subject.String(),
		SHA256: fingerprint(sha256.New(), cert.Raw), SHA1: fingerprint(sha1.New(), cert.Raw),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, SigAlg: cert.SignatureAlgorithm.String(),
	}
	i.Names = append(i.Names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		i.Names = append(i.Names, ip.String())
	}
	return i
}

// fingerprint is the digest of der as AA:BB:….
func fingerprint(h hash.Hash, der []byte) string {
	h.Write(der)
	s := strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
	var b strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

// String is the line `tanjay serve` prints at start.
func (i CertInfo) String() string {
	return fmt.Sprintf("%s: %s, %s, expires %s, SHA-256 %s, SHA-1 %s",
		i.Role, i.Subject, i.SigAlg, i.NotAfter.UTC().Format(time.DateOnly), i.SHA256, i.SHA1)
}
