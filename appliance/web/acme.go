package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Acme mode gets its certificates from the lab ACME server through
// golang.org/x/crypto/acme/autocert: one certificate per fully qualified
// update name, ordered, cached in <data>/tls/acme and renewed by autocert.
// What phones need is added around it (acmeManager.certificate):
//
//   - A phone that connects by IP sends no server name (or, from some
//     stacks, the IP): it gets the certificate of the first name,
//     ucupdates-r2.<domain>. A bare name (ucupdates-r2) gets the
//     certificate of that name under the first domain.
//   - RSA always. autocert hands an ECDSA certificate to a client that
//     offers an ECDHE_ECDSA suite, but the phone listener's suites are
//     RSA only (legacy.go) and the CX700 knows nothing else; one RSA
//     certificate per name serves every client on both listeners.
//   - Every name is ordered by Run at start, so its certificate exists
//     before the first phone; a phone that comes earlier waits for it.
//
// The ACME server validates by tls-alpn-01 on the phone HTTPS listener
// (PhoneTLS offers acme-tls/1) or, when that fails, by http-01 on the
// phone HTTP listener (ACMEHTTPHandler).

// acmeCacheDir is autocert's cache under <data>/tls. Files of the
// hand-written client that preceded autocert (account.key, cert.pem,
// cert.key) are left there unused: the first start after the upgrade
// registers a new account and orders every certificate again.
const acmeCacheDir = "acme"

// acmeRetry is how long Run waits after a failed order before the next. It
// is a little over a minute because autocert answers "missing certificate"
// for a minute after a failed order before it tries again.
var acmeRetry = 70 * time.Second

// acmeRenewBefore is autocert's Manager.RenewBefore; tests shorten it.
var acmeRenewBefore = RenewBefore

// acmeManager is autocert's Manager with the appliance's names.
type acmeManager struct {
	m *autocert.Manager
	// names are the fully qualified names, in order; names[0] is what a
	// client without a server name gets.
	names []string
	// bare maps a name without a domain to its fully qualified name.
	bare map[string]string

	mu sync.Mutex
	// leaves are the certificates in the cache, by name.
	leaves map[string]*x509.Certificate
}

// initACME prepares autocert and reads its cache; the ACME server is
// contacted only by Run (or a handshake).
func (c *Certs) initACME() error {
	dir := c.path(acmeCacheDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
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
	names := acmeNames(c.cfg.Names)
	m := &acmeManager{names: names, bare: bareNames(c.cfg.Names, names), leaves: map[string]*x509.Certificate{}}
	m.m = &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       acmeCache{DirCache: autocert.DirCache(dir), stored: c.keepACME},
		HostPolicy:  autocert.HostWhitelist(names...),
		RenewBefore: acmeRenewBefore,
		Client:      &acme.Client{DirectoryURL: c.cfg.ACMEDirectory, HTTPClient: hc, UserAgent: "tanjay"},
		Email:       c.cfg.ACMEEmail,
	}
	c.acme = m
	for _, n := range names {
		if data, err := m.m.Cache.Get(context.Background(), n+"+rsa"); err == nil {
			c.keepACME(n, data, false)
		}
	}
	return nil
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

// bareNames maps each name of names without a dot to the first of full
// that is it under a domain.
func bareNames(names, full []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if strings.Contains(n, ".") {
			continue
		}
		for _, f := range full {
			if _, ok := out[n]; !ok && strings.HasPrefix(f, n+".") {
				out[n] = f
			}
		}
	}
	return out
}

// acmeCache is autocert.DirCache writing as the rest of the data directory
// is written (temp file, fsync, rename), and telling the Certs of every
// certificate stored, so Info, the CA download and the log follow orders
// and renewals as they happen.
type acmeCache struct {
	autocert.DirCache
	stored func(name string, data []byte, obtained bool)
}

func (a acmeCache) Put(_ context.Context, key string, data []byte) error {
	if err := atomicfile.Write(filepath.Join(string(a.DirCache), filepath.Clean("/"+key)), 0o600, data); err != nil {
		return fmt.Errorf("tls: ACME cache: %w", err)
	}
	// Certificates are <name>+rsa; <name>+token, <token>+http-01 and
	// acme_account+key are challenges and the account.
	if name, ok := strings.CutSuffix(key, "+rsa"); ok {
		a.stored(name, data, true)
	}
	return nil
}

// keepACME records the certificate autocert cached for name (PEM: key,
// then the chain) and offers its issuers for download.
func (c *Certs) keepACME(name string, data []byte, obtained bool) {
	kp, err := tls.X509KeyPair(data, data)
	if err != nil {
		c.log.Error("tls: unreadable ACME certificate in the cache; it will be ordered again", "name", name, "err", err)
		return
	}
	var chain []*x509.Certificate
	for i := len(kp.Certificate) - 1; i >= 1; i-- {
		if ca, err := x509.ParseCertificate(kp.Certificate[i]); err == nil {
			chain = append(chain, ca)
		}
	}
	c.acme.mu.Lock()
	c.acme.leaves[name] = kp.Leaf
	c.acme.mu.Unlock()
	c.chain.Store(&chain)
	if obtained {
		c.log.Info("tls: ACME certificate obtained", "name", name,
			"sha256", fingerprint(sha256.New(), kp.Leaf.Raw), "not_after", kp.Leaf.NotAfter)
	}
}

