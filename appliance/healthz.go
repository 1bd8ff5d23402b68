package appliance

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
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

// degradations is a line per service the appliance keeps off while the
// rest runs, none when all run: today the DHCP server its rogue-server
// guard holds off ("dhcp: refused: another DHCP server 10.0.2.2 …").
func (a *app) degradations() []string {
	if a.dhcp == nil {
		return nil
	}
	if st := a.dhcp.GuardStatus(); st.State == dhcp.GuardRefused {
		return []string{"dhcp: " + st.String()}
	}
	return nil
}

// dhcpHealth is DHCP's row of the Settings page's listeners.
func (a *app) dhcpHealth() [3]string {
	st := a.dhcp.GuardStatus()
	state := st.String()
	if st.State == "" {
		state = "starting"
	}
	return [3]string{"DHCP (rogue-server guard)", a.bound.DHCP, state}
}

// healthz answers "ok" while every log can be written and every service
// runs. A service held off while the rest runs (DHCP refused because
// another DHCP server answers) leaves the appliance healthy but degraded:
// still 200, phones are answered, with a "degraded: " line naming it. A
// log that cannot be written is a failure: 503 and a "failing: " line per
// failing log, naming it and since when. Phones are answered either way:
// this is for the operator's monitoring.
func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	failures, degraded := a.writeFailures(), a.degradations()
	var b strings.Builder
	for _, f := range failures {
		fmt.Fprintf(&b, "failing: %s\n", f)
	}
	for _, d := range degraded {
		fmt.Fprintf(&b, "degraded: %s\n", d)
	}
	if len(failures) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
	} else if len(degraded) == 0 {
		b.WriteString("ok\n")
	}
	w.Write([]byte(b.String()))
}
