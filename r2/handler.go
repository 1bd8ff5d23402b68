package r2

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxBody                  = 64 << 10
	DefaultMaxUpload                = 16 << 20
	DefaultDownloadProgressInterval = time.Second
)

// Config is what the phone-facing handler needs. The appliance fills it.
type Config struct {
	// Planner decides each identified phone's offer. Required.
	Planner Planner
	// Files resolves firmware file URLs. Required.
	Files Files
	// Observer is told about check-ins, downloads and uploads. Default: none.
	Observer Observer
	// Audit receives one row per answered check-in. Default: none.
	Audit *AuditLog
	// CaptureDir keeps raw check-in bodies the parser could not fully
	// identify (<data>/captures). Default "": no captures.
	CaptureDir string
	// CaptureAll keeps every check-in body, not only the incomplete ones.
	// Default false.
	CaptureAll bool
	// UploadDir holds the files phones POST (device logs), one folder per
	// device (<data>/logs/client). Default "": uploads are refused with 404.
	UploadDir string
	// MaxBody is the largest check-in body accepted; larger is 413.
	// Default 64 KiB.
	MaxBody int64
	// MaxUpload is the largest upload accepted; larger is 413. Default 16 MiB.
	MaxUpload int64
	// Uploads caps the files in UploadDir (OpenUploadQuota); uploads past
	// a cap are refused with 507. Default: NewHandler counts UploadDir with
	// DefaultUploadCaps.
	Uploads *Quota
	// Captures caps the files in CaptureDir (OpenCaptureQuota); the oldest
	// are dropped to make room. Default: NewHandler counts CaptureDir with
	// DefaultCaptureCaps.
	Captures *Quota
	// Disk stops uploads (507) and captures while the data directory's
	// free space is below its floor. Default nil: no floor.
	Disk *DiskFloor
	// DownloadProgressInterval is how often a running download is
	// reported to the Observer. Default 1s.
	DownloadProgressInterval time.Duration
	// Now is the clock; it must return local time, which responses and the
	// audit log write. Default time.Now.
	Now func() time.Time
	// Logger is where the handler logs errors, once each. Default: discard.
	Logger *slog.Logger
}

// Validate reports a Config that cannot serve phones.
func (c Config) Validate() error {
	var errs []error
	if c.Planner == nil {
		errs = append(errs, errors.New("r2: Config.Planner is required"))
	}
	if c.Files == nil {
		errs = append(errs, errors.New("r2: Config.Files is required"))
	}
	if c.MaxBody < 0 || c.MaxUpload < 0 || c.DownloadProgressInterval < 0 {
		errs = append(errs, errors.New("r2: Config limits must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields with their defaults.
func (c Config) withDefaults() Config {
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.DownloadProgressInterval <= 0 {
		c.DownloadProgressInterval = DefaultDownloadProgressInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

type nopObserver struct{}

func (nopObserver) CheckedIn(CheckIn)   {}
func (nopObserver) Downloaded(Download) {}
func (nopObserver) Uploaded(Upload)     {}

// NewHandler returns the phone-facing handler of the Device Update Service.
// It does not depend on the Host header and matches paths
// case-insensitively (phones were seen sending /requestHandler/ucdevice.upx):
//
//	POST /RequestHandler/ucdevice.upx, /RequestHandlerExt/ucdevice.upx  the check-in
//	GET|HEAD /DeviceUpdateFiles_Int/…, /DeviceUpdateFiles_Ext/…         firmware files
//	any other POST /RequestHandler…                                      a device log upload
//
// Everything else is 404. cfg should pass Validate; a missing Planner or Files
// answers 500.
func NewHandler(cfg Config) http.Handler {
	h := &updateHandler{cfg: cfg.withDefaults()}
	h.openQuotas()
	return h
}

// updateHandler routes the phone-facing paths.
type updateHandler struct {
	cfg Config
}

const (
	checkinPath    = "/requesthandler/ucdevice.upx"
	checkinExtPath = "/requesthandlerext/ucdevice.upx"
	filesIntPrefix = "/deviceupdatefiles_int/"
	filesExtPrefix = "/deviceupdatefiles_ext/"
	uploadPrefix   = "/requesthandler"
)

func (h *updateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.EqualFold(p, checkinPath) || strings.EqualFold(p, checkinExtPath):
		h.serveCheckin(w, r)
	case hasPrefixFold(p, filesIntPrefix):
		h.serveFile(w, r, len(filesIntPrefix))
	case hasPrefixFold(p, filesExtPrefix):
		h.serveFile(w, r, len(filesExtPrefix))
	case hasPrefixFold(p, uploadPrefix) && r.Method == http.MethodPost:
		h.serveUpload(w, r)
	default:
		http.NotFound(w, r)
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// clientIP is the host part of the connection's remote address. Phones talk
// to the appliance directly; no proxy headers are trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// methodNotAllowed answers 405 naming the allowed methods.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}
