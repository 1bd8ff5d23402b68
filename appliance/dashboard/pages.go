package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// phoneData is the phone page.
type phoneData struct {
	page
	Row    phoneRow
	Dev    store.Device
	Model  string // "Polycom CX700"
	Steps  []pathStep
	Events []eventRow
}

// pathStep is one version on a phone's path.
type pathStep struct {
	Version string
	Label   string // beta, interim, target
	State   string // done, current, next, planned
	At      string // when the phone was first seen running it
	// Back marks a hop to a lower version than the one before it: the
	// phone was reset to older firmware, or downgraded after a Restore.
	Back bool
}

type eventRow struct {
	Time, Kind, Summary string
}

func (d *Dashboard) phonePage(w http.ResponseWriter, r *http.Request, s session) {
	dev, ok := d.st.Device(r.PathValue("id"))
	if !ok {
		http.Error(w, "no phone "+r.PathValue("id"), http.StatusNotFound)
		return
	}
	now := d.cfg.Now()
	p := newPage(r, s, "Phone "+dev.ID, "fleet")
	p.Stream = "device=" + url.QueryEscape(dev.ID)
	data := phoneData{page: p, Dev: dev, Model: modelName(dev.DevicePath), Row: makeRow(&dev, d.fleet.medians(now), now),
		Steps: planSteps(dev, interimVersions(d.st.Images(nil)))}
	data.Events = timelineRows(d.st.Events(nil, dev.ID))
	d.render(w, "phone", data)
}

// timelineRows are the timeline newest first, each run of downloads of one
// file with nothing else between them (the ranges of one hop) as one row.
func timelineRows(evs []store.Event) []eventRow {
	var rows []eventRow
	for i := len(evs) - 1; i >= 0; {
		e := evs[i]
		j := i // evs[j..i] is the run
		for e.Kind == store.EventDownload && j > 0 && evs[j-1].Kind == store.EventDownload && evs[j-1].File == e.File {
			j--
		}
		row := eventRow{Time: e.Time.Local().Format("2006-01-02 15:04:05"), Kind: string(e.Kind), Summary: eventSummary(e)}
		if j < i {
			row.Summary = downloadRunSummary(evs[j : i+1])
		}
		rows = append(rows, row)
		i = j - 1
	}
	return rows
}

// downloadRunSummary is one line for the ranges of one file fetched in a
// row: how many, how far they reached, whether it completed.
func downloadRunSummary(run []store.Event) string {
	var reach, total int64
	complete := false
	for _, e := range run {
		reach = max(reach, e.Offset+e.Bytes)
		total = max(total, e.Total)
		complete = complete || e.Complete
	}
	s := fmt.Sprintf("fetched %s in %d ranges since %s, up to byte %d of %d", run[0].File, len(run), run[0].Time.Local().Format("15:04:05"), reach, total)
	if complete {
		s += ", complete"
	}
	return s
}

func interimVersions(imgs []images.Image) map[images.Version]bool {
	m := map[images.Version]bool{}
	for _, im := range imgs {
		if im.Interim {
			m[im.Version] = true
		}
	}
	return m
}

// interimThreshold is the interim build beta phones must take first.
var interimThreshold = images.Version{1, 0, 522, 0}

func versionLabel(v images.Version, target images.Version, interim map[images.Version]bool) string {
	switch {
	case v.IsZero():
		return "beta (unknown)"
	case interim[v] || (v[0] == 1 && v[1] == 0 && v[2] == 522):
		return "interim"
	case !target.IsZero() && v == target:
		return "target"
	case v.Less(interimThreshold):
		return "beta"
	}
	return "release"
}

