package phone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tanjay-lab/tanjay/images"
)

var (
	testIdentity = Identity{DeviceType: "UCPhone", MAC: "001B9E4B5B10", Serial: "1108015382",
		Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}
	// testTime is the phone's clock in the seed's sample check-in.
	testTime = time.Date(2009, 5, 4, 7, 30, 4, 0, time.UTC)
)

func testConfig(f *fakeServer) Config {
	return Config{Server: f.URL, Identity: testIdentity, Now: func() time.Time { return testTime }}
}

func v(s string) images.Version { return images.MustParseVersion(s) }

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// offerStep is the Step a phone on reported takes when offered offered by f.
func offerStep(f *fakeServer, reported, offered string) Step {
	dir := fileDir(offered)
	return Step{
		At: testTime, Reported: v(reported), Offered: v(offered),
		BaseURL:         f.URL + dir,
		ExternalBaseURL: f.URL + strings.Replace(dir, "_Int", "_Ext", 1),
		Files:           []string{"CPE.nbt", "CPE.cat"},
		SHA256:          []string{sum(f.files[dir+"/CPE.nbt"]), sum(f.files[dir+"/CPE.cat"])},
		Bytes:           int64(len(f.files[dir+"/CPE.nbt"]) + len(f.files[dir+"/CPE.cat"])),
	}
}

var ignoreLatency = cmpopts.IgnoreFields(Step{}, "Latency")

func checkLatencies(t *testing.T, w Walk) {
	t.Helper()
	if len(w.Latencies) != w.CheckIns {
		t.Errorf("%d latencies for %d check-ins", len(w.Latencies), w.CheckIns)
	}
	for i, l := range w.Latencies {
		if l <= 0 {
			t.Errorf("latency %d is %v", i, l)
		}
	}
}

func TestRunWalksTheChain(t *testing.T) {
	tests := []struct {
		name     string
		start    string
		path     []string
		reported []string // versions the server saw, in order
		steps    func(f *fakeServer) []Step
	}{
		{
			name: "beta phone", start: beta,
			path:     []string{beta, interim, release},
			reported: []string{beta, interim, release},
			steps: func(f *fakeServer) []Step {
				return []Step{offerStep(f, beta, interim), offerStep(f, interim, release), {At: testTime, Reported: v(release)}}
			},
		},
		{
			name: "phone on the interim", start: interim,
			path:     []string{interim, release},
			reported: []string{interim, release},
			steps: func(f *fakeServer) []Step {
				return []Step{offerStep(f, interim, release), {At: testTime, Reported: v(release)}}
			},
		},
		{
			name: "phone at target", start: release,
			path:     []string{release},
			reported: []string{release},
			steps: func(f *fakeServer) []Step {
				return []Step{{At: testTime, Reported: v(release)}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, testChain)
			cfg := testConfig(f)
			cfg.Version = v(tt.start)
			w := Run(t.Context(), cfg)
			if w.Err != nil {
				t.Fatalf("Run: %v", w.Err)
			}
			var path []string
			for _, p := range w.Path {
				path = append(path, p.String())
			}
			if diff := cmp.Diff(tt.path, path); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.steps(f), w.Steps, ignoreLatency); diff != "" {
				t.Errorf("Steps (-want +got):\n%s", diff)
			}
			if w.CheckIns != len(tt.reported) {
				t.Errorf("CheckIns = %d, want %d", w.CheckIns, len(tt.reported))
			}
			checkLatencies(t, w)
			var reported []string
			for _, c := range f.seenCheckIns() {
				reported = append(reported, c.Request.Modules[0].Version)
				if c.UserAgent != "Microsoft UCPhone Device" || c.ContentType != "text/xml; charset=utf-8" {
					t.Errorf("check-in headers: User-Agent %q, Content-Type %q", c.UserAgent, c.ContentType)
				}
			}
			if diff := cmp.Diff(tt.reported, reported); diff != "" {
				t.Errorf("versions the server saw (-want +got):\n%s", diff)
			}
			if got, want := len(f.seenGets()), 2*(len(tt.path)-1); got != want {
				t.Errorf("server saw %d GETs, want %d", got, want)
			}
		})
	}
}

