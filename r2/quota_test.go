package r2

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tickClock advances one second per reading, so files sort in the order
// they were written.
type tickClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = seedNow
	}
	c.t = c.t.Add(time.Second)
	return c.t
}

// phoneFilesHandler is a handler over dir/uploads and dir/captures with
// the given caps and floor (nil: none).
type phoneFilesHandler struct {
	http.Handler
	obs                   *recorder
	uploads, captures     *Quota
	uploadDir, captureDir string
}

func newPhoneFilesHandler(t testing.TB, dir string, uploadCaps, captureCaps Caps, disk *DiskFloor, log io.Writer) *phoneFilesHandler {
	t.Helper()
	p := &phoneFilesHandler{obs: &recorder{}, uploadDir: filepath.Join(dir, "uploads"), captureDir: filepath.Join(dir, "captures")}
	var err error
	if p.uploads, err = OpenUploadQuota(p.uploadDir, uploadCaps); err != nil {
		t.Fatal(err)
	}
	if p.captures, err = OpenCaptureQuota(p.captureDir, captureCaps); err != nil {
		t.Fatal(err)
	}
	clock := &tickClock{}
	cfg := Config{Planner: &fixedPlanner{}, Files: noFiles{}, Observer: p.obs, UploadDir: p.uploadDir, CaptureDir: p.captureDir,
		Uploads: p.uploads, Captures: p.captures, Disk: disk, Now: clock.now}
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	p.Handler = NewHandler(cfg)
	return p
}

// upload POSTs body from client (an address) to target; contentLength -1
// sends it chunked, anything else is what the request declares.
func (p *phoneFilesHandler) upload(client, target string, body []byte, contentLength int64) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.RemoteAddr = client + ":4000"
	r.ContentLength = contentLength
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	return w
}

// unidentified checks in with a body the parser cannot identify: it is
// captured.
func (p *phoneFilesHandler) unidentified(t testing.TB, client string, body string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/RequestHandler/ucdevice.upx", strings.NewReader(body))
	r.RemoteAddr = client + ":4000"
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("check-in from %s: %d, want 200 (captures never fail a check-in)", client, w.Code)
	}
}

// files lists dir's files relative to it, with their sizes; temp files
// included (there must be none).
func files(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			got[filepath.ToSlash(rel)] = info.Size()
		}
		return nil
	})
	return got
}

func total(files map[string]int64) (n int64) {
	for _, s := range files {
		n += s
	}
	return n
}

func TestUploadCaps(t *testing.T) {
	caps := Caps{PhoneFiles: 2, PhoneBytes: 100 << 10, TotalFiles: 4, TotalBytes: 200 << 10}
	kib := func(n int) []byte { return bytes.Repeat([]byte("x"), n<<10) }
	type up struct {
		mac  string // "" : none, the client address names the phone
		body []byte
		want int
	}
	for _, tc := range []struct {
		name    string
		uploads []up
		wantCap string // the cap the last upload hit
	}{
		{"per-phone count", []up{{"0004F2000001", kib(1), 200}, {"0004F2000001", kib(1), 200}, {"0004F2000002", kib(1), 200}, {"0004F2000001", kib(1), 507}}, CapPhoneFiles},
		{"per-phone bytes", []up{{"0004F2000001", kib(60), 200}, {"0004F2000002", kib(60), 200}, {"0004F2000001", kib(60), 507}}, CapPhoneBytes},
		{"per-address count", []up{{"", kib(1), 200}, {"", kib(1), 200}, {"", kib(1), 507}}, CapPhoneFiles},
		{"total count", []up{{"0004F2000001", kib(1), 200}, {"0004F2000002", kib(1), 200}, {"0004F2000003", kib(1), 200}, {"0004F2000004", kib(1), 200}, {"0004F2000005", kib(1), 507}}, CapTotalFiles},
		{"total bytes", []up{{"0004F2000001", kib(90), 200}, {"0004F2000002", kib(90), 200}, {"0004F2000003", kib(30), 507}}, CapTotalBytes},
	} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, chunked %v", tc.name, chunked), func(t *testing.T) {
				p := newPhoneFilesHandler(t, t.TempDir(), caps, Caps{}, nil, nil)
				for i, u := range tc.uploads {
					target := "/RequestHandler/CELog.txt"
					if u.mac != "" {
						target += "?MacAddress=" + u.mac
					}
					cl := int64(len(u.body))
					if chunked {
						cl = -1
					}
					if w := p.upload("192.0.2.7", target, u.body, cl); w.Code != u.want {
						t.Fatalf("upload %d: %d, want %d (%s)", i, w.Code, u.want, w.Body)
					}
				}
				last := p.obs.uploads[len(p.obs.uploads)-1]
				wantMAC := tc.uploads[len(tc.uploads)-1].mac
				if last.MAC != wantMAC || last.Stored != "" || !strings.Contains(last.Refused, tc.wantCap) {
					t.Errorf("refusal reported as %+v, want MAC %q, nothing stored, Refused naming %s", last, wantMAC, tc.wantCap)
				}
				st := p.uploads.Stats()
				on := files(t, p.uploadDir)
				if st.Files != len(tc.uploads)-1 || st.Files != len(on) || st.Bytes != total(on) {
					t.Errorf("quota counts %d files, %d bytes; disk holds %v", st.Files, st.Bytes, on)
				}
				if st.Refused[tc.wantCap] != 1 {
					t.Errorf("Refused = %v, want one for %s", st.Refused, tc.wantCap)
				}
			})
		}
	}
}

