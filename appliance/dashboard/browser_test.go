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
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// screensForLead is where the browser test also copies its screenshots.
const screensForLead = "/tmp/tanjay-screens"

// seedFleet makes a fleet in every stage, for the browser test and its
// screenshots.
func seedFleet(t testing.TB, e *env) {
	t.Helper()
	e.seedFirmware(t)
	file := []images.File{{Name: "CPE.nbt", SHA256: strings.Repeat("ef", 32), Size: 8 << 20}}
	if _, err := e.st.ImportImage(images.Image{Key: ip8540Key, Version: target, Files: file}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Approve(ip8540Key); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	// 1: the phone the test watches: DHCP, DNS, check-in, downloading.
	e.st.Observe(store.Event{Kind: store.EventDHCP, Time: ago(6 * time.Minute), MAC: mac(1), IP: "10.0.0.3"})
	e.st.Observe(store.Event{Kind: store.EventDNS, Time: ago(6 * time.Minute), IP: "10.0.0.3", Detail: "ucupdates-r2.lab.local"})
	checkIn(e.st, 1, cx700, beta, ago(5*time.Minute))
	download(e.st, 1, 3<<20, 8<<20, ago(4*time.Minute))
	// 2, 3: offered the interim; 4 has been offered for two hours (slow).
	checkIn(e.st, 2, cx700, beta, ago(3*time.Minute))
	checkIn(e.st, 3, cx700, images.Version{}, ago(2*time.Minute))
	checkIn(e.st, 4, cx700, beta, ago(2*time.Hour))
	download(e.st, 5, 6<<20, 8<<20, ago(time.Minute))
	checkIn(e.st, 5, cx700, beta, ago(3*time.Minute))
	download(e.st, 5, 7<<20, 8<<20, ago(time.Minute))
	// 6, 7: IP8540s on the interim; 8, 9: done.
	for _, i := range []int{6, 7, 8, 9} {
		checkIn(e.st, i, ip8540, beta, ago(3*time.Hour))
		checkIn(e.st, i, ip8540, interim, ago(2*time.Hour))
	}
	checkIn(e.st, 8, ip8540, target, ago(30*time.Minute))
	checkIn(e.st, 9, ip8540, target, ago(20*time.Minute))
	// 10: stalled (offered again and again, never fetched).
	for k := range 3 {
		checkIn(e.st, 10, cx700, beta, ago(time.Duration(30-10*k)*time.Minute))
	}
	// 11: failed (fetched, never installed).
	checkIn(e.st, 11, ip8540, interim, ago(50*time.Minute))
	download(e.st, 11, 8<<20, 8<<20, ago(45*time.Minute))
	for k := range 3 {
		checkIn(e.st, 11, ip8540, interim, ago(time.Duration(40-10*k)*time.Minute))
	}
	// 12: asked DNS 7 minutes ago and never checked in: flagged "no check-in".
	e.st.Observe(store.Event{Kind: store.EventDNS, Time: ago(7 * time.Minute), IP: "10.0.0.99",
		Name: "ucupdates-r2.lab.local", Detail: "A ucupdates-r2.lab.local → NOERROR"})
	// 13: a beta phone a technician signed in over SIP 7 minutes ago; it was
	// handed the update URLs but never checked in: signed in, flagged.
	signIn(e.st, "10.0.0.98", ago(7*time.Minute))
}

func TestBrowser(t *testing.T) {
	b := browsertest.New(t, 1920, 1080) // or a skip, saying why
	e := newEnv(t, func(c *Config) { c.PublicReadOnly = false })
	seedFleet(t, e)
	ctx, step, navigate, text := b.Context(), b.Do, b.Navigate, b.Text
	shot := func(name string) {
		t.Helper()
		png, err := os.ReadFile(b.Shot(name, true))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(screensForLead, 0o755)
		if err := os.WriteFile(filepath.Join(screensForLead, name), png, 0o644); err != nil {
			t.Errorf("save %s: %v", name, err)
		}
	}

	// Log in: the views are behind the login in this test.
	navigate("open the fleet", chromedp.Navigate(e.srv.URL+"/"))
	step("login form", chromedp.WaitVisible(chromedp.ID("password")))
	step("type password", chromedp.SendKeys(chromedp.ID("password"), testPassword))
	navigate("log in", chromedp.Click(chromedp.ID("login-submit")))
	step("fleet after login", chromedp.WaitVisible(chromedp.ID("phones")), chromedp.WaitVisible(chromedp.ID("logout")))

	// Approve the pending CX700 rule through the confirmation.
	navigate("firmware page", chromedp.Navigate(e.srv.URL+"/firmware"))
	shot("firmware.png")
	navigate("approve link", chromedp.Click(chromedp.CSS(`a[href*="action=approve"]`)))
	if what := text(".confirm .what"); !strings.Contains(what, "will be offered 3.5.6907.200") {
		t.Errorf("confirmation says %q", what)
	}
	shot("confirm.png")
	navigate("confirm", chromedp.Click(chromedp.ID("confirm")))
	if flash := text("#flash"); !strings.Contains(flash, "approve UCPhone/Polycom/CX700/A/ENU/CPE") {
		t.Errorf("after approve the page says %q", flash)
	}
	if r, _ := e.st.Rule(cx700Key); r.Approved != target {
		t.Fatalf("rule after the browser approved it: %+v", r)
	}

	// Watch phone 1 change stage live, without a reload.
	navigate("fleet", chromedp.Navigate(e.srv.URL+"/"))
	row := "#r-" + mac(1)
	step("phone row", chromedp.WaitVisible(chromedp.CSS(row)))
	if st := text(row + " td.stage"); !strings.Contains(st, "downloading") {
		t.Fatalf("phone 1 before: %q", st)
	}
	step("mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(10*time.Second)))
	download(e.st, 1, 8<<20, 8<<20, time.Now())
	step("stage changes live", chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).textContent.includes('waiting to install')`, row+" td.stage"),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	checkIn(e.st, 1, cx700, interim, time.Now())
	step("and again", chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).textContent.includes('on interim')`, row+" td.stage"),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !ok {
		t.Errorf("the page was reloaded (or %v)", err)
	}
	shot("fleet.png")

	// Filter, stage and sort are the server's: a GET form and links, so
	// each is a navigation, and the live feed goes on on the new page.
	navigate("filter", chromedp.SendKeys(chromedp.ID("filter"), "IP8540\n"))
	if shown := text("#shown"); !strings.HasPrefix(shown, "5 of 13") {
		t.Errorf("filter IP8540: %q", shown)
	}
	navigate("clear filter", chromedp.Navigate(e.srv.URL+"/"))
	// Set and dispatch in one go, once the page is whole: the live feed
	// may reload it right after a navigation.
	navigate("stage filter", chromedp.Poll[chromedp.Void](`(() => {
		const s = document.getElementById('stage-filter');
		if (!s || document.readyState !== 'complete') return false;
		s.value = 'signed-in';
		s.dispatchEvent(new Event('change'));
		return true;
	})()`, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if shown := text("#shown"); !strings.HasPrefix(shown, "1 of 13") {
		t.Errorf("stage filter signed in: %q", shown)
	}
	if st := text(`tr[data-id="IP:10.0.0.98"] td.stage`); !strings.Contains(st, "signed in") || !strings.Contains(st, "no check-in") {
		t.Errorf("the signed-in phone's stage cell: %q", st)
	}
	navigate("clear stage filter", chromedp.Navigate(e.srv.URL+"/"))
	navigate("sort by stage", chromedp.Click(chromedp.CSS(`#phones th a[href*="sort=stage"]`)))
	if first := text("#rows tr:first-child td.stage"); !strings.Contains(first, "discovered") {
		t.Errorf("sorted by stage, the first row is %q", first)
	}
	navigate("sort by stage, descending", chromedp.Click(chromedp.CSS(`#phones th.asc a`)))
	if first := text("#rows tr:first-child td.stage"); !strings.Contains(first, "failed") {
		t.Errorf("sorted by stage descending, the first row is %q", first)
	}
	navigate("back to the fleet", chromedp.Navigate(e.srv.URL+"/"))

	// Open the phone's timeline.
	navigate("open phone", chromedp.Click(chromedp.CSS(row+" a")))
	step("timeline", chromedp.WaitVisible(chromedp.ID("timeline")))
	tl := strings.ToLower(text("#timeline"))
	for _, w := range []string{"reported 1.0.522.103", "fetched CPE.nbt", "asked ucupdates-r2.lab.local", "dhcp"} {
		if !strings.Contains(tl, strings.ToLower(w)) {
			t.Errorf("timeline has no %q", w)
		}
	}
	if path := text("#path"); !strings.Contains(path, "1.0.199.0") || !strings.Contains(path, "3.5.6907.200") {
		t.Errorf("path %q", path)
	}
	shot("phone.png")

	// The signed-in phone's page: who it signed in as, and the sign-in on
	// its timeline.
	navigate("signed-in phone", chromedp.Navigate(e.srv.URL+"/phone/IP:10.0.0.98"))
	step("its timeline", chromedp.WaitVisible(chromedp.ID("timeline")))
	if tl := text("#timeline"); !strings.Contains(tl, `SIP sign-in as LAB\tech: signed in (NTLMv2, protocol version 3)`) {
		t.Errorf("signed-in phone's timeline: %q", tl)
	}
	if user := text("#sip-user"); !strings.Contains(user, `LAB\tech`) {
		t.Errorf("signed in as %q", user)
	}
	shot("phone-signed-in.png")

	navigate("kiosk", chromedp.Navigate(e.srv.URL+"/kiosk"))
	shot("kiosk.png")
	navigate("test devices", chromedp.Navigate(e.srv.URL+"/testdevices"))
	shot("testdevices.png")
	navigate("settings", chromedp.Navigate(e.srv.URL+"/settings"))
	shot("settings.png")
	t.Logf("screenshots in %s and %s", b.Dir(), screensForLead)
}
