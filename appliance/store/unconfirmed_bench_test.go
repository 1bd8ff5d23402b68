package store

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heapAfter is the live heap after fn, less the live heap before it, with
// whatever fn returns kept alive.
func heapAfter(fn func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := fn()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkSpoofedDNSHeap: the live heap of a store after DNS queries from
// 20,000 forged sources, with the default bound of unconfirmed devices and
// with none (what the store did before it had one). Run with -count to
// alternate the two.
func BenchmarkSpoofedDNSHeap(b *testing.B) {
	for _, bc := range []struct {
		name  string
		bound int
	}{{"bound=4096", DefaultMaxUnconfirmedDevices}, {"unbounded", 1 << 30}} {
		b.Run(bc.name, func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				dir := b.TempDir()
				var s *Store
				heap = heapAfter(func() any {
					var err error
					s, err = Open(dir, Options{FlushInterval: time.Hour, MaxUnconfirmedDevices: bc.bound, Logger: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					for i := range 20_000 {
						s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("127.10.%d.%d", i/250, i%250), Name: "ucupdates-r2.lab.test",
							Detail: "A ucupdates-r2.lab.test → NOERROR"})
					}
					// Write the journal out, as the flusher does every
					// FlushInterval: what is left is the state.
					if err := s.Snapshot(); err != nil {
						b.Fatal(err)
					}
					return s
				})
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		})
	}
}

// BenchmarkTimelineHeap: the live heap of one phone's timeline after
// 10,000 events of about 2 KiB, with the default byte cap and with none.
func BenchmarkTimelineHeap(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBytes int
	}{{"cap=512KiB", DefaultMaxTimelineBytes}, {"no-cap", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				heap = heapAfter(func() any {
					var tl *timeline
					for i := range 10_000 {
						tl = tl.appended("d", &Event{Seq: uint64(i), Kind: EventUpload, Detail: strings.Repeat("x", 2<<10)}, 500).withinBytes(bc.maxBytes)
					}
					return tl
				})
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		})
	}
}
