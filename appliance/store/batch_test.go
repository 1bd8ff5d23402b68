package store

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"
)

func TestReadsSeeEveryObservation(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	sub := s.Subscribe(8)
	for i := range 3 {
		s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5", Time: t0.Add(time.Duration(i))})
	}
	if n := len(s.Events(nil, "IP:10.0.0.5")); n != 3 {
		t.Errorf("Events right after Observe: %d, want 3", n)
	}
	if n := len(sub.C); n != 6 {
		t.Errorf("%d changes published once read, want 6", n)
	}
}

// TestWatchSetFiresOnObserve: with nobody reading, the flusher applies the
// batch of observations within FlushInterval.
func TestWatchSetFiresOnObserve(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Millisecond})
	ws := memdb.NewWatchSet()
	s.Devices(ws)
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.WatchCtx(ctx); err != nil {
		t.Fatal("Devices watch did not fire on Observe")
	}
}
