package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cab"
	"github.com/tanjay-lab/tanjay/images/pkg"
)

// testMAC reads a MAC as r2.NormalizeMAC does, for these tests (admin
// does not import r2).
func testMAC(s string) string {
	s = strings.ToUpper(strings.NewReplacer("-", "", ":", "", ".", "").Replace(s))
	if len(s) != 12 || strings.Trim(s, "0123456789ABCDEF") != "" {
		return ""
	}
	return s
}

// fixture is Actions over a real store, blob store and operator log in a
// temporary directory.
type fixture struct {
	*Actions
	dir       string
	st        *store.Store
	ops       *oplog.Log
	refreshed atomic.Int32
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	var err error
	if f.st, err = store.Open(filepath.Join(f.dir, "state"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	blobs, err := images.OpenBlobStore(filepath.Join(f.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if f.ops, err = oplog.Open(filepath.Join(f.dir, "operator.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ops.Close() })
	f.Actions, err = New(Config{Store: f.st, Blobs: blobs, Oplog: f.ops, TmpDir: filepath.Join(f.dir, "tmp"),
		CatalogChanged: func() { f.refreshed.Add(1) }, NormalizeMAC: testMAC})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// blobFiles counts the files in the blob store.
func (f *fixture) blobFiles(t testing.TB) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(f.dir, "blobs"), func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lastEntry is the newest operator log entry, its time cleared.
func (f *fixture) lastEntry(t testing.TB) oplog.Entry {
	t.Helper()
	entries, err := f.OperatorLog(oplog.Filter{}, 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("operator log: %v, %d entries", err, len(entries))
	}
	e := entries[0]
	if e.Time.IsZero() {
		t.Fatal("operator log entry without a time")
	}
	e.Time = time.Time{}
	return e
}

var cx700 = images.RuleKey{DevicePath: images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}, UpdateType: "CPE"}

func TestNewNamesEveryMissingField(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("New accepted an empty Config")
	}
	for _, field := range []string{"Store", "Blobs", "Oplog", "TmpDir", "CatalogChanged", "NormalizeMAC"} {
		if !strings.Contains(err.Error(), "Config."+field+" is required") {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"own status", Error{http.StatusTeapot, "x"}, http.StatusTeapot},
		{"wrapped own status", fmt.Errorf("import: %w", Error{http.StatusConflict, "x"}), http.StatusConflict},
		{"body too large", &http.MaxBytesError{Limit: 1}, http.StatusRequestEntityTooLarge},
		{"cabinet too large", fmt.Errorf("x: %w", cab.ErrTooLarge), http.StatusRequestEntityTooLarge},
		{"refused package", fmt.Errorf("x: %w", pkg.ErrRefused), http.StatusBadRequest},
		{"not in the store", fmt.Errorf("x: %w", store.ErrNotFound), http.StatusNotFound},
		{"no pending", images.ErrNoPending, http.StatusConflict},
		{"no restore", images.ErrNoRestore, http.StatusConflict},
		{"already current", images.ErrAlreadyCurrent, http.StatusConflict},
		{"zero version", images.ErrZeroVersion, http.StatusConflict},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Status(tt.err); got != tt.want {
				t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestParseTestDevice(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name, in string
		want     store.TestDevice
		err      string
	}{
		{"MAC with colons", "00:04:f2:aa:bb:cc", store.TestDevice{ID: "0004F2AABBCC", Kind: store.TestDeviceMAC}, ""},
		{"MAC with hyphens and spaces around", "  00-04-F2-AA-BB-CC\t", store.TestDevice{ID: "0004F2AABBCC", Kind: store.TestDeviceMAC}, ""},
		{"bare MAC", "0004f2aabbcc", store.TestDevice{ID: "0004F2AABBCC", Kind: store.TestDeviceMAC}, ""},
		{"serial", "SN-12345", store.TestDevice{ID: "SN-12345", Kind: store.TestDeviceSerial}, ""},
		{"empty", "  ", store.TestDevice{}, "a test device needs a MAC address or serial number"},
		{"inner space", "SN 1", store.TestDevice{}, `test device "SN 1": neither a MAC address nor a serial number`},
		{"slash", "a/b", store.TestDevice{}, `test device "a/b": neither a MAC address nor a serial number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.parseTestDevice(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || Status(err) != http.StatusBadRequest {
					t.Fatalf("parseTestDevice(%q) = %v, %v; want 400 %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseTestDevice(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestTestDevicesRecordedWithWarning(t *testing.T) {
	f := newFixture(t)
	act := oplog.Actor{Who: "dashboard login", From: "127.0.0.1"}
	td, warning, err := f.AddTestDevice(act, "00:04:f2:aa:bb:cc")
	if err != nil {
		t.Fatal(err)
	}
	if td.ID != "0004F2AABBCC" || !strings.Contains(warning, "no phone with MAC 0004F2AABBCC has been seen yet") {
		t.Fatalf("added %+v, warning %q", td, warning)
	}
	want := oplog.Entry{Who: act.Who, From: act.From, Action: "testdevice-add", Target: "0004F2AABBCC", Change: "added (mac)"}
	if diff := cmp.Diff(want, f.lastEntry(t)); diff != "" {
		t.Errorf("operator log (-want +got):\n%s", diff)
	}
	if !f.st.IsTestDevice("0004F2AABBCC", "") {
		t.Error("the store does not hold the test device")
	}
	if _, err := f.RemoveTestDevice(act, "0004F2AABBCC"); err != nil {
		t.Fatal(err)
	}
	if got := f.lastEntry(t); got.Action != "testdevice-remove" || got.Change != "removed" {
		t.Errorf("operator log after remove: %+v", got)
	}
	// A refusal is recorded too, with its error and the input clipped.
	if _, _, err := f.AddTestDevice(act, "bad id\x01"); err == nil {
		t.Fatal("a test device with a space was accepted")
	}
	if got := f.lastEntry(t); got.Target != "bad id?" || got.Error == "" {
		t.Errorf("operator log after a refusal: %+v", got)
	}
}

func TestRuleActionRecordsAndRefreshes(t *testing.T) {
	f := newFixture(t)
	act := oplog.Actor{Who: "admin token", From: "127.0.0.1"}
	if _, err := f.st.ImportImage(images.Image{Key: cx700, Version: images.MustParseVersion("4.0.7577.4066"), Files: []images.File{{Name: "CPE.nbt"}}}); err != nil {
		t.Fatal(err)
	}
	rule, err := f.RuleAction(act, "approve", cx700)
	if err != nil {
		t.Fatal(err)
	}
	if rule.Approved.String() != "4.0.7577.4066" || f.refreshed.Load() != 1 {
		t.Fatalf("approved %s, catalog refreshed %d times; want 4.0.7577.4066, once", rule.Approved, f.refreshed.Load())
	}
	want := oplog.Entry{Who: act.Who, From: act.From, Action: "approve", Target: cx700.String(), Change: "approved 4.0.7577.4066, pending none, restore none"}
	if diff := cmp.Diff(want, f.lastEntry(t)); diff != "" {
		t.Errorf("operator log (-want +got):\n%s", diff)
	}
	// Nothing Pending: refused with 409, recorded, the catalog untouched.
	if _, err := f.RuleAction(act, "approve", cx700); Status(err) != http.StatusConflict {
		t.Fatalf("approving with nothing Pending: %v (status %d), want 409", err, Status(err))
	}
	if got := f.lastEntry(t); got.Error == "" || f.refreshed.Load() != 1 {
		t.Errorf("refusal: entry %+v, catalog refreshed %d times", got, f.refreshed.Load())
	}
	if _, err := f.RuleAction(act, "promote", cx700); Status(err) != http.StatusNotFound {
		t.Errorf("unknown action: %v, want 404", err)
	}
	if changed, err := f.RuleActionAll(act, "reject"); err != nil || len(changed) != 0 || changed == nil {
		t.Errorf("reject all with nothing Pending = %v, %v; want an empty list", changed, err)
	}
}

// bareUpload is a multipart body of a bare image with fields.
func bareUpload(t testing.TB, fields map[string]string, files map[string]string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range []string{"device_path", "version", "update_type", "interim", "min_from", "force"} {
		if v, ok := fields[k]; ok {
			mw.WriteField(k, v)
		}
	}
	for _, name := range []string{"CPE.nbt", "CPE.cat", "notes.txt"} {
		if content, ok := files[name]; ok {
			w, _ := mw.CreateFormFile("file", name)
			w.Write([]byte(content))
		}
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func newAPI(t testing.TB, f *fixture) (*API, *http.ServeMux) {
	t.Helper()
	api, err := NewAPI(f.Actions, "secret", func() any { return map[string]string{"version": "test"} })
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	return api, mux
}

func TestAPIToken(t *testing.T) {
	f := newFixture(t)
	_, mux := newAPI(t, f)
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer nope", http.StatusUnauthorized},
		{"not bearer", "Basic secret", http.StatusUnauthorized},
		{"right", "Bearer secret", http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/rules", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusUnauthorized && (w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), "missing or wrong admin token")) {
				t.Errorf("401 without its challenge or message: %v %s", w.Header(), w.Body)
			}
		})
	}
	if _, err := NewAPI(f.Actions, "", func() any { return nil }); err == nil {
		t.Error("NewAPI accepted an empty token")
	}
}

func TestAPIImportRecordsTheCLIUser(t *testing.T) {
	f := newFixture(t)
	_, mux := newAPI(t, f)
	ct, body := bareUpload(t, map[string]string{"device_path": cx700.DevicePath.String(), "version": "4.0.7577.4066"},
		map[string]string{"CPE.nbt": "image", "CPE.cat": "catalog"})
	r := httptest.NewRequest("POST", "/api/v1/images", bytes.NewReader(body))
	r.Header.Set("Content-Type", ct)
	r.Header.Set("Authorization", "Bearer secret")
	r.Header.Set("User-Agent", CLIAgent+"1.2 (op@bench)")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("import: %d %s", w.Code, w.Body)
	}
	var res ImportResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Rules[0].Pending.String() != "4.0.7577.4066" || f.refreshed.Load() != 1 || f.blobFiles(t) != 2 {
		t.Fatalf("import landed %+v; catalog refreshed %d times, %d blobs", res, f.refreshed.Load(), f.blobFiles(t))
	}
	got := f.lastEntry(t)
	if got.Who != "admin token (tanjay cli 1.2 (op@bench))" || got.From != "192.0.2.1" || got.Action != "import" || got.Target != "CPE.nbt" {
		t.Errorf("operator log: %+v", got)
	}
}

func TestImportRefusalsLeaveNoBlob(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fields map[string]string
		files  map[string]string
		status int
		msg    string
	}{
		{"bare image without device path", map[string]string{"version": "4.0.7577.4066"}, map[string]string{"CPE.nbt": "x"},
			http.StatusBadRequest, "import: a bare image (.nbt) needs its device path"},
		{"a file neither image nor catalog", map[string]string{"device_path": cx700.DevicePath.String(), "version": "4.0.7577.4066"},
			map[string]string{"CPE.nbt": "x", "notes.txt": "y"}, http.StatusBadRequest, "import: notes.txt: a bare import takes one .nbt image"},
		{"unknown version", map[string]string{"device_path": cx700.DevicePath.String(), "version": "0.0.0.0"}, map[string]string{"CPE.nbt": "x"},
			http.StatusBadRequest, "import: version 0.0.0.0 is the unknown version"},
		{"unknown model", map[string]string{"device_path": "UCPhone/Acme/X1/A/ENU", "version": "1.0.0.1"}, map[string]string{"CPE.nbt": "x"},
			http.StatusConflict, "import: nothing imported, because it looks like a mistake: no phone has reported UCPhone/Acme/X1/A/ENU"},
		{"bad force", map[string]string{"force": "maybe"}, map[string]string{"CPE.nbt": "x"},
			http.StatusBadRequest, `import: force "maybe": want true or false`},
		{"no files", map[string]string{"version": "1.0.0.1"}, nil, http.StatusBadRequest, "import: no files in the upload"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ct, body := bareUpload(t, tt.fields, tt.files)
			r := httptest.NewRequest("POST", "/api/v1/images", bytes.NewReader(body))
			r.Header.Set("Content-Type", ct)
			_, err := f.ImportRequest(oplog.Actor{Who: "test"}, r)
			if err == nil || Status(err) != tt.status || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Fatalf("import: %v (status %d), want %d %q…", err, Status(err), tt.status, tt.msg)
			}
			if n := f.blobFiles(t); n != 0 || len(f.st.Images(nil)) != 0 || f.refreshed.Load() != 0 {
				t.Errorf("a refused import left %d blobs, %d images, %d catalog refreshes", n, len(f.st.Images(nil)), f.refreshed.Load())
			}
			if got := f.lastEntry(t); got.Action != "import" || got.Target != "upload" || got.Error != err.Error() {
				t.Errorf("operator log: %+v", got)
			}
		})
	}
}

func TestImportRequestNotMultipart(t *testing.T) {
	f := newFixture(t)
	r := httptest.NewRequest("POST", "/api/v1/images", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	_, err := f.ImportRequest(oplog.Actor{Who: "test"}, r)
	if Status(err) != http.StatusBadRequest || !strings.HasPrefix(err.Error(), "import: want a multipart/form-data upload") {
		t.Fatalf("import of JSON: %v", err)
	}
}

func TestSweepInterruptedImports(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(f.tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.tmpDir, "upload-1"), []byte("half a package"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.blobs.Put(strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	if err := f.SweepInterruptedImports(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.tmpDir); !errors.Is(err, fs.ErrNotExist) || f.blobFiles(t) != 0 {
		t.Errorf("after the sweep: tmp dir %v, %d blobs", err, f.blobFiles(t))
	}
}
