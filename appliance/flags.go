package appliance

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
)

// envPrefix is the prefix of the environment variable every flag is also
// read from: --http-addr is TANJAY_HTTP_ADDR.
const envPrefix = "TANJAY_"

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a flag set for one subcommand whose usage prints the
// synopsis, a description and the flags with their environment variables.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tanjay %s %s\n\n%s\n", name, synopsis, about)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintf(stderr, "\nflags (each also read from %s<NAME>):\n", envPrefix)
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags applies the environment first and the command line second, so
// a flag given on the command line wins over its variable.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return parseInterleaved(fs, args)
}

// parseInterleaved parses flags wherever they are among the arguments, so
// `tanjay testdevice add MAC --server URL` means what it says (Go's flag
// package stops at the first argument that is not a flag and would leave
// --server among the arguments). "--" ends the flags: everything after it
// is an argument. fs.Args() is the arguments, in order.
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// serveFlags registers the flags of Config.
func serveFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Data, "data", c.Data, "data directory (state, firmware blobs, logs, captures)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "phone-facing HTTP listener")
	fs.StringVar(&c.HTTPSAddr, "https-addr", c.HTTPSAddr, `phone-facing HTTPS listener ("off" to run none)`)
	fs.StringVar(&c.DashboardAddr, "dashboard-addr", c.DashboardAddr, "dashboard and admin API listener")
	fs.BoolVar(&c.DashboardTLS, "dashboard-tls", c.DashboardTLS, "serve the dashboard and admin API over HTTPS (modern TLS only)")
	fs.BoolVar(&c.PublicReadOnly, "public-read-only", c.PublicReadOnly, "show the dashboard's read-only pages without a login (changes always need one)")
	fs.StringVar(&c.TLS.Mode, "tls-mode", c.TLS.Mode, "self-signed (an appliance CA in <data>/tls), files (--tls-cert/--tls-key) or acme (--acme-directory)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", c.TLS.CertFile, "PEM certificate and chain, for --tls-mode files")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", c.TLS.KeyFile, "PEM private key, for --tls-mode files")
	fs.StringVar(&c.TLS.PhoneSigAlg, "tls-phone-sig", c.TLS.PhoneSigAlg, "signature of the phone certificate and CA: sha1 (the CX700 cannot verify SHA-2) or sha256")
	fs.StringVar(&c.TLS.ACMEDirectory, "acme-directory", c.TLS.ACMEDirectory, "the lab ACME server's directory URL, for --tls-mode acme (no public CA: the lab has no internet)")
	fs.StringVar(&c.TLS.ACMEEmail, "acme-email", c.TLS.ACMEEmail, "contact address given to the ACME server")
	fs.StringVar(&c.TLS.ACMECAFile, "acme-ca", c.TLS.ACMECAFile, "PEM CA of the ACME server's own HTTPS certificate (default: system roots)")
	fs.StringVar(&c.Advertise, "advertise", c.Advertise, "host[:port] phones reach the appliance at (default: the HTTP listener's address, else the first LAN IPv4 address)")
	fs.StringVar(&c.URLs.InternalDownload, "internal-download-url", c.URLs.InternalDownload, "InternalUpdatesDownloadURL (default http://<advertise>/RequestHandler/ucdevice.upx)")
	fs.StringVar(&c.URLs.InternalStore, "internal-store-url", c.URLs.InternalStore, "InternalUpdatesStoreURL (default http://<advertise>/DeviceUpdateFiles_Int)")
	fs.StringVar(&c.URLs.ExternalDownload, "external-download-url", c.URLs.ExternalDownload, "ExternalUpdatesDownloadURL (default https://<advertise>/RequestHandlerExt/ucdevice.upx, http:// when --https-addr is off)")
	fs.StringVar(&c.URLs.ExternalStore, "external-store-url", c.URLs.ExternalStore, "ExternalUpdatesStoreURL (default https://<advertise>/DeviceUpdateFiles_Ext, http:// when --https-addr is off)")
	fs.BoolVar(&c.CaptureAll, "capture-all", c.CaptureAll, "keep every check-in body under captures/, not only unidentified ones")
	fs.StringVar(&c.Host, "host", c.Host, "host name used in audit log file names and answered by DNS (first label)")
	fs.StringVar(&c.DNS.Addr, "dns-addr", c.DNS.Addr, `DNS responder listener, UDP and TCP ("off" to run none)`)
	fs.Var(&stringList{list: &c.DNS.Domains}, "domain", "lab domain phones append (DHCP option 15); repeat or comma-separate for several (default lab.local)")
	fs.Var((*dnsModeFlag)(&c.DNS.Mode), "dns-mode", "lab: every other name answers with the appliance; strict: only the appliance's names; forward: others go to --dns-upstream")
	fs.StringVar(&c.DNS.Upstream, "dns-upstream", c.DNS.Upstream, "resolver host[:port] for --dns-mode forward")
	fs.Func("advertise6", "IPv6 address DNS answers AAAA queries with (default: none, AAAA gets no data)", func(v string) error {
		ip, err := netip.ParseAddr(v)
		if err == nil && !ip.Is6() {
			err = fmt.Errorf("%s is not an IPv6 address", v)
		}
		c.DNS.Advertise6 = ip
		return err
	})
	fs.StringVar(&c.SIPAddr, "sip-addr", c.SIPAddr, `SIP front end, TCP: beta phones sign in here and are handed the update URLs ("off" to run none)`)
	fs.StringVar(&c.SIPTLSAddr, "sip-tls-addr", c.SIPTLSAddr, `SIP front end, TLS with the appliance CA ("off" to run none)`)
	fs.StringVar(&c.SIPPasswordFile, "sip-password-file", c.SIPPasswordFile, "file holding the lab sign-in password (default: TANJAY_SIP_PASSWORD, else <data>/sip-password.txt, generated at first start)")
	fs.StringVar(&c.SIPProvisioning, "sip-provisioning", c.SIPProvisioning, "shape of the ServerConfiguration group handed to phones: flat or property-list (the 2007 shape was never published)")
	fs.IntVar(&c.SIPAuthVersion, "sip-auth-version", c.SIPAuthVersion, "NTLM-over-SIP protocol version offered: 2 (OCS 2007), 3 or 4 (R2)")
	fs.StringVar(&c.Directory.Mode, "directory", c.Directory.Mode, "the lab's domain controller: samba (supervise the Samba AD DC made by 'tanjay directory provision'), unit (Samba runs as its own service, as root: answer its DC locator records and watch its LDAP port) or off")
	directoryFlags(fs, &c.Directory)
	dhcpFlags(fs, &c.DHCP)
	phoneConnFlags(fs, &c.PhoneConns)

	phoneFilesFlags(fs, &c.PhoneFiles)

	storeLimitFlags(fs, &c.StoreLimits)
}

