package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tanjay-lab/tanjay/appliance/admin"
	"github.com/tanjay-lab/tanjay/appliance/dashboard"
	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	"github.com/tanjay-lab/tanjay/appliance/directory"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/appliance/web"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/legacy/sip"
	"github.com/tanjay-lab/tanjay/r2"
)

// shutdownTimeout bounds the graceful shutdown; it runs on a fresh context
// because the serving context is already done by then.
const shutdownTimeout = 10 * time.Second

// Addrs is where a running appliance listens, reported once every listener
// is bound.
type Addrs struct {
	HTTP      string      `json:"http"`
	HTTPS     string      `json:"https,omitempty"` // empty when the HTTPS listener is off
	Dashboard string      `json:"dashboard"`
	DNS       string      `json:"dns,omitempty"`     // empty when the responder is off
	DHCP      string      `json:"dhcp,omitempty"`    // interface and address, empty when off
	SIP       string      `json:"sip,omitempty"`     // SIP over TCP, empty when off
	SIPTLS    string      `json:"sip_tls,omitempty"` // SIP over TLS, empty when off
	Advertise string      `json:"advertise"`
	URLs      legacy.URLs `json:"urls"`
	// Directory is the supervised domain controller's realm and
	// interfaces, empty when off.
	Directory string `json:"directory,omitempty"`
	// Certificates describe the TLS certificates in use, one line each.
	Certificates []string `json:"certificates,omitempty"`
	// CAPEM is the appliance CA in PEM (self-signed mode), what phones
	// install from certnew.p7b.
	CAPEM []byte `json:"-"`
}

// app is the running appliance: what the handlers share.
type app struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	blobs   *images.BlobStore
	urls    legacy.URLs
	started time.Time
	catalog atomic.Pointer[legacy.Catalog]
	// admin is every operator action (import, rule actions, test
	// devices), recorded in the operator log; api is the admin API over
	// them (appliance/admin).
	admin *admin.Actions
	api   *admin.API
	// counters feed /metrics; metrics is set once the DNS responder is
	// known.
	counters counters
	metrics  http.Handler
	// bound and certs are set once the listeners are bound, before any
	// serves: what the dashboard's Settings page shows.
	bound     Addrs
	certs     *web.Certs
	dashboard *dashboard.Dashboard
	// sipPassword is the lab sign-in password; sip is the SIP front end
	// (nil when both its listeners are off).
	sipPassword string
	sip         *sip.Server
	// directory supervises the lab's domain controller (nil when off);
	// directoryCfg is its configuration.
	directory    *directory.Supervisor
	directoryCfg directory.Config
	// directoryWatch watches a Samba that runs as its own service
	// (--directory unit; nil otherwise).
	directoryWatch *directoryWatch
	// dhcp is the DHCP server (nil when off): its guard's state is on
	// /healthz and Settings & health.
	dhcp *dhcp.Server
	// phoneFiles caps uploads and captures and watches the free space.
	phoneFiles phoneFiles
	// audit, auditFile and access are the phone-side logs, read by
	// /healthz, /metrics and the dashboard's banner (healthz.go).
	audit     *r2.AuditLog
	auditFile *writefail.Appender
	access    *web.AccessLog
}

// refreshCatalog rebuilds the planner's snapshot; called once the URLs are
// derived and by appliance/admin after every operator change.
func (a *app) refreshCatalog() {
	a.catalog.Store(legacy.NewCatalog(a.store.Rules(nil), a.store.Images(nil)).WithURLs(a.urls))
}

// Run serves the appliance until ctx ends, in four steps: it opens the
// state under the data directory, binds every listener (failing fast,
// before anything serves), builds the handlers, and serves them all under
// one errgroup with a graceful shutdown. ready, when non-nil, is called
// once with the bound addresses, before any listener serves.
//
// out is where the dashboard shows a generated admin password, once.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer, ready func(Addrs)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a := &app{cfg: cfg, log: log, started: time.Now()}
	var cl closers
	defer cl.close()
	if err := a.openState(&cl); err != nil {
		return err
	}
	lns, err := a.bindListeners(ctx, out, &cl)
	if err != nil {
		return err
	}
	servers, err := a.buildHandlers(ctx, out, lns, &cl)
	if err != nil {
		return err
	}
	return a.serve(ctx, lns, servers, ready)
}

