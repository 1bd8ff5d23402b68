package dhcp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Reservation gives one phone, by MAC, a fixed address and a host name
// (option 12) (--dhcp-reserve MAC=IP[,name]).
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string // empty: no option 12
}

// Config is the DHCP server's configuration. The zero value of every field
// but Interface means its default.
type Config struct {
	// Interface is the network interface served (--dhcp-interface). There
	// is no default: without it the appliance runs no DHCP server.
	Interface string
	// Range is the first and last address handed out (--dhcp-range
	// FIRST-LAST). Default (both zero): every host address of the
	// interface's prefix; the appliance's own address is never handed out.
	Range [2]netip.Addr
	// Lease is the lease time (--dhcp-lease). Default 1h.
	Lease time.Duration
	// Router is option 3 (--dhcp-router). Default none: an isolated lab
	// needs no gateway.
	Router netip.Addr
	// Reservations are fixed addresses by MAC (--dhcp-reserve). They may
	// lie outside Range but must lie inside the interface's prefix.
	Reservations []Reservation
	// ServerIP is the appliance's address: server identifier (54), DNS (6),
	// NTP (42). Default: the interface's first IPv4 address. It must be an
	// address of the interface.
	ServerIP netip.Addr
	// Domain is option 15, the domain phones append to ucupdates-r2 (the
	// first --domain). Default "lab.local".
	Domain string
	// VoiceVLAN is the voice VLAN told to CPE-OCPHONE phones in option 43
	// (--voice-vlan). Default 0: no option 43 for them.
	VoiceVLAN int
	// LyncScheme, LyncHost, LyncPort and LyncCertPath are option 43
	// sub-options 2 to 5 for MS-UC-Client (Lync Phone Edition) phones, the
	// certificate provisioning service; LyncHost is also option 120.
	// Defaults: "https", "tanjay.<Domain>", 443,
	// "/CertProv/CertProvisioningService.svc".
	LyncScheme   string
	LyncHost     string
	LyncPort     int
	LyncCertPath string
	// Force serves even when another DHCP server answers on the interface
	// (--dhcp-force). Default false: DHCP stays off while another server
	// answers (every other service runs; see guard.go).
	Force bool
	// GuardWait is how long the rogue-server guard listens for another
	// server before DHCP serves, at start and again after a refusal
	// (--dhcp-guard-wait). Default 8s: BusyBox udhcpd answers about 2s
	// after a DISCOVER (it ARP-checks the address first), Windows Server's
	// conflict detection adds more.
	GuardWait time.Duration
	// GuardProbes is how many DISCOVERs the guard sends in that window,
	// evenly spaced from its start (--dhcp-guard-probes). Default 4.
	GuardProbes int
	// GuardInterval is how often the guard checks again (--dhcp-guard-interval):
	// while serving it sends a DISCOVER every GuardInterval (and listens
	// all the time); after a refusal it runs a whole new window once no
	// other server was heard for GuardInterval. Default 1m.
	GuardInterval time.Duration
}

// Defaults of Config.
const (
	DefaultLease         = time.Hour
	DefaultDomain        = "lab.local"
	DefaultLyncScheme    = "https"
	DefaultLyncPort      = 443
	DefaultLyncCertPath  = "/CertProv/CertProvisioningService.svc"
	DefaultGuardWait     = 8 * time.Second
	DefaultGuardProbes   = 4
	DefaultGuardInterval = time.Minute
	defaultHost          = "tanjay"
)

// withDefaults fills the zero fields (Range and ServerIP need the
// interface: Listen fills them).
func (c Config) withDefaults() Config {
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	c.Domain = strings.TrimSuffix(strings.ToLower(c.Domain), ".")
	if c.LyncScheme == "" {
		c.LyncScheme = DefaultLyncScheme
	}
	if c.LyncHost == "" {
		c.LyncHost = defaultHost + "." + c.Domain
	}
	if c.LyncPort == 0 {
		c.LyncPort = DefaultLyncPort
	}
	if c.LyncCertPath == "" {
		c.LyncCertPath = DefaultLyncCertPath
	}
	if c.GuardWait == 0 {
		c.GuardWait = DefaultGuardWait
	}
	if c.GuardProbes == 0 {
		c.GuardProbes = DefaultGuardProbes
	}
	if c.GuardInterval == 0 {
		c.GuardInterval = DefaultGuardInterval
	}
	return c
}