// storeLimitFlags registers the bounds on what unconfirmed clients make
// the state keep.
func storeLimitFlags(fs *flag.FlagSet, l *StoreLimits) {
	fs.IntVar(&l.UnconfirmedDevices, "unconfirmed-devices", l.UnconfirmedDevices, "devices kept that have neither checked in nor signed in (seen only by DNS, DHCP, uploads, SIP or the directory); the least recently seen are forgotten")
	fs.IntVar(&l.TimelineKiB, "timeline-kib", l.TimelineKiB, "KiB of events kept per phone (estimated), besides the 500 events at most; the oldest are dropped")
}

// phoneConnFlags registers the caps on the phone listeners
// (appliance/internal/connlimit).
func phoneConnFlags(fs *flag.FlagSet, c *connlimit.Config) {
	fs.IntVar(&c.PerAddress, "phone-conns-per-address", c.PerAddress, "connections one client address may hold open on the phone HTTP and HTTPS listeners together; more are closed at once (0: no cap)")
	fs.IntVar(&c.Total, "phone-conns-total", c.Total, "connections the phone HTTP and HTTPS listeners hold open together; more are closed at once (0: no cap)")
	fs.DurationVar(&c.HeaderTimeout, "phone-header-timeout", c.HeaderTimeout, "longest a phone-side client may take for its TLS handshake and request headers, and the grace its request body gets (0: none)")
	fs.IntVar(&c.BodyMinRate, "phone-body-min-rate", c.BodyMinRate, "slowest average rate, bytes per second, a request body may arrive at after the grace; slower ones are cut (0: no limit)")
	fs.DurationVar(&c.WriteStall, "phone-write-stall", c.WriteStall, "longest one write to a phone-side client may wait for it to take the bytes; there is no whole-response limit, so slow downloads finish (0: none)")
}

