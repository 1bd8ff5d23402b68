package dashboard

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

func init() { bcryptCost = bcrypt.MinCost } // keep -race runs fast

const testPassword = "correct horse battery staple"

var (
	cx700   = images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	ip8540  = images.DevicePath{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}
	interim = images.MustParseVersion("1.0.522.103")
	target  = images.MustParseVersion("3.5.6907.200")
	beta    = images.MustParseVersion("1.0.199.0")

	interimKey = images.RuleKey{DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "ENU"}, UpdateType: "CPE"}
	cx700Key   = images.RuleKey{DevicePath: cx700, UpdateType: "CPE"}
	ip8540Key  = images.RuleKey{DevicePath: ip8540, UpdateType: "CPE"}
)

// fakeActions is the appliance's side of the seam over a real store.
type fakeActions struct {
	st *store.Store

	mu      sync.Mutex
	imports []string      // file names uploaded
	ops     []oplog.Entry // every action, as the appliance records it

	sipOff bool // Health reports no SIP sign-in
}

// op records an action as the appliance does.
func (a *fakeActions) op(act oplog.Actor, action, target string, err error) {
	e := oplog.Entry{Time: time.Now(), Who: act.Who, From: act.From, Action: action, Target: target}
	if err != nil {
		e.Error = err.Error()
	}
	a.mu.Lock()
	a.ops = append(a.ops, e)
	a.mu.Unlock()
}

func (a *fakeActions) RuleAction(act oplog.Actor, action string, key images.RuleKey) (rule images.Rule, err error) {
	defer func() { a.op(act, action, key.String(), err) }()
	switch action {
	case "approve":
		return a.st.Approve(key)
	case "reject":
		return a.st.Reject(key)
	case "restore":
		return a.st.Restore(key)
	}
	return images.Rule{}, fmt.Errorf("unknown action %q", action)
}

var macChars = regexp.MustCompile(`^[0-9A-F]{12}$`)

func (a *fakeActions) AddTestDevice(act oplog.Actor, id string) (store.TestDevice, string, error) {
	td := store.TestDevice{ID: id, Kind: store.TestDeviceSerial}
	if mac := strings.ToUpper(strings.NewReplacer(":", "", "-", "").Replace(id)); macChars.MatchString(mac) {
		td = store.TestDevice{ID: mac, Kind: store.TestDeviceMAC}
	}
	err := a.st.AddTestDevice(td)
	a.op(act, "testdevice-add", td.ID, err)
	return td, "", err
}

func (a *fakeActions) RemoveTestDevice(act oplog.Actor, id string) (store.TestDevice, error) {
	err := a.st.RemoveTestDevice(id)
	a.op(act, "testdevice-remove", id, err)
	return store.TestDevice{ID: id}, err
}

func (a *fakeActions) MakePending(act oplog.Actor, key images.RuleKey, v images.Version) (images.Rule, error) {
	rule, err := a.st.MakePending(key, v)
	a.op(act, "pending", key.String(), err)
	return rule, err
}

func (a *fakeActions) OperatorLog(f oplog.Filter, limit int) ([]oplog.Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []oplog.Entry
	for i := len(a.ops) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if f.Text == "" || strings.Contains(strings.ToLower(a.ops[i].Who+" "+a.ops[i].Action+" "+a.ops[i].Target), strings.ToLower(f.Text)) {
			out = append(out, a.ops[i])
		}
	}
	return out, nil
}

func (a *fakeActions) Import(act oplog.Actor, r *http.Request) (ImportResult, error) {
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return ImportResult{}, err
	}
	defer f.Close()
	io.Copy(io.Discard, f)
	a.mu.Lock()
	a.imports = append(a.imports, hdr.Filename)
	a.mu.Unlock()
	a.op(act, "import", hdr.Filename, nil)
	im := images.Image{Key: ip8540Key, Version: target, Files: []images.File{{Name: "CPE.nbt", SHA256: strings.Repeat("ab", 32), Size: 1 << 20}}, Source: hdr.Filename, ImportedAt: time.Now()}
	rule, err := a.st.ImportImage(im)
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{Rules: []images.Rule{rule}, Images: []images.Image{im}}, nil
}

