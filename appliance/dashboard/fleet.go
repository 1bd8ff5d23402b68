package dashboard

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

var stageLabels = map[store.Stage]string{
	store.StageDiscovered:  "discovered",
	store.StageSignedIn:    "signed in",
	store.StageCheckedIn:   "checked in",
	store.StageOffered:     "offered",
	store.StageDownloading: "downloading",
	store.StageWaiting:     "waiting to install",
	store.StageOnInterim:   "on interim",
	store.StageDone:        "done",
	store.StageStalled:     "stalled",
	store.StageFailed:      "failed",
}

// Peer-stall thresholds: a phone is flagged when it has been in its stage
// more than slowFactor times the median of the phones in the same stage,
// and at least slowMin.
const (
	slowFactor = 3
	slowMin    = 10 * time.Minute
)

// peerStallStages are the stages a phone should pass through on its own;
// checked-in (no rule) waits for the operator, done/stalled/failed are ends.
var peerStallStages = map[store.Stage]bool{
	store.StageDiscovered: true, store.StageSignedIn: true, store.StageOffered: true, store.StageDownloading: true,
	store.StageWaiting: true, store.StageOnInterim: true,
}

// stageCount is one stage's tile on the fleet page.
type stageCount struct {
	Stage store.Stage
	Label string
	N     int
}

// modelSummary is one row of the per-model table.
type modelSummary struct {
	Model  string
	Total  int
	Done   int
	Pct    int
	Counts []int // per store.Stages
}

// fleetSummary is the top of the fleet and kiosk pages.
type fleetSummary struct {
	Total, Done, Pct int
	Attention        int // stalled, failed, slow or silent
	Stages           []stageCount
	Models           []modelSummary
}

// phoneRow is one phone in the live table. Sort keys are precomputed.
type phoneRow struct {
	ID, MAC, Serial, Model, IP string
	Started, Current, Next     string
	StartedKey, CurrentKey     string
	Stage                      store.Stage
	StageLabel, StageKey       string
	Hop                        string // "hop 1 of 2"
	Reason                     string // why stalled or failed, or why flagged
	Flag                       string // "slow", "no check-in": a badge beside the stage
	IsTest                     bool
	Pct                        int
	Download                   string // "3.1 of 12.0 MiB"
	LastSeen                   string
	LastSeenUnix               int64
}

// silentAfter is how long a phone may stay discovered (it leased an
// address or asked DNS but never checked in) or signed in (over SIP, and
// never checked in) before the fleet page says what that suggests. A phone
// that found the update service, or was handed its URLs, checks in within
// a minute or so; a lone phone has no peers to be slower than, so the peer
// test alone would never flag it.
const silentAfter = 5 * time.Minute

// silentReason says, for a phone discovered or signed in more than
// silentAfter ago that never checked in, what it did and what that
// suggests (PROTOCOL.md §1), or "".
func silentReason(d *store.Device, now time.Time) string {
	age := now.Sub(d.StageSince)
	if age <= silentAfter {
		return ""
	}
	switch d.Stage {
	case store.StageDiscovered:
		return discoveredReason(d, age)
	case store.StageSignedIn:
		return signedInReason(d, age)
	}
	return ""
}

// discoveredReason: what a phone that never checked in asked DNS, if anything.
func discoveredReason(d *store.Device, age time.Duration) string {
	if d.DNSName == "" {
		return fmt.Sprintf("seen %s ago, no DNS query, no check-in: beta builds (1.0.199.x) look up "+
			"no update server; a phone with a hand-set DNS server asks that one", roundDur(age))
	}
	return fmt.Sprintf("asked DNS for %s %s ago, never checked in; the access log shows what it reached",
		d.DNSName, roundDur(age))
}

// signedInReason: who a phone that signed in over SIP but never checked
// in signed in as, and the update URLs its provisioning handed it, if any.
func signedInReason(d *store.Device, age time.Duration) string {
	as := ""
	if d.SIPUser != "" {
		as = " as " + d.SIPUser
	}
	if d.Handed == "" {
		return fmt.Sprintf("signed in %s ago%s but was never handed the update URLs (no provisioning "+
			"subscription answered), and has not checked in", roundDur(age), as)
	}
	return fmt.Sprintf("signed in %s ago%s and was handed %s, but has not checked in",
		roundDur(age), as, d.Handed)
}