// TestUploadCutWhileStreaming: a body without a Content-Length, or longer
// than it declares, is cut at the cap and leaves nothing behind.
func TestUploadCutWhileStreaming(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: under MaxUpload, over the caps
	for _, tc := range []struct {
		name          string
		caps          Caps
		contentLength int64
		wantCap       string
	}{
		{"chunked, phone bytes", Caps{PhoneBytes: 100 << 10}, -1, CapPhoneBytes},
		{"declares 10 bytes, phone bytes", Caps{PhoneBytes: 100 << 10}, 10, CapPhoneBytes},
		{"declares 60 KiB, total bytes", Caps{TotalBytes: 300 << 10}, 60 << 10, CapTotalBytes},
		{"declares 0, phone bytes", Caps{PhoneBytes: 70 << 10}, 0, CapPhoneBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPhoneFilesHandler(t, t.TempDir(), tc.caps, Caps{}, nil, nil)
			w := p.upload("192.0.2.7", "/RequestHandler/CELog.txt?MAC=0004F2000001", body, tc.contentLength)
			if w.Code != http.StatusInsufficientStorage {
				t.Fatalf("status %d, want 507 (%s)", w.Code, w.Body)
			}
			if on := files(t, p.uploadDir); len(on) != 0 {
				t.Errorf("the cut upload left %v", on)
			}
			if st := p.uploads.Stats(); st.Files != 0 || st.Bytes != 0 || st.Refused[tc.wantCap] != 1 {
				t.Errorf("stats after the cut: %+v, want nothing counted and one refusal for %s", st, tc.wantCap)
			}
			// The reservation was given back: a small upload still fits.
			if w := p.upload("192.0.2.7", "/RequestHandler/CELog.txt?MAC=0004F2000001", []byte("ok"), 2); w.Code != 200 {
				t.Errorf("small upload after the cut: %d", w.Code)
			}
		})
	}
}

// TestUploadCapsUnderConcurrency: no race lets two uploads share the last
// free slot, or the last free bytes.
func TestUploadCapsUnderConcurrency(t *testing.T) {
	const writers = 40
	for _, tc := range []struct {
		name    string
		caps    Caps
		size    int
		chunked bool
	}{
		{"count", Caps{TotalFiles: 5}, 1 << 10, false},
		{"bytes, chunked", Caps{TotalBytes: 256 << 10}, 100 << 10, true},
		{"bytes, declared", Caps{TotalBytes: 256 << 10}, 100 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPhoneFilesHandler(t, t.TempDir(), tc.caps, Caps{}, nil, nil)
			codes := make([]int, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					cl := int64(tc.size)
					if tc.chunked {
						cl = -1
					}
					codes[i] = p.upload("192.0.2.7", fmt.Sprintf("/RequestHandler/log?MAC=0004F20000%02X", i), randomBody(tc.size, i), cl).Code
				})
			}
			wg.Wait()
			ok := 0
			for i, c := range codes {
				switch c {
				case 200:
					ok++
				case 507:
				default:
					t.Errorf("upload %d: status %d", i, c)
				}
			}
			on := files(t, p.uploadDir)
			st := p.uploads.Stats()
			switch {
			case ok != len(on) || st.Files != ok || st.Bytes != total(on):
				t.Errorf("%d answered 200, disk holds %d files (%d bytes), quota counts %d files (%d bytes)", ok, len(on), total(on), st.Files, st.Bytes)
			case tc.caps.TotalFiles > 0 && ok != tc.caps.TotalFiles:
				t.Errorf("%d uploads stored, want exactly the cap of %d", ok, tc.caps.TotalFiles)
			case tc.caps.TotalBytes > 0 && (total(on) > tc.caps.TotalBytes || ok == 0):
				t.Errorf("%d bytes stored in %d files, cap %d", total(on), ok, tc.caps.TotalBytes)
			}
		})
	}
}

