package dashboard

import (
	"bufio"
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// seededEnv has firmware and three phones: one downloading, one on the
// interim, one IP8540 that is a test device.
func seededEnv(t *testing.T, mut func(*Config)) *env {
	t.Helper()
	e := newEnv(t, mut)
	e.seedFirmware(t)
	now := time.Now()
	checkIn(e.st, 1, cx700, beta, now.Add(-time.Minute))
	download(e.st, 1, 3<<20, 8<<20, now)
	checkIn(e.st, 2, cx700, interim, now)
	if _, _, err := e.act.AddTestDevice(oplog.Actor{Who: "seed"}, mac(3)); err != nil {
		t.Fatal(err)
	}
	checkIn(e.st, 3, ip8540, beta, now)
	return e
}

func TestReadOnlyPages(t *testing.T) {
	e := seededEnv(t, nil)
	os.MkdirAll(filepath.Join(e.cfg.LogDir, "audit"), 0o755)
	os.MkdirAll(filepath.Join(e.cfg.LogDir, "access"), 0o755)
	os.MkdirAll(e.cfg.CaptureDir, 0o755)
	os.WriteFile(filepath.Join(e.cfg.LogDir, "audit", "RequestHandlerAuditLog_t_2026-11-27.csv"), []byte("a,b\nAUDIT-LINE-1\n"), 0o644)
	os.WriteFile(filepath.Join(e.cfg.LogDir, "access", "access.log"), []byte("#Fields: date time\nACCESS-LINE-1\n"), 0o644)
	os.WriteFile(filepath.Join(e.cfg.CaptureDir, "capture-1.xml"), []byte("<Request/>"), 0o644)
	c := e.client(t)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"fleet", "/", []string{"0004F2000001", "downloading", "37% · 3.0 MiB of 8.0 MiB", "Polycom CX700", "LG-Nortel IP8540", `data-stream="topic=fleet"`, "Log in"}},
		{"kiosk", "/kiosk", []string{`class="kiosk"`, "0004F2000002", "on interim"}},
		{"phone", "/phone/" + mac(1), []string{"Upgrade path", "1.0.199.0", "1.0.522.103", "3.5.6907.200", "fetched CPE.nbt", "offered 1.0.522.103"}},
		{"firmware", "/firmware", []string{"OCInterim/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/CPE", "<svg", "Log in to approve"}},
		{"test devices", "/testdevices", []string{mac(3), "/phone/" + mac(3)}},
		{"logs", "/logs", []string{"AUDIT-LINE-1", "ACCESS-LINE-1", "capture-1.xml"}},
		{"settings", "/settings", []string{"InternalUpdatesDownloadURL", "lab mode", "123.0 MiB", "0.0.0.0:8080"}},
		{"login", "/login", []string{`type="password"`, `name="csrf"`}},
		{"css", "/assets/style.css", []string{"--accent"}},
		{"js", "/assets/app.js", []string{"EventSource"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.get(tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", tc.path, resp.Status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: no %q in the page", tc.path, w)
				}
			}
		})
	}
	if resp, _ := c.get("/phone/NOPE"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown phone: %s, want 404", resp.Status)
	}
	if resp, _ := c.get("/"); !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP header: %v", resp.Header)
	}
}