// closers are what Run opened, closed in the reverse order when it
// returns.
type closers []func()

func (c *closers) add(f func()) { *c = append(*c, f) }

// close runs on a pointer: `defer cl.close()` must see what is added
// after the defer statement.
func (c *closers) close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// openState opens what the appliance keeps under the data directory: the
// store, the operator log, the quotas of phone files, the blob store
// (swept of what an interrupted import left), the operator actions and the
// admin API with its token, and the audit and access logs.
func (a *app) openState(cl *closers) error {
	cfg := a.cfg
	for _, dir := range []string{cfg.Data, cfg.captureDir(), cfg.clientDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	st, err := store.Open(cfg.stateDir(), cfg.StoreLimits.storeOptions(store.Options{Logger: a.log}))
	if err != nil {
		return err
	}
	cl.add(func() { st.Close() })
	a.store = st
	ops, err := oplog.Open(cfg.operatorLogPath())
	if err != nil {
		return err
	}
	cl.add(func() { ops.Close() })
	if a.phoneFiles, err = openPhoneFiles(cfg, a.log); err != nil {
		return err
	}
	if a.blobs, err = images.OpenBlobStore(cfg.blobDir()); err != nil {
		return err
	}
	if err := a.openAdmin(ops); err != nil {
		return err
	}
	// The audit log heals after a full disk through the appender it writes
	// to (r2 does not import appliance, so it is plugged in here).
	a.auditFile = &writefail.Appender{Tracker: writefail.New("audit log", a.log, nil)}
	if a.audit, err = r2.OpenAuditLogTo(cfg.auditDir(), cfg.Host, time.Now, a.auditFile); err != nil {
		return err
	}
	audit := a.audit
	cl.add(func() { audit.Close() })
	access, err := web.OpenAccessLog(cfg.accessDir(), "tanjay "+Version)
	if err != nil {
		return err
	}
	cl.add(func() { access.Close() })
	access.SetLogger(a.log)
	a.access = access
	return nil
}

// openAdmin makes the operator actions over the opened state, sweeps what
// an interrupted import left, and makes the admin API with the token.
func (a *app) openAdmin(ops *oplog.Log) error {
	var err error
	a.admin, err = admin.New(admin.Config{
		Store: a.store, Blobs: a.blobs, Oplog: ops, TmpDir: a.cfg.tmpDir(),
		CatalogChanged: a.refreshCatalog, NormalizeMAC: r2.NormalizeMAC, Logger: a.log,
	})
	if err != nil {
		return err
	}
	if err := a.admin.SweepInterruptedImports(); err != nil {
		return err
	}
	token, err := loadOrCreateToken(a.cfg.tokenPath(), a.cfg.Token)
	if err != nil {
		return err
	}
	a.api, err = admin.NewAPI(a.admin, token, a.settings)
	return err
}

// listeners are every socket the appliance serves, bound, and what binding
// them settled: the advertised address, the certificates (which name it),
// the DNS responder and the DHCP server (each bound inside).
type listeners struct {
	phone, dashboard net.Listener
	https            net.Listener // nil when off
	sip              sipListeners
	advertise        string
	certs            *web.Certs      // nil when no listener needs them
	dns              *dnsresp.Server // nil when off
	dhcp             *dhcp.Server    // nil when off
}

// bindListeners binds every listener before anything serves, failing fast
// with the flag of the address that cannot be bound. On the way it
// derives the URLs from the advertised address, makes the certificates and
// prepares the directory, whose locator records the DNS responder answers.
func (a *app) bindListeners(ctx context.Context, out io.Writer, cl *closers) (*listeners, error) {
	l, err := a.bindHTTP(cl)
	if err != nil {
		return nil, err
	}
	if l.sip, err = bindSIP(a.cfg); err != nil {
		return nil, err
	}
	sipLns := l.sip
	cl.add(sipLns.close)
	if a.cfg.certsNeeded() {
		tcfg := a.cfg.tlsConfig(l.advertise)
		tcfg.Logger = a.log // renewals, ACME orders and their failures
		if l.certs, err = web.NewCerts(tcfg); err != nil {
			return nil, err
		}
	}
	if a.cfg.sipEnabled() || a.cfg.directoryOn() {
		if a.sipPassword, err = loadOrCreateSIPPassword(a.cfg, out, a.log); err != nil {
			return nil, err
		}
	}
	dcRecs, err := a.prepareDirectory(ctx, l.advertise)
	if err != nil {
		return nil, err
	}
	if l.dns, err = a.bindDNS(l, dcRecs, cl); err != nil {
		return nil, err
	}
	if l.dhcp, err = a.bindDHCP(out, cl); err != nil {
		return nil, err
	}
	return l, nil
}

// bindHTTP binds the phone-facing HTTP and HTTPS listeners and the
// dashboard's, and derives the four URLs from the advertised address.
func (a *app) bindHTTP(cl *closers) (*listeners, error) {
	cfg := a.cfg
	phoneLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr: %w", err)
	}
	cl.add(func() { phoneLn.Close() })
	dashLn, err := net.Listen("tcp", cfg.DashboardAddr)
	if err != nil {
		return nil, fmt.Errorf("--dashboard-addr: %w", err)
	}
	cl.add(func() { dashLn.Close() })
	l := &listeners{phone: phoneLn, dashboard: dashLn, advertise: cfg.advertiseFor(phoneLn.Addr())}
	externalBase := ""
	if cfg.httpsEnabled() {
		httpsLn, err := net.Listen("tcp", cfg.HTTPSAddr)
		if err != nil {
			return nil, fmt.Errorf("--https-addr: %w", err)
		}
		cl.add(func() { httpsLn.Close() })
		l.https = httpsLn
		externalBase = legacy.BaseURL("https", httpsAdvertise(l.advertise, httpsLn.Addr()))
	}
	if a.urls, err = legacy.DeriveURLs(legacy.BaseURL("http", l.advertise), externalBase, cfg.URLs); err != nil {
		return nil, fmt.Errorf("--advertise: %w", err)
	}
	return l, nil
}

