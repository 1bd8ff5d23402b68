package appliance

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/directory"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// DirectoryConfig is the lab's domain controller (appliance/directory):
// Samba as an AD DC that beta phones locate and read the appliance CA
// from before they sign in (SIGNIN.md §2.3).
type DirectoryConfig struct {
	// Mode is "samba" (supervise the provisioned Samba) or "off"
	// (--directory). Default off; on in the VM.
	Mode string
	// Realm is the domain's realm (--realm). Default: the first --domain
	// in upper case.
	Realm string
	// NetBIOS is the pre-Windows 2000 domain name (--netbios). Default: the
	// realm's first label, at most 15 characters.
	NetBIOS string
	// Interfaces are the interfaces Samba listens on, comma-separated
	// (--directory-interfaces). Default: the interface holding the
	// advertised address.
	Interfaces []string
	// Account is the lab account phones sign in with, whose password is
	// the lab sign-in password (--directory-account). Default "tech".
	Account string
}

// Directory modes.
const (
	directoryOff   = "off"
	directorySamba = "samba"
)

// directoryFlags registers the flags shared by serve and directory
// provision.
func directoryFlags(fs *flag.FlagSet, d *DirectoryConfig) {
	fs.StringVar(&d.Realm, "realm", d.Realm, "the lab domain controller's realm (default: the first --domain in upper case)")
	fs.StringVar(&d.NetBIOS, "netbios", d.NetBIOS, "the lab domain's NetBIOS name (default: the realm's first label)")
	fs.Var(&stringList{list: &d.Interfaces}, "directory-interfaces", "interfaces the domain controller listens on, comma-separated (default: the one holding the advertised address)")
	fs.StringVar(&d.Account, "directory-account", d.Account, "the lab account phones sign in to the domain with")
}

// directoryDir is where Samba's state lives.
func (c Config) directoryDir() string { return filepath.Join(c.Data, "directory") }

// directoryConfig is the directory's configuration with the appliance's
// names: the DC is the appliance's host under the realm, the enrollment
// service's host too, and Samba listens on the interface of the advertised
// address unless told otherwise.
func (c Config) directoryConfig(advertise string) (directory.Config, error) {
	d := c.Directory
	realm := d.Realm
	if realm == "" && len(c.DNS.Domains) > 0 {
		realm = c.DNS.Domains[0]
	}
	if realm == "" {
		realm = dnsresp.DefaultDomain
	}
	realm = strings.ToUpper(strings.Trim(realm, "."))
	ifaces := d.Interfaces
	if len(ifaces) == 0 {
		name, err := interfaceOf(advertise)
		if err != nil {
			return directory.Config{}, fmt.Errorf("--directory-interfaces: %w", err)
		}
		ifaces = []string{name}
	}
	host := dnsHostLabel(c.Host)
	return directory.Config{
		Dir: c.directoryDir(), Realm: realm, NetBIOS: d.NetBIOS, Host: host,
		Interfaces: ifaces, Account: d.Account,
		DNSHostName: host + "." + strings.ToLower(realm),
	}, nil
}

// interfaceOf names the interface holding the address of advertise
// (host[:port]).
func interfaceOf(advertise string) (string, error) {
	ip := net.ParseIP(netaddr.Host(advertise))
	if ip == nil {
		return "", fmt.Errorf("the advertised address %q is not an IP address: name the interfaces", advertise)
	}
	ifis, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifi := range ifis {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
				return ifi.Name, nil
			}
		}
	}
	return "", fmt.Errorf("no interface holds the advertised address %s: name the interfaces", ip)
}

// checkDirectory checks the directory flags, naming each bad one.
func (c Config) checkDirectory() error {
	switch c.Directory.Mode {
	case "", directoryOff:
		return nil
	case directorySamba:
	default:
		return fmt.Errorf("--directory %q: want off or samba", c.Directory.Mode)
	}
	return nil
}

// directoryOn reports whether serve supervises Samba.
func (c Config) directoryOn() bool { return c.Directory.Mode == directorySamba }

