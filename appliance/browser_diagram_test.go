package appliance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/internal/browsertest"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// diagramBox is one box of an upgrade-path diagram as the browser shows
// it: its version (or "below …" for the first box) and its kind (the
// node-<kind> class: beta, interim, target, restored, pending, restore,
// other).
type diagramBox struct {
	Title string `json:"title"`
	Kind  string `json:"kind"`
}

func (b diagramBox) String() string { return b.Title + " (" + b.Kind + ")" }

// shownDiagram is one model's diagram on the Firmware page: the top row
// (the path, left to right), the boxes below it, and how many arrows are
// dashed (to the Pending version only test devices are offered).
type shownDiagram struct {
	Model  string       `json:"model"`
	Main   []diagramBox `json:"main"`
	Side   []diagramBox `json:"side"`
	Dashed int          `json:"dashed"`
}

func (d shownDiagram) mainString() string { return joinBoxes(d.Main, " → ") }
func (d shownDiagram) sideString() string { return joinBoxes(d.Side, ", ") }

func joinBoxes(bs []diagramBox, sep string) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, sep)
}

// readDiagrams reads every diagram on the page in one evaluation (the
// live feed may redraw them): the top row is the boxes at the smallest y,
// as the page's legend says, each row ordered left to right.
const readDiagrams = `Array.from(document.querySelectorAll('figure.diagram')).map(f => {
	const boxes = Array.from(f.querySelectorAll('g.node')).map(g => {
		const r = g.querySelector('rect');
		const kind = Array.from(g.classList).find(c => c.startsWith('node-')) || 'node-?';
		return {title: g.querySelector('text.v').textContent, kind: kind.slice(5),
			x: +r.getAttribute('x'), y: +r.getAttribute('y')};
	});
	const top = Math.min(...boxes.map(b => b.y));
	const row = bs => bs.sort((a, b) => a.x - b.x).map(b => ({title: b.title, kind: b.kind}));
	return {model: f.querySelector('figcaption').firstChild.textContent.trim(),
		main: row(boxes.filter(b => b.y === top)), side: row(boxes.filter(b => b.y !== top)),
		dashed: f.querySelectorAll('line.edge.test').length};
})`

// diagramOf opens the Firmware page and returns model's diagram. A model
// has a diagram once the dashboard's fleet index, which follows the
// store's change feed, has a phone of it, a moment after its first
// check-in; the admin stream does not redraw the page for check-ins, so
// the page is loaded again until the diagram is there.
func (ba *browserApp) diagramOf(model string) shownDiagram {
	ba.t.Helper()
	deadline := time.Now().Add(browsertest.StepTimeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ba.open("/firmware", "#rules")
		for _, d := range browsertest.Eval[[]shownDiagram](ba.b, readDiagrams) {
			if d.Model == model {
				return d
			}
		}
		if time.Now().After(deadline) {
			ba.t.Fatalf("the Firmware page has no diagram for %s after %v", model, browsertest.StepTimeout)
		}
		<-tick.C
	}
}

// nonTestPath is the part of the top row every phone walks: up to the
// approved (or restored) target; empty when nothing is approved.
func (d shownDiagram) nonTestPath() []diagramBox {
	end := slices.IndexFunc(d.Main, func(b diagramBox) bool { return b.Kind == "target" || b.Kind == "restored" })
	if end < 0 {
		return nil
	}
	return d.Main[1 : end+1]
}

// nextAfter is the box after the one titled v in path ("" when v is last
// or absent); v "" is the first box, below every version.
func nextAfter(path []diagramBox, v string) string {
	if v == "" {
		if len(path) > 0 {
			return path[0].Title
		}
		return ""
	}
	for i, b := range path {
		if b.Title == v && i+1 < len(path) {
			return path[i+1].Title
		}
	}
	return ""
}

// diagramModel is a model the diagram test checks: its phones, its rule,
// and a test device of that model.
type diagramModel struct {
	name       string // as the diagram's caption writes it
	id         phone.Identity
	rule       string
	testDevice string // MAC
}

func (m diagramModel) path() images.DevicePath {
	return images.DevicePath{DeviceType: m.id.DeviceType, Vendor: m.id.Vendor, Model: m.id.Model, Revision: m.id.Revision, Locale: m.id.Locale}
}