// prepareDirectory sets up the lab's domain controller, supervised
// (--directory samba) or watched (--directory unit), and returns the DC
// locator records DNS answers; none when the directory is off.
func (a *app) prepareDirectory(ctx context.Context, advertise string) ([]dnsresp.Record, error) {
	cfg := a.cfg
	if !cfg.directoryOn() && !cfg.directoryWatched() {
		return nil, nil
	}
	var err error
	if a.directoryCfg, err = cfg.directoryConfig(advertise); err != nil {
		return nil, err
	}
	var recs []directory.Record
	if cfg.directoryOn() {
		a.directory, recs, err = a.startDirectory(ctx, a.directoryCfg)
	} else {
		a.directoryWatch, recs, err = startDirectoryWatch(a.directoryCfg, advertise, a.log)
	}
	if err != nil {
		return nil, err
	}
	return dcRecords(recs), nil
}

// bindDNS makes the DNS responder and binds it (nil when it is off).
func (a *app) bindDNS(l *listeners, dcRecs []dnsresp.Record, cl *closers) (*dnsresp.Server, error) {
	if !a.cfg.dnsEnabled() {
		return nil, nil
	}
	dcfg := a.cfg.dnsConfig(l.advertise)
	dcfg.SIPPort, dcfg.SIPTLSPort = l.sip.ports()
	dcfg.Records = dcRecs
	srv, err := dnsresp.New(dcfg, dnsObserver{a}, a.log)
	if err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("--dns-addr: %w", err)
	}
	cl.add(func() { srv.Close() })
	return srv, nil
}