func TestPrivateReadOnlyViews(t *testing.T) {
	e := seededEnv(t, func(c *Config) { c.PublicReadOnly = false })
	c := e.client(t)
	for _, path := range []string{"/", "/phone/" + mac(1), "/firmware", "/testdevices", "/logs", "/settings", "/export/fleet.csv"} {
		resp, _ := c.get(path)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without login: %s %s, want 303 to /login", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	if resp, _ := c.get("/events?device=" + mac(1)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("device stream without login: %s, want 403", resp.Status)
	}
	if resp, body := c.get("/kiosk"); resp.StatusCode != http.StatusOK || !strings.Contains(body, mac(1)) {
		t.Errorf("kiosk must stay public: %s", resp.Status)
	}
	c.login(testPassword)
	if resp, _ := c.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Errorf("settings after login: %s", resp.Status)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	resp := c.login("wrong")
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "err=wrong+password") {
		t.Errorf("wrong password: Location %q", loc)
	}
	resp = c.login(testPassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict", sc)
	}
	if _, body := c.get("/"); !strings.Contains(body, "Log out") {
		t.Error("fleet page after login has no Log out")
	}
	tok := c.csrf("/")
	if resp, _ := c.post("/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a bad CSRF token: %s, want 403", resp.Status)
	}
	if resp, _ := e.client(t).post("/logout", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without login: %s, want 403", resp.Status)
	}
	c.post("/logout", url.Values{"csrf": {tok}})
	if resp, _ := c.post("/testdevices/add", url.Values{"csrf": {tok}, "id": {"SN1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("after logout a replayed session must be refused: %s", resp.Status)
	}

	// The login form's own CSRF token.
	if resp, _ := e.client(t).post("/login", url.Values{"password": {testPassword}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %s, want 403", resp.Status)
	}
	// Open redirects are refused.
	c2 := e.client(t)
	tok = c2.csrf("/login")
	if resp, _ := c2.post("/login", url.Values{"csrf": {tok}, "password": {testPassword}, "next": {"//evil.example/"}}); resp.Header.Get("Location") != "/" {
		t.Errorf("next=//evil: Location %q, want /", resp.Header.Get("Location"))
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client(t)
	tok := c.csrf("/login")
	var last *http.Response
	for range loginBurst + 1 {
		last, _ = c.post("/login", url.Values{"csrf": {tok}, "password": {"guess"}})
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempt %d: %s, want 429", loginBurst+1, last.Status)
	}
	if resp, _ := c.post("/login", url.Values{"csrf": {tok}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password is rate limited too: %s", resp.Status)
	}
}

func TestGeneratedPassword(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	st, err := store.Open(dir+"/state", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := DefaultConfig(dir)
	cfg.Out = &out
	d, err := New(cfg, st, &fakeActions{st: st})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	pw, err := os.ReadFile(filepath.Join(dir, passwordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, passwordFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	password := strings.TrimSpace(string(pw))
	if !strings.Contains(out.String(), password) {
		t.Errorf("password not shown on Out: %q", out.String())
	}
	if hash, _ := os.ReadFile(filepath.Join(dir, passwordHashFile)); bytes.Contains(hash, []byte(password)) || len(hash) == 0 {
		t.Errorf("hash file must hold a hash, not the password")
	}
	out.Reset()
	d, err = New(cfg, st, &fakeActions{st: st})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if out.Len() != 0 {
		t.Errorf("second start showed the password again: %q", out.String())
	}
	if !d.auth.checkPassword(password) {
		t.Error("the generated password does not log in")
	}
}

// adminCase is one admin action: its request and how to see that it worked.
type adminCase struct {
	name string
	path string
	form url.Values
	ok   func(t *testing.T, e *env)
}

func adminCases() []adminCase {
	return []adminCase{
		{"approve", "/firmware/approve", url.Values{"rule": {cx700Key.String()}}, func(t *testing.T, e *env) {
			if r := rule(t, e, cx700Key); r.Approved != target || !r.Pending.IsZero() {
				t.Errorf("after approve: %+v", r)
			}
		}},
		{"restore", "/firmware/restore", url.Values{"rule": {interimKey.String()}}, nil}, // no restore version: refused as a flash
		{"reject", "/firmware/reject", url.Values{"rule": {ip8540Key.String()}}, nil},
		{"add test device", "/testdevices/add", url.Values{"id": {"00:04:f2:aa:bb:cc"}}, func(t *testing.T, e *env) {
			if !e.st.IsTestDevice("0004F2AABBCC", "") {
				t.Error("test device not added")
			}
		}},
		{"remove test device", "/testdevices/remove", url.Values{"id": {mac(3)}}, func(t *testing.T, e *env) {
			if e.st.IsTestDevice(mac(3), "") {
				t.Error("test device not removed")
			}
		}},
	}
}

func rule(t *testing.T, e *env, k images.RuleKey) images.Rule {
	t.Helper()
	r, ok := e.st.Rule(k)
	if !ok {
		t.Fatalf("no rule %s", k)
	}
	return r
}

func TestAdminActions(t *testing.T) {
	for _, tc := range adminCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := seededEnv(t, nil)
			before := e.snapshot()
			anon := e.client(t)
			if resp, _ := anon.post(tc.path, tc.form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("without login: %s, want 403", resp.Status)
			}
			c := e.client(t)
			c.login(testPassword)
			bad := cloneValues(tc.form)
			bad.Set("csrf", "forged")
			if resp, _ := c.post(tc.path, bad); resp.StatusCode != http.StatusForbidden {
				t.Errorf("bad CSRF token: %s, want 403", resp.Status)
			}
			if resp, _ := c.post(tc.path, tc.form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("no CSRF token: %s, want 403", resp.Status)
			}
			if after := e.snapshot(); after != before {
				t.Fatalf("a refused request changed the state:\n%s\n%s", before, after)
			}
			good := cloneValues(tc.form)
			good.Set("csrf", c.csrf("/firmware"))
			resp, _ := c.post(tc.path, good)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("with login and token: %s, want 303", resp.Status)
			}
			loc := resp.Header.Get("Location")
			if tc.ok != nil {
				if !strings.Contains(loc, "msg=") {
					t.Errorf("redirect %q carries no message", loc)
				}
				tc.ok(t, e)
			} else if !strings.Contains(loc, "err=") {
				t.Errorf("an impossible transition must come back as an error: %q", loc)
			}
			_, body := c.get(loc)
			if !strings.Contains(body, `class="flash`) {
				t.Errorf("the page after the action shows no flash message")
			}
		})
	}
}

// snapshot is the operator state, to see that refused requests changed nothing.
func (e *env) snapshot() string {
	var b strings.Builder
	for _, r := range e.st.Rules(nil) {
		b.WriteString(r.Key.String() + " " + r.Approved.String() + " " + r.Pending.String() + ";")
	}
	for _, td := range e.st.TestDevices(nil) {
		b.WriteString(td.ID + ";")
	}
	return b.String()
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func TestUpload(t *testing.T) {
	e := seededEnv(t, nil)
	body := func() (*bytes.Buffer, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "UCUpdates.exe")
		fw.Write([]byte("MZ fake package"))
		mw.Close()
		return &buf, mw.FormDataContentType()
	}
	post := func(c *client, query string) *http.Response {
		b, ct := body()
		resp, err := c.c.Post(c.base+"/firmware/upload"+query, ct, b)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post(e.client(t), ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload without login: %s", resp.Status)
	}
	c := e.client(t)
	c.login(testPassword)
	if resp := post(c, "?csrf=forged"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload with a bad token: %s", resp.Status)
	}
	if len(e.act.imports) != 0 {
		t.Fatalf("refused uploads reached Import: %v", e.act.imports)
	}
	_, page := c.get("/firmware")
	if !strings.Contains(page, `enctype="multipart/form-data"`) {
		t.Fatal("no upload form for a logged-in operator")
	}
	resp := post(c, "?csrf="+url.QueryEscape(c.csrf("/firmware")))
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "imported+1+image") {
		t.Fatalf("upload: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	if len(e.act.imports) != 1 || e.act.imports[0] != "UCUpdates.exe" {
		t.Errorf("Import got %v", e.act.imports)
	}
	if r := rule(t, e, ip8540Key); r.Pending != target {
		t.Errorf("imported rule: %+v", r)
	}
}

func TestConfirmSaysWhoIsReached(t *testing.T) {
	e := seededEnv(t, nil)
	c := e.client(t)
	if resp, _ := c.get("/firmware/confirm?action=approve&rule=" + url.QueryEscape(cx700Key.String())); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("confirm without login: %s, want 303 to login", resp.Status)
	}
	c.login(testPassword)
	_, body := c.get("/firmware/confirm?action=approve&rule=" + url.QueryEscape(cx700Key.String()))
	for _, w := range []string{"2 phone(s) that are not test devices will be offered 3.5.6907.200", mac(1), mac(2), `action="/firmware/approve"`} {
		if !strings.Contains(body, w) {
			t.Errorf("confirm page: no %q", w)
		}
	}
	if strings.Contains(body, mac(3)) {
		t.Error("an IP8540 is not on the CX700 path")
	}
	if resp, _ := c.get("/firmware/confirm?action=explode&rule=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad action: %s", resp.Status)
	}
}

// TestReach: who an action reaches, how many, the first of them only
// copied, and for a restore how many would be downgraded.
func TestReach(t *testing.T) {
	devs := []store.Device{
		{ID: "A", MAC: "A", DevicePath: cx700, CheckIns: 1, Version: target},
		{ID: "B", MAC: "B", DevicePath: ip8540},
		{ID: "C", MAC: "C", DevicePath: cx700, IsTest: true, Version: target}, // never checked in
		{ID: "D", Serial: "S-D", DevicePath: cx700, CheckIns: 1, Version: beta},
		{ID: "E"}, // never checked in: no model
	}
	tests := map[string]bool{"S-D": true}
	ids := func(ds []store.Device) string {
		var s []string
		for _, d := range ds {
			s = append(s, d.ID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name   string
		action string
		key    images.RuleKey
		keep   int
		want   string // the phones kept
		n      int
		what   string
	}{
		{"interim rule reaches every model of the locale", "restore", interimKey, 10, "A,B,C,D", 4, "for 4 phone(s) on the path: 1 of them run a higher version"},
		{"only the first are kept", "restore", interimKey, 2, "A,B", 4, "for 4 phone(s)"},
		{"approve reaches the non-test phones of the model", "approve", cx700Key, 10, "A", 1, "1 phone(s) that are not test devices"},
		{"reject reaches only test devices", "reject", cx700Key, 10, "C,D", 2, "2 test device(s)"},
		{"other locale", "restore", images.RuleKey{DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "DEU"}, UpdateType: "CPE"}, 10, "", 0, "for 0 phone(s) on the path: 0 of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reach(tc.action, images.Rule{Key: tc.key, Restore: interim}, seqOf(devs), tests, tc.keep)
			if ids(got.first) != tc.want || got.n != tc.n || !strings.Contains(got.what, tc.what) {
				t.Errorf("reach = %q of %d, %q; want %q of %d, %q", ids(got.first), got.n, got.what, tc.want, tc.n, tc.what)
			}
		})
	}
}

func TestSlowerThanPeersIsFlagged(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	dev := func(id string, stage store.Stage, age time.Duration) store.Device {
		return store.Device{ID: id, Stage: stage, StageSince: now.Add(-age), DevicePath: cx700}
	}
	devs := []store.Device{
		dev("a", store.StageDownloading, 2*time.Minute), dev("b", store.StageDownloading, 3*time.Minute),
		dev("c", store.StageDownloading, 4*time.Minute), dev("slow", store.StageDownloading, 40*time.Minute),
		dev("young", store.StageOffered, 20*time.Second), dev("old-but-short", store.StageOffered, 5*time.Minute),
		{ID: "stalled", Stage: store.StageStalled, StageReason: "offered 1.0.522.103 3 times without fetching it", StageSince: now},
	}
	v := buildFleet(devs, now)
	got := map[string]string{}
	for _, r := range v.Rows {
		got[r.ID] = r.Reason
	}
	if !strings.Contains(got["slow"], "downloading for 40m00s") {
		t.Errorf("slow phone: reason %q", got["slow"])
	}
	if got["old-but-short"] != "" {
		t.Errorf("5 minutes is under the 10 minute floor: %q", got["old-but-short"])
	}
	if got["stalled"] == "" || v.Summary.Attention != 2 {
		t.Errorf("stalled reason %q, attention %d (want 2)", got["stalled"], v.Summary.Attention)
	}
}

func TestEventStream(t *testing.T) {
	e := seededEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/events?topic=fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	readUntil := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), prefix) {
				return lines.Text()
			}
		}
		t.Fatalf("stream ended before %q: %v", prefix, lines.Err())
		return ""
	}
	readUntil(": connected")
	download(e.st, 1, 8<<20, 8<<20, time.Now())
	readUntil("event: rows")
	data := readUntil("data: ")
	if !strings.Contains(data, mac(1)) || !strings.Contains(data, "waiting to install") || !strings.Contains(data, `"summary"`) {
		t.Errorf("rows event: %.300s", data)
	}

	// Close ends open streams promptly.
	done := make(chan struct{})
	go func() {
		for lines.Scan() {
		}
		close(done)
	}()
	e.d.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after Close")
	}
	if r, err := http.Get(e.srv.URL + "/events?topic=fleet"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("stream after Close: %s, want 503", r.Status)
		}
	}
}

