package dashboard

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// The amplifier benchmarks compare, at 50,000 phones on a real store, the
// fleet page as it was (legacyFleetPage: the whole fleet copied out of the
// store, every row built and rendered) with the paged page of today. Run
// them with -count 1: each benchmark runs ampRounds rounds, and each round
// runs every variant once, so the variants alternate on the noisy machine.
const (
	amplifierFleet = 50000
	ampRounds      = 5
)

type ampVariant struct {
	name  string
	serve func(http.ResponseWriter)
}

// alternate runs fn for each variant in each round: "<variant>/round=<n>".
func alternate(b *testing.B, variants []ampVariant, fn func(b *testing.B, v ampVariant)) {
	for r := 1; r <= ampRounds; r++ {
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/round=%d", v.name, r), func(b *testing.B) { fn(b, v) })
		}
	}
}

// amplifierEnv is a 50,000-phone dashboard over a real store, for one
// benchmark (seeding takes a few seconds).
func amplifierEnv(b *testing.B) *env { return fleetEnv(b, amplifierFleet) }

// fleetEnv is a dashboard of n phones over a real store.
func fleetEnv(b *testing.B, n int) *env {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(dir+"/state", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = testPassword
	d, err := New(cfg, st, &fakeActions{st: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	e := &env{st: st, d: d, cfg: cfg}
	e.seedFirmware(b)
	seedMany(st, n, time.Now())
	d.hub.sync()
	return e
}

// seedMany checks n phones in, a third each on beta, interim and target,
// half of them CX700s, and a tenth of them mid-download.
func seedMany(st *store.Store, n int, now time.Time) {
	versions := []images.Version{beta, interim, target}
	models := []images.DevicePath{cx700, ip8540}
	for i := range n {
		at := now.Add(-time.Duration(i%3600) * time.Second)
		checkIn(st, i, models[i%2], versions[i%3], at)
		if i%10 == 0 {
			download(st, i, int64(i%8)<<20, 8<<20, at)
		}
	}
}

// legacyFleetPage is the work GET / did before paging: copy every phone
// out of the store, build every row and the summary, render all of them.
func legacyFleetPage(d *Dashboard, w http.ResponseWriter) {
	now := d.cfg.Now()
	devs := d.st.(*store.Store).Devices(nil) // the copy the legacy page made
	med := legacyMedians(devs, now)
	rows := make([]phoneRow, len(devs))
	for i := range devs {
		rows[i] = makeRow(&devs[i], med, now)
	}
	ix := newFleetIndex() // the summary's counts, over every phone
	ix.rebuild(seqOf(devs), now)
	var buf bytes.Buffer
	d.pages["fleet"].ExecuteTemplate(&buf, "summary", ix.summary())
	b := make([]byte, 0, len(rows)*700)
	for i := range rows {
		b = appendRow(b, &rows[i])
	}
	buf.Write(b)
	w.Write(buf.Bytes())
}

// legacyMedians is the old per-request stageMedians.
func legacyMedians(devs []store.Device, now time.Time) map[store.Stage]time.Duration {
	ages := map[store.Stage][]time.Duration{}
	for i := range devs {
		if peerStallStages[devs[i].Stage] {
			ages[devs[i].Stage] = append(ages[devs[i].Stage], now.Sub(devs[i].StageSince))
		}
	}
	med := map[store.Stage]time.Duration{}
	for s, a := range ages {
		slices.Sort(a)
		med[s] = a[len(a)/2]
	}
	return med
}

func servePaged(d *Dashboard, path string) func(w http.ResponseWriter) {
	h := d.Handler()
	return func(w http.ResponseWriter) { h.ServeHTTP(w, httptest.NewRequest("GET", path, nil)) }
}

// BenchmarkAnonymousFleetGet is one anonymous GET at 50,000 phones: time
// and bytes per page.
func BenchmarkAnonymousFleetGet(b *testing.B) {
	e := amplifierEnv(b)
	alternate(b, []ampVariant{
		{"legacy", func(w http.ResponseWriter) { legacyFleetPage(e.d, w) }},
		{"paged-fleet", servePaged(e.d, "/")},
		{"paged-kiosk", servePaged(e.d, "/kiosk")},
		{"paged-filtered-sorted", servePaged(e.d, "/?q=ip8540&sort=seen&dir=desc&offset=400")},
	}, func(b *testing.B, v ampVariant) {
		var size int
		b.ReportAllocs()
		for b.Loop() {
			w := &discardResponse{h: http.Header{}}
			v.serve(w)
			size = w.n
		}
		b.ReportMetric(float64(size)/(1<<10), "KiB/page")
	})
}

// BenchmarkFleetFirstView is the fleet page's first view at 100,000
// phones (the goal: under 50 ms and 200 KB), and the costliest
// view: a filter, a sort and a later page.
func BenchmarkFleetFirstView(b *testing.B) {
	e := fleetEnv(b, 100_000)
	for _, path := range []string{"/", "/kiosk", "/?q=ip8540&sort=seen&dir=desc&offset=400"} {
		b.Run("phones=100000"+strings.ReplaceAll(path, "/", "_"), func(b *testing.B) { benchPage(b, e.d, path) })
	}
}

// BenchmarkAnonymousFleetGet8 is eight anonymous GETs at once: the peak
// live heap above what it was before (sampled every millisecond). The
// process's RSS is no measure here (the heap the legacy rounds grew stays
// mapped); BenchmarkServeFleetRSS in package appliance measures the real
// server's.
func BenchmarkAnonymousFleetGet8(b *testing.B) {
	e := amplifierEnv(b)
	alternate(b, []ampVariant{
		{"legacy", func(w http.ResponseWriter) { legacyFleetPage(e.d, w) }},
		{"paged", servePaged(e.d, "/")},
	}, func(b *testing.B, v ampVariant) {
		var peakHeap uint64
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			base := liveHeap()
			stop := make(chan struct{})
			var peak atomic.Uint64
			var sampler sync.WaitGroup
			sampler.Add(1)
			go func() {
				defer sampler.Done()
				for {
					if h := liveHeap(); h > peak.Load() {
						peak.Store(h)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			b.StartTimer()
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v.serve(&discardResponse{h: http.Header{}})
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			sampler.Wait()
			if p := peak.Load(); p > base {
				peakHeap = max(peakHeap, p-base)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(peakHeap)/(1<<20), "MiB-peak-heap-growth")
	})
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func liveHeap() uint64 {
	s := slices.Clone(heapSample)
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// legacyFleetFrame is the work a live "rows" frame did before the index:
// copy every phone out of the store and build every row and the summary,
// then render the changed rows.
func legacyFleetFrame(d *Dashboard, changed map[string]bool) []byte {
	now := d.cfg.Now()
	devs := d.st.(*store.Store).Devices(nil) // the copy the legacy page made
	med := legacyMedians(devs, now)
	rows := make([]phoneRow, len(devs))
	for i := range devs {
		rows[i] = makeRow(&devs[i], med, now)
	}
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	var buf bytes.Buffer
	d.pages["fleet"].ExecuteTemplate(&buf, "summary", ix.summary())
	for i := range rows {
		if changed[rows[i].ID] {
			buf.Write(appendRow(nil, &rows[i]))
		}
	}
	return buf.Bytes()
}

// BenchmarkFleetFrame is one live frame of maxRowsPerFrame changed phones
// at 50,000: the legacy frame against today's (renderFleetUpdate, plus
// the index update the hub does for those phones).
func BenchmarkFleetFrame(b *testing.B) {
	e := amplifierEnv(b)
	changed := map[string]bool{}
	var ids []string
	for i := range maxRowsPerFrame {
		id := mac(i * 97)
		changed[id] = true
		ids = append(ids, id)
	}
	alternate(b, []ampVariant{{name: "legacy"}, {name: "indexed"}}, func(b *testing.B, v ampVariant) {
		b.ReportAllocs()
		for b.Loop() {
			if v.name == "legacy" {
				legacyFleetFrame(e.d, changed)
				continue
			}
			e.d.fleet.update(e.st, ids, time.Now())
			e.d.renderFleetUpdate(changed, 0)
		}
	})
}

// BenchmarkFleetIndexRecount is what the hub spends every attentionEvery
// at 50,000 phones (medians and attention flags over the whole index), and
// the index's own size: the live heap a rebuild of it adds.
func BenchmarkFleetIndexRecount(b *testing.B) {
	e := amplifierEnv(b)
	devs := e.st.Devices(nil)
	now := time.Now()
	runtime.GC()
	before := liveHeap()
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	runtime.GC()
	size := liveHeap() - before
	for b.Loop() {
		ix.mu.Lock()
		ix.recountLocked(now)
		ix.mu.Unlock()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB-index")
	runtime.KeepAlive(devs)
}

// BenchmarkOtherPublicPages is what the other gated pages cost at 50,000
// phones. /firmware counts the fleet index by device path (it copied the
// whole fleet out of the store until 2026-12-06: 265 ms and 172 MB a
// request, now 6.5 ms and 51 KB); the render gate caps how many run at
// once.
func BenchmarkOtherPublicPages(b *testing.B) {
	e := amplifierEnv(b)
	for _, path := range []string{"/firmware", "/testdevices", "/phone/" + mac(4242)} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) { benchPage(b, e.d, path) })
	}
}

// benchPage serves path over and over and reports the page's size.
func benchPage(b *testing.B, d *Dashboard, path string) {
	serve := servePaged(d, path)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		w := &discardResponse{h: http.Header{}}
		serve(w)
		size = w.n
	}
	b.ReportMetric(float64(size)/(1<<10), "KiB/page")
}
