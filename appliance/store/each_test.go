package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-memdb"
)

// eachPhone is a check-in of the phone with the MAC id.
func eachPhone(id string, ip int) Event {
	return Event{Kind: EventCheckIn, MAC: id, IP: fmt.Sprintf("10.9.%d.%d", ip/256, ip%256), DevicePath: cx700, Reported: vBeta}
}

// collect is what EachDevice shows: a copy of every phone it visits.
func collect(s *Store) []Device {
	var out []Device
	s.EachDevice(nil, func(d *Device) bool {
		out = append(out, *d)
		return true
	})
	return out
}

// TestEachDeviceVisitsEveryPhoneOnce: every phone, each once, in ID order,
// as Devices copies them, the open batch included; and fn's false stops
// the walk at once.
func TestEachDeviceVisitsEveryPhoneOnce(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy) // no flusher: only reads commit
	const n = 3*maxBatch + 17            // full batches committed, the last one open
	for i, k := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		s.Observe(eachPhone(fmt.Sprintf("0004F2%06X", k), i))
	}
	if !s.dirty.Load() {
		t.Fatal("no batch is open: the test does not check that EachDevice commits it")
	}
	got := collect(s)
	if len(got) != n {
		t.Fatalf("visited %d phones, want %d", len(got), n)
	}
	for i := range got {
		if want := fmt.Sprintf("0004F2%06X", i); got[i].ID != want {
			t.Fatalf("phone %d is %s, want %s (skipped, repeated or out of order)", i, got[i].ID, want)
		}
	}
	if diff := cmp.Diff(s.Devices(nil), got); diff != "" {
		t.Errorf("EachDevice differs from Devices (-Devices +EachDevice):\n%s", diff)
	}

	s.Observe(eachPhone("0004F2FFFFFF", n)) // in the open batch again
	var visited []string
	s.EachDevice(nil, func(d *Device) bool {
		visited = append(visited, d.ID)
		return len(visited) < 10
	})
	if len(visited) != 10 || visited[0] != "0004F2000000" || visited[9] != "0004F2000009" {
		t.Errorf("stopped after %d phones %v, want the first 10", len(visited), visited)
	}
	if last := collect(s); last[len(last)-1].ID != "0004F2FFFFFF" {
		t.Errorf("the phone observed just before the call is missing: last is %s", last[len(last)-1].ID)
	}
}

// TestEachDeviceSeesOneSnapshot: while a writer checks phones in pair by
// pair, A<k> and then B<k>, each walk sees the fleet at one moment between
// two observations. The A phones sort before every B phone, so a walk that
// read the live state, or half a batch, would meet a B<k> that checked in
// more often than its A<k>. A walk also sees every observation made before
// it began.
func TestEachDeviceSeesOneSnapshot(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: 10 * time.Millisecond})
	const pairs = maxBatch // a round spans two batches
	ids := func(k int) (a, b string) { return fmt.Sprintf("A%05d", k), fmt.Sprintf("B%05d", k) }
	for k := range pairs {
		a, b := ids(k)
		s.Observe(eachPhone(a, 2*k))
		s.Observe(eachPhone(b, 2*k+1))
	}
	var observed atomic.Int64 // check-ins after the first, returned from Observe
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for k := range pairs {
				select {
				case <-stop:
					return
				default:
				}
				a, b := ids(k)
				s.Observe(eachPhone(a, 2*k))
				observed.Add(1)
				s.Observe(eachPhone(b, 2*k+1))
				observed.Add(1)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	counts := make([]int, 2*pairs)
	for walk := 0; walk < 300 || observed.Load() < 4*pairs; walk++ {
		before := observed.Load()
		i, order := 0, ""
		s.EachDevice(nil, func(d *Device) bool {
			if i < len(counts) {
				counts[i] = d.CheckIns
			}
			if d.ID <= order {
				t.Errorf("walk %d: %s after %s", walk, d.ID, order)
			}
			i, order = i+1, d.ID
			return true
		})
		after := observed.Load()
		if i != 2*pairs {
			t.Fatalf("walk %d visited %d phones, want %d", walk, i, 2*pairs)
		}
		if msg := checkPairs(counts[:pairs], counts[pairs:]); msg != "" {
			t.Fatalf("walk %d is not one moment of the fleet: %s", walk, msg)
		}
		seen := int64(-2 * pairs)
		for _, c := range counts {
			seen += int64(c)
		}
		if seen < before || seen > after+1 {
			t.Fatalf("walk %d saw %d check-ins after the first round; %d had returned before it began, %d after it ended", walk, seen, before, after)
		}
	}
}

// checkPairs says what is wrong with the check-in counts of the A and B
// phones, if anything: at any moment between two observations of the
// writer, each A<k> is even with its B<k> or one ahead, and at most one is
// ahead.
func checkPairs(a, b []int) string {
	ahead := 0
	for k := range a {
		switch d := a[k] - b[k]; {
		case d == 1:
			ahead++
		case d != 0:
			return fmt.Sprintf("A%05d checked in %d times, B%05d %d times", k, a[k], k, b[k])
		}
	}
	if ahead > 1 {
		return fmt.Sprintf("%d A phones are ahead of their B phone, want at most one", ahead)
	}
	return ""
}

// TestEachDeviceWatch: the WatchSet fires when a phone changes after the
// walk.
func TestEachDeviceWatch(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(eachPhone("0004F2000001", 1))
	ws := memdb.NewWatchSet()
	s.EachDevice(ws, func(*Device) bool { return true })
	s.Observe(eachPhone("0004F2000002", 2))
	s.Device("") // a read commits the batch
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ws.WatchCtx(ctx); err != nil {
		t.Errorf("the watch did not fire for a new phone: %v", err)
	}
}
