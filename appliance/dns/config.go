package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
)

// Mode says what the responder does with names that are not the
// appliance's own.
type Mode string

// The modes; see the package documentation and README.md.
const (
	ModeLab     Mode = "lab"     // every other A query gets the appliance's address
	ModeStrict  Mode = "strict"  // every other name is REFUSED
	ModeForward Mode = "forward" // every other name goes to Upstream
)

// Config is the responder's configuration. A zero field means its default,
// so Config{} is a valid lab-mode responder on :53.
type Config struct {
	// Addr is the UDP and TCP listen address (--dns-addr). Default ":53".
	// With port 0 both transports share the port UDP was given.
	Addr string
	// Domains are the lab domains the appliance's names live under
	// (--domain, repeatable), matched case-insensitively. Default
	// ["lab.local"].
	Domains []string
	// Host is the appliance's own host name, a single label. Default
	// "tanjay".
	Host string
	// Mode is lab, strict or forward (--dns-mode). Default ModeLab.
	Mode Mode
	// Upstream is the resolver forward mode asks, host:port or a bare IP
	// meaning port 53 (--dns-upstream). Required in forward mode, unused
	// otherwise.
	Upstream string
	// Timeout bounds one forwarded query, TCP retry included; when it
	// passes the client gets SERVFAIL. Default 2s.
	Timeout time.Duration
	// Advertise is the IPv4 address answered for the appliance's names
	// (--advertise). Default (zero): the local address the query arrived
	// on; when that is not an IPv4 address, the machine's first LAN
	// address (IPv4, neither loopback nor link-local), then 127.0.0.1.
	Advertise netip.Addr
	// Advertise6 is the IPv6 address answered to AAAA queries. Default
	// (zero): AAAA queries get an empty answer (NODATA).
	Advertise6 netip.Addr
	// NTPPort is the port of the _ntp._udp SRV record. Default 123.
	NTPPort uint16
	// SIPPort is the port of the SIP front end's plain-TCP listener, the
	// port of the _sipinternal._tcp SRV records; 0 means that listener is
	// off. Default 0; the appliance sets 5060 or the port it bound.
	SIPPort uint16
	// SIPTLSPort is the port of the SIP front end's TLS listener, the port
	// of the _sipinternaltls._tcp and _sip._tls SRV records; 0 means that
	// listener is off. Default 0; the appliance sets 5061 or the port it
	// bound. With both SIP ports 0 the SIP names are not the appliance's,
	// and every mode answers them as it answers other names.
	SIPTLSPort uint16
	// Records are the lab domain controller's locator records (SRV, CNAME
	// and A, dcnames.go), answered in every mode, authoritatively, while
	// the directory runs (--directory samba). Default: none.
	Records []Record
	// TTL is the TTL of every local answer, in seconds. Default 60.
	TTL uint32
	// CoalesceWindow is how long repeats of one (client, name, type)
	// query stay silent towards the Observer after it was told. Default
	// 30s.
	CoalesceWindow time.Duration
}

// Defaults of Config.
const (
	DefaultAddr           = ":53"
	DefaultDomain         = "lab.local"
	DefaultHost           = "tanjay"
	DefaultTimeout        = 2 * time.Second
	DefaultNTPPort        = 123
	DefaultTTL            = 60
	DefaultCoalesceWindow = 30 * time.Second
)

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// withDefaults fills the zero fields and normalises the rest: lower-case
// fully qualified domains without duplicates, and a port on Upstream.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if len(c.Domains) == 0 {
		c.Domains = []string{DefaultDomain}
	}
	c.Domains = normaliseDomains(c.Domains)
	if c.Host == "" {
		c.Host = DefaultHost
	}
	c.Host = strings.ToLower(c.Host)
	if c.Mode == "" {
		c.Mode = ModeLab
	}
	if ip, err := netip.ParseAddr(c.Upstream); err == nil {
		c.Upstream = netip.AddrPortFrom(ip, 53).String()
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.NTPPort == 0 {
		c.NTPPort = DefaultNTPPort
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.CoalesceWindow == 0 {
		c.CoalesceWindow = DefaultCoalesceWindow
	}
	c.Advertise = c.Advertise.Unmap()
	return c
}

// normaliseDomains makes each domain lower-case and fully qualified and
// drops duplicates, keeping the first occurrence's position. An empty
// domain becomes "." for Validate to name.
func normaliseDomains(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, d := range in {
		d = dns.Fqdn(strings.ToLower(strings.TrimSpace(d)))
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// Validate reports the problems of c (zero fields taking their defaults),
// each naming the flag that sets the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	return errors.Join(
		validateAddr(c.Addr),
		validateDomains(c.Domains),
		validateHost(c.Host),
		validateMode(c.Mode, c.Upstream),
		validateAdvertise(c.Advertise, c.Advertise6),
		validateDurations(c.Timeout, c.CoalesceWindow),
		validateRecords(c.Records),
	)
}

func validateAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--dns-addr %q: %w", addr, err)
	} else if _, err := net.LookupPort("udp", port); err != nil {
		return fmt.Errorf("--dns-addr %q: bad port: %w", addr, err)
	}
	return nil
}

func validateDomains(domains []string) error {
	for _, d := range domains {
		if _, ok := dns.IsDomainName(d); !ok || d == "." || strings.ContainsAny(d, " \\") {
			return fmt.Errorf("--domain %q: not a domain name", strings.TrimSuffix(d, "."))
		}
	}
	return nil
}

func validateHost(host string) error {
	if !netaddr.IsHostLabel(host) {
		return fmt.Errorf("--host %q: want a single DNS label (letters, digits, hyphens)", host)
	}
	return nil
}

func validateMode(mode Mode, upstream string) error {
	switch mode {
	case ModeLab, ModeStrict, ModeForward:
	default:
		return fmt.Errorf("--dns-mode %q: want lab, strict or forward", mode)
	}
	if upstream == "" {
		if mode == ModeForward {
			return errors.New("--dns-upstream: required when --dns-mode is forward")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		return fmt.Errorf("--dns-upstream %q: want host:port or an IP address: %w", upstream, err)
	}
	if host == "" {
		return fmt.Errorf("--dns-upstream %q: no host", upstream)
	}
	if _, err := net.LookupPort("udp", port); err != nil {
		return fmt.Errorf("--dns-upstream %q: bad port: %w", upstream, err)
	}
	return nil
}

func validateAdvertise(v4, v6 netip.Addr) error {
	if v4.IsValid() && (!v4.Is4() || v4.IsUnspecified()) {
		return fmt.Errorf("--advertise %s: the DNS answer needs an IPv4 address", v4)
	}
	if v6.IsValid() && (!v6.Is6() || v6.Is4In6() || v6.IsUnspecified()) {
		return fmt.Errorf("--advertise6 %s: want an IPv6 address", v6)
	}
	return nil
}

func validateDurations(timeout, window time.Duration) error {
	if timeout < 0 {
		return fmt.Errorf("--dns-timeout %s: must be positive", timeout)
	}
	if window < 0 {
		return fmt.Errorf("dns coalesce window %s: must not be negative", window)
	}
	return nil
}