// bindDHCP makes the DHCP server and binds it (nil unless
// --dhcp-interface is given). Serve runs the rogue-server guard: while
// another DHCP server answers, DHCP alone stays off; each change is a
// console line and an operator log entry.
func (a *app) bindDHCP(out io.Writer, cl *closers) (*dhcp.Server, error) {
	if a.cfg.DHCP.Interface == "" {
		return nil, nil
	}
	srv, err := dhcp.New(a.cfg.dhcpConfig(), a.store, dhcpObserver{a}, a.log)
	if err != nil {
		return nil, err
	}
	srv.OnGuard(func(st dhcp.GuardStatus) {
		fmt.Fprintf(out, "dhcp: %s\n", st)
		a.recordGuard(st)
	})
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	cl.add(func() { srv.Close() })
	a.dhcp = srv
	return srv, nil
}

// httpServer is one HTTP server and the listener it serves.
type httpServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// buildHandlers builds what the listeners serve: the planner's catalog,
// the SIP front end, the dashboard with the admin API, /metrics, and the
// phone-facing handler behind the CA, the access log and the connection
// caps.
func (a *app) buildHandlers(ctx context.Context, out io.Writer, l *listeners, cl *closers) ([]httpServer, error) {
	cfg := a.cfg
	a.refreshCatalog()
	var err error
	if cfg.sipEnabled() {
		if a.sip, err = a.newSIPServer(); err != nil {
			return nil, err
		}
	}
	dcfg := dashboard.DefaultConfig(cfg.Data)
	dcfg.LogDir, dcfg.CaptureDir = filepath.Join(cfg.Data, "logs"), cfg.captureDir()
	dcfg.AdminPassword, dcfg.PublicReadOnly, dcfg.Out, dcfg.Logger = cfg.AdminPassword, cfg.PublicReadOnly, out, a.log
	dcfg.WriteFailures = a.writeFailures
	if a.dashboard, err = dashboard.New(dcfg, a.store, dashboardActions{Actions: a.admin, a: a}); err != nil {
		return nil, err
	}
	cl.add(a.dashboard.Close)
	var counts dnsCounts
	if l.dns != nil {
		counts = l.dns
	}
	a.metrics = metricsHandler(newMetricsCollector(a, counts))

	phones := a.phoneRoutes(a.audit)
	if l.certs != nil {
		// The CA (/certsrv/certnew.p7b, /ca.cer) and ACME answers on every
		// phone listener.
		phones = l.certs.PhoneHandler(phones)
	}
	phones = a.access.Middleware(phones)
	// Both phone listeners share one set of caps (connlimit).
	phoneConns, err := connlimit.New(cfg.PhoneConns, a.log)
	if err != nil {
		return nil, err
	}
	a.counters.phoneConns = phoneConns
	servers := []httpServer{{"phones", phoneConns.Server(web.NewServer(phones, ctx, a.log)), phoneConns.Listen(l.phone)}}
	if l.https != nil {
		servers = append(servers, httpServer{"phones (HTTPS)", phoneConns.Server(web.NewServer(phones, ctx, a.log)), tls.NewListener(phoneConns.Listen(l.https), l.certs.PhoneTLS())})
	}
	dashLn := l.dashboard
	if cfg.DashboardTLS {
		dashLn = tls.NewListener(dashLn, l.certs.DashboardTLS())
	}
	return append(servers, httpServer{"dashboard", web.NewServer(a.dashboardRoutes(), ctx, a.log), dashLn}), nil
}