func TestRunReportsInstallTime(t *testing.T) {
	f := newFakeServer(t, testChain)
	clock := testTime
	cfg := testConfig(f)
	cfg.Now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	if w := Run(t.Context(), cfg); w.Err != nil {
		t.Fatalf("Run: %v", w.Err)
	}
	var got [][2]string
	for _, c := range f.seenCheckIns() {
		got = append(got, [2]string{c.Request.RequestTime, c.Request.Modules[0].TimeStamp})
	}
	// Each check-in and each install reads the clock once: check-in 1 at
	// 07:31, install at 07:32, check-in 2 at 07:33, install at 07:34, ...
	want := [][2]string{
		{"04.05.2009 07:31:04", "01.01.1601 00:00:00"},
		{"04.05.2009 07:33:04", "05.04.2009 07:32:04"},
		{"04.05.2009 07:35:04", "05.04.2009 07:34:04"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RequestTime, TimeStamp (-want +got):\n%s", diff)
	}
}

func TestRunCutAndResume(t *testing.T) {
	f := newFakeServer(t, testChain)
	cfg := testConfig(f)
	cfg.CutAt = 0.3
	w := Run(t.Context(), cfg)
	if w.Err != nil {
		t.Fatalf("Run: %v", w.Err)
	}
	want := []Step{offerStep(f, beta, interim), offerStep(f, interim, release), {At: testTime, Reported: v(release)}}
	want[0].Resumed, want[1].Resumed = true, true
	// SHA256 in want is of the server's bytes: equal means the cut and the
	// resumed parts joined into the identical file.
	if diff := cmp.Diff(want, w.Steps, ignoreLatency); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}
	var wantGets []seenGet
	for _, ver := range []string{interim, release} {
		for _, name := range []string{"CPE.nbt", "CPE.cat"} {
			p := fileDir(ver) + "/" + name
			cut := int(float64(len(f.files[p])) * 0.3)
			wantGets = append(wantGets, seenGet{Path: p}, seenGet{Path: p, Range: fmt.Sprintf("bytes=%d-", cut)})
		}
	}
	if diff := cmp.Diff(wantGets, f.seenGets()); diff != "" {
		t.Errorf("GETs the server saw (-want +got):\n%s", diff)
	}
}

func TestRunFails(t *testing.T) {
	tests := []struct {
		name     string
		offers   map[string]string
		opts     []func(*fakeServer)
		cfg      func(*Config)
		path     []string
		checkIns int
		want     string // in the error
		is       error
	}{
		{
			name:   "loop",
			offers: map[string]string{beta: interim, interim: interim},
			path:   []string{beta, interim}, checkIns: 2,
			want: "check-in 2: offer: server offered the version the phone already runs (1.0.522.103)", is: ErrLoop,
		},
		{
			name:   "max hops",
			offers: map[string]string{beta: "1.0.0.1", "1.0.0.1": "1.0.0.2", "1.0.0.2": "1.0.0.3"},
			cfg:    func(c *Config) { c.MaxHops = 2 },
			path:   []string{beta, "1.0.0.1", "1.0.0.2"}, checkIns: 3,
			want: "check-in 3: offer of 1.0.0.3 after 2 installs: too many hops (max 2)", is: ErrMaxHops,
		},
		{
			name:   "offers 0.0.0.0",
			offers: map[string]string{beta: interim, interim: beta},
			path:   []string{beta, interim}, checkIns: 2,
			want: "check-in 2: offer: version 0.0.0.0 is not installable",
		},
		{
			name:   "check-in answered 500",
			offers: testChain, opts: []func(*fakeServer){func(f *fakeServer) { f.failCheckIn = true }},
			path: []string{beta}, checkIns: 1,
			want: "check-in 1: server answered 500 Internal Server Error",
		},
		{
			name:   "body shorter than Content-Length",
			offers: testChain, opts: []func(*fakeServer){func(f *fakeServer) { f.shortBody = true }},
			path: []string{beta}, checkIns: 1,
			want: "/CPE/CPE.nbt: after 32768 bytes: unexpected EOF",
		},
		{
			name:   "server ignores Range",
			offers: testChain, opts: []func(*fakeServer){func(f *fakeServer) { f.ignoreRange = true }},
			cfg:  func(c *Config) { c.CutAt = 0.5 },
			path: []string{beta}, checkIns: 1,
			want: "/CPE/CPE.nbt at 32768: server answered 200 OK, want 206 Partial Content",
		},
		{
			name:   "bad config",
			offers: testChain, cfg: func(c *Config) { c.Server, c.CutAt = "127.0.0.1", 1 },
			path: []string{beta}, checkIns: 0,
			want: `server "127.0.0.1": want a base URL`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, tt.offers, tt.opts...)
			cfg := testConfig(f)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			w := Run(t.Context(), cfg)
			if w.Err == nil || !strings.Contains(w.Err.Error(), tt.want) {
				t.Errorf("Err = %v, want it to contain %q", w.Err, tt.want)
			}
			if tt.is != nil && !errors.Is(w.Err, tt.is) {
				t.Errorf("Err = %v, want errors.Is %v", w.Err, tt.is)
			}
			var path []string
			for _, p := range w.Path {
				path = append(path, p.String())
			}
			if diff := cmp.Diff(tt.path, path); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			if w.CheckIns != tt.checkIns {
				t.Errorf("CheckIns = %d, want %d", w.CheckIns, tt.checkIns)
			}
		})
	}
}