// certificate is the listeners' GetCertificate in acme mode: autocert's,
// with the server name the client sent mapped to a name the appliance
// keeps a certificate for, and RSA whatever the client offers.
func (m *acmeManager) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	h := *hello
	h.ServerName = m.certName(hello.ServerName)
	h.CipherSuites = nil // autocert picks ECDSA only for an ECDHE_ECDSA suite
	return m.m.GetCertificate(&h)
}

// certificateOr is certificate with fallback, not names[0], for a client
// that sends no server name or an IP: the SIP TLS listener, which such a
// client dialed as sip.<domain>.
func (m *acmeManager) certificateOr(hello *tls.ClientHelloInfo, fallback string) (*tls.Certificate, error) {
	if sni := hello.ServerName; sni == "" || net.ParseIP(sni) != nil {
		h := *hello
		h.ServerName = fallback
		hello = &h
	}
	return m.certificate(hello)
}

// certName is the name whose certificate a client sending sni gets.
func (m *acmeManager) certName(sni string) string {
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
	if sni == "" || net.ParseIP(sni) != nil {
		return m.names[0]
	}
	if full, ok := m.bare[sni]; ok {
		return full
	}
	return sni
}

// acmeTLSSuites are added to the phone listener's suites in acme mode:
// x/crypto/acme makes tls-alpn-01 challenge certificates with ECDSA keys,
// which the ACME server's TLS 1.2 validation can only use with these.
// Phones never see them: their certificate is RSA.
var acmeTLSSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
}

// plugACME makes cfg serve acme mode's certificates, and with alpn answer
// tls-alpn-01 (the phone HTTPS listener). Outside acme mode it does
// nothing.
func (c *Certs) plugACME(cfg *tls.Config, alpn bool) {
	if c.acme == nil {
		return
	}
	cfg.GetCertificate = c.acme.certificate
	if alpn {
		cfg.NextProtos = append(cfg.NextProtos, acme.ALPNProto)
		cfg.CipherSuites = append(append([]uint16(nil), cfg.CipherSuites...), acmeTLSSuites...)
	}
}

// ACMEHTTPHandler answers ACME http-01 challenges in acme mode and passes
// everything else to fallback; outside acme mode it is fallback. Mount it
// on the phone HTTP listener (port 80) around the phone routes.
func (c *Certs) ACMEHTTPHandler(fallback http.Handler) http.Handler {
	if c.acme == nil {
		return fallback
	}
	return c.acme.m.HTTPHandler(fallback)
}

// refreshACME makes sure every name has a certificate, ordering the
// missing ones, and logs one autocert has failed to renew in time. It
// returns acmeRetry when an order failed, else 0. autocert's own timers
// renew; an order in flight when ctx ends finishes in the background.
func (c *Certs) refreshACME(ctx context.Context) time.Duration {
	failed := make(chan bool, 1)
	go func() { failed <- c.warmACME() }()
	select {
	case <-ctx.Done():
		return 0
	case f := <-failed:
		if f {
			return acmeRetry
		}
	}
	c.logOverdueACME()
	return 0
}

// warmACME gets every name's certificate, from autocert's memory, its
// cache or the ACME server, and reports whether one failed.
func (c *Certs) warmACME() bool {
	failed := false
	for _, n := range c.acme.names {
		if _, err := c.acme.certificate(&tls.ClientHelloInfo{ServerName: n}); err != nil {
			c.log.Error("tls: ACME order failed; retrying", "name", n, "directory", c.cfg.ACMEDirectory,
				"retry_in", acmeRetry, "err", err)
			failed = true
		}
	}
	return failed
}

// logOverdueACME logs each certificate autocert should have renewed by
// now: it tries at RenewBefore before expiry (less a jitter of up to a
// tenth of it, at most an hour) and again every 30 to 60 minutes after a
// failure, without a word; this is where a failing renewal shows.
func (c *Certs) logOverdueACME() {
	slack := min(acmeRenewBefore/10, time.Hour) + time.Hour
	now := c.cfg.Now()
	c.acme.mu.Lock()
	defer c.acme.mu.Unlock()
	for _, n := range c.acme.names {
		if leaf := c.acme.leaves[n]; leaf != nil && now.After(leaf.NotAfter.Add(-acmeRenewBefore+slack)) {
			c.log.Error("tls: ACME renewal overdue; autocert retries every 30 to 60 minutes",
				"name", n, "directory", c.cfg.ACMEDirectory, "not_after", leaf.NotAfter)
		}
	}
}

// acmeInfo describes the cached certificates, in the order of the names.
func (c *Certs) acmeInfo() []CertInfo {
	c.acme.mu.Lock()
	defer c.acme.mu.Unlock()
	var out []CertInfo
	for _, n := range c.acme.names {
		if leaf := c.acme.leaves[n]; leaf != nil {
			out = append(out, certInfo("acme", leaf))
		}
	}
	return out
}
