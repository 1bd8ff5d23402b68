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
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

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
	token   string
	started time.Time
	catalog atomic.Pointer[legacy.Catalog]
	// counters feed /metrics; metrics is set once the DNS responder is
	// known.
	counters counters
	metrics  http.Handler
	// importMu runs imports one at a time, so a failed import can take
	// back exactly the blobs it wrote.
	importMu sync.Mutex
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
	// oplog records who changed what (operator.go).
	oplog *oplog.Log
}

// refreshCatalog rebuilds the planner's snapshot; called at start and after
// every operator change.
func (a *app) refreshCatalog() {
	a.catalog.Store(legacy.NewCatalog(a.store.Rules(nil), a.store.Images(nil)).WithURLs(a.urls))
}

// Run serves the appliance until ctx ends. It binds every listener before
// serving anything and fails fast; ready, when non-nil, is called once with
// the bound addresses.
//
// out is where the dashboard shows a generated admin password, once.
func Run(ctx context.Context, cfg Config, log *slog.Logger, out io.Writer, ready func(Addrs)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, dir := range []string{cfg.Data, cfg.captureDir(), cfg.clientDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	st, err := store.Open(cfg.stateDir(), cfg.StoreLimits.storeOptions(store.Options{Logger: log}))
	if err != nil {
		return err
	}
	defer st.Close()
	a := &app{cfg: cfg, log: log, store: st, started: time.Now()}
	if a.oplog, err = oplog.Open(cfg.operatorLogPath()); err != nil {
		return err
	}
	defer a.oplog.Close()
	if a.phoneFiles, err = openPhoneFiles(cfg, log); err != nil {
		return err
	}
	if a.blobs, err = images.OpenBlobStore(cfg.blobDir()); err != nil {
		return err
	}
	if err := a.sweepInterruptedImports(); err != nil {
		return err
	}
	if a.token, err = loadOrCreateToken(cfg.tokenPath(), cfg.Token); err != nil {
		return err
	}
	// The audit log heals after a full disk through the appender it writes
	// to (r2 does not import appliance, so it is plugged in here).
	auditFile := &writefail.Appender{Tracker: writefail.New("audit log", log, nil)}
	audit, err := r2.OpenAuditLogTo(cfg.auditDir(), cfg.Host, time.Now, auditFile)
	if err != nil {
		return err
	}
	defer audit.Close()
	access, err := web.OpenAccessLog(cfg.accessDir(), "tanjay "+Version)
	if err != nil {
		return err
	}
	defer access.Close()
	access.SetLogger(log)
	a.audit, a.auditFile, a.access = audit, auditFile, access

	phoneLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	defer phoneLn.Close()
	dashLn, err := net.Listen("tcp", cfg.DashboardAddr)
	if err != nil {
		return fmt.Errorf("--dashboard-addr: %w", err)
	}
	defer dashLn.Close()

	advertise := cfg.advertiseFor(phoneLn.Addr())
	var httpsLn net.Listener
	externalBase := ""
	if cfg.httpsEnabled() {
		if httpsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			return fmt.Errorf("--https-addr: %w", err)
		}
		defer httpsLn.Close()
		externalBase = legacy.BaseURL("https", httpsAdvertise(advertise, httpsLn.Addr()))
	}
	if a.urls, err = legacy.DeriveURLs(legacy.BaseURL("http", advertise), externalBase, cfg.URLs); err != nil {
		return fmt.Errorf("--advertise: %w", err)
	}
	sipLns, err := bindSIP(cfg)
	if err != nil {
		return err
	}
	defer sipLns.close()
	var certs *web.Certs
	if cfg.certsNeeded() {
		if certs, err = web.NewCerts(cfg.tlsConfig(advertise)); err != nil {
			return err
		}
	}
	if cfg.sipEnabled() || cfg.directoryOn() {
		if a.sipPassword, err = loadOrCreateSIPPassword(cfg, out, log); err != nil {
			return err
		}
	}
	var dcRecs []dnsresp.Record
	if cfg.directoryOn() {
		if a.directoryCfg, err = cfg.directoryConfig(advertise); err != nil {
			return err
		}
		var recs []directory.Record
		if a.directory, recs, err = a.startDirectory(ctx, a.directoryCfg); err != nil {
			return err
		}
		dcRecs = dcRecords(recs)
	}
	if cfg.directoryWatched() {
		if a.directoryCfg, err = cfg.directoryConfig(advertise); err != nil {
			return err
		}
		var recs []directory.Record
		if a.directoryWatch, recs, err = startDirectoryWatch(a.directoryCfg, advertise, log); err != nil {
			return err
		}
		dcRecs = dcRecords(recs)
	}
	var dnsSrv *dnsresp.Server
	if cfg.dnsEnabled() {
		dcfg := cfg.dnsConfig(advertise)
		dcfg.SIPPort, dcfg.SIPTLSPort = sipLns.ports()
		dcfg.Records = dcRecs
		if dnsSrv, err = dnsresp.New(dcfg, dnsObserver{a}, log); err != nil {
			return err
		}
		if err := dnsSrv.Listen(); err != nil {
			return fmt.Errorf("--dns-addr: %w", err)
		}
		defer dnsSrv.Close()
	}
	var dhcpSrv *dhcp.Server
	if cfg.DHCP.Interface != "" {
		// Serve runs the rogue-server guard: while another DHCP server
		// answers, DHCP alone stays off; each change is a console line.
		if dhcpSrv, err = dhcp.New(cfg.dhcpConfig(), st, dhcpObserver{a}, log); err != nil {
			return err
		}
		dhcpSrv.OnGuard(func(st dhcp.GuardStatus) {
			fmt.Fprintf(out, "dhcp: %s\n", st)
			a.recordGuard(st)
		})
		if err := dhcpSrv.Listen(); err != nil {
			return err
		}
		defer dhcpSrv.Close()
		a.dhcp = dhcpSrv
	}
	a.refreshCatalog()
	if cfg.sipEnabled() {
		if a.sip, err = a.newSIPServer(); err != nil {
			return err
		}
	}
	dcfg := dashboard.DefaultConfig(cfg.Data)
	dcfg.LogDir, dcfg.CaptureDir = filepath.Join(cfg.Data, "logs"), cfg.captureDir()
	dcfg.AdminPassword, dcfg.PublicReadOnly, dcfg.Out, dcfg.Logger = cfg.AdminPassword, cfg.PublicReadOnly, out, log
	dcfg.WriteFailures = a.writeFailures
	if a.dashboard, err = dashboard.New(dcfg, st, dashboardActions{a}); err != nil {
		return err
	}
	defer a.dashboard.Close()
	var counts dnsCounts
	if dnsSrv != nil {
		counts = dnsSrv
	}
	a.metrics = metricsHandler(newMetricsCollector(a, counts))

	phones := a.phoneRoutes(audit)
	if certs != nil {
		// The CA (/certsrv/certnew.p7b, /ca.cer) and ACME answers on every
		// phone listener.
		phones = certs.PhoneHandler(phones)
	}
	phones = access.Middleware(phones)
	type server struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}
	// Both phone listeners share one set of caps (connlimit).
	phoneConns, err := connlimit.New(cfg.PhoneConns, log)
	if err != nil {
		return err
	}
	a.counters.phoneConns = phoneConns
	servers := []server{{"phones", phoneConns.Server(web.NewServer(phones, ctx, log)), phoneConns.Listen(phoneLn)}}
	bound := Addrs{HTTP: phoneLn.Addr().String(), Dashboard: dashLn.Addr().String(), Advertise: advertise, URLs: a.urls}
	if httpsLn != nil {
		servers = append(servers, server{"phones (HTTPS)", phoneConns.Server(web.NewServer(phones, ctx, log)), tls.NewListener(phoneConns.Listen(httpsLn), certs.PhoneTLS())})
		bound.HTTPS = httpsLn.Addr().String()
	}
	dashboard := dashLn
	if cfg.DashboardTLS {
		dashboard = tls.NewListener(dashLn, certs.DashboardTLS())
	}
	servers = append(servers, server{"dashboard", web.NewServer(a.dashboardRoutes(), ctx, log), dashboard})
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.phoneFiles.disk.Run(gctx) })
	if dhcpSrv != nil {
		bound.DHCP = cfg.DHCP.Interface + " " + dhcpSrv.ServerIP().String()
		g.Go(func() error { return dhcpSrv.Serve(gctx) })
	}
	if certs != nil {
		for _, c := range certs.Info() {
			bound.Certificates = append(bound.Certificates, c.String())
		}
		g.Go(func() error { return certs.Run(gctx) })
	}
	if dnsSrv != nil {
		udp, _ := dnsSrv.Addr()
		bound.DNS = udp.String()
		g.Go(func() error { return dnsSrv.Serve(gctx) })
	}
	if certs != nil {
		bound.CAPEM = certs.CAPEM()
	}
	if a.directory != nil {
		bound.Directory = strings.ToUpper(a.directoryCfg.Realm) + " on " + strings.Join(a.directoryCfg.Interfaces, ",")
		g.Go(func() error { return a.directory.Run(gctx) })
	}
	if a.directoryWatch != nil {
		bound.Directory = strings.ToUpper(a.directoryCfg.Realm) + " on " + strings.Join(a.directoryCfg.Interfaces, ",") + " (its own service, watched)"
		g.Go(func() error { return a.directoryWatch.Run(gctx) })
	}
	if a.directory != nil || a.directoryWatch != nil {
		// Either way the Supervisor writes the audit file (and Samba's
		// restarts into it) and the appliance relays the DC locator pings.
		obs := newDirectoryObserver(a)
		g.Go(func() error { return directory.FollowAudit(gctx, a.directoryCfg, obs) })
		ifaces := a.directoryCfg.Interfaces
		relay := &directory.CLDAPRelay{Addrs: func() []netip.Addr { return directory.InterfaceAddrs(ifaces) }, Report: obs.Ping, Log: log}
		g.Go(func() error { return relay.Run(gctx) })
	}
	if sipLns.tcp != nil {
		bound.SIP = sipLns.tcp.Addr().String()
		g.Go(func() error { return a.sip.Serve(gctx, sipLns.tcp, "tcp") })
	}
	if sipLns.tls != nil {
		bound.SIPTLS = sipLns.tls.Addr().String()
		tcfg := certs.PhoneTLS()
		tcfg.NextProtos = nil // SIP, not HTTP
		ln := tls.NewListener(sipLns.tls, tcfg)
		g.Go(func() error { return a.sip.Serve(gctx, ln, "tls") })
	}
	a.bound, a.certs = bound, certs
	if ready != nil {
		ready(bound)
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
