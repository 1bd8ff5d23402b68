package appliance

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/appliance/web"
	"github.com/tanjay-lab/tanjay/legacy"
)

// Config is everything `tanjay serve` needs. Every field has a flag of the
// same name in kebab case, also read from TANJAY_<NAME> in the environment.
type Config struct {
	// Data is the data directory holding state/, blobs/, logs/, captures/.
	// Default /var/lib/tanjay.
	Data string
	// HTTPAddr is the phone-facing HTTP listener (check-ins, files, log
	// uploads). Default ":80".
	HTTPAddr string
	// HTTPSAddr is the phone-facing HTTPS listener: phones check in over
	// HTTPS after their first update, Lync-era phones from the start. "off"
	// runs none. Default ":443".
	HTTPSAddr string
	// DashboardAddr is the dashboard and admin API listener. Default ":8080".
	DashboardAddr string
	// DashboardTLS serves the dashboard and admin API over HTTPS with modern
	// settings (the appliance CA's SHA-256 certificate). Default false.
	DashboardTLS bool
	// TLS is the certificate configuration (--tls-mode, --tls-cert,
	// --tls-key, --tls-phone-sig, --acme-directory, --acme-email,
	// --acme-ca); its directory, names and addresses come from Data, Host,
	// the DNS domains and the advertised address. Default: self-signed.
	TLS web.TLSConfig
	// Advertise is host[:port] phones reach the appliance at, used to derive
	// every URL the operator did not set. Default: the HTTP listener's own
	// address when it names one, else this machine's first LAN address
	// (IPv4, neither loopback nor link-local; 127.0.0.1 when it has none),
	// with the listener's port when it is not 80.
	Advertise string
	// URLs are the four update-server URLs; each one left empty (the default)
	// is derived from Advertise. Never empty once Run starts.
	URLs legacy.URLs
	// CaptureAll keeps every check-in body under captures/, not only the
	// ones the parser could not fully identify. Default false.
	CaptureAll bool
	// Host names this appliance in the audit log file names. Default: the
	// machine's host name.
	Host string
	// DNS is the DNS responder's configuration (--dns-addr, --domain,
	// --dns-mode, --dns-upstream); its Advertise and Host come from the
	// fields above. Default: lab mode on :53 for lab.local.
	DNS dnsresp.Config
	// DHCP is the DHCP server's configuration; it runs only when
	// DHCP.Interface is set (--dhcp-interface). Its domain, NTP/DNS address
	// and Lync provisioning host come from the DNS domains, the interface
	// and Host. Default: off.
	DHCP dhcp.Config
	// PublicReadOnly shows the dashboard's read-only pages without a login
	// (a screen on the lab bench); changes always need one. Default true.
	PublicReadOnly bool
	// AdminPassword is the dashboard's login password, from
	// TANJAY_ADMIN_PASSWORD (never a flag: it would show in ps). Default:
	// generated at first start, shown once, stored hashed.
	AdminPassword string
	// SIPAddr is the SIP front end's TCP listener, where beta phones sign in
	// to be handed the update URLs. "off" runs none. Default ":5060".
	SIPAddr string
	// SIPTLSAddr is the SIP front end's TLS listener (the legacy phone
	// profile and the appliance CA of the HTTPS listener). "off" runs none.
	// Default ":5061".
	SIPTLSAddr string
	// SIPPassword is the lab sign-in password: any user in any domain signs
	// in with it. From TANJAY_SIP_PASSWORD (never a flag: it would show in
	// ps). Default: the content of SIPPasswordFile, else of
	// <Data>/sip-password.txt, else generated at first start, shown once
	// and kept there (0600).
	SIPPassword string
	// SIPPasswordFile is a file holding the lab sign-in password
	// (--sip-password-file). Default: none.
	SIPPasswordFile string
	// SIPProvisioning is the shape of the ServerConfiguration group phones
	// are handed: flat or property-list (--sip-provisioning). Default flat.
	SIPProvisioning string
	// SIPAuthVersion is the NTLM-over-SIP protocol version offered: 2 (OCS
	// 2007, none named), 3 or 4 (--sip-auth-version). Default 3.
	SIPAuthVersion int
	// Directory is the lab's domain controller (--directory, --realm,
	// --netbios, --directory-interfaces, --directory-account); its data
	// lives in <Data>/directory, its account's password is SIPPassword.
	// --directory unit: Samba runs as its own service and serve only
	// answers its locator records and watches it (directorywatch.go).
	// Default: off.
	Directory DirectoryConfig
	// Token is the admin API bearer token. Default: TANJAY_TOKEN, else the
	// token in <Data>/admin.token, created (mode 0600) at first start.
	Token string
	// PhoneConns caps what anonymous clients hold on the phone HTTP and
	// HTTPS listeners together: connections per address and in total, the
	// header timeout, the minimum body rate, the longest a write may stall
	// (--phone-conns-per-address, --phone-conns-total,
	// --phone-header-timeout, --phone-body-min-rate, --phone-write-stall;
	// 0 turns each off). Default: connlimit.DefaultConfig (64, 4096, 10 s,
	// 4 KiB/s, 60 s).
	PhoneConns connlimit.Config

	// PhoneFiles caps the log uploads and check-in captures anonymous
	// phones make the appliance keep, and sets the free-space floor below
	// which both stop (phonefiles.go: --upload-*, --capture-*,
	// --disk-floor-*). Default: defaultPhoneFiles.
	PhoneFiles PhoneFilesConfig

	// StoreLimits bound what clients nobody has confirmed make the state
	// keep in memory (--unconfirmed-devices, --timeline-kib). Default:
	// 4096 unconfirmed devices, 512 KiB of events per phone.
	StoreLimits StoreLimits
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "tanjay"
	}
	return Config{
		Data:           "/var/lib/tanjay",
		HTTPAddr:       ":80",
		HTTPSAddr:      ":443",
		SIPAddr:        ":5060",
		SIPTLSAddr:     ":5061",
		SIPAuthVersion: 3,
		DashboardAddr:  ":8080",
		TLS:            web.TLSConfig{Mode: web.ModeSelfSigned, PhoneSigAlg: web.SigSHA1},
		Host:           host,
		DNS:            dnsresp.DefaultConfig(),
		DHCP:           dhcp.Config{Lease: dhcp.DefaultLease, GuardWait: dhcp.DefaultGuardWait, GuardProbes: dhcp.DefaultGuardProbes, GuardInterval: dhcp.DefaultGuardInterval},
		PublicReadOnly: true,
		Directory:      DirectoryConfig{Mode: directoryOff, Account: "tech"},
		PhoneConns:     connlimit.DefaultConfig(),
		PhoneFiles:     defaultPhoneFiles(),
		StoreLimits:    defaultStoreLimits(),
	}
}