// caDER is the appliance CA's certificate (the top of CAPEM), DER.
func caDER(caPEM []byte) ([]byte, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, errors.New("the appliance has no CA to publish (--tls-mode files with a bare certificate, or acme before its first certificate)")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("the appliance CA: %w", err)
	}
	return block.Bytes, nil
}

// dcRecords converts the directory's locator records for the responder.
func dcRecords(rs []directory.Record) []dnsresp.Record {
	out := make([]dnsresp.Record, len(rs))
	for i, r := range rs {
		out[i] = dnsresp.Record{Name: r.Name, Type: r.Type, Target: r.Target, Port: r.Port}
	}
	return out
}

// startDirectory prepares the supervised Samba: it refuses a directory
// that was never provisioned, brings the lab account's password in step
// with the lab sign-in password and returns the supervisor and the DC
// locator records DNS answers.
func (a *app) startDirectory(ctx context.Context, dcfg directory.Config) (*directory.Supervisor, []directory.Record, error) {
	sup, err := directory.NewSupervisor(dcfg, a.log, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--directory samba: %w", err)
	}
	records, err := directory.LoadRecords(dcfg)
	if err != nil {
		return nil, nil, fmt.Errorf("--directory samba: %w", err)
	}
	if err := directory.SetPassword(ctx, dcfg, a.sipPassword); err != nil {
		return nil, nil, fmt.Errorf("--directory samba: %w", err)
	}
	return sup, records, nil
}

// directoryHealth is the Settings & health row of the directory.
func directoryHealth(cfg directory.Config, st directory.State) [3]string {
	state := st.Phase
	switch st.Phase {
	case directory.PhaseRunning, directory.PhaseStarting:
		state += fmt.Sprintf(" since %s (pid %d)", st.Since.Format(time.TimeOnly), st.PID)
	case directory.PhaseRestarting:
		state += fmt.Sprintf(" at %s", st.NextStart.Format(time.TimeOnly))
	}
	if st.Restarts > 0 {
		state += fmt.Sprintf("; %d restarts, last: %s", st.Restarts, st.LastError)
	}
	return [3]string{"domain controller (Samba) for " + strings.ToUpper(cfg.Realm), strings.Join(cfg.Interfaces, ", "), state}
}

// directoryObserver puts what phones do at the lab's domain controller on
// their timelines: Samba's authentication audit and LDAP searches (the
// audit file), and the DC locator pings the appliance relays. Like SIP,
// none carries a MAC: the phone is matched by address. What the
// appliance's own addresses do (Samba's processes, samba-tool) is not a
// phone's. When Samba stops unasked, or answers again after that, every
// phone that was at the domain controller in the last recentWindow is
// told on its timeline: a sign-in that stalls there shows why.
//
// Repeats are coalesced: MIT kinit asks over UDP, is told the answer is
// too big for a datagram and asks again over TCP, and Samba logs both
// ticket grants.
type directoryObserver struct {
	a     *app
	local map[netip.Addr]bool

	mu sync.Mutex
	// last is the last event put on a timeline.
	last store.Event
	// recent is when each address was last at the domain controller, at
	// most maxRecent addresses.
	recent map[netip.Addr]time.Time
}

const (
	// directoryRepeat is how close a repeat of an event follows it.
	directoryRepeat = 2 * time.Second
	// recentWindow is how long after its last step a phone hears of
	// Samba's restarts, and maxRecent how many phones are remembered.
	recentWindow = 10 * time.Minute
	maxRecent    = 4096
)

func newDirectoryObserver(a *app) *directoryObserver {
	o := &directoryObserver{a: a, local: map[netip.Addr]bool{}, recent: map[netip.Addr]time.Time{}}
	addrs, _ := net.InterfaceAddrs()
	for _, addr := range addrs {
		if ipn, ok := addr.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				o.local[ip.Unmap()] = true
			}
		}
	}
	return o
}

// directorySteps name the audit's kinds on the timeline.
var directorySteps = map[string]string{
	directory.AuditKerberos:   store.DirectoryKerberos,
	directory.AuditLDAPBind:   store.DirectoryLDAPBind,
	directory.AuditLDAPSearch: store.DirectoryLDAPSearch,
	directory.AuditNTLM:       store.DirectoryNTLM,
	directory.AuditTicket:     store.DirectoryTicket,
}

