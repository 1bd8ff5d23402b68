package appliance

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// writeDevices prints the phone table of `tanjay devices`.
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
