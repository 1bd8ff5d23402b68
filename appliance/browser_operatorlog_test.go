package appliance

import (
	"context"
	"os/user"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/internal/browsertest"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
)

// opRow is one row of the Logs page's operator log.
type opRow struct {
	Who    string `json:"who"`
	From   string `json:"from"`
	Action string `json:"action"`
	Target string `json:"target"`
	What   string `json:"what"`
	Failed bool   `json:"failed"`
}

// operatorRows reads the operator log's table on the Logs page.
func (ba *browserApp) operatorRows() []opRow {
	ba.t.Helper()
	return browsertest.Eval[[]opRow](ba.b, `Array.from(document.querySelectorAll('#operator tbody tr')).map(tr => {
		const td = Array.from(tr.cells).map(c => c.textContent.trim());
		return {who: td[1], from: td[2], action: td[3], target: td[4], what: td[5], failed: tr.classList.contains('failed')};
	})`)
}

// rowOf is how the Logs page shows an entry of the admin API's log.
func rowOf(e oplog.Entry) opRow {
	r := opRow{Who: e.Who, From: e.From, Action: e.Action, Target: e.Target, What: e.Change}
	if e.Error != "" {
		r.What, r.Failed = "failed: "+e.Error, true
	}
	return r
}

// filterOperatorLog types text into the Logs page's filter and submits it.
func (ba *browserApp) filterOperatorLog(text string) []opRow {
	ba.t.Helper()
	ba.open("/logs", "#operator")
	ba.b.Navigate("filter "+text, chromedp.SendKeys(chromedp.CSS(`#operator input[name="op"]`), text+"\n"))
	ba.b.Do("filtered", chromedp.WaitVisible(chromedp.CSS("#operator")),
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`))
	if got := browsertest.Eval[string](ba.b, `document.querySelector('#operator input[name="op"]').value`); got != text {
		ba.t.Errorf("the filter box holds %q after filtering by %q", got, text)
	}
	return ba.operatorRows()
}

// TestBrowserOperatorLog: the Logs page shows every operator action —
// from the command line and the admin API (the admin token, naming the
// user or client) and from the dashboard in the browser (the dashboard
// login): imports (a refused one too), approve, Restore, make pending,
// reject and test devices — newest first, row for row what the admin
// API's operator log holds; and its filter narrows it to who or what.
func TestBrowserOperatorLog(t *testing.T) {
	ba := startBrowserApp(t)
	const cx700, rule = "UCPhone/Polycom/CX700/A/ENU", "UCPhone/Polycom/CX700/A/ENU/CPE"
	fw := t.TempDir()

	// The command line and the admin API, with the admin token.
	ba.srv.tanjay(t, "import", "--device-path", cx700, "--version", "3.5.6907.0", writeFile(t, fw, "a/CPE.nbt", randomBytes(40<<10, 1)))
	ba.srv.tanjay(t, "approve", rule)
	ba.offer(cx700Phone, "0004F2000E01", "3.5.6907.0")
	ba.srv.tanjay(t, "testdevice", "add", "0004F2000E01")
	if err := ba.admin.postJSON(context.Background(), "/api/v1/testdevices", map[string]string{"id": "SN-API-1"}, nil); err != nil {
		t.Fatal(err)
	}

	// The dashboard, in the browser.
	if flash := ba.upload("UCPhone/Polycom/CX-750/A/ENU", "4.0.7577.4066", writeBare(t, "CPE.nbt", 2), false); !strings.HasPrefix(flash, "error: ") || !strings.Contains(flash, "nothing imported") {
		t.Errorf("the typo's upload: %q", flash)
	}
	if flash := ba.upload(cx700, "4.0.7577.4066", writeBare(t, "CPE.nbt", 3), false); !strings.HasPrefix(flash, "imported 1 image(s)") {
		t.Errorf("upload: %q", flash)
	}
	ba.ruleAction("approve", rule, true)
	ba.ruleAction("restore", rule, true)
	ba.open("/firmware", "#rules")
	ba.clickLive("make pending", `form[action="/firmware/pending"]:has(input[value="4.0.7577.4066"]) button`)
	ba.flash()
	ba.ruleAction("reject", rule, true)
	ba.open("/testdevices", "#add-test")
	ba.b.Navigate("add a test device", chromedp.SendKeys(chromedp.CSS(`#add-test input[name="id"]`), "SN-DASH-1\n"))
	ba.flash()

	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cli := "admin token (tanjay cli "
	api := "admin token (" + browserAgent + ")"
	dash := "dashboard login"
	want := []struct{ who, action, target, what string }{ // oldest first
		{cli, "import", "CPE.nbt", "imported 3.5.6907.0 as " + rule},
		{cli, "approve", rule, "approved 3.5.6907.0, pending none"},
		{cli, "testdevice-add", "0004F2000E01", "added (mac)"},
		{api, "testdevice-add", "SN-API-1", "added (serial)"},
		{dash, "import", "upload", "failed: import: nothing imported, because it looks like a mistake: no phone has reported UCPhone/Polycom/CX-750/A/ENU"},
		{dash, "import", "CPE.nbt", "imported 4.0.7577.4066 as " + rule},
		{dash, "approve", rule, "approved 4.0.7577.4066, pending none, restore 3.5.6907.0"},
		{dash, "restore", rule, "approved 3.5.6907.0, pending none, restore none"},
		{dash, "pending", rule, "approved 3.5.6907.0, pending 4.0.7577.4066"},
		{dash, "reject", rule, "approved 3.5.6907.0, pending none"},
		{dash, "testdevice-add", "SN-DASH-1", "added (serial)"},
	}

	ba.open("/logs", "#operator")
	rows := ba.operatorRows()
	var fromAPI []opRow
	for _, e := range ba.operatorLog() {
		fromAPI = append(fromAPI, rowOf(e))
	}
	if diff := cmp.Diff(fromAPI, rows); diff != "" {
		t.Errorf("the Logs page does not show the admin API's operator log (-api +page):\n%s", diff)
	}
	if len(rows) != len(want) {
		t.Fatalf("the Logs page shows %d actions, want %d:\n%+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[len(rows)-1-i] // newest first
		if !strings.HasPrefix(r.Who, w.who) || r.Action != w.action || !strings.Contains(r.Target, w.target) || !strings.HasPrefix(r.What, w.what) || r.From != "127.0.0.1" {
			t.Errorf("action %d: the page shows %+v, want who %q, from 127.0.0.1, %s on %q: %q…", i, r, w.who, w.action, w.target, w.what)
		}
		if w.who == cli && !strings.Contains(r.Who, u.Username+"@") {
			t.Errorf("action %d: who %q does not name the user %s", i, r.Who, u.Username)
		}
		if r.Failed != strings.HasPrefix(w.what, "failed: ") {
			t.Errorf("action %d: marked failed %v: %+v", i, r.Failed, r)
		}
	}
	ba.shot("operator-log.png")

	// The filter: by who, and by what it was done to.
	count := func(who string) int {
		n := 0
		for _, w := range want {
			if strings.HasPrefix(w.who, who) {
				n++
			}
		}
		return n
	}
	for _, f := range []struct{ text, who string }{{"dashboard login", dash}, {"admin token", "admin token ("}} {
		got := ba.filterOperatorLog(f.text)
		if len(got) != count(f.who) {
			t.Errorf("filtered by %q: %d rows, want %d: %+v", f.text, len(got), count(f.who), got)
		}
		for _, r := range got {
			if !strings.HasPrefix(r.Who, f.who) {
				t.Errorf("filtered by %q, the page shows %+v", f.text, r)
			}
		}
	}
	got := ba.filterOperatorLog("SN-DASH-1")
	if len(got) != 1 || got[0].Target != "SN-DASH-1" || got[0].Who != dash {
		t.Errorf("filtered by SN-DASH-1: %+v", got)
	}
	if none := ba.filterOperatorLog("no-such-thing"); len(none) != 0 || !strings.Contains(ba.b.Text("#operator .empty"), "No operator action matches") {
		t.Errorf("filtered by no-such-thing: %+v", none)
	}
	ba.filterOperatorLog(dash)
	ba.shot("operator-log-filtered.png")
	t.Logf("%d operator actions shown", len(rows))
}