// dhcpFlags registers the DHCP server's flags. DHCP runs only with
// --dhcp-interface: a plugged-in appliance must never answer on a network
// it was not asked to serve.
func dhcpFlags(fs *flag.FlagSet, d *dhcp.Config) {
	fs.StringVar(&d.Interface, "dhcp-interface", d.Interface, "serve DHCP on this interface (default: no DHCP)")
	fs.Func("dhcp-range", "FIRST-LAST addresses to lease (default: the interface's subnet, less the appliance)", func(v string) error {
		r, err := dhcp.ParseRange(v)
		d.Range = r
		return err
	})
	fs.DurationVar(&d.Lease, "dhcp-lease", d.Lease, "lease time")
	fs.Func("dhcp-router", "router (option 3) to hand out (default none: an isolated lab needs no gateway)", func(v string) error {
		ip, err := netip.ParseAddr(v)
		d.Router = ip
		return err
	})
	fs.Func("dhcp-reserve", "MAC=IP[,hostname] static reservation (repeatable; in TANJAY_DHCP_RESERVE, separate entries with spaces)", func(v string) error {
		for _, entry := range strings.Fields(v) {
			r, err := dhcp.ParseReservation(entry)
			if err != nil {
				return err
			}
			d.Reservations = append(d.Reservations, r)
		}
		return nil
	})
	fs.IntVar(&d.VoiceVLAN, "voice-vlan", d.VoiceVLAN, "voice VLAN for Tanjay phones (vendor class CPE-OCPHONE, option 43); 0: none")
	fs.BoolVar(&d.Force, "dhcp-force", d.Force, "serve DHCP even when another DHCP server answers on the interface (without it DHCP stays off while one answers; everything else runs)")
	fs.DurationVar(&d.GuardWait, "dhcp-guard-wait", d.GuardWait, "how long to listen for another DHCP server before serving, at start and after a refusal")
	fs.IntVar(&d.GuardProbes, "dhcp-guard-probes", d.GuardProbes, "DISCOVERs sent to find another DHCP server, spread over --dhcp-guard-wait")
	fs.DurationVar(&d.GuardInterval, "dhcp-guard-interval", d.GuardInterval, "how often to look for another DHCP server again: a DISCOVER while serving, a new --dhcp-guard-wait once one was quiet that long")
}

// stringList is a repeatable, comma-separable flag. The first value given
// replaces the default.
type stringList struct {
	list *[]string
	set  bool
}

func (s *stringList) String() string {
	if s == nil || s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}

func (s *stringList) Set(v string) error {
	if !s.set {
		*s.list, s.set = nil, true
	}
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s.list = append(*s.list, part)
		}
	}
	return nil
}

// dnsModeFlag accepts the three DNS modes.
type dnsModeFlag dnsresp.Mode

func (m *dnsModeFlag) String() string { return string(*m) }

func (m *dnsModeFlag) Set(v string) error {
	switch mode := dnsresp.Mode(v); mode {
	case dnsresp.ModeLab, dnsresp.ModeStrict, dnsresp.ModeForward:
		*m = dnsModeFlag(mode)
		return nil
	}
	return fmt.Errorf("want lab, strict or forward")
}

// clientConfig is what the admin commands need to reach a running appliance.
type clientConfig struct {
	Server  string
	Data    string
	Token   string
	Timeout time.Duration
}

func clientFlags(fs *flag.FlagSet, c *clientConfig) {
	*c = clientConfig{Server: "http://127.0.0.1:8080", Data: DefaultConfig().Data, Timeout: 10 * time.Minute}
	fs.StringVar(&c.Server, "server", c.Server, "admin API of the running appliance")
	fs.StringVar(&c.Data, "data", c.Data, "data directory to read the admin token from")
	fs.StringVar(&c.Token, "token", c.Token, "admin API token (default: <data>/admin.token)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "give up on the server after this long")
}