// dnsOff is the --dns-addr value that turns the DNS responder off, for labs
// that already run their own DNS.
const dnsOff = "off"

// dnsEnabled reports whether the DNS responder runs.
func (c Config) dnsEnabled() bool { return c.DNS.Addr != dnsOff && c.DNS.Addr != "" }

// dnsConfig is the responder's configuration with the appliance's address
// and host name filled in.
func (c Config) dnsConfig(advertise string) dnsresp.Config {
	d := c.DNS
	if ip, err := netip.ParseAddr(netaddr.Host(advertise)); err == nil && ip.Is4() && !d.Advertise.IsValid() {
		d.Advertise = ip
	}
	d.Host = dnsHostLabel(c.Host)
	return d
}

// dnsHostLabel is the first label of the host name, lower-cased, when it is
// a valid DNS label, else the responder's default.
func dnsHostLabel(host string) string {
	if label := netaddr.HostLabel(host); label != "" {
		return label
	}
	return dnsresp.DefaultHost
}

// Validate checks the configuration, naming the flag of each bad value.
func (c Config) Validate() error {
	if c.Data == "" {
		return fmt.Errorf("--data: the data directory must be set")
	}
	addrs := []struct{ flag, v string }{{"--http-addr", c.HTTPAddr}, {"--dashboard-addr", c.DashboardAddr}}
	if c.httpsEnabled() {
		addrs = append(addrs, struct{ flag, v string }{"--https-addr", c.HTTPSAddr})
	}
	if enabled(c.SIPAddr) {
		addrs = append(addrs, struct{ flag, v string }{"--sip-addr", c.SIPAddr})
	}
	if enabled(c.SIPTLSAddr) {
		addrs = append(addrs, struct{ flag, v string }{"--sip-tls-addr", c.SIPTLSAddr})
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("%s %q: want host:port or :port: %w", a.flag, a.v, err)
		}
	}
	// The URLs are derived after the listeners are bound (the port may be
	// :0); check the given ones now so a bad flag stops start-up.
	if err := c.URLs.Check(); err != nil {
		return fmt.Errorf("--%w", err)
	}
	if err := c.sipConfigCheck(); err != nil {
		return err
	}
	if !c.directoryWatched() { // unit: directorywatch.go
		if err := c.checkDirectory(); err != nil {
			return err
		}
	}
	if c.certsNeeded() {
		t := c.tlsConfig("127.0.0.1")
		if err := t.Validate(); err != nil {
			return err
		}
	}
	if c.dnsEnabled() {
		if err := c.dnsConfig("127.0.0.1").Validate(); err != nil {
			return err
		}
	}
	if c.DHCP.Interface != "" {
		if err := c.dhcpConfig().Validate(); err != nil {
			return err
		}
	}
	if c.Advertise != "" {
		if err := legacy.CheckAdvertise(c.Advertise); err != nil {
			return fmt.Errorf("--advertise: %w", err)
		}
	}
	if err := c.PhoneConns.Validate(); err != nil {
		return err
	}
	if err := c.PhoneFiles.validate(); err != nil {
		return err
	}
	if err := c.StoreLimits.validate(); err != nil {
		return err
	}
	return nil
}

