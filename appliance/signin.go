package appliance

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
	"github.com/tanjay-lab/tanjay/appliance/internal/ratelog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/legacy/sip"
)

// sipPasswordFile keeps a generated lab sign-in password, 0600, in the data
// directory: the technician types it on each phone, so it is kept in clear.
const sipPasswordFile = "sip-password.txt"

// sipPasswordAlphabet is what a generated password is made of: lower-case
// letters and digits a technician types on a phone's touch keyboard
// without mistaking one for another (no l, 1, o, 0).
const sipPasswordAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// sipConfigCheck checks the SIP settings, naming each bad flag.
func (c Config) sipConfigCheck() error {
	if c.SIPProvisioning != "" && !slices.Contains(sip.Variants, c.SIPProvisioning) {
		return fmt.Errorf("--sip-provisioning %q: want one of %s", c.SIPProvisioning, strings.Join(sip.Variants, ", "))
	}
	if c.SIPAuthVersion < 2 || c.SIPAuthVersion > 4 {
		return fmt.Errorf("--sip-auth-version %d: want 2, 3 or 4", c.SIPAuthVersion)
	}
	return nil
}

// sipEnabled reports whether any SIP listener runs.
func (c Config) sipEnabled() bool { return enabled(c.SIPAddr) || enabled(c.SIPTLSAddr) }

// sipServerNames are the names a phone connects to the SIP front end by
// (SIGNIN.md §1.3), under every domain: the certificate names them all.
func sipServerNames(domains []string) []string {
	var names []string
	for _, d := range domains {
		d = strings.ToLower(strings.Trim(d, "."))
		if d == "" {
			continue
		}
		for _, label := range []string{"sip", "sipinternal", "sipexternal"} {
			names = append(names, label+"."+d)
		}
	}
	return names
}

// loadOrCreateSIPPassword returns the lab sign-in password: given (from
// TANJAY_SIP_PASSWORD) when set, else the file named by --sip-password-file,
// else <data>/sip-password.txt, else a new one written there (0600) and
// shown once on out.
func loadOrCreateSIPPassword(cfg Config, out io.Writer, log *slog.Logger) (string, error) {
	if cfg.SIPPassword != "" {
		return cfg.SIPPassword, nil
	}
	if cfg.SIPPasswordFile != "" {
		b, err := os.ReadFile(cfg.SIPPasswordFile)
		if err != nil {
			return "", fmt.Errorf("--sip-password-file: %w", err)
		}
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
		return "", fmt.Errorf("--sip-password-file %s is empty", cfg.SIPPasswordFile)
	}
	path := filepath.Join(cfg.Data, sipPasswordFile)
	b, err := os.ReadFile(path)
	if pw := strings.TrimSpace(string(b)); err == nil && pw != "" {
		return pw, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("lab sign-in password: %w", err)
	}
	pw := generateSIPPassword()
	if err := atomicfile.Write(path, 0o600, []byte(pw+"\n")); err != nil {
		return "", fmt.Errorf("lab sign-in password: %w", err)
	}
	fmt.Fprintf(out, "lab sign-in password for phones (shown once; kept in %s): %s\n", path, pw)
	log.Info("generated the lab sign-in password", "file", path)
	return pw, nil
}

// generateSIPPassword is 12 characters of sipPasswordAlphabet, in three
// groups of four: about 60 bits, typed on a phone in a few seconds.
func generateSIPPassword() string {
	var b strings.Builder
	for i := range 12 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(sipPasswordAlphabet))))
		b.WriteByte(sipPasswordAlphabet[n.Int64()])
	}
	return b.String()
}

// sipObserver puts each sign-in step on the phone's timeline. The SIP
// messages carry no MAC: the phone is matched by address, and its check-in
// from the same address later names it.
type sipObserver struct{ a *app }

func (o sipObserver) SIP(e sip.Event) {
	detail := e.Detail
	if e.Transport != "" {
		detail = strings.TrimSpace(detail + " (" + strings.ToUpper(e.Transport) + ")")
	}
	o.a.store.Observe(store.Event{
		Time: e.At, Kind: store.EventSIP, IP: e.ClientIP.String(),
		SIPStep: string(e.Step), User: e.User, UserAgent: e.UserAgent, Handed: e.Handed,
		Detail: detail,
	})
}

// sipCapturer keeps SIP messages the front end did not fully understand
// under captures/, beside the check-in captures, as
// <UTC time>_<client ip>_sip-<reason>-<random>.txt. Like those, they are
// diagnostics: not fsynced.
type sipCapturer struct {
	dir string
	log *slog.Logger
}