func (a *fakeActions) Health() Health {
	h := Health{
		Version: "test",
		URLs: [][2]string{{"InternalUpdatesDownloadURL", "http://10.0.0.1/DeviceUpdateFiles_Int/"}, {"InternalUpdatesStoreURL", "http://10.0.0.1/RequestHandler/ucdevice.upx"},
			{"ExternalUpdatesDownloadURL", "http://10.0.0.1/DeviceUpdateFiles_Ext/"}, {"ExternalUpdatesStoreURL", "http://10.0.0.1/RequestHandler/ucdevice.upx"}},
		DNS:       "127.0.0.1:53, lab mode, domains lab.local",
		Listeners: [][3]string{{"phones (HTTP)", "0.0.0.0:80", "serving"}, {"dashboard", "0.0.0.0:8080", "serving"}},
		DataDir:   "/var/lib/tanjay", DataBytes: 123 << 20,
		SIPPassword: testSIPPassword,
		SIPSignIn: [][2]string{{"sign-in address", "anyone@lab.local"}, {"user name", `LAB\<anything>`},
			{"TCP", "10.0.0.1:5060"}, {"TLS", "10.0.0.1:5061"}, {"NTLM variants seen", "NTLMv2 (3 phones)"}},
	}
	if a.sipOff {
		h.SIPPassword, h.SIPSignIn = "", nil
	}
	return h
}

// testSIPPassword is the lab sign-in password fakeActions reports: only a
// logged-in operator may see it.
const testSIPPassword = "sip-lab-Zq7wKp2m"

// env is a dashboard over a real store, served by httptest.
type env struct {
	st  *store.Store
	act *fakeActions
	d   *Dashboard
	srv *httptest.Server
	cfg Config
}

func newEnv(t testing.TB, mut func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir+"/state", store.Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = testPassword
	if mut != nil {
		mut(&cfg)
	}
	act := &fakeActions{st: st}
	d, err := New(cfg, st, act)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return &env{st: st, act: act, d: d, srv: srv, cfg: cfg}
}

// seedFirmware imports the interim (approved) and the CX700 target (pending).
func (e *env) seedFirmware(t testing.TB) {
	t.Helper()
	file := []images.File{{Name: "CPE.nbt", SHA256: strings.Repeat("cd", 32), Size: 8 << 20}}
	if _, err := e.st.ImportImage(images.Image{Key: interimKey, Version: interim, Interim: true, Files: file}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Approve(interimKey); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ImportImage(images.Image{Key: cx700Key, Version: target, Files: file}); err != nil {
		t.Fatal(err)
	}
}

func mac(i int) string { return fmt.Sprintf("0004F2%06X", i) }

// checkIn observes a check-in of phone i at version v, offered the next hop.
func checkIn(st *store.Store, i int, p images.DevicePath, v images.Version, at time.Time) store.Device {
	ev := store.Event{Kind: store.EventCheckIn, Time: at, MAC: mac(i), Serial: fmt.Sprintf("SN%05d", i), IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+2),
		DevicePath: p, Reported: v, Target: target, File: "CPE.nbt"}
	switch {
	case v.Less(interim):
		ev.Offered, ev.Path = interim, []images.Version{interim, target}
	case v.Less(target):
		ev.Offered, ev.Path, ev.Interim = target, []images.Version{target}, true
	}
	return st.Observe(ev)
}

// The sign-in signIn makes, as the appliance's SIP observer reports it.
const (
	sipUser   = `LAB\tech`
	sipAgent  = "OCPhone/1.0.199.0 (Microsoft Office Communicator Phone Edition)"
	sipHanded = "http://10.0.0.1/RequestHandler/ucdevice.upx, https://10.0.0.1/RequestHandlerExt/ucdevice.upx (flat)"
)

// signIn observes a beta phone at ip signing in over SIP at at: challenged,
// signed in, provisioned with the update URLs. It has not checked in, so
// the store knows it by its address only.
func signIn(st *store.Store, ip string, at time.Time) store.Device {
	var d store.Device
	for _, s := range []struct{ step, detail, handed string }{
		{store.SIPAttempt, "", ""},
		{store.SIPSignedIn, "NTLMv2, protocol version 3", ""},
		{store.SIPProvisioned, "", sipHanded},
	} {
		d = st.Observe(store.Event{Kind: store.EventSIP, Time: at, IP: ip, SIPStep: s.step, User: sipUser, UserAgent: sipAgent,
			Detail: s.detail, Handed: s.handed})
	}
	return d
}

func download(st *store.Store, i int, bytes, total int64, at time.Time) store.Device {
	return st.Observe(store.Event{Kind: store.EventDownload, Time: at, MAC: mac(i), File: "CPE.nbt", Bytes: bytes, Total: total, Complete: bytes >= total})
}

// client is a browser-like client with a cookie jar that does not follow
// redirects, so tests see them.
type client struct {
	t    testing.TB
	base string
	c    *http.Client
}

func (e *env) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.c.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of a form on the page at path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	_, body := c.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no csrf field on %s", path)
	}
	return m[1]
}

func (c *client) login(password string) *http.Response {
	c.t.Helper()
	tok := c.csrf("/login")
	resp, _ := c.post("/login", url.Values{"csrf": {tok}, "password": {password}, "next": {"/"}})
	return resp
}
