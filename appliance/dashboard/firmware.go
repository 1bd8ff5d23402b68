package dashboard

import (
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
)

// ruleActions are the transitions the Firmware page offers.
var ruleActions = map[string]string{"approve": "Approve", "reject": "Reject", "restore": "Restore"}

// firmwareData is the firmware page.
type firmwareData struct {
	page
	Rules    []ruleRow
	Diagrams []pathDiagram
}

type ruleRow struct {
	Key                        string
	Approved, Pending, Restore string
	Restored                   bool
	CanApprove, CanReject      bool
	CanRestore                 bool
	Phones, TestPhones         int // phones on the rule's path, and test devices among them
	Images                     []imageVersion
}

// imageVersion is one imported version of a rule; CanPend: it is neither
// Approved nor Pending, so it can be made Pending again (after a Restore,
// the way back).
type imageVersion struct {
	Version string
	CanPend bool
}

func (d *Dashboard) firmwarePage(w http.ResponseWriter, r *http.Request, s session) {
	p := newPage(r, s, "Firmware", "firmware")
	p.Stream = "topic=" + topicAdmin
	// The counts come from the fleet index, one entry per device path and
	// version: the page never copies the fleet out of the store.
	stats := d.fleet.pathStats(testIDs(d.st.TestDevices(nil)))
	imgs := d.st.Images(nil)
	data := firmwareData{page: p}
	for _, rule := range d.st.Rules(nil) {
		row := ruleRow{Key: rule.Key.String(), Approved: ver(rule.Approved), Pending: ver(rule.Pending), Restore: ver(rule.Restore),
			Restored: rule.Restored, CanApprove: !rule.Pending.IsZero(), CanReject: !rule.Pending.IsZero(), CanRestore: !rule.Restore.IsZero()}
		for i := range stats {
			if ruleMatches(rule.Key, stats[i].path) {
				row.Phones += stats[i].phones
				row.TestPhones += stats[i].tests
			}
		}
		for _, im := range imgs {
			if im.Key.ID() == rule.Key.ID() {
				row.Images = append(row.Images, imageVersion{Version: im.Version.String(),
					CanPend: im.Version != rule.Approved && im.Version != rule.Pending})
			}
		}
		data.Rules = append(data.Rules, row)
	}
	// The diagrams ask the planner itself, over a catalog built as the
	// appliance builds the one that answers check-ins.
	data.Diagrams = pathDiagrams(stats, legacy.NewCatalog(d.st.Rules(nil), imgs))
	d.render(w, "firmware", data)
}

// ruleMatches reports whether a phone at p is served by the rule: the same
// device path, or for OCInterim/<Locale> every model of that locale.
func ruleMatches(k images.RuleKey, p images.DevicePath) bool {
	if p.Model == "" {
		return false
	}
	if k.IsInterim() {
		return strings.EqualFold(k.Locale, p.Locale)
	}
	return strings.EqualFold(k.DevicePath.String(), p.String())
}

func testIDs(tds []store.TestDevice) map[string]bool {
	m := make(map[string]bool, len(tds))
	for _, td := range tds {
		m[strings.ToUpper(td.ID)] = true
	}
	return m
}

func isTest(d *store.Device, tests map[string]bool) bool {
	return d.IsTest || (d.MAC != "" && tests[strings.ToUpper(d.MAC)]) || (d.Serial != "" && tests[strings.ToUpper(d.Serial)])
}

// confirmData is the confirmation of a rule action: which phones it reaches.
type confirmData struct {
	page
	Action, Label, Rule string
	What                string
	Phones              []phoneRow
	More                int
}

const confirmListMax = 200

func (d *Dashboard) confirmPage(w http.ResponseWriter, r *http.Request, s session) {
	action := r.URL.Query().Get("action")
	key, err := images.ParseRuleKey(r.URL.Query().Get("rule"))
	if ruleActions[action] == "" || err != nil {
		http.Error(w, "want ?action=approve|reject|restore&rule=<rule>", http.StatusBadRequest)
		return
	}
	rule, ok := findRule(d.st.Rules(nil), key)
	if !ok {
		http.Error(w, "no rule "+key.String(), http.StatusNotFound)
		return
	}
	data := confirmData{page: newPage(r, s, "Confirm "+action, "firmware"), Action: action, Label: ruleActions[action], Rule: rule.Key.String()}
	who := reach(action, rule, allDevices(d.st), testIDs(d.st.TestDevices(nil)), confirmListMax)
	data.What, data.More = who.what, who.n-len(who.first)
	now := d.cfg.Now()
	for i := range who.first {
		data.Phones = append(data.Phones, makeRow(&who.first[i], nil, now))
	}
	d.render(w, "confirm", data)
}

