package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/directory"
	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
)

// directoryUnit is the --directory mode in which Samba runs outside the
// appliance, as its own service (tanjay-samba.service in the VM, where
// tanjay runs unprivileged and Samba needs root): serve does not start it,
// answers the DC locator records `tanjay directory provision` listed and
// watches Samba's LDAP port for Settings & health.
const directoryUnit = "unit"

// directoryWatched reports whether serve watches a Samba it does not run.
func (c Config) directoryWatched() bool { return c.Directory.Mode == directoryUnit }

// watchInterval is how often the watched Samba's LDAP port is tried.
const watchInterval = 5 * time.Second

// directoryWatch is the state of a Samba the appliance watches but does not
// run.
type directoryWatch struct {
	cfg directory.Config
	log *slog.Logger
	// advertise is the appliance's address, where LDAP is tried when no
	// interface of cfg has an IPv4 address.
	advertise string
	// port is Samba's LDAP port (389; tests change it) and interval the
	// time between tries.
	port     string
	interval time.Duration
	// provisioned says whether the records were there at start; when
	// they appear later, a restart of serve answers them.
	provisioned bool

	mu sync.Mutex
	st watchState
}

// watchState is what Settings & health shows of the watched Samba.
type watchState struct {
	// Answering says whether LDAP accepted the last connection, Addr is
	// where it was tried and Err why it failed.
	Answering bool
	Addr      string
	Err       string
	// Since is when Answering last changed (zero before the first try).
	Since time.Time
	// LateRecords says the directory was provisioned after serve started.
	LateRecords bool
}

// startDirectoryWatch loads the DC locator records of a directory whose
// Samba runs outside the appliance. A directory that was never provisioned
// is no error here (in the VM serve starts before the first boot
// provisions it): the log and Settings & health say so, DNS answers no DC
// records, and a restart after `tanjay directory provision` loads them.
func startDirectoryWatch(cfg directory.Config, advertise string, log *slog.Logger) (*directoryWatch, []directory.Record, error) {
	w := &directoryWatch{cfg: cfg, log: log, advertise: advertise, port: "389", interval: watchInterval}
	records, err := directory.LoadRecords(cfg)
	switch {
	case errors.Is(err, directory.ErrNotProvisioned):
		log.Warn("--directory unit: the directory was never provisioned; DNS answers no DC locator records until tanjay directory provision has run and tanjay restarts", "dir", cfg.Dir)
		return w, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("--directory unit: %w", err)
	}
	w.provisioned = true
	log.Info("--directory unit: answering the domain controller's locator records; Samba runs as its own service", "realm", cfg.Realm, "records", len(records))
	return w, records, nil
}

// ldapAddr is where Samba's LDAP is tried: port 389 of the first IPv4
// address of the directory's interfaces, else of the advertised address.
func (w *directoryWatch) ldapAddr() string {
	for _, name := range w.cfg.Interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return net.JoinHostPort(ipn.IP.String(), w.port)
			}
		}
	}
	host := netaddr.Host(w.advertise)
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, w.port)
}

// check tries LDAP once and records the outcome, logging changes.
func (w *directoryWatch) check(ctx context.Context) {
	addr := w.ldapAddr()
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
	}
	if ctx.Err() != nil {
		return
	}
	late := false
	if !w.provisioned {
		_, lerr := directory.LoadRecords(w.cfg)
		late = lerr == nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	first := w.st.Since.IsZero()
	changed := first || w.st.Answering != (err == nil)
	if changed {
		w.st.Since = time.Now()
	}
	w.st.Answering, w.st.Addr, w.st.Err = err == nil, addr, ""
	if err != nil {
		w.st.Err = err.Error()
	}
	if late && !w.st.LateRecords {
		w.log.Warn("--directory unit: the directory is provisioned now; restart tanjay to answer its DC locator records", "dir", w.cfg.Dir)
	}
	w.st.LateRecords = late
	switch {
	case changed && err == nil:
		w.log.Info("samba answers LDAP", "addr", addr)
	case changed && (!first || w.provisioned):
		w.log.Warn("samba does not answer LDAP", "addr", addr, "err", err)
	}
}

// Run tries Samba's LDAP port every interval until ctx ends.
func (w *directoryWatch) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// state is the watched Samba's state now.
func (w *directoryWatch) state() watchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// health is the Settings & health row of the watched Samba.
func (w *directoryWatch) health() [3]string {
	st := w.state()
	var state string
	switch {
	case !w.provisioned && st.LateRecords:
		state = "provisioned after tanjay started: restart tanjay to answer its DC locator records"
	case !w.provisioned:
		state = "not provisioned: run tanjay directory provision as root (DNS answers no DC locator records)"
	case st.Since.IsZero():
		state = "not tried yet"
	case st.Answering:
		state = fmt.Sprintf("LDAP answers on %s since %s", st.Addr, st.Since.Format(time.TimeOnly))
	default:
		state = fmt.Sprintf("LDAP does not answer on %s since %s: %s", st.Addr, st.Since.Format(time.TimeOnly), st.Err)
	}
	return [3]string{"domain controller (Samba, its own service) for " + strings.ToUpper(w.cfg.Realm), strings.Join(w.cfg.Interfaces, ", "), state}
}
