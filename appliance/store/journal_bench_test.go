package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkJournalCommit is the journal's write path: 64 observations and
// an operator change, written and fsynced together. Run it with the state
// directory on tmpfs (TMPDIR=/dev/shm) to see the CPU cost rather than the
// disk's.
func BenchmarkJournalCommit(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{FlushInterval: time.Hour, MaxEventsPerDevice: 5, Logger: lazy.Logger})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for range 64 {
			s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)})
			i++
		}
		if err := s.AddTestDevice(TestDevice{ID: "SERIAL", Kind: TestDeviceSerial}); err != nil {
			b.Fatal(err)
		}
	}
}
