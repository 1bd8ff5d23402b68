package web

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Certificate modes (--tls-mode).
const (
	ModeSelfSigned = "self-signed" // the appliance CA in <data>/tls (default)
	ModeFiles      = "files"       // the operator's PEM certificate and key
	ModeACME       = "acme"        // RFC 8555 (x/crypto/acme/autocert) against a lab ACME server
)

// Signature algorithms of the phone listener's certificate (PhoneSigAlg).
const (
	SigSHA1   = "sha1"   // default: the CX700 cannot verify SHA-2
	SigSHA256 = "sha256" // for fleets without CX700s
)

// RenewBefore is how long before expiry the self-signed leaves are
// reissued, at start and by Run, and acme mode's certificates renewed.
const RenewBefore = 30 * 24 * time.Hour

// TLSConfig is what the appliance's TLS needs. The appliance fills it from
// its flags.
type TLSConfig struct {
	// Mode is self-signed, files or acme (--tls-mode). Default self-signed.
	Mode string
	// Dir holds the CA, the issued certificates and the ACME cache
	// (<data>/tls). Required.
	Dir string
	// CertFile and KeyFile are the operator's PEM certificate (leaf first,
	// then its chain) and key (--tls-cert, --tls-key). Files mode only,
	// required there.
	CertFile, KeyFile string
	// ACMEDirectory is the lab ACME server's directory URL
	// (--acme-directory). Acme mode only, required there: there is no public
	// CA default, the lab has no internet.
	ACMEDirectory string
	// ACMEEmail is the contact given to the ACME server (--acme-email).
	// Default: none.
	ACMEEmail string
	// ACMECAFile is a PEM file of the CA(s) the ACME server's own HTTPS
	// certificate chains to (--acme-ca). Default "": the system roots.
	ACMECAFile string
	// Names are the host names the server certificate covers, in order
	// (see ServerNames); in acme mode only those with a dot. Required
	// unless Mode is files.
	Names []string
	// IPs are the addresses the certificate covers (the advertised IP).
	// Default: none.
	IPs []net.IP
	// PhoneSigAlg is the signature algorithm of the phone listener's leaf
	// and of the appliance CA when it is created (--tls-phone-sig): sha1
	// (default, for the CX700) or sha256. The dashboard leaf is always
	// SHA-256. Self-signed mode only.
	PhoneSigAlg string
	// Logger receives warnings (uncovered names) and renewals. Default:
	// discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Validate reports a TLSConfig the appliance cannot start with; errors name
// the flags.
func (c TLSConfig) Validate() error {
	var errs []error
	switch c.Mode {
	case "", ModeSelfSigned:
	case ModeFiles:
		if c.CertFile == "" || c.KeyFile == "" {
			errs = append(errs, errors.New("--tls-mode files needs both --tls-cert and --tls-key"))
		}
	case ModeACME:
		if c.ACMEDirectory == "" {
			errs = append(errs, errors.New("--tls-mode acme needs --acme-directory (the lab ACME server's directory URL; there is no public CA default)"))
		}
	default:
		errs = append(errs, fmt.Errorf("--tls-mode %q: want self-signed, files or acme", c.Mode))
	}
	if c.Mode != ModeFiles && (c.CertFile != "" || c.KeyFile != "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key need --tls-mode files"))
	}
	if c.Mode != ModeACME && c.ACMEDirectory != "" {
		errs = append(errs, errors.New("--acme-directory needs --tls-mode acme"))
	}
	switch c.PhoneSigAlg {
	case "", SigSHA1, SigSHA256:
	default:
		errs = append(errs, fmt.Errorf("--tls-phone-sig %q: want sha1 or sha256", c.PhoneSigAlg))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("tls: Dir is required"))
	}
	if c.Mode != ModeFiles && len(c.Names) == 0 {
		errs = append(errs, errors.New("tls: Names is required"))
	}
	if c.Mode == ModeACME && len(acmeNames(c.Names)) == 0 {
		errs = append(errs, errors.New("--tls-mode acme needs a --domain: ACME names must be fully qualified"))
	}
	return errors.Join(errs...)
}

func (c TLSConfig) withDefaults() TLSConfig {
	if c.Mode == "" {
		c.Mode = ModeSelfSigned
	}
	if c.PhoneSigAlg == "" {
		c.PhoneSigAlg = SigSHA1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// ServerNames is the list of names the appliance's certificate covers:
// ucupdates-r2, ucupdates and the host's first label, bare (phones use the
// short names, PROTOCOL.md §1) and under every domain, then the host name
// as given when it is fully qualified. Lower case, no duplicates.
func ServerNames(host string, domains []string) []string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	label, _, _ := strings.Cut(host, ".")
	bare := []string{"ucupdates-r2", "ucupdates"}
	if label != "" {
		bare = append(bare, label)
	}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, d := range domains {
		d = strings.ToLower(strings.Trim(d, "."))
		for _, b := range bare {
			if d != "" {
				add(b + "." + d)
			}
		}
	}
	for _, b := range bare {
		add(b)
	}
	add(host)
	return names
}

// Certs holds the appliance's certificates and hands them to the listeners.
// The served certificates are swapped atomically, so renewal needs no
// restart.
type Certs struct {
	cfg       TLSConfig
	log       *slog.Logger
	phone     atomic.Pointer[tls.Certificate]
	dashboard atomic.Pointer[tls.Certificate]
	// chain is what /certsrv/certnew.p7b and /ca.cer offer: the CA first.
	chain atomic.Pointer[[]*x509.Certificate]
	// missing is, in files mode, the names the operator's certificate
	// does not cover.
	missing atomic.Pointer[[]string]

	ca    *authority   // self-signed mode
	files *fileState   // files mode
	acme  *acmeManager // acme mode
}

// NewCerts creates or loads the certificates of c.Mode: it creates the CA
// on first start and reissues leaves that are due, refuses an operator key
// that does not match its certificate, and prepares autocert (which
// contacts the ACME server only from Run or a handshake).
func NewCerts(c TLSConfig) (*Certs, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	cs := &Certs{cfg: c, log: c.Logger}
	var err error
	switch c.Mode {
	case ModeSelfSigned:
		err = cs.initSelfSigned()
	case ModeFiles:
		err = cs.loadFiles()
	case ModeACME:
		err = cs.initACME()
	}
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// path is name under Dir.
func (c *Certs) path(name string) string { return filepath.Join(c.cfg.Dir, name) }
