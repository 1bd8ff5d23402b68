package appliance

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tanjay-lab/tanjay/appliance/internal/browsertest"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// The browser tests drive the real `tanjay serve` (startServe) through
// Chromium as an operator would, and check what each click did through
// the admin API (with the data directory's admin.token, as the README
// documents) and through check-ins of simulated phones (r2/phone): never
// through the appliance's own functions.

// browserPassword is the dashboard password the browser tests serve with
// (TANJAY_ADMIN_PASSWORD).
const browserPassword = "browser-Pa55word-15"

// browserAgent is the User-Agent of the tests' own admin API calls: the
// operator log names it after "admin token".
const browserAgent = "tanjay-browser-test"

// browserApp is a `tanjay serve` process and a Chromium logged in to its
// dashboard.
type browserApp struct {
	t     *testing.T
	srv   *serveProcess
	b     *browsertest.Browser
	base  string     // the dashboard's URL
	admin *apiClient // the admin API, with the data directory's token
	macs  int        // simulated phones made by newMAC
}

// startBrowserApp starts `tanjay serve` with browserPassword, then the
// browser (so the browser closes first), and logs in.
func startBrowserApp(t *testing.T) *browserApp {
	t.Helper()
	browsertest.SkipUnlessAvailable(t)
	t.Setenv("TANJAY_ADMIN_PASSWORD", browserPassword)
	srv := startServe(t, t.TempDir())
	tok, err := os.ReadFile(filepath.Join(srv.data, "admin.token"))
	if err != nil {
		t.Fatalf("the admin token the README documents: %v", err)
	}
	base := "http://" + srv.addrs.Dashboard
	ba := &browserApp{t: t, srv: srv, b: browsertest.New(t, 1440, 1000), base: base,
		admin: &apiClient{base: base, token: strings.TrimSpace(string(tok)), http: &http.Client{Timeout: time.Minute}, agent: browserAgent}}
	ba.b.Navigate("login page", chromedp.Navigate(ba.base+"/login"))
	ba.b.Do("login form", chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), browserPassword))
	ba.b.Navigate("log in", chromedp.Click(chromedp.ID("login-submit")))
	ba.b.Do("logged in", chromedp.WaitVisible(chromedp.ID("logout")))
	return ba
}

// open loads path and waits until ready (a CSS selector) is visible and
// the page has loaded.
func (ba *browserApp) open(path, ready string) {
	ba.t.Helper()
	ba.b.Navigate("open "+path, chromedp.Navigate(ba.base+path))
	ba.b.Do(path+" ready", chromedp.WaitVisible(chromedp.CSS(ready)),
		chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)))
}

// clickLive clicks the element sel finds, a link or a form's button in a
// part of the page the live feed redraws ([data-live]), and waits for the
// page it loads. The live feed may replace the element at any moment
// (after a change the test made a moment ago): the element is found and
// clicked in one evaluation, where a mouse click would aim at a node
// that may be gone by the time it lands.
func (ba *browserApp) clickLive(name, sel string) {
	ba.t.Helper()
	ba.b.Do(name+": wait for it", chromedp.WaitVisible(chromedp.CSS(sel)))
	ba.b.Navigate(name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, sel)))
}

// flash is what the page says after an action: its message, or its error
// prefixed "error: ", whichever it shows.
func (ba *browserApp) flash() string {
	ba.t.Helper()
	ba.b.Do("the page reports the action", chromedp.WaitVisible(chromedp.CSS("#flash, #flash-error")))
	return browsertest.Eval[string](ba.b, `(() => {
		const e = document.getElementById('flash-error');
		return e ? 'error: ' + e.textContent.trim() : document.getElementById('flash').textContent.trim();
	})()`)
}

