package appliance

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// phoneFlags are the simulator's settings on the command line.
type phoneFlags struct {
	server, devicePath, mac, serial, version string
	dns, dhcpInterface, vendorClass          string
	localIP                                  string
	count, concurrency, rounds, maxHops      int
	installDelay, fetchDelay                 time.Duration
	cutAt                                    float64
	quiet                                    bool
	// A beta phone signed in over SIP (--sign-in).
	signIn, sipUser, sipPassword, sipTransport, sipCA string
	serverGiven                                       bool // --server was on the command line
}

// listWalksUpTo is the fleet size up to which every walk is printed.
const listWalksUpTo = 30

func runPhone(ctx context.Context, e env, args []string) error {
	cmd := commands["phone"]
	fs := newFlagSet("phone", cmd.synopsis, cmd.about, e.stderr)
	var f phoneFlags
	fs.StringVar(&f.server, "server", "http://127.0.0.1", "base URL of the update service")
	fs.StringVar(&f.devicePath, "device-path", "UCPhone/Polycom/CX700/A/ENU", "the phone's DeviceType/Vendor/Model/Revision/Locale")
	fs.StringVar(&f.mac, "mac", "", "MAC address (default: a made-up one; with --count, the first of a sequence)")
	fs.StringVar(&f.serial, "serial", "", "serial number (default: derived from the MAC)")
	fs.StringVar(&f.version, "version", "0.0.0.0", "CPE version the phone starts on (0.0.0.0: a beta phone that cannot name its image)")
	fs.IntVar(&f.count, "count", 1, "number of phones (a fleet, run concurrently)")
	fs.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("phones running at once (default: all, at most %d; each holds a connection until its walk ends)", phone.DefaultConcurrency))
	fs.IntVar(&f.rounds, "rounds", 0, "check-ins each phone makes after its walk ends (load generation)")
	fs.IntVar(&f.maxHops, "max-hops", phone.DefaultMaxHops, "updates one walk may install before it counts as a loop")
	fs.DurationVar(&f.installDelay, "install-delay", 0, "time an install takes")
	fs.DurationVar(&f.fetchDelay, "fetch-delay", 0, "wait between an offer and the download")
	fs.Float64Var(&f.cutAt, "cut-at", 0, "cut each first download off at this fraction (0..1) and resume it with a Range request")
	fs.BoolVar(&f.quiet, "quiet", false, "print only the fleet summary")
	fs.StringVar(&f.dns, "dns", "", "resolve the server's name through this DNS server (host:port), as a phone uses the one DHCP gave it")
	fs.StringVar(&f.dhcpInterface, "dhcp-interface", "", "first get an address on this interface by DHCP, as a phone does; then resolve through the leased DNS server and, unless --server is given, check in at http://ucupdates-r2.<leased domain> (the fleet shares the one lease)")
	fs.StringVar(&f.vendorClass, "vendor-class", "CPE-OCPHONE", "DHCP vendor class (option 60): CPE-OCPHONE for a Tanjay, MS-UC-Client for Lync Phone Edition")
	fs.StringVar(&f.localIP, "local-ip", "", "address the phone's connections and DNS queries come from; with --count, phone i uses this address + i (default: when the server, or with --sign-in the --dns server, is on 127.0.0.0/8, phone i sends from 127.0.0.2 + i, skipping the server's address: every 127.0.0.0/8 address is local on Linux, and the appliance tells phones apart by address until they check in and for every download; otherwise the system's choice)")
	fs.StringVar(&f.signIn, "sign-in", "", "sign in over SIP first with this address (tech@lab.local), as a technician signs in a beta 1.0.199.x phone: the phone finds the SIP server by DNS SRV under the address's domain through --dns, and checks in at the URL provisioning hands it, never at --server")
	fs.StringVar(&f.sipUser, "sip-user", "", `NTLM user name for --sign-in, DOMAIN\user (default: from the address, tech@lab.local → LAB\tech)`)
	fs.StringVar(&f.sipPassword, "sip-password", "", "the lab sign-in password for --sign-in; prefer setting TANJAY_SIP_PASSWORD: a flag shows in ps")
	fs.StringVar(&f.sipTransport, "sip-transport", "auto", "tls, tcp or auto for --sign-in: auto takes the first SRV name that answers, in the phone's order (_sipinternaltls._tcp, _sip._tls, _sipinternal._tcp; the TLS names only with --sip-ca)")
	fs.StringVar(&f.sipCA, "sip-ca", "", "PEM (or DER) file of the CA the phone trusts for SIP over TLS: the appliance CA, <data>/tls/ca.pem or http://<appliance>/ca.cer; without it only TCP can be used")
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("phone takes no arguments, got %q", fs.Args())
	}
	fs.Visit(func(fl *flag.Flag) { f.serverGiven = f.serverGiven || fl.Name == "server" })
	if f.dhcpInterface != "" {
		if err := f.lease(ctx, e); err != nil {
			return err
		}
	}
	ips, err := f.sourceAddrs(ctx)
	if err != nil {
		return err
	}
	phones, err := f.configs(ips)
	if err != nil {
		return err
	}
	switch {
	case f.quiet || f.localIP != "" || len(ips) == 0:
	case len(ips) == 1:
		fmt.Fprintf(e.stdout, "the phone sends from %s (--local-ip to choose)\n", ips[0])
	default:
		fmt.Fprintf(e.stdout, "phones send from %s … %s, one loopback address each (--local-ip to choose)\n", ips[0], ips[len(ips)-1])
	}
	sum := phone.RunFleet(ctx, phone.FleetConfig{Phones: phones, Concurrency: f.concurrency})
	if !f.quiet && (len(sum.Walks) <= listWalksUpTo || sum.Failed > 0) {
		for _, w := range sum.Walks {
			if len(sum.Walks) <= listWalksUpTo || w.Err != nil {
				fmt.Fprintln(e.stdout, w)
			}
		}
	}
	if f.count > 1 || f.quiet {
		fmt.Fprintln(e.stdout, sum)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d phones failed", sum.Failed, sum.Phones)
	}
	return nil
}