func (o *directoryObserver) DirectoryAudit(e directory.AuditEvent) {
	if e.Kind == directory.AuditSamba {
		o.sambaEvent(e)
		return
	}
	step, ok := directorySteps[e.Kind]
	if !ok {
		step = e.Kind
	}
	detail := e.Method
	switch {
	case e.Kind == directory.AuditLDAPSearch:
		detail = e.Detail
	case (e.Kind == directory.AuditNTLM || e.Kind == directory.AuditTicket) && e.Service != "":
		// Which service is the news: the step names Kerberos and LDAP.
		detail = strings.TrimSuffix(e.Service+", "+detail, ", ")
	}
	o.observe(e.ClientIP, store.Event{
		Time: e.At, Kind: store.EventDirectory, IP: e.ClientIP.String(),
		DirectoryStep: step, User: e.User, DirectoryError: e.Failure(), Detail: detail,
	})
}

// Ping puts a DC locator ping the relay answered (or could not) on the
// phone's timeline.
func (o *directoryObserver) Ping(p directory.Ping) {
	var parts []string
	if p.Domain != "" {
		parts = append(parts, p.Domain)
	}
	if p.Host != "" {
		parts = append(parts, "host "+p.Host)
	}
	if p.NtVer != 0 {
		parts = append(parts, fmt.Sprintf("NtVer 0x%X", p.NtVer))
	}
	detail := strings.Join(parts, ", ")
	if p.Reply != "" {
		detail = strings.TrimPrefix(detail+": "+p.Reply, ": ")
	}
	ip := p.Client.Addr()
	o.observe(ip, store.Event{
		Time: p.At, Kind: store.EventDirectory, IP: ip.String(),
		DirectoryStep: store.DirectoryPing, User: p.User, DirectoryError: p.Err, Detail: detail,
	})
}

// observe puts ev on the timeline of the phone at ip, unless ip is the
// appliance's or ev repeats the last event.
func (o *directoryObserver) observe(ip netip.Addr, ev store.Event) {
	if !ip.IsValid() || ip.IsLoopback() || o.local[ip] {
		return
	}
	o.mu.Lock()
	if p := o.last; p.IP == ev.IP && p.DirectoryStep == ev.DirectoryStep && p.User == ev.User &&
		p.DirectoryError == ev.DirectoryError && p.Detail == ev.Detail && ev.Time.Sub(p.Time) < directoryRepeat {
		o.mu.Unlock()
		return
	}
	o.last = ev
	o.remember(ip, ev.Time)
	o.mu.Unlock()
	o.a.store.Observe(ev)
}

// remember notes ip's step at t, forgetting the addresses older than
// recentWindow when the table is full (and, if none is, not adding ip).
func (o *directoryObserver) remember(ip netip.Addr, t time.Time) {
	if _, ok := o.recent[ip]; !ok && len(o.recent) >= maxRecent {
		for a, at := range o.recent {
			if t.Sub(at) > recentWindow {
				delete(o.recent, a)
			}
		}
		if len(o.recent) >= maxRecent {
			return
		}
	}
	o.recent[ip] = t
}

// sambaEvent tells the phones recently at the domain controller that
// Samba stopped or answers again.
func (o *directoryObserver) sambaEvent(e directory.AuditEvent) {
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	ev := store.Event{Time: at, Kind: store.EventDirectory, DirectoryStep: store.DirectorySamba, Detail: e.Detail}
	switch e.Method {
	case directory.SambaExited:
		ev.DirectoryError, ev.Detail = e.Detail, ""
	case directory.SambaReady:
		if e.Detail == "" {
			return // a start, not a return after a stop
		}
	default:
		return
	}
	o.mu.Lock()
	var ips []netip.Addr
	for ip, t := range o.recent {
		if at.Sub(t) <= recentWindow {
			ips = append(ips, ip)
		}
	}
	o.mu.Unlock()
	for _, ip := range ips {
		ev.IP = ip.String()
		o.a.store.Observe(ev)
	}
}
