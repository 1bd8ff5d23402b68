package dashboard

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// Store is what the dashboard reads. *store.Store satisfies it. It has no
// way to copy the whole fleet (store.Store.Devices): what walks the fleet
// reads it in place through EachDevice.
type Store interface {
	EachDevice(ws memdb.WatchSet, fn func(*store.Device) bool)
	Device(id string) (store.Device, bool)
	Events(ws memdb.WatchSet, deviceID string) []store.Event
	Rules(ws memdb.WatchSet) []images.Rule
	Images(ws memdb.WatchSet) []images.Image
	TestDevices(ws memdb.WatchSet) []store.TestDevice
	Subscribe(buf int) *store.Subscription
}

// Actions are the operator changes the dashboard offers. The appliance
// implements them: each change is durable when it returns, and the planner
// sees it.
type Actions interface {
	// Each action is recorded in the operator log as act's.
	//
	// RuleAction applies "approve", "reject" or "restore" to the rule.
	RuleAction(act oplog.Actor, action string, key images.RuleKey) (images.Rule, error)
	// AddTestDevice adds a MAC or serial, normalised by the appliance, and
	// says when no phone with that ID has been seen.
	AddTestDevice(act oplog.Actor, id string) (td store.TestDevice, warning string, err error)
	RemoveTestDevice(act oplog.Actor, id string) (store.TestDevice, error)
	// Import reads the multipart upload of a vendor package (field "file")
	// from r.
	Import(act oplog.Actor, r *http.Request) (ImportResult, error)
	// MakePending makes an imported version the rule's Pending one again.
	MakePending(act oplog.Actor, key images.RuleKey, v images.Version) (images.Rule, error)
	// OperatorLog is the operator log's entries f selects, newest first,
	// at most limit.
	OperatorLog(f oplog.Filter, limit int) ([]oplog.Entry, error)
	// Health is what the Settings page shows.
	Health() Health
}

// ImportResult is what an import added.
type ImportResult struct {
	Rules    []images.Rule
	Images   []images.Image
	Warnings []string
}

// Health is the appliance's settings and health for the Settings page.
type Health struct {
	Version      string
	URLs         [][2]string // name, value: InternalUpdatesDownloadURL and the other three
	DNS          string      // e.g. "127.0.0.1:53, lab mode, domains lab.local"
	Listeners    [][3]string // name, address, state
	Certificates [][3]string // name, SHA-256 fingerprint, expiry (none until TLS lands)
	DataDir      string
	DataBytes    int64
	// SIPPassword is the password beta phones sign in to the appliance's
	// SIP front end with (any user name, this password). The Settings page
	// shows it only to a logged-in operator. "" when SIP is off.
	SIPPassword string
	// SIPSignIn is what a technician types on a phone and what the SIP
	// front end saw, as name, value rows, e.g. sign-in address:
	// anyone@<domain>; user name: <DOMAIN>\<anything>; TCP: 10.77.0.1:5060;
	// TLS: 10.77.0.1:5061; NTLM variants seen: … The Settings page shows
	// them under "Phone sign-in (SIP)", hidden when both fields are empty.
	SIPSignIn [][2]string
}

// Config is the dashboard's configuration.
type Config struct {
	// DataDir holds the admin password hash and the session key. Required.
	DataDir string
	// LogDir is <data>/logs: the Logs page tails the newest files of its
	// audit/ and access/ folders. Empty: the page says there are none.
	LogDir string
	// CaptureDir is <data>/captures, listed on the Logs page.
	CaptureDir string
	// AdminPassword is the operator's password (TANJAY_ADMIN_PASSWORD).
	// Default "": use the stored hash, or at first start generate one,
	// show it once on Out and the Logger and write it to a 0600 file in
	// DataDir. Only a hash of it is kept.
	AdminPassword string
	// PublicReadOnly makes the read-only views (fleet, phone, firmware,
	// test devices, logs, settings, export) public. Changes always need
	// the login; /kiosk is always public. Default (DefaultConfig): true.
	PublicReadOnly bool
	// Out is where a generated password is shown. Default io.Discard.
	Out io.Writer
	// Logger gets errors and the generated-password notice. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// WriteFailures is a line per log the appliance cannot write (a full
	// disk), shown as a banner on every page. Default nil: no banner.
	WriteFailures func() []string
}

// DefaultConfig is a Config for dataDir with every default: public
// read-only views, logs and captures in their usual places under it.
func DefaultConfig(dataDir string) Config {
	return Config{
		DataDir:        dataDir,
		LogDir:         dataDir + "/logs",
		CaptureDir:     dataDir + "/captures",
		PublicReadOnly: true,
	}
}

// Validate reports a Config the dashboard cannot run with.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("dashboard: DataDir is required (it holds the password hash and session key)")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Dashboard is the web UI. Its handler is safe for concurrent use.
type Dashboard struct {
	cfg   Config
	st    Store
	act   Actions
	auth  *auth
	pages map[string]*template.Template
	hub   *hub
	mux   *http.ServeMux
	// fleet is the compact index the fleet page and the live frames read
	// (fleetindex.go); renders caps concurrent fleet and kiosk renders
	// (fleetpage.go).
	fleet   *fleetIndex
	renders *renderGate
}

// New makes the dashboard: it loads or creates the password hash and the
// session key in cfg.DataDir, parses the templates and starts the live
// feed's fan-out. Close stops it.
func New(cfg Config, st Store, act Actions) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a, err := newAuth(cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	bindWriteFailures(pages, cfg.WriteFailures)
	d := &Dashboard{cfg: cfg, st: st, act: act, auth: a, pages: pages,
		fleet: newFleetIndex(), renders: newRenderGate(maxFleetRenders, maxFleetWaiting, fleetRenderWait)}
	d.hub = newHub(st, d.fleet, cfg.Now, d.renderFleetUpdate, cfg.Logger)
	d.mux = d.routes()
	go d.hub.run()
	return d, nil
}

// Handler serves every page, asset, form action, the event stream and the
// CSV export. Mount it at "/" after the appliance's own routes.
func (d *Dashboard) Handler() http.Handler { return d.mux }

// IndexRebuilds is how many times the live feed fell behind the store
// (the store's change feed dropped changes for it) and the fleet index
// was rebuilt by walking every phone; the build at start is not counted.
// /metrics shows it.
func (d *Dashboard) IndexRebuilds() uint64 { return d.hub.rebuilds.Load() }

// Close ends every event stream and stops the fan-out. It may be called
// more than once.
func (d *Dashboard) Close() { d.hub.close() }