func randomBody(n, seed int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// TestCapturesDropOldest: the oldest captures of the client, then of all,
// make room for a new one; the check-in never fails.
func TestCapturesDropOldest(t *testing.T) {
	body := func(i int) string { return fmt.Sprintf("<Request><n>%04d</n></Request>", i) } // unidentified, 31 bytes
	for _, tc := range []struct {
		name string
		caps Caps
	}{
		{"by count", Caps{PhoneFiles: 2, TotalFiles: 3}},
		{"by bytes", Caps{PhoneBytes: 2*31 + 10, TotalBytes: 3*31 + 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPhoneFilesHandler(t, t.TempDir(), Caps{}, tc.caps, nil, nil)
			clients := []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3"}
			for i, c := range clients {
				p.unidentified(t, c, body(i))
			}
			// 1 made 0 go (phone cap); 3 fitted; 4 made 1 go (total cap).
			var got []string
			for name := range files(t, p.captureDir) {
				b, _ := os.ReadFile(filepath.Join(p.captureDir, name))
				got = append(got, captureClient(name)+" "+string(b))
			}
			slices.Sort(got)
			want := []string{"192.0.2.1 " + body(2), "192.0.2.2 " + body(3), "192.0.2.3 " + body(4)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("captures kept (-want +got):\n%s", diff)
			}
			st := p.captures.Stats()
			var dropped uint64
			for _, n := range st.Dropped {
				dropped += n
			}
			if st.Files != 3 || dropped != 2 || st.Phones != 3 {
				t.Errorf("stats %+v, want 3 files of 3 clients and 2 dropped", st)
			}
			// Every check-in was reported kept or not, none failed.
			if len(p.obs.checkins) != len(clients) {
				t.Errorf("%d check-ins reported, want %d", len(p.obs.checkins), len(clients))
			}
		})
	}
}

// TestCapsHoldAcrossRestarts: a new Quota counts what is on disk, so a
// restart starts where the last run stopped.
func TestCapsHoldAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	upCaps, capCaps := Caps{PhoneFiles: 2}, Caps{PhoneFiles: 2}
	p := newPhoneFilesHandler(t, dir, upCaps, capCaps, nil, nil)
	for range 2 {
		if w := p.upload("192.0.2.7", "/RequestHandler/log?MAC=0004F2000001", []byte("log"), 3); w.Code != 200 {
			t.Fatalf("upload: %d", w.Code)
		}
	}
	p.unidentified(t, "::1", "<a>1</a>")
	p.unidentified(t, "::1", "<a>2</a>")
	p.unidentified(t, "192.0.2.9", "<a>3</a>")
	// An interrupted write leaves a temp file: it is removed, not counted.
	writeTemp := filepath.Join(p.uploadDir, "0004F2000001", ".tmp-123")
	os.WriteFile(writeTemp, []byte("partial"), 0o644)

	p2 := newPhoneFilesHandler(t, dir, upCaps, capCaps, nil, nil)
	if st := p2.uploads.Stats(); st.Files != 2 || st.Bytes != 6 || st.Phones != 1 {
		t.Errorf("uploads counted at start: %+v, want 2 files, 6 bytes, 1 phone", st)
	}
	if _, err := os.Stat(writeTemp); !os.IsNotExist(err) {
		t.Errorf("temp file of an interrupted upload still there: %v", err)
	}
	if st := p2.captures.Stats(); st.Files != 3 || st.Phones != 2 {
		t.Errorf("captures counted at start: %+v, want 3 files of 2 clients", st)
	}
	if w := p2.upload("192.0.2.7", "/RequestHandler/log?MAC=0004F2000001", []byte("log"), 3); w.Code != 507 {
		t.Errorf("third upload after a restart: %d, want 507", w.Code)
	}
	p2.unidentified(t, "::1", "<a>4</a>")
	var kept []string
	for name := range files(t, p2.captureDir) {
		b, _ := os.ReadFile(filepath.Join(p2.captureDir, name))
		kept = append(kept, string(b))
	}
	slices.Sort(kept)
	if diff := cmp.Diff([]string{"<a>2</a>", "<a>3</a>", "<a>4</a>"}, kept); diff != "" {
		t.Errorf("captures after a restart (-want +got):\n%s", diff)
	}
}

func TestCaptureClient(t *testing.T) {
	for name, want := range map[string]string{
		"20090504T172339.000000000Z_192.0.2.1_unidentified.xml": "192.0.2.1",
		"20090504T172339.000000000Z___1_malformed.xml":          "__1",
		"20090504T172339.000000000Z_fe80__1_eth0_partial-2.xml": "fe80__1_eth0",
		"20090504T172339.000000000Z_10.0.0.1_checkin.xml":       "10.0.0.1",
		"notes.txt":                           "unknown",
		"20090504T172339.000000000Z_noreason": "unknown",
		"sub/20090504T172339.000000000Z_192.0.2.1_checkin.xml":    "192.0.2.1",
		"20090504T172339.000000000Z__malformed.xml":               "unknown",
		"20090504T172339.000000000Z_192.0.2.1_":                   "192.0.2.1",
		"short_1_2":                                               "unknown",
		"20090504T172339.000000000Z_192.0.2.1_unidentified.xml.x": "192.0.2.1",
	} {
		if got := captureClient(filepath.FromSlash(name)); got != want {
			t.Errorf("captureClient(%q) = %q, want %q", name, got, want)
		}
	}
}