// lease gets an address by DHCP and takes the DNS server and domain from it.
func (f *phoneFlags) lease(ctx context.Context, e env) error {
	l, err := phone.AcquireLease(ctx, f.dhcpInterface, f.vendorClass)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "dhcp: %s on %s from %s, dns %s, domain %q, ntp %s\n", l.Addr, f.dhcpInterface, l.Server, l.DNS, l.Domain, l.NTP)
	if f.dns == "" && l.DNS.IsValid() {
		f.dns = l.DNSAddr()
	}
	if !f.serverGiven && f.signIn == "" {
		if l.Domain == "" {
			return fmt.Errorf("the DHCP lease names no domain (option 15): give --server")
		}
		f.server = "http://ucupdates-r2." + l.Domain
	}
	return nil
}

// sourceAddrs is the address each phone sends from: --local-ip and the
// ones after it; by default, on loopback, one address per phone from
// 127.0.0.2; else none (the system's choice, the fleet sharing its
// address).
func (f phoneFlags) sourceAddrs(ctx context.Context) ([]netip.Addr, error) {
	if f.count < 1 {
		return nil, usagef("--count %d: want at least 1", f.count)
	}
	if f.localIP != "" {
		ip, err := netip.ParseAddr(f.localIP)
		if err != nil {
			return nil, usagef("--local-ip: %v", err)
		}
		out := make([]netip.Addr, f.count)
		for i := range out {
			if !ip.IsValid() {
				return nil, usagef("--local-ip %s: not enough addresses after it for --count %d", f.localIP, f.count)
			}
			out[i], ip = ip, ip.Next()
		}
		return out, nil
	}
	if f.dhcpInterface != "" {
		return nil, nil // the fleet shares the one lease
	}
	var server netip.Addr
	if f.signIn != "" {
		if !phone.LoopbackDNS(f.dns) {
			return nil, nil
		}
	} else {
		ip, loopback, err := phone.LoopbackServer(ctx, f.server, f.dns)
		if err != nil {
			return nil, usagef("--server %s: %v", f.server, err)
		}
		if !loopback {
			return nil, nil
		}
		server = ip
	}
	ips, err := phone.LoopbackAddrs(netip.Addr{}, f.count, server)
	if err != nil {
		return nil, usagef("--count %d: %v", f.count, err)
	}
	return ips, nil
}