func TestRunEndsWithoutBaseURL(t *testing.T) {
	f := newFakeServer(t, testChain, func(f *fakeServer) { f.noBaseURL = true })
	w := Run(t.Context(), testConfig(f))
	if w.Err != nil {
		t.Fatalf("Run: %v", w.Err)
	}
	want := []Step{{At: testTime, Reported: v(beta), Offered: v(interim)}}
	if diff := cmp.Diff(want, w.Steps, ignoreLatency); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}
	if gets := f.seenGets(); len(gets) != 0 {
		t.Errorf("phone fetched %v without a base URL", gets)
	}
}

func TestRunRounds(t *testing.T) {
	f := newFakeServer(t, testChain)
	cfg := testConfig(f)
	cfg.Version, cfg.Rounds = v(release), 4
	w := Run(t.Context(), cfg)
	if w.Err != nil {
		t.Fatalf("Run: %v", w.Err)
	}
	if w.CheckIns != 5 || len(w.Steps) != 1 || len(f.seenCheckIns()) != 5 {
		t.Errorf("CheckIns %d, Steps %d, server saw %d; want 5, 1, 5", w.CheckIns, len(w.Steps), len(f.seenCheckIns()))
	}
	checkLatencies(t, w)
}

func TestRunRoundsCheckTheAnswer(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			fmt.Fprint(w, nothingResponse)
			return
		}
		fmt.Fprint(w, "<html>It works!</html>")
	}))
	defer srv.Close()
	w := Run(t.Context(), Config{Server: srv.URL + "/", Rounds: 3})
	if want := `check-in 2: answer has no NumOfFiles: "<html>It works!</html>"`; w.Err == nil || w.Err.Error() != want {
		t.Errorf("Err = %v, want %s", w.Err, want)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := newFakeServer(t, testChain, func(f *fakeServer) {
		f.onCheckIn = func(string) { cancel() }
	})
	cfg := testConfig(f)
	cfg.FetchDelay = time.Hour // only ctx can end the wait
	w := Run(ctx, cfg)
	if !errors.Is(w.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", w.Err)
	}
	if gets := f.seenGets(); len(gets) != 0 {
		t.Errorf("phone fetched %v after ctx ended", gets)
	}
}

func TestWalkString(t *testing.T) {
	tests := []struct {
		name string
		walk Walk
		want string
	}{
		{"done", Walk{Identity: Identity{MAC: "001B9E4B5B10", Model: "CX700"},
			Path: []images.Version{v(beta), v(interim), v(release)}, CheckIns: 3},
			"001B9E4B5B10 CX700: 0.0.0.0 → 1.0.522.103 → 3.5.6907.0 (3 check-ins)"},
		{"failed, serial only", Walk{Identity: Identity{Serial: "1108015382"},
			Path: []images.Version{v(beta)}, CheckIns: 1, Err: errors.New("check-in 1: boom")},
			"1108015382: 0.0.0.0 (1 check-in): check-in 1: boom"},
		{"anonymous", Walk{Path: []images.Version{v(release)}}, "phone: 3.5.6907.0 (0 check-ins)"},
		{"signed in", Walk{Identity: Identity{MAC: "001B9E4B5B10", Model: "IP8540"},
			SignedIn: "http://10.77.0.1/RequestHandler/ucdevice.upx",
			Path:     []images.Version{v("1.0.199.123"), v(interim), v(release)}, CheckIns: 3},
			"001B9E4B5B10 IP8540: 1.0.199.123 → 1.0.522.103 → 3.5.6907.0 (signed in, handed http://10.77.0.1/RequestHandler/ucdevice.upx; 3 check-ins)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.walk.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