// boundAddrs is where the appliance listens, for ready, serve.json and
// the Settings page.
func (a *app) boundAddrs(l *listeners) Addrs {
	b := Addrs{HTTP: l.phone.Addr().String(), Dashboard: l.dashboard.Addr().String(), Advertise: l.advertise, URLs: a.urls}
	if l.https != nil {
		b.HTTPS = l.https.Addr().String()
	}
	if l.dhcp != nil {
		b.DHCP = a.cfg.DHCP.Interface + " " + l.dhcp.ServerIP().String()
	}
	if l.certs != nil {
		for _, c := range l.certs.Info() {
			b.Certificates = append(b.Certificates, c.String())
		}
		b.CAPEM = l.certs.CAPEM()
	}
	if l.dns != nil {
		udp, _ := l.dns.Addr()
		b.DNS = udp.String()
	}
	if a.directory != nil {
		b.Directory = strings.ToUpper(a.directoryCfg.Realm) + " on " + strings.Join(a.directoryCfg.Interfaces, ",")
	}
	if a.directoryWatch != nil {
		b.Directory = strings.ToUpper(a.directoryCfg.Realm) + " on " + strings.Join(a.directoryCfg.Interfaces, ",") + " (its own service, watched)"
	}
	if l.sip.tcp != nil {
		b.SIP = l.sip.tcp.Addr().String()
	}
	if l.sip.tls != nil {
		b.SIPTLS = l.sip.tls.Addr().String()
	}
	return b
}

// serve runs everything under one errgroup until ctx ends or one part
// fails: the background work (disk watch, certificate renewal, DNS, DHCP,
// the directory, SIP), then, once ready has the bound addresses, the HTTP
// servers; each shuts down gracefully on a fresh timeout context.
func (a *app) serve(ctx context.Context, l *listeners, servers []httpServer, ready func(Addrs)) error {
	g, gctx := errgroup.WithContext(ctx)
	a.runBackground(gctx, g, l)
	a.bound, a.certs = a.boundAddrs(l), l.certs
	if ready != nil {
		ready(a.bound)
	}
	for _, s := range servers {
		g.Go(func() error {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s listener: %w", s.name, err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			a.dashboard.Close() // event streams end before the servers wait for them
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			return s.srv.Shutdown(sctx)
		})
	}
	return g.Wait()
}

// runBackground starts, under g, what serves besides HTTP.
func (a *app) runBackground(gctx context.Context, g *errgroup.Group, l *listeners) {
	g.Go(func() error { return a.phoneFiles.disk.Run(gctx) })
	if l.dhcp != nil {
		g.Go(func() error { return l.dhcp.Serve(gctx) })
	}
	if l.certs != nil {
		g.Go(func() error { return l.certs.Run(gctx) })
	}
	if l.dns != nil {
		g.Go(func() error { return l.dns.Serve(gctx) })
	}
	if a.directory != nil {
		g.Go(func() error { return a.directory.Run(gctx) })
	}
	if a.directoryWatch != nil {
		g.Go(func() error { return a.directoryWatch.Run(gctx) })
	}
	if a.directory != nil || a.directoryWatch != nil {
		// Either way the Supervisor writes the audit file (and Samba's
		// restarts into it) and the appliance relays the DC locator pings.
		obs := newDirectoryObserver(a)
		g.Go(func() error { return directory.FollowAudit(gctx, a.directoryCfg, obs) })
		ifaces := a.directoryCfg.Interfaces
		relay := &directory.CLDAPRelay{Addrs: func() []netip.Addr { return directory.InterfaceAddrs(ifaces) }, Report: obs.Ping, Log: a.log}
		g.Go(func() error { return relay.Run(gctx) })
	}
	if l.sip.tcp != nil {
		g.Go(func() error { return a.sip.Serve(gctx, l.sip.tcp, "tcp") })
	}
	if l.sip.tls != nil {
		var sipName string
		if names := sipServerNames(a.cfg.DNS.Domains); len(names) > 0 {
			sipName = names[0] // sip.<first domain>
		}
		ln := tls.NewListener(l.sip.tls, l.certs.SIPTLS(sipName))
		g.Go(func() error { return a.sip.Serve(gctx, ln, "tls") })
	}
}
