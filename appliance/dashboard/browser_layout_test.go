package dashboard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// layoutWidths are the screens the dashboard must fit: a phone, a laptop,
// a desktop (and the bench screen the kiosk runs on).
var layoutWidths = []struct {
	name          string
	width, height int64
}{
	{"390", 390, 844},
	{"1440", 1440, 900},
	{"1920", 1920, 1080},
}

// browser is a headless Chromium for one test, or a skip.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium binary: apt-get install -y chromium (or set TANJAY_CHROMIUM) to run the browser test")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dir := os.Getenv("TANJAY_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", false),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1920, 1080),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start the browser without a timeout
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

func (b *browser) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

func (b *browser) navigate(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

func evalIn[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitAcross polls js until it is true, across navigations (a Poll
// action ends with an error when the page it polls navigates away).
func (b *browser) waitAcross(name, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not so after %v (last error: %v)", name, timeout, err)
		}
		<-tick.C
	}
}

// shot saves a screenshot of the whole page (full: as tall as it is) or
// of the viewport.
func (b *browser) shot(name string, full bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	act := chromedp.CaptureScreenshot()
	if full {
		act = chromedp.FullScreenshot(100) // 100: PNG
	}
	png, err := chromedp.Run(ctx, act)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), png, 0o644); err != nil {
		b.t.Errorf("save %s: %v", name, err)
	}
}

// pageFits is the check every page passes at every width: the document is
// no wider than the viewport. It returns what overflows when it is.
const pageFits = `(() => {
	const vw = document.documentElement.clientWidth;
	const sw = document.documentElement.scrollWidth;
	if (sw <= vw && sw <= window.innerWidth) return '';
	const wide = [];
	document.querySelectorAll('body *').forEach(el => {
		const r = el.getBoundingClientRect();
		if (r.right > vw + 1 && wide.length < 8) wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ' right=' + Math.round(r.right));
	});
	return 'scrollWidth ' + sw + ' > viewport ' + vw + ' (window ' + window.innerWidth + ')' + ': ' + wide.join(', ');
})()`

// stageReachable scrolls the fleet table's card scroller to the stage
// column and reports what is wrong: the column must be in view, or come
// into view by scrolling inside the card while the page stays put.
const stageReachable = `(() => {
	const th = document.querySelector('#phones th a[href*="sort=stage"]').closest('th');
	const vw = document.documentElement.clientWidth;
	const box = th.closest('.scroll');
	if (!box) return 'the phone table has no scrolling box';
	let b = box.getBoundingClientRect();
	if (b.left < 0 || b.right > vw + 1) return 'the scrolling box runs off the page: ' + b.left + '–' + b.right;
	window.scrollTo(0, b.top + window.scrollY - 140);
	box.scrollLeft = th.offsetLeft - 20;
	b = box.getBoundingClientRect();
	const r = th.getBoundingClientRect();
	if (window.scrollX !== 0) return 'the page scrolled sideways by ' + window.scrollX;
	if (r.left < b.left - 1 || r.right > b.right + 1) return 'stage column at ' + r.left + '–' + r.right + ', box ' + b.left + '–' + b.right;
	return '';
})()`

// kioskFirstShown is the ID of the first phone row the kiosk shows.
const kioskFirstShown = `(() => {
	const tr = Array.prototype.find.call(document.querySelectorAll('#rows tr'), tr => !tr.classList.contains('kiosk-off'));
	return tr ? tr.id : '';
})()`

// seedManyPhones adds phones 100… until the fleet has n: more than fit
// on any screen, and more than one server page (fleetPageSize).
func seedManyPhones(e *env, from, n int) {
	t0 := time.Now().Add(-time.Hour)
	for i := from; i < from+n; i++ {
		v := beta
		if i%3 == 0 {
			v = interim
		}
		checkIn(e.st, i, cx700, v, t0.Add(time.Duration(i)*time.Second))
	}
}