func (c sipCapturer) CaptureSIP(at time.Time, ip netip.Addr, reason string, raw []byte) {
	name := at.UTC().Format("20060102T150405.000000000Z") + "_" + strings.ReplaceAll(ip.String(), ":", "-") + "_sip-" + reason + "-*.txt"
	f, err := os.CreateTemp(c.dir, name)
	if err == nil {
		_, err = f.Write(raw)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		c.log.Warn("could not keep a SIP capture", "reason", reason, "err", err)
	}
}

// sipListeners are the SIP front end's bound listeners; nil when off.
type sipListeners struct{ tcp, tls net.Listener }

// bindSIP binds the SIP listeners that are on.
func bindSIP(cfg Config) (sipListeners, error) {
	var l sipListeners
	var err error
	if enabled(cfg.SIPAddr) {
		if l.tcp, err = net.Listen("tcp", cfg.SIPAddr); err != nil {
			return l, fmt.Errorf("--sip-addr: %w", err)
		}
	}
	if enabled(cfg.SIPTLSAddr) {
		if l.tls, err = net.Listen("tcp", cfg.SIPTLSAddr); err != nil {
			l.close()
			return sipListeners{}, fmt.Errorf("--sip-tls-addr: %w", err)
		}
	}
	return l, nil
}

func (l sipListeners) close() {
	for _, ln := range []net.Listener{l.tcp, l.tls} {
		if ln != nil {
			ln.Close()
		}
	}
}

// ports are the bound ports, 0 for a listener that is off: the DNS
// responder publishes SRV records only for listeners that run.
func (l sipListeners) ports() (tcp, tls uint16) {
	return listenerPort(l.tcp), listenerPort(l.tls)
}

func listenerPort(ln net.Listener) uint16 {
	if ln == nil {
		return 0
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return uint16(a.Port)
	}
	return 0
}

// newSIPServer is the SIP front end: the lab password, the two download
// URLs the check-in path derives, the appliance's names, and the store as
// its timeline.
func (a *app) newSIPServer() (*sip.Server, error) {
	domain := "lab.local"
	if len(a.cfg.DNS.Domains) > 0 {
		domain = strings.ToLower(strings.Trim(a.cfg.DNS.Domains[0], "."))
	}
	urls := sip.UpdateURLs{Internal: a.urls.InternalDownload, External: a.urls.ExternalDownload}
	return sip.New(sip.Config{
		Password:    func() string { return a.sipPassword },
		URLs:        func() sip.UpdateURLs { return urls },
		Variant:     a.cfg.SIPProvisioning,
		AuthVersion: a.cfg.SIPAuthVersion,
		Host:        dnsHostLabel(a.cfg.Host),
		Domain:      domain,
		Observer:    sipObserver{a},
		Capturer:    sipCapturer{dir: a.cfg.captureDir(), log: a.log},
		// Anything on the lab switch can repeat what the SIP server logs
		// about a client: each such line passes once a minute per client.
		Log: slog.New(ratelog.New(a.log.Handler(), ratelog.Config{
			Summary: "sip: refusing or cutting clients from many addresses; not logging each"})),
	})
}

// signInFacts are what Settings & health shows a technician: what to type
// on a phone, where it connects, how sign-ins went.
func (a *app) signInFacts() [][2]string {
	domain := "lab.local"
	if len(a.cfg.DNS.Domains) > 0 {
		domain = strings.Trim(a.cfg.DNS.Domains[0], ".")
	}
	netbios, _, _ := strings.Cut(strings.ToUpper(domain), ".")
	st := a.sip.Stats()
	rows := [][2]string{
		{"sign-in address", "anyone@" + domain + " (any user, any domain)"},
		{"user name", netbios + `\anyone`},
		{"password", "the lab sign-in password (below)"},
	}
	if a.bound.SIP != "" {
		rows = append(rows, [2]string{"TCP", a.bound.SIP + " (_sipinternal._tcp." + domain + ")"})
	}
	if a.bound.SIPTLS != "" {
		rows = append(rows, [2]string{"TLS", a.bound.SIPTLS + " (_sipinternaltls._tcp." + domain + ", certificate from the appliance CA)"})
	}
	rows = append(rows,
		[2]string{"provisioning shape", cmp.Or(a.cfg.SIPProvisioning, sip.VariantFlat)},
		[2]string{"connected / registered", fmt.Sprintf("%d / %d", st.Conns, st.Registered)},
		[2]string{"sign-ins / wrong passwords", fmt.Sprintf("%d / %d", st.SignIns, st.AuthFailures)},
		[2]string{"bad signatures / connections refused or cut", fmt.Sprintf("%d / %d", st.SignatureFailures, st.Refused+st.Cut)},
	)
	return rows
}
