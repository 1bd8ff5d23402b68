package r2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite response.xml in testdata/checkin")

// recorder is an Observer that keeps every call.
type recorder struct {
	mu        sync.Mutex
	checkins  []CheckIn
	downloads []Download
	uploads   []Upload
}

func (r *recorder) CheckedIn(c CheckIn) {
	r.mu.Lock()
	r.checkins = append(r.checkins, c)
	r.mu.Unlock()
}
func (r *recorder) Downloaded(d Download) {
	r.mu.Lock()
	r.downloads = append(r.downloads, d)
	r.mu.Unlock()
}
func (r *recorder) Uploaded(u Upload) { r.mu.Lock(); r.uploads = append(r.uploads, u); r.mu.Unlock() }

// fixedPlanner returns offer and counts its calls.
type fixedPlanner struct {
	mu    sync.Mutex
	offer Offer
	err   error
	calls int
}

func (p *fixedPlanner) PlanNextHop(_ context.Context, _ *Request, _ string) (Offer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	return p.offer, p.err
}

// logBuffer is a slog.Logger writing text lines into a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuffer) String() string       { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }
func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func checkin(h http.Handler, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.RemoteAddr = "192.168.102.34:49152"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestCheckinGolden(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "checkin", "*.txtar"))
	if err != nil || len(names) < 8 {
		t.Fatalf("want at least 8 fixtures, got %d (%v)", len(names), err)
	}
	for _, name := range names {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".txtar"), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			a := parseTxtar(data)
			request := a.file("request.xml")
			if request == nil {
				t.Fatal("no request.xml")
			}
			planner := &fixedPlanner{}
			if o := a.file("offer.json"); o != nil {
				if err := json.Unmarshal(o, &planner.offer); err != nil {
					t.Fatalf("offer.json: %v", err)
				}
			}
			h := NewHandler(Config{Planner: planner, Files: noFiles{}, Now: func() time.Time { return seedNow }})
			w := checkin(h, "/RequestHandler/ucdevice.upx", string(request))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if req, _ := ParseRequest(request); !req.Identified() && planner.calls != 0 {
				t.Errorf("planner called %d times for an unidentified device", planner.calls)
			}
			got := w.Body.Bytes()
			if *update {
				a.setFile("response.xml", got)
				if err := os.WriteFile(name, formatTxtar(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(string(a.file("response.xml")), string(got)); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The confirmed sample must stay byte-identical whatever -update wrote.
func TestCheckinConfirmedSample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "checkin", "nothing-to-do.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(parseTxtar(data).file("response.xml")); got != confirmedNothingToDo {
		t.Errorf("nothing-to-do.txtar response.xml = %q, want the confirmed sample %q", got, confirmedNothingToDo)
	}
}

type noFiles struct{}

func (noFiles) OpenFile(string) (File, error) { return File{}, ErrNoFile }

func TestCheckin(t *testing.T) {
	identified := strings.Replace(simulatorBody, "0.0.0.0", "1.0.522.103", 1)
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		body        string
		contentLen  int64 // -1: unknown (chunked)
		captureAll  bool
		plannerErr  error
		offer       Offer
		wantStatus  int
		wantPlanned int
		wantCapture string // reason of the one capture expected, "" none
		wantAudit   bool
		wantLog     string // substring of the one log line expected, "" none
	}{
		{name: "identified", body: identified, wantStatus: 200, wantPlanned: 1, wantAudit: true},
		{name: "ext path, odd case", path: "/REQUESTHANDLEREXT/UCDevice.UPX", body: identified, wantStatus: 200, wantPlanned: 1, wantAudit: true},
		{name: "capture all", body: identified, captureAll: true, wantStatus: 200, wantPlanned: 1, wantCapture: CaptureAll, wantAudit: true},
		{name: "beta phone is complete", body: simulatorBody, wantStatus: 200, wantPlanned: 1, wantAudit: true},
		{name: "unidentified", body: "<Request><MacAddress>001B9E4B5B10</MacAddress></Request>", wantStatus: 200, wantCapture: CaptureUnidentified, wantAudit: true},
		{name: "partial: no modules", body: "<Request DevicePath='UCPhone/Polycom/CX700/A/ENU' MAC='00-04-f2-00-00-01'/>", wantStatus: 200, wantPlanned: 1, wantCapture: CapturePartial, wantAudit: true},
		{name: "malformed", body: "<Request><DeviceType>UCPhone</Request>", wantStatus: 400, wantCapture: CaptureMalformed, wantLog: "not well-formed"},
		{name: "too large", body: "<Request>" + strings.Repeat(" ", 70<<10) + "</Request>", wantStatus: 413},
		{name: "too large, chunked", body: "<Request>" + strings.Repeat(" ", 70<<10) + "</Request>", contentLen: -1, wantStatus: 413},
		{name: "planner error", body: identified, plannerErr: errors.New("store closed"), wantStatus: 500, wantPlanned: 1, wantLog: "store closed"},
		{name: "blank URL refused", body: identified, offer: Offer{Updates: []OfferedUpdate{{Version: seedEntry().Updates[0].Version, ImageFile: "CPE.nbt"}}}, wantStatus: 500, wantPlanned: 1, wantLog: "blank BaseURL"},
		{name: "GET", method: http.MethodGet, wantStatus: 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			audit, err := OpenAuditLog(filepath.Join(dir, "audit"), "h", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer audit.Close()
			planner := &fixedPlanner{offer: tc.offer, err: tc.plannerErr}
			obs := &recorder{}
			var logs logBuffer
			h := NewHandler(Config{
				Planner: planner, Files: noFiles{}, Observer: obs, Audit: audit,
				CaptureDir: filepath.Join(dir, "captures"), CaptureAll: tc.captureAll,
				Now: func() time.Time { return seedNow }, Logger: logs.logger(),
			})
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/RequestHandler/ucdevice.upx"
			}
			r := httptest.NewRequest(method, path, strings.NewReader(tc.body))
			r.Host = "ucupdates-r2"
			r.RemoteAddr = "[fe80::1]:5060"
			if tc.contentLen != 0 {
				r.ContentLength = tc.contentLen
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.wantStatus, w.Body)
			}
			if planner.calls != tc.wantPlanned {
				t.Errorf("planner called %d times, want %d", planner.calls, tc.wantPlanned)
			}
			switch w.Code {
			case 200:
				if ct := w.Header().Get("Content-Type"); ct != "text/xml; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
				if len(obs.checkins) != 1 || obs.checkins[0].ClientIP != "fe80::1" {
					t.Errorf("observer saw %+v, want one check-in from fe80::1", obs.checkins)
				}
			case 405:
				if got := w.Header().Get("Allow"); got != "POST" {
					t.Errorf("Allow = %q, want POST", got)
				}
			}
			if w.Code != 200 && len(obs.checkins) != 0 {
				t.Errorf("observer told of a failed check-in: %+v", obs.checkins)
			}

			captures, _ := filepath.Glob(filepath.Join(dir, "captures", "*"))
			var wantCaptures []string
			if tc.wantCapture != "" {
				wantCaptures = []string{filepath.Join(dir, "captures", "20090504T172339.000000000Z_fe80__1_"+tc.wantCapture+".xml")}
			}
			if diff := cmp.Diff(wantCaptures, captures); diff != "" {
				t.Errorf("captures (-want +got):\n%s", diff)
			}
			if len(captures) == 1 {
				if got := readFile(t, captures[0]); got != tc.body {
					t.Errorf("captured %q, want the raw body", got)
				}
				if w.Code == 200 && obs.checkins[0].Captured != captures[0] {
					t.Errorf("CheckIn.Captured = %q, want %q", obs.checkins[0].Captured, captures[0])
				}
			}

			audit.Close()
			rows, _ := filepath.Glob(filepath.Join(dir, "audit", "*.csv"))
			if tc.wantAudit != (len(rows) == 1) {
				t.Errorf("audit files %v, want a row: %v", rows, tc.wantAudit)
			}

			lines := strings.Count(logs.String(), "\n")
			switch {
			case tc.wantLog == "" && lines != 0:
				t.Errorf("unexpected log: %s", logs.String())
			case tc.wantLog != "" && (lines != 1 || !strings.Contains(logs.String(), tc.wantLog)):
				t.Errorf("log = %q, want one line with %q", logs.String(), tc.wantLog)
			}
		})
	}
}