// planSteps is the path beta → interim → target: the versions the phone
// ran (Hops), then the ones still to go (Path, ending at Target).
func planSteps(d store.Device, interim map[images.Version]bool) []pathStep {
	var steps []pathStep
	seen := map[images.Version]bool{}
	for i, h := range d.Hops {
		st := "done"
		if i == len(d.Hops)-1 {
			st = "current"
		}
		steps = append(steps, pathStep{Version: h.Version.String(), Label: versionLabel(h.Version, d.Target, interim), State: st, At: h.At.Local().Format("2006-01-02 15:04"),
			Back: i > 0 && h.Version.Less(d.Hops[i-1].Version)})
		seen[h.Version] = true
	}
	rest := slices.Clone(d.Path)
	if !d.Target.IsZero() && !slices.Contains(rest, d.Target) {
		rest = append(rest, d.Target)
	}
	for _, v := range rest {
		if seen[v] || v.IsZero() {
			continue
		}
		seen[v] = true
		st := "planned"
		if v == d.Offered {
			st = "next"
		}
		steps = append(steps, pathStep{Version: v.String(), Label: versionLabel(v, d.Target, interim), State: st})
	}
	if n := len(steps); n > 0 && steps[n-1].State == "current" && d.Stage == store.StageDone {
		steps[n-1].State = "done current"
	}
	return steps
}

// eventSummary is one line on the timeline.
func eventSummary(e store.Event) string {
	var b strings.Builder
	switch e.Kind {
	case store.EventCheckIn:
		fmt.Fprintf(&b, "reported %s", e.Reported)
		if e.DevicePath.Model != "" {
			fmt.Fprintf(&b, " as %s", e.DevicePath)
		}
		if e.Offered.IsZero() {
			b.WriteString("; nothing offered")
		} else {
			fmt.Fprintf(&b, "; offered %s", e.Offered)
			if e.File != "" {
				fmt.Fprintf(&b, " (%s)", e.File)
			}
		}
		if !e.Target.IsZero() {
			fmt.Fprintf(&b, "; target %s", e.Target)
		}
		if e.IsTest {
			b.WriteString("; test device")
		}
	case store.EventDownload:
		verb := "fetched"
		if e.Offset > 0 {
			verb = "resumed"
		}
		fmt.Fprintf(&b, "%s %s bytes %d–%d of %d", verb, e.File, e.Offset, e.Offset+e.Bytes, e.Total)
		if e.Complete {
			b.WriteString(", complete")
		}
	case store.EventUpload:
		if strings.HasPrefix(e.Detail, store.UploadRefused) {
			fmt.Fprintf(&b, "upload of %s %s", e.File, e.Detail)
			return b.String()
		}
		fmt.Fprintf(&b, "uploaded %s (%d bytes)", e.File, e.Bytes)
	case store.EventDNS:
		fmt.Fprintf(&b, "asked %s", e.Detail)
	case store.EventDHCP:
		fmt.Fprintf(&b, "lease %s", e.IP)
	case store.EventSIP:
		return sipSummary(e)
	case store.EventDirectory:
		return directorySummary(e)
	}
	if e.Detail != "" && e.Kind != store.EventDNS {
		fmt.Fprintf(&b, " — %s", e.Detail)
	}
	return b.String()
}

// sipSteps say what each step of a SIP sign-in means, for the timeline.
var sipSteps = map[string]string{
	store.SIPAttempt:         "challenged, sign-in started",
	store.SIPSignedIn:        "signed in",
	store.SIPAuthFailed:      "wrong password",
	store.SIPProvisioned:     "provisioned",
	store.SIPSubscribed:      "subscription answered",
	store.SIPUnregistered:    "signed out",
	store.SIPSignatureFailed: "message signature did not verify",
}