func findRule(rules []images.Rule, key images.RuleKey) (images.Rule, bool) {
	i := slices.IndexFunc(rules, func(r images.Rule) bool { return r.Key.ID() == key.ID() })
	if i < 0 {
		return images.Rule{}, false
	}
	return rules[i], true
}

// reached is who an action reaches: how many phones, the first of them in
// ID order (copies), and a sentence that says what the action does to them.
type reached struct {
	n     int
	first []store.Device
	what  string
}

// reach is who an action on rule changes something for: Approve reaches
// every phone on the path that is not a test device (those had Pending
// already); Reject only the test devices (they go back to Approved);
// Restore every phone on the path. It walks devs once and copies at most
// keep phones, however many it reaches.
func reach(action string, rule images.Rule, devs iter.Seq[*store.Device], tests map[string]bool, keep int) reached {
	var r reached
	down := 0
	for d := range devs {
		if !ruleMatches(rule.Key, d.DevicePath) {
			continue
		}
		test := isTest(d, tests)
		if (action == "approve" && test) || (action == "reject" && !test) {
			continue
		}
		r.n++
		if len(r.first) < keep {
			r.first = append(r.first, *d)
		}
		if d.CheckIns > 0 && rule.Restore.Less(d.Version) {
			down++
		}
	}
	switch action {
	case "approve":
		r.what = fmt.Sprintf("%d phone(s) that are not test devices will be offered %s at their next check-in — those on firmware too old to take it directly get the interim first.", r.n, rule.Pending)
	case "reject":
		r.what = fmt.Sprintf("%d test device(s) will no longer be offered %s and go back to %s.", r.n, rule.Pending, ver(rule.Approved))
	default:
		r.what = fmt.Sprintf("%s becomes the approved version again for %d phone(s) on the path: %d of them run a higher version and will be downgraded to %s at their next check-in. To undo it later, make %s Pending again from the Images column and approve it.",
			rule.Restore, r.n, down, rule.Restore, ver(rule.Approved))
	}
	return r
}

func (d *Dashboard) ruleAction(w http.ResponseWriter, r *http.Request, _ session) {
	action := r.PathValue("action")
	if ruleActions[action] == "" && action != "pending" {
		http.Error(w, "unknown action "+action, http.StatusNotFound)
		return
	}
	key, err := images.ParseRuleKey(r.PostFormValue("rule"))
	if err != nil {
		flashRedirect(w, r, "/firmware", "", err)
		return
	}
	if action == "pending" {
		v, err := images.ParseVersion(r.PostFormValue("version"))
		if err == nil {
			var rule images.Rule
			if rule, err = d.act.MakePending(actor(r), key, v); err == nil {
				flashRedirect(w, r, "/firmware", fmt.Sprintf("%s: %s is Pending again — test devices take it now; Approve gives it to every phone", rule.Key, rule.Pending), nil)
				return
			}
		}
		flashRedirect(w, r, "/firmware", "", err)
		return
	}
	rule, err := d.act.RuleAction(actor(r), action, key)
	if err != nil {
		d.cfg.Logger.Info("dashboard rule action refused", "action", action, "rule", key, "err", err)
		flashRedirect(w, r, "/firmware", "", err)
		return
	}
	flashRedirect(w, r, "/firmware", fmt.Sprintf("%s %s: approved %s, pending %s", action, rule.Key, ver(rule.Approved), ver(rule.Pending)), nil)
}

func (d *Dashboard) uploadAction(w http.ResponseWriter, r *http.Request, _ session) {
	res, err := d.act.Import(actor(r), r)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "import: ") { // the importer's own errors say so already
			err = fmt.Errorf("import: %w", err)
		}
		flashRedirect(w, r, "/firmware", "", err)
		return
	}
	var parts []string
	for _, im := range res.Images {
		parts = append(parts, im.Key.String()+" "+im.Version.String())
	}
	msg := fmt.Sprintf("imported %d image(s): %s", len(res.Images), strings.Join(parts, ", "))
	if len(res.Warnings) > 0 {
		msg += " — warnings: " + strings.Join(res.Warnings, "; ")
	}
	if len(res.Images) == 0 {
		err = errors.New(msg)
	}
	flashRedirect(w, r, "/firmware", msg, err)
}