// configs is one Config per phone; ips, when not nil, holds each phone's
// source address.
func (f phoneFlags) configs(ips []netip.Addr) ([]phone.Config, error) {
	p, err := images.ParseDevicePath(f.devicePath)
	if err != nil || p.IsInterim() {
		return nil, usagef("--device-path %q: want DeviceType/Vendor/Model/Revision/Locale", f.devicePath)
	}
	v, err := images.ParseVersion(f.version)
	if err != nil {
		return nil, usagef("--version: %v", err)
	}
	if f.count < 1 {
		return nil, usagef("--count %d: want at least 1", f.count)
	}
	if f.cutAt < 0 || f.cutAt >= 1 {
		return nil, usagef("--cut-at %g: want a fraction between 0 and 1", f.cutAt)
	}
	signIn, err := f.signInConfig()
	if err != nil {
		return nil, err
	}
	out := make([]phone.Config, f.count)
	for i := range out {
		id := phone.Identity{DeviceType: p.DeviceType, Vendor: p.Vendor, Model: p.Model, Revision: p.Revision, Locale: p.Locale,
			MAC: phone.NewMAC(i), Serial: f.serial}
		if f.mac != "" && i == 0 {
			id.MAC = f.mac
		}
		if id.Serial == "" || f.count > 1 {
			id.Serial = serialFor(id.MAC)
		}
		out[i] = phone.Config{Server: f.server, Identity: id, Version: v, InstallDelay: f.installDelay, FetchDelay: f.fetchDelay,
			CutAt: f.cutAt, MaxHops: f.maxHops, Rounds: f.rounds, DNS: f.dns}
		var ip netip.Addr
		if ips != nil {
			ip = ips[i]
		}
		out[i].LocalIP = ip
		if signIn != nil {
			s := *signIn
			s.LocalIP = ip
			out[i].Server, out[i].SignIn = "", s.SignIn
		}
		if err := out[i].Validate(); err != nil {
			return nil, usagef("%v", err)
		}
	}
	return out, nil
}

// signInConfig is what --sign-in and the --sip-* flags make, with no local
// address yet; nil without --sign-in.
func (f phoneFlags) signInConfig() (*phoneSignIn, error) {
	if f.signIn == "" {
		return nil, nil
	}
	switch {
	case f.serverGiven:
		return nil, usagef("--sign-in and --server: a phone that signs in checks in where provisioning sends it")
	case f.dns == "":
		return nil, usagef("--sign-in needs --dns (or --dhcp-interface): the phone finds the SIP server by DNS SRV records")
	case f.sipPassword == "":
		return nil, usagef("--sign-in needs the lab sign-in password: set TANJAY_SIP_PASSWORD")
	}
	s := &phoneSignIn{Address: f.signIn, User: f.sipUser, Password: f.sipPassword, Transport: f.sipTransport, DNS: f.dns}
	if f.sipTransport == signInTLS && f.sipCA == "" {
		return nil, usagef("--sip-transport tls needs --sip-ca FILE, the CA the phone trusts (the appliance CA: <data>/tls/ca.pem, or http://<appliance>/ca.cer); without it only tcp can be used")
	}
	if f.sipCA != "" {
		b, err := os.ReadFile(f.sipCA)
		if err != nil {
			return nil, usagef("--sip-ca: %v", err)
		}
		if s.Roots, err = parseSignInRoots(b); err != nil {
			return nil, usagef("--sip-ca %s: %v", f.sipCA, err)
		}
	}
	if err := s.check(); err != nil {
		return nil, usagef("%v", err)
	}
	return s, nil
}

// serialFor makes a stable serial number from a MAC, for simulated phones.
func serialFor(mac string) string {
	var n uint64
	for _, c := range mac {
		n = n*31 + uint64(c)
	}
	return fmt.Sprintf("SIM%010d", n%1e10)
}
