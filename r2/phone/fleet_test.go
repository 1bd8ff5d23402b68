package phone

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/images"
)

func TestRunFleet(t *testing.T) {
	f := newFakeServer(t, testChain, func(f *fakeServer) { f.imageSize = 4 << 10 })
	const phones, rounds = 200, 2
	fc := FleetConfig{}
	for i := range phones {
		cfg := testConfig(f)
		cfg.Identity.MAC, cfg.Identity.Serial = NewMAC(i), fmt.Sprint(i)
		cfg.Rounds = rounds
		cfg.CutAt = 0.5
		fc.Phones = append(fc.Phones, cfg)
	}
	s := RunFleet(t.Context(), fc)
	if s.Phones != phones || s.Done != phones || s.Failed != 0 {
		t.Fatalf("summary:\n%s", s)
	}
	if want := phones * (3 + rounds); s.CheckIns != want || len(f.seenCheckIns()) != want {
		t.Errorf("CheckIns %d, server saw %d, want %d", s.CheckIns, len(f.seenCheckIns()), want)
	}
	if !(0 < s.P50 && s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max && s.Max <= s.Elapsed) {
		t.Errorf("latencies not ordered: p50 %v p90 %v p99 %v max %v elapsed %v", s.P50, s.P90, s.P99, s.Max, s.Elapsed)
	}
	if s.CheckInsPerSec <= 0 {
		t.Errorf("CheckInsPerSec = %v", s.CheckInsPerSec)
	}
	seen := map[string]bool{}
	for i, w := range s.Walks {
		if w.Identity.MAC != NewMAC(i) || len(w.Path) != 3 || w.Path[2] != v(release) {
			t.Errorf("walk %d: %s", i, w)
		}
		seen[w.Identity.MAC] = true
	}
	if len(seen) != phones {
		t.Errorf("%d distinct MACs for %d phones", len(seen), phones)
	}
	t.Logf("\n%s", s)
}

func TestRunFleetConcurrencyAndFailures(t *testing.T) {
	f := newFakeServer(t, map[string]string{beta: interim, interim: interim})
	fc := FleetConfig{Concurrency: 3}
	for i := range 10 {
		cfg := testConfig(f)
		cfg.Identity.MAC = NewMAC(i)
		if i%2 == 1 {
			cfg.Version = v(release) // at target: done
		}
		fc.Phones = append(fc.Phones, cfg)
	}
	s := RunFleet(t.Context(), fc)
	if s.Done != 5 || s.Failed != 5 || s.CheckIns != 5*2+5*1 {
		t.Errorf("summary:\n%s", s)
	}
	for _, want := range []string{"10 phones: 5 done, 5 failed\n", "failures (first 5 of 5):\n  02AA7A000000 IP8540: 0.0.0.0 → 1.0.522.103 (2 check-ins): check-in 2: offer: server offered"} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("summary does not contain %q:\n%s", want, s)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, ms(i))
	}
	walks := []Walk{
		{CheckIns: 60, Latencies: lat[:60], Path: []images.Version{{}}},
		{CheckIns: 40, Latencies: lat[60:], Path: []images.Version{{}}, Err: errors.New("boom")},
	}
	got := summarize(walks, 2*time.Second)
	got.Walks = nil
	want := Summary{Phones: 2, Done: 1, Failed: 1, CheckIns: 100, Elapsed: 2 * time.Second, CheckInsPerSec: 50,
		P50: ms(50), P90: ms(90), P99: ms(99), Max: ms(100)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if empty := summarize(nil, 0); empty.P50 != 0 || empty.Max != 0 || empty.CheckInsPerSec != 0 {
		t.Errorf("empty summary: %+v", empty)
	}
}

func TestNewMAC(t *testing.T) {
	for i, want := range map[int]string{0: "02AA7A000000", 1: "02AA7A000001", 0xABCDEF: "02AA7AABCDEF", 1 << 24: "02AA7A000000"} {
		if got := NewMAC(i); got != want {
			t.Errorf("NewMAC(%d) = %q, want %q", i, got, want)
		}
	}
}

// BenchmarkFleetCheckIns measures the simulator's check-in rate against a
// trivial in-process server that always answers "nothing to do": 64 phones
// at target share b.N check-ins between them.
func BenchmarkFleetCheckIns(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write([]byte(nothingResponse))
	}))
	defer srv.Close()
	const phones = 64
	rounds := max((b.N+phones-1)/phones-1, 0)
	fc := FleetConfig{}
	for i := range phones {
		fc.Phones = append(fc.Phones, Config{Server: srv.URL, Identity: Identity{
			DeviceType: "UCPhone", MAC: NewMAC(i), Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU",
		}, Version: images.MustParseVersion(release), Rounds: rounds})
	}
	b.ReportAllocs()
	b.ResetTimer()
	s := RunFleet(b.Context(), fc)
	b.StopTimer()
	if s.Failed != 0 {
		b.Fatalf("summary:\n%s", s)
	}
	b.ReportMetric(s.CheckInsPerSec, "checkins/s")
	b.ReportMetric(float64(s.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(s.P99.Microseconds()), "p99-µs")
}

// TestRunFleetOwnAddresses: each phone of a loopback fleet checks in and
// downloads from its own address only, and a finished phone leaves no
// connection open.
func TestRunFleetOwnAddresses(t *testing.T) {
	f := newFakeServer(t, testChain, func(f *fakeServer) { f.imageSize = 4 << 10 })
	const phones = 40
	ips, err := LoopbackAddrs(netip.Addr{}, phones)
	if err != nil {
		t.Fatal(err)
	}
	fc := FleetConfig{Concurrency: 8}
	for i := range phones {
		cfg := testConfig(f)
		cfg.Identity.MAC, cfg.LocalIP, cfg.Rounds, cfg.CutAt = NewMAC(i), ips[i], 1, 0.5
		fc.Phones = append(fc.Phones, cfg)
	}
	s := RunFleet(t.Context(), fc)
	if s.Done != phones {
		t.Fatalf("summary:\n%s", s)
	}
	froms := f.seenFroms()
	if len(froms) != phones {
		t.Errorf("server saw %d client addresses, want %d", len(froms), phones)
	}
	for i, ip := range ips {
		var macs []string
		gets := 0
		for _, did := range froms[ip.String()] {
			if strings.HasPrefix(did, "GET ") {
				gets++
			} else {
				macs = append(macs, did)
			}
		}
		// Three check-ins of the walk and one round; two hops of two files,
		// each cut and resumed.
		if want := slices.Repeat([]string{NewMAC(i)}, 4); !slices.Equal(macs, want) || gets != 8 {
			t.Errorf("from %s: check-ins %v and %d downloads; want %v and 8", ip, macs, gets, want)
		}
	}
	f.waitConnsClosed()
}