// Validate reports the problems of c that do not need the interface, each
// naming the flag that sets the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Interface == "" {
		errs = append(errs, errors.New("--dhcp-interface: required to run the DHCP server"))
	}
	errs = append(errs, validateRange(c.Range), validateReservations(c.Reservations))
	if c.Lease < time.Minute || c.Lease > 365*24*time.Hour {
		errs = append(errs, fmt.Errorf("--dhcp-lease %s: want between 1m and 8760h", c.Lease))
	}
	if c.Router.IsValid() && !usable4(c.Router) {
		errs = append(errs, fmt.Errorf("--dhcp-router %s: want an IPv4 unicast address", c.Router))
	}
	if c.ServerIP.IsValid() && !usable4(c.ServerIP) {
		errs = append(errs, fmt.Errorf("DHCP server address %s: want an IPv4 unicast address", c.ServerIP))
	}
	if _, err := encodeDomainName(c.Domain); err != nil {
		errs = append(errs, fmt.Errorf("--domain %q: not a domain name", c.Domain))
	}
	if c.VoiceVLAN < 0 || c.VoiceVLAN > 4094 {
		errs = append(errs, fmt.Errorf("--voice-vlan %d: want 1 to 4094, or 0 for none", c.VoiceVLAN))
	}
	if c.LyncScheme != "http" && c.LyncScheme != "https" {
		errs = append(errs, fmt.Errorf("Lync web scheme %q: want http or https", c.LyncScheme))
	}
	if _, err := encodeDomainName(c.LyncHost); err != nil {
		errs = append(errs, fmt.Errorf("Lync web server name %q: %w", c.LyncHost, err))
	}
	if c.LyncPort < 1 || c.LyncPort > 65535 {
		errs = append(errs, fmt.Errorf("Lync web server port %d: want 1 to 65535", c.LyncPort))
	}
	if !strings.HasPrefix(c.LyncCertPath, "/") || len(c.LyncCertPath) > 255 {
		errs = append(errs, fmt.Errorf("Lync certificate provisioning path %q: want an absolute path", c.LyncCertPath))
	}
	if c.GuardWait < 0 || c.GuardWait > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--dhcp-guard-wait %s: want between 0 (the default, %s) and 5m", c.GuardWait, DefaultGuardWait))
	}
	if c.GuardProbes < 1 || c.GuardProbes > 100 {
		errs = append(errs, fmt.Errorf("--dhcp-guard-probes %d: want 1 to 100", c.GuardProbes))
	}
	if c.GuardInterval < time.Second || c.GuardInterval > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--dhcp-guard-interval %s: want between 1s and 24h", c.GuardInterval))
	}
	return errors.Join(errs...)
}

func validateRange(r [2]netip.Addr) error {
	switch {
	case !r[0].IsValid() && !r[1].IsValid():
		return nil
	case !usable4(r[0]) || !usable4(r[1]):
		return fmt.Errorf("--dhcp-range %s-%s: want two IPv4 unicast addresses", r[0], r[1])
	case r[1].Less(r[0]):
		return fmt.Errorf("--dhcp-range %s-%s: the first address is above the last", r[0], r[1])
	}
	return nil
}

func validateReservations(rs []Reservation) error {
	macs, ips := map[string]bool{}, map[netip.Addr]bool{}
	var errs []error
	for _, r := range rs {
		mac := macKey(r.MAC)
		switch {
		case mac == "":
			errs = append(errs, fmt.Errorf("--dhcp-reserve %s: want a 6-byte MAC", r.MAC))
		case !usable4(r.IP):
			errs = append(errs, fmt.Errorf("--dhcp-reserve %s=%s: want an IPv4 unicast address", r.MAC, r.IP))
		case macs[mac] || ips[r.IP]:
			errs = append(errs, fmt.Errorf("--dhcp-reserve %s=%s: MAC or address reserved twice", r.MAC, r.IP))
		case r.Hostname != "" && !isHostName(r.Hostname):
			errs = append(errs, fmt.Errorf("--dhcp-reserve %s=%s,%s: want a host name (letters, digits, hyphens, dots)", r.MAC, r.IP, r.Hostname))
		}
		macs[mac], ips[r.IP] = true, true
	}
	return errors.Join(errs...)
}

func usable4(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && !a.IsLoopback()
}

func isHostName(s string) bool {
	_, err := encodeDomainName(s)
	return err == nil
}

// ParseRange parses FIRST-LAST, as --dhcp-range takes it.
func ParseRange(s string) ([2]netip.Addr, error) {
	first, last, ok := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := netip.ParseAddr(strings.TrimSpace(first))
	b, err2 := netip.ParseAddr(strings.TrimSpace(last))
	if !ok || err1 != nil || err2 != nil {
		return [2]netip.Addr{}, fmt.Errorf("--dhcp-range %q: want FIRST-LAST, e.g. 192.168.50.100-192.168.50.199", s)
	}
	r := [2]netip.Addr{a, b}
	return r, validateRange(r)
}

// ParseReservation parses MAC=IP[,name], as --dhcp-reserve takes it.
func ParseReservation(s string) (Reservation, error) {
	macStr, rest, ok := strings.Cut(strings.TrimSpace(s), "=")
	ipStr, name, _ := strings.Cut(rest, ",")
	mac, err1 := parseMAC(macStr)
	ip, err2 := netip.ParseAddr(strings.TrimSpace(ipStr))
	if !ok || err1 != nil || err2 != nil {
		return Reservation{}, fmt.Errorf("--dhcp-reserve %q: want MAC=IP[,name], e.g. 00:04:f2:aa:bb:cc=192.168.50.20,cx700-lobby", s)
	}
	r := Reservation{MAC: mac, IP: ip, Hostname: strings.TrimSpace(name)}
	return r, validateReservations([]Reservation{r})
}

// parseMAC accepts 12 hex digits with or without ':', '-' or '.' separators.
func parseMAC(s string) (net.HardwareAddr, error) {
	hex := strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.TrimSpace(s))
	if len(hex) != 12 {
		return nil, fmt.Errorf("MAC %q: want 12 hex digits", s)
	}
	mac := make(net.HardwareAddr, 6)
	for i := range mac {
		var b byte
		if _, err := fmt.Sscanf(hex[2*i:2*i+2], "%02x", &b); err != nil {
			return nil, fmt.Errorf("MAC %q: want 12 hex digits", s)
		}
		mac[i] = b
	}
	return mac, nil
}

// macKey is mac as 12 upper-case hex digits (the store's MAC form), or ""
// unless it is 6 bytes long.
func macKey(mac net.HardwareAddr) string {
	if len(mac) != 6 {
		return ""
	}
	return strings.ToUpper(strings.ReplaceAll(mac.String(), ":", ""))
}