// checkDiagram checks model's diagram on the Firmware page against want
// (the top row and the boxes below it, as "version (kind)"), against the
// planner's answer for the rules and images the admin API reports, and
// against what the real server offers phones of that model at check-in:
// a new phone below every version gets the top row's first hop, a phone
// at the end of the path gets nothing, and a test device at the approved
// target gets the box its dashed arrow leads to. It returns the diagram.
func (ba *browserApp) checkDiagram(step string, m diagramModel, wantMain, wantSide string) shownDiagram {
	ba.t.Helper()
	d := ba.diagramOf(m.name)
	if got := d.mainString(); got != wantMain {
		ba.t.Errorf("%s: %s's path is drawn\n  %s\nwant\n  %s", step, m.name, got, wantMain)
	}
	if got := d.sideString(); got != wantSide {
		ba.t.Errorf("%s: %s's other versions are drawn\n  %s\nwant\n  %s", step, m.name, got, wantSide)
	}

	// The planner's answer for the store the admin API reports.
	var rules []images.Rule
	var imgs []images.Image
	ba.get("/api/v1/rules", &rules)
	ba.get("/api/v1/images", &imgs)
	cat := legacy.NewCatalog(rules, imgs)
	plan := legacy.PlanNextHop(cat, legacy.Phone{Path: m.path(), UpdateType: images.DefaultUpdateType})
	test := legacy.PlanNextHop(cat, legacy.Phone{Path: m.path(), UpdateType: images.DefaultUpdateType, IsTest: true})
	var drawn []string
	for _, b := range d.nonTestPath() {
		drawn = append(drawn, b.Title)
	}
	if diff := cmp.Diff(versionStrings(plan.Path()), drawn); diff != "" {
		ba.t.Errorf("%s: %s: the path drawn is not the planner's for a phone below every version (-planner +drawn):\n%s", step, m.name, diff)
	}
	pending := slices.IndexFunc(d.Main, func(b diagramBox) bool { return b.Kind == "pending" })
	switch {
	case test.Target != plan.Target && (pending < 0 || d.Main[pending].Title != test.Target.String()):
		ba.t.Errorf("%s: %s: the planner takes test devices to %s, the diagram's pending box is %v", step, m.name, test.Target, d.Main)
	case test.Target == plan.Target && pending >= 0:
		ba.t.Errorf("%s: %s: a pending box %s, yet the planner takes test devices to the approved %s", step, m.name, d.Main[pending], plan.Target)
	case (pending >= 0) != (d.Dashed == 1):
		ba.t.Errorf("%s: %s: %d dashed arrow(s) with the pending box at %d", step, m.name, d.Dashed, pending)
	}
	for _, b := range d.Main[1:] {
		im := slices.IndexFunc(imgs, func(im images.Image) bool { return im.Version.String() == b.Title && im.Interim })
		if (im >= 0) != (b.Kind == "interim") {
			ba.t.Errorf("%s: %s: box %s, but the image's interim flag is %v", step, m.name, b, im >= 0)
		}
	}

	// What the real server offers phones of this model.
	newMAC := ba.newMAC()
	path := d.nonTestPath()
	if got, want := ba.offer(m.id, newMAC, "0.0.0.0"), nextAfter(path, ""); got != want {
		ba.t.Errorf("%s: a new %s below every version is offered %q; the diagram's first hop is %q", step, m.name, got, want)
	}
	if len(path) > 0 {
		end := path[len(path)-1].Title
		if got := ba.offer(m.id, newMAC, end); got != "" {
			ba.t.Errorf("%s: a %s at the end of the drawn path (%s) is offered %s", step, m.name, end, got)
		}
	}
	at := ""
	if len(path) > 0 {
		at = path[len(path)-1].Title
	}
	reported := at
	if reported == "" {
		reported = "0.0.0.0"
	}
	if got, want := ba.offer(m.id, m.testDevice, reported), nextAfter(d.Main[1:], at); got != want {
		ba.t.Errorf("%s: the %s test device on %s is offered %q; the diagram's next box for it is %q", step, m.name, reported, got, want)
	}
	return d
}

func versionStrings(vs []images.Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}

// walk runs a simulated phone of id's model from below every version
// through the whole chain (downloads included) and returns the versions
// it installed.
func (ba *browserApp) walk(id phone.Identity, mac string) []string {
	ba.t.Helper()
	id.MAC, id.Serial = mac, "SN-"+mac
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := phone.Run(ctx, phone.Config{Server: "http://" + ba.srv.addrs.HTTP, Identity: id})
	if w.Err != nil {
		ba.t.Fatalf("phone %s: %v\n%s", mac, w.Err, w)
	}
	return versionStrings(w.Path[1:])
}

