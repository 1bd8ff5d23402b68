package dashboard

import (
	"testing"
)

// catchUpFleet is the fleet BenchmarkCatchUpLagged rebuilds the index of.
const catchUpFleet = 100000

// BenchmarkCatchUpLagged is the hub's catch-up after its change feed
// lagged, at 100,000 phones on a real store: the fleet index rebuilt from
// the store. Its B/op is what the rebuild allocates: it walks the store in
// place (until 2026-12-06 it copied every phone out of the store first,
// some 50 MB). The benchmark only calls hub.catchUp, so the same file runs
// against an older tree for a side-by-side figure.
func BenchmarkCatchUpLagged(b *testing.B) {
	e := fleetEnv(b, catchUpFleet)
	if n := e.d.fleet.summary().Total; n != catchUpFleet {
		b.Fatalf("index holds %d phones, want %d", n, catchUpFleet)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.d.hub.catchUp(&indexState{pending: map[string]bool{}, lagged: true})
	}
	if n := e.d.fleet.summary().Total; n != catchUpFleet {
		b.Fatalf("index holds %d phones after the catch-up, want %d", n, catchUpFleet)
	}
}
