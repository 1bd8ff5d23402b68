package appliance

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
	"github.com/tanjay-lab/tanjay/r2"
)

// logHealth is one log the appliance writes on its own and heals after a
// full disk (the journal, the OCS audit log, the access log) as /healthz,
// /metrics and the dashboard's banner see it.
type logHealth struct {
	Name string
	writefail.Status
	// Held is what waits in memory for the file: observations for the
	// journal, bytes for the audit and access logs.
	Held     int
	HeldUnit string
	// Dropped counts what the memory bound made the appliance drop.
	Dropped uint64
}

// logHealths reads the logs, in a fixed order. A log not open (a
// test harness without it) is left out.
func (a *app) logHealths() []logHealth {
	var out []logHealth
	if a.store != nil {
		h := a.store.WriteHealth()
		out = append(out, logHealth{Name: "journal", Status: h.Status, Held: h.Held, HeldUnit: "observations", Dropped: h.Dropped})
	}
	if a.audit != nil && a.auditFile != nil {
		h := logHealth{Name: "audit log", Status: a.auditFile.Tracker.Status(), HeldUnit: "bytes"}
		a.audit.Inspect(func(r2.LogFile) { h.Held, h.Dropped = a.auditFile.Pending(), a.auditFile.Dropped() })
		out = append(out, h)
	}
	if a.access != nil {
		h := a.access.Health()
		out = append(out, logHealth{Name: "access log", Status: h.Status, Held: h.PendingBytes, HeldUnit: "bytes", Dropped: h.Dropped})
	}
	return out
}

// String is one line for /healthz and the dashboard banner, e.g. "journal
// cannot be written since 2026-12-06 07:40:01 UTC (write errors: 3; 120
// observations held in memory): write journal: …: no space left on device".
func (h logHealth) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s cannot be written since %s (write errors: %d; %d %s held in memory",
		h.Name, h.Since.UTC().Format(time.DateTime+" MST"), h.Errors, h.Held, h.HeldUnit)
	if h.Dropped > 0 {
		fmt.Fprintf(&b, ", %d dropped for the bound", h.Dropped)
	}
	fmt.Fprintf(&b, "): %v", h.Err)
	return b.String()
}

// writeFailures is a line per log that cannot be written, none when all
// can: what /healthz and the dashboard's banner say.
func (a *app) writeFailures() []string {
	var out []string
	for _, h := range a.logHealths() {
		if h.Failing {
			out = append(out, h.String())
		}
	}
	return out
}

// healthz answers "ok" while every log can be written; otherwise 503 and a
// line per failing log, naming it and since when. Phones are answered
// either way: this is for the operator's monitoring.
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	failures := a.writeFailures()
	if len(failures) == 0 {
		w.Write([]byte("ok\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "failing: %s\n", strings.Join(failures, "\nfailing: "))
}