// ruleAction clicks action's button (Approve, Reject, Restore) in rule's
// row of the Firmware page, and returns what the confirmation page says
// the action will do; confirm, when set, clicks the confirmation's button
// too and returns the page's report instead.
func (ba *browserApp) ruleAction(action, rule string, confirm bool) string {
	ba.t.Helper()
	ba.open("/firmware", "#rules")
	ba.clickLive(action+" "+rule, fmt.Sprintf(`tr[data-rule=%q] a[href*="action=%s"]`, rule, action))
	ba.b.Do("confirmation", chromedp.WaitVisible(chromedp.ID("confirm")))
	what := ba.b.Text(".confirm .what")
	if !confirm {
		return what
	}
	ba.b.Navigate("confirm "+action, chromedp.Click(chromedp.ID("confirm")))
	return ba.flash()
}

// shot saves a screenshot of the whole page, from its top, and logs
// where.
func (ba *browserApp) shot(name string) {
	ba.t.Helper()
	ba.b.Do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`),
		chromedp.Poll[chromedp.Void](`window.scrollY === 0`, chromedp.WithPollingTimeout(5*time.Second)))
	ba.t.Logf("screenshot %s", ba.b.Shot(name, true))
}

// get is an admin API GET that must succeed.
func (ba *browserApp) get(path string, out any) {
	ba.t.Helper()
	if err := ba.admin.do(context.Background(), http.MethodGet, path, "", nil, out); err != nil {
		ba.t.Fatalf("GET %s: %v", path, err)
	}
}

// storeState is the rules and images the admin API reports, sorted by
// key and version, as they would print in a failure.
type storeState struct {
	Rules  []images.Rule
	Images []string // "rule version"
}

// store reads the rules and images through the admin API.
func (ba *browserApp) store() storeState {
	ba.t.Helper()
	var st storeState
	var imgs []images.Image
	ba.get("/api/v1/rules", &st.Rules)
	ba.get("/api/v1/images", &imgs)
	for _, im := range imgs {
		st.Images = append(st.Images, im.Key.String()+" "+im.Version.String())
	}
	slices.SortFunc(st.Rules, func(a, b images.Rule) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	slices.Sort(st.Images)
	return st
}

// rule is one rule as the admin API reports it.
func (ba *browserApp) rule(key string) images.Rule {
	ba.t.Helper()
	for _, r := range ba.store().Rules {
		if r.Key.String() == key {
			return r
		}
	}
	ba.t.Fatalf("the admin API has no rule %s", key)
	return images.Rule{}
}

// operatorLog is the admin API's operator log, newest first.
func (ba *browserApp) operatorLog() []oplog.Entry {
	ba.t.Helper()
	var es []oplog.Entry
	ba.get("/api/v1/operator-log?limit=1000", &es)
	return es
}

// Phones of the two models the tests use.
var (
	cx700Phone  = phone.Identity{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	ip8540Phone = phone.Identity{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}
)

// newMAC is the MAC of a phone no check-in has named yet.
func (ba *browserApp) newMAC() string {
	ba.macs++
	return fmt.Sprintf("0004F2%06X", ba.macs)
}

// offer checks a simulated phone of id's model in with mac on version and
// returns what the server offered ("" for nothing).
func (ba *browserApp) offer(id phone.Identity, mac, version string) string {
	ba.t.Helper()
	id.MAC, id.Serial = mac, "SN-"+mac
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, err := phone.CheckIn(ctx, phone.Config{Server: "http://" + ba.srv.addrs.HTTP, Identity: id, Version: images.MustParseVersion(version)})
	if err != nil {
		ba.t.Fatalf("check-in of %s %s on %s: %v", id.Model, mac, version, err)
	}
	if o.Version.IsZero() {
		return ""
	}
	return o.Version.String()
}

// writeBare writes a bare image file (content seeded by seed) for the
// browser's file chooser and returns its path.
func writeBare(t *testing.T, name string, seed byte) string {
	t.Helper()
	return writeFile(t, t.TempDir(), name, randomBytes(20<<10, seed))
}