// TestBrowserDiagramFollowsThePlanner: the Firmware page's upgrade-path
// diagram of each model, after imports, approvals clicked in the browser,
// a second import, a rejection, a third import and a Restore, draws the
// path the planner gives (checked against the planner on the admin API's
// rules and images) and the one the real server offers simulated phones
// of that model.
func TestBrowserDiagramFollowsThePlanner(t *testing.T) {
	ba := startBrowserApp(t)
	const interimRule = "OCInterim/ENU/CPE"
	cx700 := diagramModel{name: "Polycom CX700", id: cx700Phone, rule: "UCPhone/Polycom/CX700/A/ENU/CPE", testDevice: "0004F2D1A700"}
	ip8540 := diagramModel{name: "LG-Nortel IP8540", id: ip8540Phone, rule: "UCPhone/LG-Nortel/IP8540/A/ENU/CPE", testDevice: "0004F2D18540"}
	fw := t.TempDir()
	imp := func(devicePath, version string, seed byte, extra ...string) {
		t.Helper()
		args := append([]string{"import", "--device-path", devicePath, "--version", version}, extra...)
		ba.srv.tanjay(t, append(args, writeFile(t, fw, fmt.Sprintf("%d/CPE.nbt", seed), randomBytes(40<<10, seed)))...)
	}
	imp("OCInterim/ENU", "1.0.522.103", 1, "--interim")
	imp("UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", 2)
	imp("UCPhone/LG-Nortel/IP8540/A/ENU", "3.5.6907.37", 3)
	// The diagrams are of the models phones reported: each test device
	// checks in once, and is made a test device.
	for _, m := range []diagramModel{cx700, ip8540} {
		ba.offer(m.id, m.testDevice, "1.0.199.0")
		ba.srv.tanjay(t, "testdevice", "add", m.testDevice)
	}

	// Nothing approved: the row is the test devices' path, to Pending.
	ba.checkDiagram("imported", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.0 (pending)", "")
	ba.checkDiagram("imported", ip8540, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.37 (pending)", "")
	ba.shot("diagram-imported.png")

	// Approve the three rules, each through its confirmation.
	for _, rule := range []string{interimRule, cx700.rule, ip8540.rule} {
		if flash := ba.ruleAction("approve", rule, true); !strings.HasPrefix(flash, "approve "+rule+": approved") {
			t.Fatalf("approve %s: the page says %q", rule, flash)
		}
	}
	ba.checkDiagram("approved", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.0 (target)", "")
	ba.checkDiagram("approved", ip8540, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.37 (target)", "")
	// A phone of each model walks the drawn path to its end.
	if got := ba.walk(cx700.id, "0004F2E0A701"); !slices.Equal(got, []string{"1.0.522.103", "3.5.6907.0"}) {
		t.Errorf("a CX700 walked %v", got)
	}
	if got := ba.walk(ip8540.id, "0004F2E08541"); !slices.Equal(got, []string{"1.0.522.103", "3.5.6907.37"}) {
		t.Errorf("an IP8540 walked %v", got)
	}
	ba.shot("diagram-approved.png")

	// A second import: Pending, for test devices only (a dashed arrow).
	imp("UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4066", 4)
	ba.checkDiagram("second import", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.0 (target) → 4.0.7577.4066 (pending)", "")
	ba.checkDiagram("second import", ip8540, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.37 (target)", "")
	ba.shot("diagram-second-import.png")

	// Reject it: off the path, not offered.
	if flash := ba.ruleAction("reject", cx700.rule, true); !strings.HasPrefix(flash, "reject "+cx700.rule+": approved 3.5.6907.0, pending –") {
		t.Fatalf("reject: the page says %q", flash)
	}
	ba.checkDiagram("rejected", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.0 (target)", "4.0.7577.4066 (other)")
	ba.shot("diagram-rejected.png")

	// A third build, approved: the old target is what a Restore puts back.
	imp("UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4100", 5)
	ba.ruleAction("approve", cx700.rule, true)
	ba.checkDiagram("approved again", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 4.0.7577.4100 (target)",
		"3.5.6907.0 (restore), 4.0.7577.4066 (other)")
	if got := ba.walk(cx700.id, "0004F2E0A702"); !slices.Equal(got, []string{"1.0.522.103", "4.0.7577.4100"}) {
		t.Errorf("a CX700 walked %v", got)
	}

	// Restore: the old target is back, marked restored; a phone on the
	// build restored away is offered it (the one downgrade there is).
	if flash := ba.ruleAction("restore", cx700.rule, true); !strings.HasPrefix(flash, "restore "+cx700.rule+": approved 3.5.6907.0") {
		t.Fatalf("restore: the page says %q", flash)
	}
	d := ba.checkDiagram("restored", cx700, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.0 (restored)",
		"4.0.7577.4066 (other), 4.0.7577.4100 (other)")
	if got, want := ba.offer(cx700.id, "0004F2E0A702", "4.0.7577.4100"), d.Main[len(d.Main)-1].Title; got != want {
		t.Errorf("after the Restore the CX700 on 4.0.7577.4100 is offered %q, the diagram's restored target is %s", got, want)
	}
	ba.checkDiagram("restored", ip8540, "below 1.0.522.103 (beta) → 1.0.522.103 (interim) → 3.5.6907.37 (target)", "")
	ba.shot("diagram-restored.png")
}
