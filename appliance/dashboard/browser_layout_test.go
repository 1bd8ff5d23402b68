package dashboard

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tanjay-lab/tanjay/appliance/internal/browsertest"
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
	b := browsertest.New(t, 1920, 1080)
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

	b.Navigate("open the fleet", chromedp.Navigate(e.srv.URL+"/"))
	b.Do("login form", chromedp.WaitVisible(chromedp.ID("password")))
	b.Do("type password", chromedp.SendKeys(chromedp.ID("password"), testPassword))
	b.Navigate("log in", chromedp.Click(chromedp.ID("login-submit")))
	b.Do("fleet after login", chromedp.WaitVisible(chromedp.ID("logout")))

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
		b.Do("viewport "+w.name, chromedp.EmulateViewport(w.width, w.height))
		for _, p := range pages {
			b.Navigate(p.name, chromedp.Navigate(e.srv.URL+p.path))
			b.Do(p.name+" ready", chromedp.WaitVisible(chromedp.CSS(p.ready)),
				chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second)))
			if why := browsertest.Eval[string](b, pageFits); why != "" {
				t.Errorf("%s at %s px: %s", p.name, w.name, why)
			}
			switch p.name {
			case "fleet", "phone", "firmware":
				b.Shot(fmt.Sprintf("%s-%s.png", p.name, w.name), true)
			case "kiosk", "logs":
				b.Shot(fmt.Sprintf("%s-%s.png", p.name, w.name), false)
			}
			switch p.name {
			case "fleet":
				if why := browsertest.Eval[string](b, stageReachable); why != "" {
					t.Errorf("fleet at %s px: %s", w.name, why)
				}
				b.Shot(fmt.Sprintf("fleet-%s-stage.png", w.name), false)
			case "kiosk":
				checkKioskAdvances(t, b, w.name)
				b.Shot(fmt.Sprintf("kiosk-%s-next.png", w.name), false)
			}
		}
	}
	t.Logf("screenshots in %s", b.Dir())
}

// checkKioskAdvances: the kiosk shows only rows that fit, no page scroll,
// and a moment later the next screenful.
func checkKioskAdvances(t *testing.T, b *browsertest.Browser, width string) {
	t.Helper()
	b.Do("kiosk laid out", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#rows tr.kiosk-off').length > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if over := browsertest.Eval[bool](b, `document.documentElement.scrollHeight > window.innerHeight + 1 && document.querySelector('#rows').getBoundingClientRect().bottom > window.innerHeight`); over {
		t.Errorf("kiosk at %s px: its rows run below the screen", width)
	}
	// One read of which screenful is on and its first row, then wait for
	// the next one: the rotation does not wait for the test.
	type shown struct {
		First     string `json:"first"`
		Screen, N int
	}
	now := browsertest.Eval[shown](b, `(() => {
		const m = document.getElementById('kiosk-screen').textContent.match(/^screen (\d+) of (\d+)/);
		return {first: `+kioskFirstShown+`, Screen: m ? +m[1] : 0, N: m ? +m[2] : 0};
	})()`)
	if now.N < 2 || now.First == "" {
		t.Fatalf("kiosk at %s px: %+v, want one of two screenfuls or more", width, now)
	}
	next := now.Screen%now.N + 1
	b.Do("kiosk advances", chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const tr = Array.prototype.find.call(document.querySelectorAll('#rows tr'), tr => !tr.classList.contains('kiosk-off'));
		return tr && tr.id !== %q && document.getElementById('kiosk-screen').textContent.startsWith('screen %d of %d');
	})()`, now.First, next, now.N), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
}

// TestBrowserKioskPages: with more phones than the server's page, the
// kiosk goes on to the next page (?offset=) after its last screenful, its
// live stream follows that page, and after the last page it starts over.
func TestBrowserKioskPages(t *testing.T) {
	e := newEnv(t, nil)
	b := browsertest.New(t, 1920, 1080)
	e.seedFirmware(t)
	// Two full pages: the second shows for as long as the first (some 16
	// screenfuls of half a second), time enough to check it live.
	seedManyPhones(e, 1, 2*fleetPageSize)
	b.Do("viewport", chromedp.EmulateViewport(1920, 1080))
	b.Navigate("kiosk", chromedp.Navigate(e.srv.URL+"/kiosk?rotate=0.5"))
	b.Do("laid out", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#rows tr.kiosk-off').length > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	b.WaitAcross("to the second page", `location.search.includes('offset=200') && document.readyState === 'complete'`, 60*time.Second)
	b.Do("second page ready", chromedp.WaitVisible(chromedp.CSS("#phones")),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(10*time.Second)))
	if stream := browsertest.Eval[string](b, `document.body.dataset.stream`); !strings.Contains(stream, "offset=200") {
		t.Errorf("the second page's stream is %q: it does not follow the page", stream)
	}
	if rot := browsertest.Eval[string](b, `location.search`); !strings.Contains(rot, "rotate=0.5") {
		t.Errorf("the second page lost the rotation: %q", rot)
	}
	// A phone of this page changes: its row changes live.
	row := "#r-" + mac(fleetPageSize+1)
	b.Do("row on page 2", chromedp.WaitReady(chromedp.CSS(row)))
	download(e.st, fleetPageSize+1, 3<<20, 8<<20, time.Now())
	b.Do("live on page 2", chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).textContent.includes('downloading')`, row+" td.stage"),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	b.Shot("kiosk-1920-page2.png", false)
	b.WaitAcross("back to the first page", `!location.search.includes('offset=') && document.readyState === 'complete'`, 30*time.Second)
	if stream := browsertest.Eval[string](b, `document.body.dataset.stream`); stream != "topic=fleet" {
		t.Errorf("the first page's stream is %q, want topic=fleet", stream)
	}
}