func TestSlowStreamGetsRefresh(t *testing.T) {
	c := &streamClient{topic: topicFleet, ch: make(chan []byte, clientBuffer)}
	for i := range clientBuffer + 5 {
		c.offer([]byte{byte(i)}) // never blocks
	}
	var last []byte
	for len(c.ch) > 0 {
		last = <-c.ch
	}
	if !bytes.Equal(last, refreshFrame) {
		t.Errorf("a browser that fell behind must end with a refresh, got %q", last)
	}
}

func TestDeviceStreamRefreshes(t *testing.T) {
	e := seededEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/events?device=" + mac(2))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	checkIn(e.st, 1, cx700, interim, time.Now()) // another phone: nothing for this stream
	checkIn(e.st, 2, cx700, target, time.Now())
	for sc.Scan() {
		if sc.Text() == "event: refresh" {
			return
		}
	}
	t.Fatal("no refresh for the phone's own change")
}

func TestRowsAreEscaped(t *testing.T) {
	e := newEnv(t, nil)
	evil := `<script>alert("x")</script>`
	e.st.Observe(store.Event{Kind: store.EventCheckIn, MAC: "0004F2ABCDEF", Serial: evil, IP: "10.0.0.9", DevicePath: cx700, Reported: beta,
		Detail: evil})
	_, body := e.client(t).get("/")
	if strings.Contains(body, evil) {
		t.Fatal("a phone's serial reached the page unescaped")
	}
	if !strings.Contains(body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`) {
		t.Error("escaped serial not on the page")
	}
	row := string(appendRow(nil, &phoneRow{ID: `IP:1"><x`, Stage: store.StageDiscovered}))
	if strings.Contains(row, `"><x`) || !strings.Contains(row, `href="/phone/IP:1%22%3E%3Cx"`) {
		t.Errorf("row with a hostile ID: %s", row)
	}
}

// The appliance's listener has a ReadTimeout; a stream must outlive it.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	e := seededEnv(t, nil)
	srv := httptest.NewUnstartedServer(e.d.Handler())
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events?topic=fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	<-time.After(5 * srv.Config.ReadTimeout) // the timeout is what is tested
	download(e.st, 1, 8<<20, 8<<20, time.Now())
	for sc.Scan() {
		if sc.Text() == "event: rows" {
			return
		}
	}
	t.Fatalf("stream ended after the listener's ReadTimeout: %v", sc.Err())
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Error("empty DataDir accepted")
	}
	if err := DefaultConfig(t.TempDir()).Validate(); err != nil {
		t.Error(err)
	}
	if c := DefaultConfig("/d"); !c.PublicReadOnly || c.LogDir != "/d/logs" || c.CaptureDir != "/d/captures" {
		t.Errorf("DefaultConfig = %+v", c)
	}
}

