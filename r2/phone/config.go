package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// CheckInPath is where a phone POSTs its check-in, below Config.Server.
const CheckInPath = "/RequestHandler/ucdevice.upx"

// DefaultMaxHops bounds a walk when Config.MaxHops is zero: a real upgrade
// path has two or three hops (beta → interim → release).
const DefaultMaxHops = 8

// Identity is what a phone says about itself in every check-in. Empty fields
// are sent empty: the server must cope (PROTOCOL.md §2 allows a blank MAC and
// serial).
type Identity struct {
	DeviceType string // UCPhone, RoundTable
	MAC        string // sent as given, e.g. 001B9E4B5B10
	Serial     string
	Vendor     string // LG-Nortel, Polycom
	Model      string // IP8540, CX700
	Revision   string // A
	Locale     string // ENU, DEU
}

// Config is one simulated phone.
type Config struct {
	// Server is the base URL of the update service, e.g.
	// http://127.0.0.1:8080; check-ins go to Server+CheckInPath. Required
	// unless SignIn is set; not used when it is.
	Server string
	// SignIn, when set, makes this a beta phone (1.0.199.x) that never asks
	// DNS for ucupdates: before its first check-in it signs in, and it
	// checks in at the URL in-band provisioning handed it instead of at
	// Server+CheckInPath (PROTOCOL.md §1, SIGNIN.md). The function does the
	// SIP part (discovery, NTLM, REGISTER, the provisioning subscription)
	// and returns updatesServerInternalUrl; the file URLs still come from
	// the check-in answers. An error fails the walk before any check-in.
	// Default nil: the phone checks in at Server.
	SignIn func(ctx context.Context) (checkInURL string, err error)
	// Identity is sent in every check-in.
	Identity Identity
	// Version is the CPE image the phone starts on. Default (zero): a beta
	// phone reporting 0.0.0.0 with the FILETIME epoch 01.01.1601 00:00:00.
	Version images.Version
	// InstallDelay is how long "installing" takes after the download, before
	// the phone checks in again with the new version. Default 0.
	InstallDelay time.Duration
	// FetchDelay is how long the phone waits after an offer before fetching
	// the files (real phones wait minutes). Default 0.
	FetchDelay time.Duration
	// CutAt, when 0 < CutAt < 1, cuts the first download of each file off
	// after that fraction of its Content-Length; the phone then resumes with
	// a Range request and requires 206 and a matching Content-Range.
	// Default 0: no cut.
	CutAt float64
	// MaxHops is the most updates one walk installs before it fails.
	// Default (0) DefaultMaxHops.
	MaxHops int
	// Rounds is how many more check-ins the phone makes after its walk ended
	// with nothing offered (load generation). Their answers are only checked
	// (200, mentions NumOfFiles), not parsed or acted on; they add to
	// Walk.CheckIns and Walk.Latencies, not to Walk.Steps. Default 0.
	Rounds int
	// Client sends every request. Default: a package-wide keep-alive client
	// (RunFleet instead gives the fleet one FleetTransport sized to it).
	// A custom client should disable transparent compression, or downloads
	// cannot be checked against Content-Length.
	Client *http.Client
	// DNS is host:port of the DNS server the phone resolves the Server's
	// host name with, as a real phone uses the server DHCP option 6 gave it
	// (e.g. ucupdates-r2.lab.local). Default: the system resolver. A phone
	// with DNS or LocalIP set and no Client gets a transport of its own.
	DNS string
	// LocalIP is the address the phone's connections come from; on Linux
	// every 127.0.0.0/8 address is local, so a simulated fleet can give each
	// phone its own. Default: the system's choice.
	LocalIP netip.Addr
	// Now is the phone's clock (RequestTime, install time stamps, Step.At).
	// Default time.Now. Latencies always use the real clock.
	Now func() time.Time
}

// Validate reports a Config that Run cannot use.
func (c Config) Validate() error {
	if c.SignIn == nil && !usableURL(c.Server) {
		return fmt.Errorf("phone: server %q: want a base URL like http://127.0.0.1:8080", c.Server)
	}
	var errs []error
	if c.CutAt < 0 || c.CutAt >= 1 {
		errs = append(errs, fmt.Errorf("phone: cut-at %v: want 0 (off) or a fraction between 0 and 1", c.CutAt))
	}
	if c.InstallDelay < 0 || c.FetchDelay < 0 {
		errs = append(errs, errors.New("phone: delays must not be negative"))
	}
	if c.MaxHops < 0 || c.Rounds < 0 {
		errs = append(errs, errors.New("phone: max hops and rounds must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxHops == 0 {
		c.MaxHops = DefaultMaxHops
	}
	switch {
	case c.ownsTransport():
		c.Client = &http.Client{Transport: PhoneTransport(c.DNS, c.LocalIP)}
	case c.Client == nil:
		c.Client = defaultClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Server = strings.TrimRight(c.Server, "/")
	return c
}

// defaultClient serves phones run without a Client of their own.
var defaultClient = &http.Client{Transport: FleetTransport(64)}

// ownsTransport reports whether a phone run with c gets a transport of its
// own: no Client, and DNS or LocalIP set. Run closes its connections when
// the phone is done.
func (c Config) ownsTransport() bool {
	return c.Client == nil && (c.DNS != "" || c.LocalIP.IsValid())
}

// PhoneTransport is a one-phone keep-alive transport that resolves host
// names through the DNS server at dnsAddr (when set) and dials from localIP
// (when valid), as a phone with its own address and the DNS server its
// lease named does.
func PhoneTransport(dnsAddr string, localIP netip.Addr) *http.Transport {
	t := FleetTransport(2)
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if localIP.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: localIP.AsSlice()}
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dnsAddr != "" {
			resolved, err := resolveVia(ctx, dnsAddr, localIP, addr)
			if err != nil {
				return nil, err
			}
			addr = resolved
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return t
}

// FleetTransport is a keep-alive transport for n phones talking to one
// server at once: n idle connections per host, so a fleet reuses its
// connections instead of exhausting ephemeral ports. Compression is off:
// phones do not ask for it, and downloads are checked against
// Content-Length. No proxy: phones talk to the update service directly.
func FleetTransport(n int) *http.Transport {
	n = max(n, 2)
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConns:          n,
		MaxIdleConnsPerHost:   n,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}