// slowReason says why d is flagged as slower than its peers, or "".
func slowReason(d *store.Device, med map[store.Stage]time.Duration, now time.Time) string {
	m, ok := med[d.Stage]
	if !ok {
		return ""
	}
	age := now.Sub(d.StageSince)
	if age <= slowMin || age <= slowFactor*m {
		return ""
	}
	return fmt.Sprintf("%s for %s, %d× the median of phones in this stage (%s)",
		stageLabels[d.Stage], roundDur(age), int(age/max(m, time.Second)), roundDur(m))
}

// dynamicReason says why a phone that is not stalled or failed needs
// attention as time passes: silent (discovered or signed in, never checked
// in) or slower than its peers, with the badge to show; or "", "".
func dynamicReason(d *store.Device, med map[store.Stage]time.Duration, now time.Time) (why, flag string) {
	if why := silentReason(d, now); why != "" {
		return why, "no check-in"
	}
	if why := slowReason(d, med, now); why != "" {
		return why, "slow"
	}
	return "", ""
}

// makeRow is one phone's row; med is the fleet index's medians.
func makeRow(d *store.Device, med map[store.Stage]time.Duration, now time.Time) phoneRow {
	r := phoneRow{
		ID: d.ID, MAC: d.MAC, Serial: d.Serial, Model: modelName(d.DevicePath), IP: d.IP,
		Started: reported(d, d.FirstVersion), Current: reported(d, d.Version), Next: ver(d.Offered),
		StartedKey: versionKey(d.FirstVersion), CurrentKey: versionKey(d.Version),
		Stage: d.Stage, StageLabel: stageLabels[d.Stage], StageKey: stageKeys[stageIndex(d.Stage)],
		IsTest: d.IsTest, LastSeen: ago(now, d.LastSeen), LastSeenUnix: d.LastSeen.Unix(),
	}
	if r.StageLabel == "" {
		r.StageLabel = string(d.Stage)
	}
	if !d.Offered.IsZero() && len(d.Path) > 1 {
		r.Hop = fmt.Sprintf("hop 1 of %d", len(d.Path))
	}
	switch d.Stage {
	case store.StageStalled, store.StageFailed:
		r.Reason = d.StageReason
	default:
		r.Reason, r.Flag = dynamicReason(d, med, now)
	}
	if d.DownloadTotal > 0 {
		r.Pct = int(min(100, d.DownloadBytes*100/d.DownloadTotal))
		r.Download = mib(d.DownloadBytes) + " of " + mib(d.DownloadTotal)
	}
	return r
}

// stageKeys sort the stage column in the order of store.Stages.
var stageKeys = func() []string {
	keys := make([]string, len(store.Stages))
	for i := range keys {
		keys[i] = fmt.Sprintf("%02d", i)
	}
	return keys
}()

func stageIndex(s store.Stage) int {
	if i := slices.Index(store.Stages, s); i >= 0 {
		return i
	}
	return 0
}

func pct(n, total int) int {
	if total == 0 {
		return 0
	}
	return n * 100 / total
}

func modelName(p images.DevicePath) string {
	if p.Model == "" {
		return "unknown model"
	}
	return p.Vendor + " " + p.Model
}

func ver(v images.Version) string {
	if v.IsZero() {
		return "–"
	}
	return v.String()
}

// reported shows a version a phone reported: 0.0.0.0 is meaningful there
// (a beta phone that cannot name its image), "–" only before any check-in.
func reported(d *store.Device, v images.Version) string {
	if d.CheckIns == 0 {
		return "–"
	}
	return v.String()
}

// versionKey sorts versions numerically as strings: each part zero-padded
// to 10 digits (uint32).
func versionKey(v images.Version) string {
	var b [4 * 11]byte
	out := b[:0]
	for i, p := range v {
		if i > 0 {
			out = append(out, '.')
		}
		var digits [10]byte
		n := strconv.AppendUint(digits[:0], uint64(p), 10)
		for range 10 - len(n) {
			out = append(out, '0')
		}
		out = append(out, n...)
	}
	return string(out)
}

func mib(n int64) string {
	var b [24]byte
	return string(append(strconv.AppendFloat(b[:0], float64(n)/(1<<20), 'f', 1, 64), " MiB"...))
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roundDur(now.Sub(t)) + " ago"
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
