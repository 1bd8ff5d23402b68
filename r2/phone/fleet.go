package phone

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FleetConfig is many phones run together.
type FleetConfig struct {
	// Phones are run in order as workers free up. A phone without a Client
	// (nor DNS or LocalIP, which give it a transport of its own)
	// shares one FleetTransport sized to the concurrency.
	Phones []Config
	// Concurrency is how many phones run at once. Default (0): all of
	// them, at most DefaultConcurrency.
	Concurrency int
}

// DefaultConcurrency bounds the phones of a fleet that run at once when
// FleetConfig.Concurrency is zero. Each running phone holds a connection
// (two while a cut download resumes) and a DNS socket: 1000 of them stay
// well inside a 4096-connection appliance and a 20,000-descriptor ulimit,
// and a finished phone closes its connections before the next one starts.
const DefaultConcurrency = 1000

// Summary is what a fleet did. Latencies are of check-ins only (from send to
// the last byte of the answer), over every check-in of every phone.
type Summary struct {
	Phones, Done, Failed, CheckIns int
	Elapsed                        time.Duration
	CheckInsPerSec                 float64
	P50, P90, P99, Max             time.Duration
	Walks                          []Walk // in the order of FleetConfig.Phones
}

// summaryFailures is how many failed walks Summary.String lists.
const summaryFailures = 5

// RunFleet runs every phone of fc and summarises them. It returns when all
// walks are over or ctx is done (then the unfinished walks fail with ctx's
// error).
func RunFleet(ctx context.Context, fc FleetConfig) Summary {
	n := len(fc.Phones)
	workers := fc.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	workers = min(workers, n)
	shared := &http.Client{Transport: FleetTransport(workers)}
	defer shared.CloseIdleConnections()

	walks := make([]Walk, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				cfg := fc.Phones[i]
				if cfg.Client == nil && cfg.DNS == "" && !cfg.LocalIP.IsValid() {
					cfg.Client = shared
				}
				walks[i] = Run(ctx, cfg)
			}
		})
	}
	wg.Wait()
	return summarize(walks, time.Since(start))
}

func summarize(walks []Walk, elapsed time.Duration) Summary {
	s := Summary{Phones: len(walks), Elapsed: elapsed, Walks: walks}
	var lat []time.Duration
	for _, w := range walks {
		if w.Err != nil {
			s.Failed++
		} else {
			s.Done++
		}
		s.CheckIns += w.CheckIns
		lat = append(lat, w.Latencies...)
	}
	if elapsed > 0 {
		s.CheckInsPerSec = float64(s.CheckIns) / elapsed.Seconds()
	}
	slices.Sort(lat)
	s.P50, s.P90, s.P99 = percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	return s
}

// percentile is the nearest-rank percentile of sorted; zero when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// String is a few lines for people: counts, throughput, latency
// percentiles and the first failed walks.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d phones: %d done, %d failed\n", s.Phones, s.Done, s.Failed)
	fmt.Fprintf(&b, "%d check-ins in %s: %.1f check-ins/s\n", s.CheckIns, s.Elapsed.Round(time.Millisecond), s.CheckInsPerSec)
	fmt.Fprintf(&b, "check-in latency: p50 %s, p90 %s, p99 %s, max %s\n",
		roundLatency(s.P50), roundLatency(s.P90), roundLatency(s.P99), roundLatency(s.Max))
	if s.Failed == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "failures (first %d of %d):\n", min(s.Failed, summaryFailures), s.Failed)
	shown := 0
	for _, w := range s.Walks {
		if w.Err != nil && shown < summaryFailures {
			fmt.Fprintf(&b, "  %s\n", w)
			shown++
		}
	}
	return b.String()
}

func roundLatency(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// fakeOUI is the first half of every NewMAC address. 0x02 in the first octet
// is the IEEE "locally administered" bit: no vendor owns such an address, so
// a simulated phone can never be mistaken for (or collide with) a real
// device's burned-in MAC on the lab network. It is fake and for tests only.
const fakeOUI = "02AA7A"

// NewMAC is the i-th deterministic fake MAC for a fleet: fakeOUI followed by
// i as six upper-case hex digits ("02AA7A000001" for 1). i wraps after
// 16777215.
func NewMAC(i int) string {
	return fmt.Sprintf("%s%06X", fakeOUI, uint32(i)&0xFFFFFF)
}