// TestBrowserLayout: the fleet, phone, firmware and kiosk pages (and the
// others) fit 390, 1,440 and 1,920 px wide screens: never wider than the
// viewport, the fleet table's stage column reachable inside its card; the
// kiosk moves on through its screenfuls. Screenshots of each are saved.
func TestBrowserLayout(t *testing.T) {
	// The browser is made after the dashboard, so it is closed first: the
	// test server's Close waits for the kiosk's open event stream.
	e := newEnv(t, func(c *Config) { c.PublicReadOnly = false })
	b := newBrowser(t)
	seedFleet(t, e)
	seedManyPhones(e, 100, 30) // 43 phones: more than a screenful anywhere
	// Log lines longer than any screen is wide, with and without spaces.
	for _, kind := range []string{"audit", "access"} {
		dir := filepath.Join(e.cfg.LogDir, kind)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		line := `{"time":"2026-12-06T10:00:00Z","level":"INFO","msg":"request","path":"/RequestHandlerExt/ucdevice.upx?` + strings.Repeat("x", 400) + `"}` + "\n" +
			strings.Repeat("10.0.0.3 - - [06/Dec/2026:10:00:00 +0000] GET /RequestHandler/Files/UCPhone/Polycom/CX700/A/ENU/CPE/CPE.nbt ", 6) + "\n"
		if err := os.WriteFile(filepath.Join(dir, kind+".log"), []byte(strings.Repeat(line, 5)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b.navigate("open the fleet", chromedp.Navigate(e.srv.URL+"/"))
	b.do("login form", chromedp.WaitVisible(chromedp.ID("password")))
	b.do("type password", chromedp.SendKeys(chromedp.ID("password"), testPassword))
	b.navigate("log in", chromedp.Click(chromedp.ID("login-submit")))
	b.do("fleet after login", chromedp.WaitVisible(chromedp.ID("logout")))

	pages := []struct{ name, path, ready string }{
		{"fleet", "/", "#phones"},
		{"phone", "/phone/" + mac(1), "#timeline"},
		{"firmware", "/firmware", "#rules"},
		{"kiosk", "/kiosk?rotate=0.5", "#phones"},
		{"logs", "/logs", "#operator"},
		{"settings", "/settings", "main"},
		{"testdevices", "/testdevices", "main"},
	}
	for _, w := range layoutWidths {
		b.do("viewport "+w.name, chromedp.EmulateViewport(w.width, w.height))
		for _, p := range pages {
			b.navigate(p.name, chromedp.Navigate(e.srv.URL+p.path))
			b.do(p.name+" ready", chromedp.WaitVisible(chromedp.CSS(p.ready)),
				chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)))
			if why := evalIn[string](b, pageFits); why != "" {
				t.Errorf("%s at %s px: %s", p.name, w.name, why)
			}
			switch p.name {
			case "fleet", "phone", "firmware":
				b.shot(fmt.Sprintf("%s-%s.png", p.name, w.name), true)
			case "kiosk", "logs":
				b.shot(fmt.Sprintf("%s-%s.png", p.name, w.name), false)
			}
			switch p.name {
			case "fleet":
				if why := evalIn[string](b, stageReachable); why != "" {
					t.Errorf("fleet at %s px: %s", w.name, why)
				}
				b.shot(fmt.Sprintf("fleet-%s-stage.png", w.name), false)
			case "kiosk":
				checkKioskAdvances(t, b, w.name)
				b.shot(fmt.Sprintf("kiosk-%s-next.png", w.name), false)
			}
		}
	}
	t.Logf("screenshots in %s", b.dir)
}

// checkKioskAdvances: the kiosk shows only rows that fit, no page scroll,
// and a moment later the next screenful.
func checkKioskAdvances(t *testing.T, b *browser, width string) {
	t.Helper()
	b.do("kiosk laid out", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#rows tr.kiosk-off').length > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if over := evalIn[bool](b, `document.documentElement.scrollHeight > window.innerHeight + 1 && document.querySelector('#rows').getBoundingClientRect().bottom > window.innerHeight`); over {
		t.Errorf("kiosk at %s px: its rows run below the screen", width)
	}
	// One read of which screenful is on and its first row, then wait for
	// the next one: the rotation does not wait for the test.
	type shown struct {
		First     string `json:"first"`
		Screen, N int
	}
	now := evalIn[shown](b, `(() => {
		const m = document.getElementById('kiosk-screen').textContent.match(/^screen (\d+) of (\d+)/);
		return {first: `+kioskFirstShown+`, Screen: m ? +m[1] : 0, N: m ? +m[2] : 0};
	})()`)
	if now.N < 2 || now.First == "" {
		t.Fatalf("kiosk at %s px: %+v, want one of two screenfuls or more", width, now)
	}
	next := now.Screen%now.N + 1
	b.do("kiosk advances", chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const tr = Array.prototype.find.call(document.querySelectorAll('#rows tr'), tr => !tr.classList.contains('kiosk-off'));
		return tr && tr.id !== %q && document.getElementById('kiosk-screen').textContent.startsWith('screen %d of %d');
	})()`, now.First, next, now.N), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
}

// TestBrowserKioskPages: with more phones than the server's page, the
// kiosk goes on to the next page (?offset=) after its last screenful, its
// live stream follows that page, and after the last page it starts over.
func TestBrowserKioskPages(t *testing.T) {
	e := newEnv(t, nil)
	b := newBrowser(t)
	e.seedFirmware(t)
	// Two full pages: the second shows for as long as the first (some 16
	// screenfuls of half a second), time enough to check it live.
	seedManyPhones(e, 1, 2*fleetPageSize)
	b.do("viewport", chromedp.EmulateViewport(1920, 1080))
	b.navigate("kiosk", chromedp.Navigate(e.srv.URL+"/kiosk?rotate=0.5"))
	b.do("laid out", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#rows tr.kiosk-off').length > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	b.waitAcross("to the second page", `location.search.includes('offset=200') && document.readyState === 'complete'`, 60*time.Second)
	b.do("second page ready", chromedp.WaitVisible(chromedp.CSS("#phones")),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(10*time.Second)))
	if stream := evalIn[string](b, `document.body.dataset.stream`); !strings.Contains(stream, "offset=200") {
		t.Errorf("the second page's stream is %q: it does not follow the page", stream)
	}
	if rot := evalIn[string](b, `location.search`); !strings.Contains(rot, "rotate=0.5") {
		t.Errorf("the second page lost the rotation: %q", rot)
	}
	// A phone of this page changes: its row changes live.
	row := "#r-" + mac(fleetPageSize+1)
	b.do("row on page 2", chromedp.WaitReady(chromedp.CSS(row)))
	download(e.st, fleetPageSize+1, 3<<20, 8<<20, time.Now())
	b.do("live on page 2", chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).textContent.includes('downloading')`, row+" td.stage"),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	b.shot("kiosk-1920-page2.png", false)
	b.waitAcross("back to the first page", `!location.search.includes('offset=') && document.readyState === 'complete'`, 30*time.Second)
	if stream := evalIn[string](b, `document.body.dataset.stream`); stream != "topic=fleet" {
		t.Errorf("the first page's stream is %q, want topic=fleet", stream)
	}
}
