package web

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"

	"golang.org/x/crypto/acme"
)

// Acme mode speaks RFC 8555 with golang.org/x/crypto/acme directly rather
// than through acme/autocert: autocert pulls in golang.org/x/net/idna and
// with it golang.org/x/text, which this module does not require, and it
// issues one certificate per SNI name, while phones that connect by IP send
// no SNI at all. Here one RSA certificate covers every fully qualified
// update name and is served whatever the client sends. Only http-01 is
// answered (ACMEHTTPHandler on the phone HTTP listener, port 80), which is
// what a lab ACME server reaches first.

// Files of acme mode, under <data>/tls/acme.
const (
	acmeCacheDir    = "acme"
	acmeAccountFile = "account.key"
	acmeCertFile    = "cert.pem"
	acmeKeyFile     = "cert.key"
)

// acmeRetry is how long Run waits after a failed order before the next.
var acmeRetry = time.Minute

// acmeManager obtains and renews the acme mode certificate.
type acmeManager struct {
	client *acme.Client
	email  string
	names  []string
	// tokens maps an http-01 token to its key authorization while the
	// challenge is pending.
	mu     sync.Mutex
	tokens map[string]string
}

// initACME prepares the ACME client and serves the cached certificate, if
// any; the ACME server is contacted only by Run.
func (c *Certs) initACME() error {
	if err := os.MkdirAll(c.path(acmeCacheDir), 0o700); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	hc := &http.Client{Timeout: time.Minute}
	if c.cfg.ACMECAFile != "" {
		pemBytes, err := os.ReadFile(c.cfg.ACMECAFile)
		if err != nil {
			return fmt.Errorf("--acme-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return fmt.Errorf("--acme-ca %s: no PEM certificate in it", c.cfg.ACMECAFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: http.ProxyFromEnvironment}
	}
	key, err := c.loadOrCreateAccountKey()
	if err != nil {
		return err
	}
	c.acme = &acmeManager{
		client: &acme.Client{Key: key, DirectoryURL: c.cfg.ACMEDirectory, HTTPClient: hc, UserAgent: "tanjay"},
		email:  c.cfg.ACMEEmail,
		names:  acmeNames(c.cfg.Names),
		tokens: map[string]string{},
	}
	if kp, err := loadKeyPair(c.acmePath(acmeCertFile), c.acmePath(acmeKeyFile)); err == nil {
		c.serveACME(kp)
	}
	return nil
}

func (c *Certs) acmePath(name string) string { return c.path(acmeCacheDir + "/" + name) }

func (c *Certs) loadOrCreateAccountKey() (crypto.Signer, error) {
	path := c.acmePath(acmeAccountFile)
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("tls: %s: not PEM", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls: %s: %w", path, err)
		}
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("tls: %s: not a signing key", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tls: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: ACME account key: %w", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := atomicfile.Write(path, 0o600, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return k, nil
}

// acmeNames are the fully qualified names among names: ACME cannot certify
// the bare names ucupdates-r2 and ucupdates.
func acmeNames(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

// acmeDue reports whether the acme certificate is missing or within
// RenewBefore of expiry.
func (c *Certs) acmeDue() bool {
	cert := c.phone.Load()
	return cert == nil || c.cfg.Now().Add(RenewBefore).After(cert.Leaf.NotAfter)
}

// obtainACME runs one order for all names: account, authorizations by
// http-01, finalize with a new RSA key, download; then it caches and serves
// the result.
func (c *Certs) obtainACME(ctx context.Context) error {
	m := c.acme
	acct := &acme.Account{}
	if m.email != "" {
		acct.Contact = []string{"mailto:" + m.email}
	}
	if _, err := m.client.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return fmt.Errorf("acme: account at %s: %w", c.cfg.ACMEDirectory, err)
	}
	order, err := m.client.AuthorizeOrder(ctx, acme.DomainIDs(m.names...))
	if err != nil {
		return fmt.Errorf("acme: new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := m.authorize(ctx, u); err != nil {
			return err
		}
	}
	if order, err = m.client.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("acme: order: %w", err)
	}
	key, err := generateKey()
	if err != nil {
		return fmt.Errorf("acme: key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: m.names[0]}, DNSNames: m.names,
	}, key)
	if err != nil {
		return fmt.Errorf("acme: CSR: %w", err)
	}
	ders, _, err := m.client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		return fmt.Errorf("acme: finalize: %w", err)
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return fmt.Errorf("acme: certificate: %w", err)
	}
	kp := &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}
	if err := writeKeyPair(c.acmePath(acmeCertFile), c.acmePath(acmeKeyFile), kp); err != nil {
		return err
	}
	c.serveACME(kp)
	c.log.Info("tls: ACME certificate obtained", "names", m.names,
		"sha256", fingerprint(sha256.New(), leaf.Raw), "not_after", leaf.NotAfter)
	return nil
}

// authorize satisfies one authorization by http-01.
func (m *acmeManager) authorize(ctx context.Context, url string) error {
	z, err := m.client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("acme: authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			chal = ch
		}
	}
	if chal == nil {
		return fmt.Errorf("acme: %s: the server offers no http-01 challenge", z.Identifier.Value)
	}
	resp, err := m.client.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	m.mu.Lock()
	m.tokens[chal.Token] = resp
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.tokens, chal.Token)
		m.mu.Unlock()
	}()
	if _, err := m.client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acme: %s: accept: %w", z.Identifier.Value, err)
	}
	if _, err := m.client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("acme: %s: %w", z.Identifier.Value, err)
	}
	return nil
}

// serveACME swaps the certificate in on both listeners and offers its
// issuers for download.
func (c *Certs) serveACME(kp *tls.Certificate) {
	var chain []*x509.Certificate
	for i := len(kp.Certificate) - 1; i >= 1; i-- {
		if ca, err := x509.ParseCertificate(kp.Certificate[i]); err == nil {
			chain = append(chain, ca)
		}
	}
	c.chain.Store(&chain)
	c.phone.Store(kp)
	c.dashboard.Store(kp)
}

// ACMEHTTPHandler answers ACME http-01 challenges in acme mode and passes
// everything else to fallback; outside acme mode it is fallback. Mount it
// on the phone HTTP listener (port 80) around the phone routes.
func (c *Certs) ACMEHTTPHandler(fallback http.Handler) http.Handler {
	if c.acme == nil {
		return fallback
	}
	const prefix = "/.well-known/acme-challenge/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			fallback.ServeHTTP(w, r)
			return
		}
		c.acme.mu.Lock()
		resp, ok := c.acme.tokens[token]
		c.acme.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(resp))
	})
}