// advertiseFor is Advertise, or the default derived from the bound HTTP
// listener's address.
func (c Config) advertiseFor(bound net.Addr) string {
	if c.Advertise != "" {
		return c.Advertise
	}
	host, port := "", "80"
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
		if !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
	}
	if host == "" {
		host = netaddr.FirstLANAddress().String()
	}
	if port == "80" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// dhcpConfig is the DHCP server's configuration with the appliance's
// domain and names filled in.
func (c Config) dhcpConfig() dhcp.Config {
	d := c.DHCP
	if len(c.DNS.Domains) > 0 {
		d.Domain = strings.TrimSuffix(c.DNS.Domains[0], ".")
	}
	if d.LyncHost == "" && d.Domain != "" {
		d.LyncHost = dnsHostLabel(c.Host) + "." + d.Domain
	}
	if d.LyncScheme == "" && !c.httpsEnabled() {
		d.LyncScheme, d.LyncPort = "http", 80
	}
	return d
}

// httpsAdvertise is the advertised host with the HTTPS listener's port
// (none for 443).
func httpsAdvertise(advertise string, bound net.Addr) string {
	host := netaddr.Host(advertise)
	if ta, ok := bound.(*net.TCPAddr); ok && ta.Port != 443 {
		return net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// httpsEnabled reports whether the phone-facing HTTPS listener runs.
func (c Config) httpsEnabled() bool { return enabled(c.HTTPSAddr) }

// enabled reports whether a listener address names a listener ("off" and
// "" do not).
func enabled(addr string) bool { return addr != "off" && addr != "" }

// certsNeeded reports whether any listener needs the certificates, or the
// directory, which publishes the CA.
func (c Config) certsNeeded() bool {
	return c.httpsEnabled() || c.DashboardTLS || enabled(c.SIPTLSAddr) || c.directoryOn() || c.directoryWatched()
}

// tlsConfig is the certificate configuration with the appliance's names:
// ucupdates-r2, ucupdates and the host name under every domain and bare,
// and the advertised address when it is an IP.
func (c Config) tlsConfig(advertise string) web.TLSConfig {
	t := c.TLS
	t.Dir = filepath.Join(c.Data, "tls")
	t.Names = web.ServerNames(dnsHostLabel(c.Host), c.DNS.Domains)
	if enabled(c.SIPTLSAddr) {
		t.Names = append(t.Names, sipServerNames(c.DNS.Domains)...)
	}
	if ip := net.ParseIP(netaddr.Host(advertise)); ip != nil {
		t.IPs = []net.IP{ip}
	}
	return t
}

// Paths under the data directory.
func (c Config) stateDir() string   { return filepath.Join(c.Data, "state") }
func (c Config) blobDir() string    { return filepath.Join(c.Data, "blobs") }
func (c Config) auditDir() string   { return filepath.Join(c.Data, "logs", "audit") }
func (c Config) accessDir() string  { return filepath.Join(c.Data, "logs", "access") }
func (c Config) clientDir() string  { return filepath.Join(c.Data, "logs", "client") }
func (c Config) captureDir() string { return filepath.Join(c.Data, "captures") }
func (c Config) tokenPath() string  { return tokenPath(c.Data) }

// tmpDir holds uploads while they are read; it is emptied at every start
// (admin.Actions.SweepInterruptedImports).
func (c Config) tmpDir() string { return filepath.Join(c.Data, "tmp") }

func tokenPath(data string) string { return filepath.Join(data, "admin.token") }

// StoreLimits bound the state's memory against clients that need no
// password: a forged DNS query or DHCP discover, an upload naming any MAC.
type StoreLimits struct {
	// UnconfirmedDevices is how many devices that have neither checked in
	// nor signed in over SIP are kept; the least recently seen are
	// forgotten, timeline and all. Default 4096.
	UnconfirmedDevices int
	// TimelineKiB bounds each phone's timeline by the estimated memory of
	// its events, besides the 500 events it keeps at most; the oldest are
	// dropped. Default 512.
	TimelineKiB int
}

func defaultStoreLimits() StoreLimits {
	return StoreLimits{UnconfirmedDevices: store.DefaultMaxUnconfirmedDevices, TimelineKiB: store.DefaultMaxTimelineBytes >> 10}
}

func (l StoreLimits) validate() error {
	if l.UnconfirmedDevices < 1 {
		return fmt.Errorf("--unconfirmed-devices %d: want at least 1", l.UnconfirmedDevices)
	}
	if l.TimelineKiB < 1 || l.TimelineKiB > 1<<20 {
		return fmt.Errorf("--timeline-kib %d: want 1 to 1048576 (1 GiB)", l.TimelineKiB)
	}
	return nil
}

// storeOptions are the state store's options for these limits.
func (l StoreLimits) storeOptions(o store.Options) store.Options {
	o.MaxUnconfirmedDevices = l.UnconfirmedDevices
	o.MaxTimelineBytes = l.TimelineKiB << 10
	return o
}