// TestSilentPhoneIsFlagged: a phone that was discovered, or signed in over
// SIP, but never checked in is flagged after silentAfter with what it did,
// even alone (no peers to be slower than).
func TestSilentPhoneIsFlagged(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	discovered := func(dns string) store.Device { return store.Device{Stage: store.StageDiscovered, DNSName: dns} }
	signedIn := func(user, handed string) store.Device {
		return store.Device{Stage: store.StageSignedIn, SIPUser: user, Handed: handed, SignedInAt: now.Add(-time.Minute)}
	}
	for _, tc := range []struct {
		name    string
		d       store.Device // the test sets ID and StageSince
		age     time.Duration
		want    string // in the reason; "" = no reason
		wantTag string
	}{
		{"leased only", discovered(""), 6 * time.Minute, "seen 6m00s ago, no DNS query, no check-in: beta builds (1.0.199.x)", "no check-in"},
		{"asked dns", discovered("ucupdates-r2.lab.local"), 6 * time.Minute, "asked DNS for ucupdates-r2.lab.local 6m00s ago, never checked in", "no check-in"},
		{"too early", discovered("ucupdates-r2.lab.local"), 4 * time.Minute, "", ""},
		{"signed in and handed the URLs", signedIn(sipUser, sipHanded), 7 * time.Minute,
			`signed in 7m00s ago as LAB\tech and was handed http://10.0.0.1/RequestHandler/ucdevice.upx, ` +
				`https://10.0.0.1/RequestHandlerExt/ucdevice.upx (flat), but has not checked in`, "no check-in"},
		{"signed in, never provisioned", signedIn("alice@lab.test", ""), 6 * time.Minute,
			"signed in 6m00s ago as alice@lab.test but was never handed the update URLs", "no check-in"},
		{"signed in a moment ago", signedIn(sipUser, sipHanded), 4 * time.Minute, "", ""},
		{"checked in since", store.Device{Stage: store.StageCheckedIn, SIPUser: sipUser, Handed: sipHanded, CheckIns: 1}, time.Hour, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			d.ID, d.StageSince = "0004F2000009", now.Add(-tc.age)
			v := buildFleet([]store.Device{d}, now)
			r := v.Rows[0]
			if tc.want == "" && r.Reason != "" || !strings.Contains(r.Reason, tc.want) || r.Flag != tc.wantTag {
				t.Errorf("reason %q flag %q, want %q and %q", r.Reason, r.Flag, tc.want, tc.wantTag)
			}
			if tag := string(appendRow(nil, &r)); tc.wantTag != "" && !strings.Contains(tag, `<span class="badge st-slow">no check-in</span>`) {
				t.Errorf("row lacks the badge: %s", tag)
			}
			if wantAttn := btoi(tc.wantTag != ""); v.Summary.Attention != wantAttn {
				t.Errorf("%d need attention, want %d", v.Summary.Attention, wantAttn)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestEveryStageShows: each of store.Stages has a label and a style, and
// the fleet page and the kiosk show a tile and a filter choice for each,
// in the store's order (signed in between discovered and checked in).
func TestEveryStageShows(t *testing.T) {
	css, err := assetFS.ReadFile("assets/style.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range store.Stages {
		if stageLabels[s] == "" {
			t.Errorf("stage %s has no label", s)
		}
		if !strings.Contains(string(css), ".st-"+string(s)+" {") {
			t.Errorf("stage %s has no style .st-%s", s, s)
		}
	}

	e := seededEnv(t, nil)
	signIn(e.st, "10.0.0.50", time.Now())
	c := e.client(t)
	for _, path := range []string{"/", "/kiosk"} {
		_, body := c.get(path)
		last := -1
		for _, s := range store.Stages {
			i := strings.Index(body, `data-stage="`+string(s)+`"><b>`)
			if i < 0 || i < last {
				t.Errorf("GET %s: tile of %s missing or out of the order of store.Stages", path, s)
			}
			last = i
		}
		if !strings.Contains(body, `data-stage="signed-in"><b>1</b><span>signed in</span>`) {
			t.Errorf("GET %s: no tile counting the signed-in phone", path)
		}
		if !strings.Contains(body, `<span class="badge st-signed-in">signed in</span>`) {
			t.Errorf("GET %s: the signed-in phone's row has no stage badge", path)
		}
	}
	_, body := c.get("/")
	if !strings.Contains(body, `<option value="signed-in">signed in</option>`) {
		t.Error("the stage filter has no signed-in choice")
	}
}

func TestSIPEventSummary(t *testing.T) {
	sip := func(step, detail, handed string) store.Event {
		return store.Event{Kind: store.EventSIP, SIPStep: step, User: sipUser, Detail: detail, Handed: handed}
	}
	for _, tc := range []struct {
		name string
		ev   store.Event
		want string
	}{
		{"attempt", sip(store.SIPAttempt, "", ""), `SIP sign-in as LAB\tech: challenged, sign-in started`},
		{"signed in", sip(store.SIPSignedIn, "NTLMv2, protocol version 3", ""), `SIP sign-in as LAB\tech: signed in (NTLMv2, protocol version 3)`},
		{"wrong password", sip(store.SIPAuthFailed, `wrong password for LAB\tech (2 of 3)`, ""), `SIP sign-in as LAB\tech: wrong password for LAB\tech (2 of 3)`},
		{"wrong password, no detail", sip(store.SIPAuthFailed, "", ""), `SIP sign-in as LAB\tech: wrong password`},
		{"provisioned", sip(store.SIPProvisioned, "", sipHanded), `SIP sign-in as LAB\tech: provisioned: ` + sipHanded},
		{"subscribed", sip(store.SIPSubscribed, "vnd-microsoft-roaming-self", ""), `SIP sign-in as LAB\tech: subscription answered (vnd-microsoft-roaming-self)`},
		{"signed out", sip(store.SIPUnregistered, "", ""), `SIP sign-in as LAB\tech: signed out`},
		{"bad signature", sip(store.SIPSignatureFailed, "SUBSCRIBE, seq 3", ""), `SIP sign-in as LAB\tech: message signature did not verify (SUBSCRIBE, seq 3)`},
		{"no user yet", store.Event{Kind: store.EventSIP, SIPStep: store.SIPAttempt}, "SIP sign-in: challenged, sign-in started"},
		{"a step this dashboard does not know", store.Event{Kind: store.EventSIP, SIPStep: "options"}, "SIP sign-in: options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventSummary(tc.ev); got != tc.want {
				t.Errorf("eventSummary\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDirectoryEventSummary(t *testing.T) {
	dc := func(step, user, refused, detail string) store.Event {
		return store.Event{Kind: store.EventDirectory, DirectoryStep: step, User: user, DirectoryError: refused, Detail: detail}
	}
	for _, tc := range []struct {
		name string
		ev   store.Event
		want string
	}{
		{"kinit", dc(store.DirectoryKerberos, "tech@LAB.LOCAL", "", "ENC-TS Pre-authentication"),
			"domain controller: Kerberos ticket for tech@LAB.LOCAL granted (ENC-TS Pre-authentication)"},
		{"kinit, wrong password", dc(store.DirectoryKerberos, "tech@LAB.LOCAL", "wrong password", ""),
			"domain controller: Kerberos ticket for tech@LAB.LOCAL refused: wrong password"},
		{"simple bind, wrong password", dc(store.DirectoryLDAPBind, "tech@lab.local", "wrong password", "simple bind, Plaintext"),
			"domain controller: LDAP bind as tech@lab.local failed: wrong password (simple bind, Plaintext)"},
		{"anonymous bind", dc(store.DirectoryLDAPBind, "", "", "simple bind"), "domain controller: LDAP anonymous bind succeeded (simple bind)"},
		{"ntlm", dc(store.DirectoryNTLM, `LAB\tech`, "", "SMB2, NTLMSSP, NTLMv2"), `domain controller: NTLM sign-in as LAB\tech succeeded (SMB2, NTLMSSP, NTLMv2)`},
		{"service ticket", dc(store.DirectoryTicket, `LAB\tech`, "", "LDAP, krb5"), `domain controller: Kerberos ticket of LAB\tech accepted (LDAP, krb5)`},
		{"ping", dc(store.DirectoryPing, "", "", "lab.local, host CX700-01, NtVer 0x16: LOGON_SAM_LOGON_RESPONSE_EX"),
			"domain controller: DC locator ping answered (lab.local, host CX700-01, NtVer 0x16: LOGON_SAM_LOGON_RESPONSE_EX)"},
		{"ping, Samba silent", dc(store.DirectoryPing, "", "no answer from Samba (CLDAP port 1389)", "lab.local, NtVer 0x16"),
			"domain controller: DC locator ping unanswered: no answer from Samba (CLDAP port 1389) (lab.local, NtVer 0x16)"},
		{"anonymous search", dc(store.DirectoryLDAPSearch, "anonymous", "", "(objectClass=certificationAuthority) in CN=Configuration,DC=lab,DC=local"),
			"domain controller: LDAP search as anonymous answered ((objectClass=certificationAuthority) in CN=Configuration,DC=lab,DC=local)"},
		{"samba killed", dc(store.DirectorySamba, "", "samba was killed by signal 9 (killed); restarting in 1s", ""),
			"domain controller: Samba stopped: samba was killed by signal 9 (killed); restarting in 1s"},
		{"samba back", dc(store.DirectorySamba, "", "", "2.0 s after it stopped"), "domain controller: Samba answering again (2.0 s after it stopped)"},
		{"a step this dashboard does not know", dc("netbios ping", "", "", ""), "domain controller: netbios ping succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventSummary(tc.ev); got != tc.want {
				t.Errorf("eventSummary\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestSignedInPhonePage: the phone page of a beta phone that signed in
// over SIP shows who it signed in as, its User-Agent, what it was handed
// and the sign-in on its timeline; and still does once the phone checked
// in from the same address with its MAC.
func TestSignedInPhonePage(t *testing.T) {
	e := seededEnv(t, nil)
	signIn(e.st, "10.0.0.50", time.Now().Add(-7*time.Minute))
	c := e.client(t)
	_, body := c.get("/phone/" + url.PathEscape("IP:10.0.0.50"))
	want := []string{
		`<span id="phone-stage" class="badge big st-signed-in">signed in</span> <span class="badge st-slow">no check-in</span>`,
		`signed in 7m`, `ago as LAB\tech and was handed ` + sipHanded + `, but has not checked in`,
		`<dd id="sip-user">LAB\tech <small`, `<dd id="user-agent">` + sipAgent + `</dd>`, `<dd class="mono" id="handed">` + sipHanded + `</dd>`,
		`<tr class="ev-sip">`, `SIP sign-in as LAB\tech: signed in (NTLMv2, protocol version 3)`,
		`SIP sign-in as LAB\tech: provisioned: ` + sipHanded,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("phone page of the signed-in phone: no %q", w)
		}
	}

	e.st.Observe(store.Event{Kind: store.EventCheckIn, MAC: mac(50), IP: "10.0.0.50", DevicePath: cx700, Reported: beta,
		Offered: interim, Target: target, Path: []images.Version{interim, target}})
	resp, body := c.get("/phone/" + mac(50))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("phone page after the check-in: %s", resp.Status)
	}
	for _, w := range []string{`<dd id="sip-user">LAB\tech`, "st-offered", `SIP sign-in as LAB\tech: signed in`, "reported 1.0.199.0"} {
		if !strings.Contains(body, w) {
			t.Errorf("phone page after the check-in: no %q", w)
		}
	}
	if strings.Contains(body, "no check-in") {
		t.Error("a phone that checked in is still flagged")
	}
}

// TestSIPPasswordOnlyForAdmin: the settings page shows the lab sign-in
// facts to anyone who may read it, the password only to a logged-in
// operator, and nothing of SIP when the appliance reports none.
func TestSIPPasswordOnlyForAdmin(t *testing.T) {
	e := seededEnv(t, nil)
	anon := e.client(t)
	_, body := anon.get("/settings")
	for _, w := range []string{"Phone sign-in (SIP)", "anyone@lab.local", `LAB\&lt;anything&gt;`, "10.0.0.1:5061", "NTLMv2 (3 phones)", "log in to see it"} {
		if !strings.Contains(body, w) {
			t.Errorf("public settings page: no %q", w)
		}
	}
	if strings.Contains(body, testSIPPassword) {
		t.Fatal("the public settings page shows the SIP password")
	}

	admin := e.client(t)
	admin.login(testPassword)
	_, body = admin.get("/settings")
	if !strings.Contains(body, `<td class="mono" id="sip-password">`+testSIPPassword+`</td>`) || strings.Contains(body, "log in to see it") {
		t.Errorf("the operator's settings page does not show the SIP password:\n%s", body)
	}

	e.act.sipOff = true
	for _, c := range []*client{anon, admin} {
		if _, body := c.get("/settings"); strings.Contains(body, "Phone sign-in (SIP)") {
			t.Error("a SIP section with SIP off")
		}
	}
}

// TestUploadSummaries: a stored upload reads as one, a refused one as a
// refusal with its reason — never "uploaded … (0 bytes)".
func TestUploadSummaries(t *testing.T) {
	for _, tc := range []struct {
		ev   store.Event
		want string
	}{
		{store.Event{Kind: store.EventUpload, File: "20261206T090000Z-CELog.txt", Bytes: 17, Detail: "/RequestHandler/CELog.txt"},
			"uploaded 20261206T090000Z-CELog.txt (17 bytes) — /RequestHandler/CELog.txt"},
		{store.Event{Kind: store.EventUpload, File: "CELog.txt", Detail: store.UploadRefused + " with 507 Insufficient Storage: phone-files cap (2 files) (/RequestHandler/CELog.txt)"},
			"upload of CELog.txt refused with 507 Insufficient Storage: phone-files cap (2 files) (/RequestHandler/CELog.txt)"},
	} {
		if got := eventSummary(tc.ev); got != tc.want {
			t.Errorf("eventSummary\n got %s\nwant %s", got, tc.want)
		}
	}
}

// TestTimelineCollapsesDownloadRanges: the ranges of one file fetched in a
// row are one line; another file, or a check-in between, starts another.
func TestTimelineCollapsesDownloadRanges(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	dl := func(s int, file string, off, n int64, done bool) store.Event {
		return store.Event{Kind: store.EventDownload, Time: t0.Add(time.Duration(s) * time.Second), File: file, Offset: off, Bytes: n, Total: 300, Complete: done}
	}
	evs := []store.Event{
		{Kind: store.EventCheckIn, Time: t0, Reported: beta, Offered: interim},
		dl(1, "CPE.nbt", 0, 100, false), dl(2, "CPE.nbt", 100, 100, false), dl(3, "CPE.nbt", 200, 100, true),
		dl(4, "CPE.cat", 0, 50, true),
		{Kind: store.EventCheckIn, Time: t0.Add(5 * time.Second), Reported: interim},
		dl(6, "CPE.nbt", 0, 300, true),
	}
	rows := timelineRows(evs)
	var got []string
	for _, r := range rows {
		got = append(got, r.Kind+": "+r.Summary)
	}
	if len(rows) != 5 || !strings.HasPrefix(rows[3].Summary, "fetched CPE.nbt in 3 ranges since ") || !strings.HasSuffix(rows[3].Summary, "up to byte 300 of 300, complete") ||
		!strings.HasPrefix(rows[0].Summary, "fetched CPE.nbt bytes 0–300 of 300") || !strings.HasPrefix(rows[2].Summary, "fetched CPE.cat") {
		t.Errorf("timeline rows:\n%s", strings.Join(got, "\n"))
	}
}

// TestPathMarksAHopBack: a hop to a lower version than the one before (a
// reset, a downgrade after a Restore) is marked; a hop up is not.
func TestPathMarksAHopBack(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	d := store.Device{Hops: []store.Hop{{Version: beta, At: t0}, {Version: interim, At: t0}, {Version: target, At: t0}, {Version: beta, At: t0}}, Target: target}
	steps := planSteps(d, nil)
	var back []bool
	for _, s := range steps[:4] {
		back = append(back, s.Back)
	}
	if !slices.Equal(back, []bool{false, false, false, true}) {
		t.Errorf("Back along the hops: %v, want only the last", back)
	}
}