func TestCheckinCaptureFailureDoesNotFail(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "captures")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	h := NewHandler(Config{Planner: &fixedPlanner{}, Files: noFiles{}, CaptureDir: blocker, Logger: logs.logger()})
	w := checkin(h, "/RequestHandler/ucdevice.upx", "<Request/>")
	if w.Code != 200 {
		t.Errorf("status = %d, want 200", w.Code)
	}
	if !strings.Contains(logs.String(), "capture unidentified check-in") {
		t.Errorf("capture failure not logged: %q", logs.String())
	}
}

func TestCheckinCapturesDoNotCollide(t *testing.T) {
	dir := t.TempDir()
	h := NewHandler(Config{Planner: &fixedPlanner{}, Files: noFiles{}, CaptureDir: dir, Now: func() time.Time { return seedNow }})
	for range 3 {
		checkin(h, "/RequestHandler/ucdevice.upx", "<Request/>")
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	var want []string
	for _, suffix := range []string{"-2", "-3", ""} { // in Glob's order
		want = append(want, filepath.Join(dir, "20090504T172339.000000000Z_192.168.102.34_unidentified"+suffix+".xml"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("captures (-want +got):\n%s", diff)
	}
}

// discardWriter is the cheapest http.ResponseWriter: it keeps the status and
// one header map it reuses.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func BenchmarkCheckin(b *testing.B) {
	audit, err := OpenAuditLog(b.TempDir(), "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer audit.Close()
	h := NewHandler(Config{
		Planner: PlannerFunc(func(context.Context, *Request, string) (Offer, error) {
			return Offer{LangList: []string{"DEU", "ENU"}, Updates: []OfferedUpdate{interimUpdate()}}, nil
		}),
		Files: noFiles{},
		Audit: audit,
	})
	body := []byte(simulatorBody)
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/RequestHandler/ucdevice.upx", rd)
	r.RemoteAddr = "192.168.102.34:49152"
	r.Body = io.NopCloser(rd)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// declaredBody is a request whose Content-Length claims declared bytes
// while its body holds only sent.
func declaredBody(declared int64, sent string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/RequestHandler/ucdevice.upx", strings.NewReader(sent))
	r.ContentLength = declared
	return r
}

func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	for _, tc := range []struct {
		name       string
		declared   int64
		max        int64
		sent       string
		wantStatus int
		maxCap     int // the buffer's capacity may not exceed it
	}{
		{"declares the maximum, sends ten bytes", DefaultMaxBody, DefaultMaxBody, "0123456789", 0, 1 << 10},
		{"declares 100 MB under a larger maximum, sends ten bytes", 100 << 20, 200 << 20, "0123456789", 0, 1 << 10},
		{"chunked, ten bytes", -1, DefaultMaxBody, "0123456789", 0, 1 << 10},
		{"sends what it declares", 20 << 10, DefaultMaxBody, strings.Repeat("x", 20<<10), 0, 64 << 10},
		{"declares over the maximum", 100 << 20, DefaultMaxBody, "0123456789", http.StatusRequestEntityTooLarge, 0},
		{"sends over the maximum", -1, DefaultMaxBody, strings.Repeat("x", DefaultMaxBody+1), http.StatusRequestEntityTooLarge, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var limit io.LimitedReader
			body, status := readBody(&buf, &limit, declaredBody(tc.declared, tc.sent), tc.max)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if status == 0 && string(body) != tc.sent {
				t.Errorf("body %d bytes, want the %d sent", len(body), len(tc.sent))
			}
			if buf.Cap() > tc.maxCap {
				t.Errorf("buffer capacity %d after %d bytes sent of %d declared, want at most %d", buf.Cap(), len(tc.sent), tc.declared, tc.maxCap)
			}
		})
	}
}

func TestLargeBodyBuffersAreNotPooled(t *testing.T) {
	var small, large checkinBufs
	readBody(&small.body, &small.limit, declaredBody(DefaultMaxBody, "<Request/>"), DefaultMaxBody)
	readBody(&large.body, &large.limit, declaredBody(-1, strings.Repeat(" ", 60<<10)), DefaultMaxBody)
	if !small.reusable() {
		t.Errorf("a buffer that read ten bytes (capacity %d) is not kept for reuse", small.body.Cap())
	}
	if large.reusable() {
		t.Errorf("a buffer that read 60 KiB (capacity %d) is kept for reuse, over %d", large.body.Cap(), maxPooledBody)
	}
}

func TestContentLength(t *testing.T) {
	for _, n := range []int{0, 1, 151, 912, maxCachedLength, maxCachedLength + 1, 1 << 20} {
		for range 2 { // the second call reads the cache
			if got := contentLength(n); len(got) != 1 || got[0] != strconv.Itoa(n) {
				t.Errorf("contentLength(%d) = %q", n, got)
			}
		}
	}
}
