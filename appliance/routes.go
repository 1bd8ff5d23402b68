package appliance

import (
	"net/http"

	"github.com/tanjay-lab/tanjay/r2"
)

// phoneRoutes is the phone-facing listener's handler: r2 routes by the paths
// phones use (check-ins, firmware files, log uploads), planned by legacy and
// recorded in the store.
func (a *app) phoneRoutes(audit *r2.AuditLog) http.Handler {
	return r2.NewHandler(r2.Config{
		Planner:    checkinPlanner{a},
		Files:      firmwareFiles{a},
		Observer:   storeObserver{a},
		Audit:      audit,
		CaptureDir: a.cfg.captureDir(),
		CaptureAll: a.cfg.CaptureAll,
		UploadDir:  a.cfg.clientDir(),
		Uploads:    a.phoneFiles.uploads,
		Captures:   a.phoneFiles.captures,
		Disk:       a.phoneFiles.disk,
		Logger:     a.log,
	})
}

// dashboardRoutes is the one route table of the dashboard listener: the
// dashboard (appliance/dashboard) at /, health, Prometheus metrics, and the
// admin API (appliance/admin) under /api/v1/ (the more specific patterns
// win). The phone-facing listener is r2's handler as a whole (it routes by
// the paths phones use).
func (a *app) dashboardRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", a.dashboard.Handler())
	mux.HandleFunc("GET /healthz", a.healthz)
	if a.metrics != nil {
		mux.Handle("GET /metrics", a.metrics)
	}
	a.api.Register(mux)
	mux.Handle("GET /api/v1/backup", a.backupAPI()) // not JSON: the archive, streamed (backup.go)
	return mux
}

// settingsView is what the appliance runs with: GET /api/v1/settings.
type settingsView struct {
	Version   string `json:"version"`
	Data      string `json:"data"`
	HTTPAddr  string `json:"http_addr"`
	Dashboard string `json:"dashboard_addr"`
	URLs      any    `json:"urls"`
}

func (a *app) settings() any {
	return settingsView{Version: Version, Data: a.cfg.Data, HTTPAddr: a.cfg.HTTPAddr, Dashboard: a.cfg.DashboardAddr, URLs: a.urls}
}
