package appliance

import (
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// statusPage is the plain-text status page at / on the dashboard listener:
// each phone's stage and versions, the rules and the four URLs. It is
// read-only and needs no token, like a screen on the lab bench.
func (a *app) statusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Refresh", "2")
	devices := a.store.Devices(nil)
	fmt.Fprintf(w, "tanjay %s — %d phones, up %s\n\n", Version, len(devices), time.Since(a.started).Round(time.Second))
	writeStageCounts(w, devices)
	fmt.Fprintln(w, "\nPHONES")
	writeDevices(w, devices, time.Now())
	fmt.Fprintln(w, "\nRULES")
	writeRules(w, a.store.Rules(nil))
	fmt.Fprintf(w, "\nURLS\n  InternalUpdatesDownloadURL  %s\n  InternalUpdatesStoreURL     %s\n  ExternalUpdatesDownloadURL  %s\n  ExternalUpdatesStoreURL     %s\n",
		a.urls.InternalDownload, a.urls.InternalStore, a.urls.ExternalDownload, a.urls.ExternalStore)
}

var stageOrder = []store.Stage{
	store.StageDiscovered, store.StageCheckedIn, store.StageOffered, store.StageDownloading,
	store.StageWaiting, store.StageOnInterim, store.StageDone, store.StageStalled, store.StageFailed,
}

func writeStageCounts(w http.ResponseWriter, devices []store.Device) {
	counts := map[store.Stage]int{}
	for _, d := range devices {
		counts[d.Stage]++
	}
	var parts []string
	for _, s := range stageOrder {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
		}
	}
	fmt.Fprintf(w, "STAGES  %s\n", strings.Join(parts, " · "))
}

// writeDevices prints the phone table that `tanjay devices` prints too.
func writeDevices(w interface{ Write([]byte) (int, error) }, devices []store.Device, now time.Time) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tMODEL\tIP\tSTARTED\tRUNS\tNEXT\tTARGET\tSTAGE\tDOWNLOAD\tLAST SEEN")
	for _, d := range devices {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s ago\n",
			d.ID, model(d.DevicePath), dash(d.IP), reported(d, d.FirstVersion), reported(d, d.Version), ver(d.Offered), ver(d.Target),
			stageText(d), downloadProgress(d), now.Sub(d.LastSeen).Round(time.Second))
	}
	tw.Flush()
}

// writeRules prints rules the way `tanjay rules` names them.
func writeRules(w interface{ Write([]byte) (int, error) }, rules []images.Rule) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RULE\tAPPROVED\tPENDING\tRESTORE")
	for _, r := range rules {
		restore := ver(r.Restore)
		if r.Restored {
			restore += " (restored)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Key, ver(r.Approved), ver(r.Pending), restore)
	}
	tw.Flush()
}

func model(p images.DevicePath) string {
	if p.Model == "" {
		return "-"
	}
	return p.Vendor + " " + p.Model + " " + p.Locale
}

func stageText(d store.Device) string {
	if d.StageReason != "" && (d.Stage == store.StageStalled || d.Stage == store.StageFailed) {
		return string(d.Stage) + ": " + d.StageReason
	}
	if d.Stage == store.StageOffered && len(d.Path) > 1 {
		return fmt.Sprintf("%s (hop 1 of %d)", d.Stage, len(d.Path))
	}
	return string(d.Stage)
}

func downloadProgress(d store.Device) string {
	if d.DownloadTotal <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d%% of %.1f MiB", d.DownloadBytes*100/d.DownloadTotal, float64(d.DownloadTotal)/(1<<20))
}

func ver(v images.Version) string {
	if v.IsZero() {
		return "-"
	}
	return v.String()
}

// reported shows a version a phone reported: 0.0.0.0 is meaningful there
// (a beta phone that cannot name its image), "-" only before any check-in.
func reported(d store.Device, v images.Version) string {
	if d.CheckIns == 0 {
		return "-"
	}
	return v.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