// sipSummary is a SIP sign-in step on the timeline: "SIP sign-in as
// LAB\tech: signed in (NTLMv2, protocol version 3)", "…: provisioned:
// <the URLs handed>". A refused password's Detail says it all ("wrong
// password for LAB\tech (2 of 3)").
func sipSummary(e store.Event) string {
	var b strings.Builder
	b.WriteString("SIP sign-in")
	if e.User != "" {
		fmt.Fprintf(&b, " as %s", e.User)
	}
	b.WriteString(": ")
	step := sipSteps[e.SIPStep]
	if step == "" {
		step = e.SIPStep
	}
	switch {
	case e.SIPStep == store.SIPAuthFailed && e.Detail != "":
		b.WriteString(e.Detail)
		return b.String()
	case e.SIPStep == store.SIPProvisioned && e.Handed != "":
		fmt.Fprintf(&b, "%s: %s", step, e.Handed)
	default:
		b.WriteString(step)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	return b.String()
}

// directorySteps phrase each step at the lab's domain controller: what
// was asked ("%s" is the user), and the verbs for granted and refused.
var directorySteps = map[string]struct{ what, anonymous, ok, refused string }{
	store.DirectoryPing:       {"DC locator ping for %s", "DC locator ping", "answered", "unanswered"},
	store.DirectoryKerberos:   {"Kerberos ticket for %s", "Kerberos ticket", "granted", "refused"},
	store.DirectoryLDAPBind:   {"LDAP bind as %s", "LDAP anonymous bind", "succeeded", "failed"},
	store.DirectoryLDAPSearch: {"LDAP search as %s", "LDAP search", "answered", "failed"},
	store.DirectoryNTLM:       {"NTLM sign-in as %s", "NTLM anonymous sign-in", "succeeded", "failed"},
	store.DirectoryTicket:     {"Kerberos ticket of %s", "Kerberos ticket", "accepted", "refused"},
	store.DirectorySamba:      {"Samba %s", "Samba", "answering again", "stopped"},
}

// directorySummary is a step at the lab's domain controller on the
// timeline: "domain controller: Kerberos ticket for tech@LAB.LOCAL granted
// (ENC-TS Pre-authentication, …)", "domain controller: LDAP bind as
// tech@lab.local failed: wrong password (simple bind, Plaintext)".
func directorySummary(e store.Event) string {
	step, ok := directorySteps[e.DirectoryStep]
	if !ok {
		step.what, step.anonymous, step.ok, step.refused = e.DirectoryStep+" as %s", e.DirectoryStep, "succeeded", "failed"
	}
	var b strings.Builder
	b.WriteString("domain controller: ")
	if e.User != "" {
		fmt.Fprintf(&b, step.what, e.User)
	} else {
		b.WriteString(step.anonymous)
	}
	if e.DirectoryError == "" {
		fmt.Fprintf(&b, " %s", step.ok)
	} else {
		fmt.Fprintf(&b, " %s: %s", step.refused, e.DirectoryError)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	return b.String()
}

// testDevicesData is the test devices page.
type testDevicesData struct {
	page
	Devices []testDeviceRow
}

type testDeviceRow struct {
	ID, Kind, Added string
	PhoneID         string // the known phone it names, if any
}

func (d *Dashboard) testDevicesPage(w http.ResponseWriter, r *http.Request, s session) {
	p := newPage(r, s, "Test devices", "testdevices")
	p.Stream = "topic=" + topicAdmin
	tds := d.st.TestDevices(nil)
	byKey := d.phonesNamed(tds)
	data := testDevicesData{page: p}
	for _, td := range tds {
		data.Devices = append(data.Devices, testDeviceRow{ID: td.ID, Kind: td.Kind, Added: td.Added.Local().Format("2006-01-02 15:04"), PhoneID: byKey[td.ID]})
	}
	d.render(w, "testdevices", data)
}

func (d *Dashboard) addTestDevice(w http.ResponseWriter, r *http.Request, _ session) {
	td, warning, err := d.act.AddTestDevice(actor(r), strings.TrimSpace(r.PostFormValue("id")))
	msg := "added test device " + td.ID
	if warning != "" {
		msg += " — " + warning
	}
	flashRedirect(w, r, "/testdevices", msg, err)
}

func (d *Dashboard) removeTestDevice(w http.ResponseWriter, r *http.Request, _ session) {
	td, err := d.act.RemoveTestDevice(actor(r), strings.TrimSpace(r.PostFormValue("id")))
	flashRedirect(w, r, "/testdevices", "removed test device "+td.ID, err)
}

// settingsData is the settings and health page.
type settingsData struct {
	page
	Health
	DataUsage string
	Public    bool
	// SIPPasswordHidden: there is a lab sign-in password, but the viewer
	// is not logged in. Health.SIPPassword is then blanked before the
	// template sees it.
	SIPPasswordHidden bool
}

func (d *Dashboard) settingsPage(w http.ResponseWriter, r *http.Request, s session) {
	h := d.act.Health()
	data := settingsData{page: newPage(r, s, "Settings & health", "settings"), Health: h,
		DataUsage: mib(h.DataBytes), Public: d.cfg.PublicReadOnly}
	if h.SIPPassword != "" && !s.LoggedIn {
		// Anyone may watch the public read-only views; the password
		// signs phones in to the lab, so only the operator sees it.
		data.SIPPassword, data.SIPPasswordHidden = "", true
	}
	d.render(w, "settings", data)
}
