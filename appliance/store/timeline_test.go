package store

import (
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/google/go-cmp/cmp"
)

func seqs(evs []Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestTimelineBound(t *testing.T) {
	tests := []struct {
		name      string
		bound, n  int
		wantFirst uint64
	}{
		{"under the bound", 40, 10, 1},
		{"at the bound", 40, 40, 1},
		{"past a chunk", 40, 100, 61},
		{"bound below a chunk", 3, 70, 68},
		{"bound of one", 1, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl *timeline
			for i := 1; i <= tt.n; i++ {
				tl = tl.appended("d", &Event{Seq: uint64(i), DeviceID: "d"}, tt.bound)
				if tl.n < min(i, tt.bound) || tl.n >= tt.bound+chunkSize {
					t.Fatalf("after %d events the timeline keeps %d", i, tl.n)
				}
			}
			if diff := cmp.Diff(seqRange(tt.wantFirst, uint64(tt.n)), seqs(tl.events(tt.bound))); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimelineReadersSeeNoChange: readers hold old timelines while the
// writer appends to the newest, across chunk boundaries and trims.
func TestTimelineReadersSeeNoChange(t *testing.T) {
	var tl *timeline
	var held []*timeline
	var want [][]Event
	for i := 1; i <= 200; i++ {
		tl = tl.appended("d", &Event{Seq: uint64(i)}, 40)
		if i%7 == 0 {
			held = append(held, tl)
			want = append(want, tl.events(40))
		}
	}
	for i, h := range held {
		if diff := cmp.Diff(want[i], h.events(40)); diff != "" {
			t.Fatalf("timeline held after %d events changed (-then +now):\n%s", (i+1)*7, diff)
		}
	}
}

// TestTimelineReadersSeeNoChangeWithByteCap: the same, with byte trims
// (whole chunks, and a lone chunk copied) between the appends.
func TestTimelineReadersSeeNoChangeWithByteCap(t *testing.T) {
	var tl *timeline
	var held []*timeline
	var want [][]Event
	for i := 1; i <= 300; i++ {
		tl = tl.appended("d", &Event{Seq: uint64(i), Detail: strings.Repeat("x", (i%5)*400)}, 1000).withinBytes(8 << 10)
		if i%7 == 0 {
			held = append(held, tl)
			want = append(want, tl.events(1000))
		}
	}
	for i, h := range held {
		if diff := cmp.Diff(want[i], h.events(1000)); diff != "" {
			t.Fatalf("timeline held after %d events changed (-then +now):\n%s", (i+1)*7, diff)
		}
	}
}

// sizedEvent is an event whose estimate is about n bytes.
func sizedEvent(seq uint64, n int) *Event {
	return &Event{Seq: seq, DeviceID: "d", Kind: EventDNS, Detail: strings.Repeat("d", max(n-eventOverhead, 0))}
}

func TestTimelineByteCap(t *testing.T) {
	tests := []struct {
		name           string
		size, maxBytes int
		n              int
		wantMin        int // fewest events kept at the end
	}{
		{"ordinary events: the count bound rules", 600, DefaultMaxTimelineBytes, 2000, 500},
		{"large events: the byte cap rules", 4 << 10, 64 << 10, 500, (64<<10)/(4<<10) - chunkSize},
		{"events over a chunk's share: a lone chunk is cut", 40 << 10, 64 << 10, 100, 1},
		{"one event over the cap is kept alone", 100 << 10, 64 << 10, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl *timeline
			for i := 1; i <= tt.n; i++ {
				tl = tl.appended("d", sizedEvent(uint64(i), tt.size), 500).withinBytes(tt.maxBytes)
				sum := 0
				tl.all(func(e *Event) { sum += eventBytes(e) })
				if sum != tl.bytes {
					t.Fatalf("after %d events the timeline counts %d bytes, its events are %d", i, tl.bytes, sum)
				}
				if tl.bytes > tt.maxBytes && tl.n > 1 {
					t.Fatalf("after %d events the timeline holds %d events of %d bytes, over the cap %d", i, tl.n, tl.bytes, tt.maxBytes)
				}
			}
			evs := tl.events(500)
			if len(evs) < max(tt.wantMin, 1) || evs[len(evs)-1].Seq != uint64(tt.n) {
				t.Errorf("kept %d events, newest %d; want at least %d and the newest, %d", len(evs), evs[len(evs)-1].Seq, tt.wantMin, tt.n)
			}
			if diff := cmp.Diff(seqRange(uint64(tt.n-len(evs)+1), uint64(tt.n)), seqs(evs)); diff != "" {
				t.Errorf("kept events are not the newest, in order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimelineReleasesDroppedEvents: once the garbage collector has run,
// no event the newest timeline dropped is alive (re-slicing the list of
// chunks kept the dropped chunks reachable through its backing array).
func TestTimelineReleasesDroppedEvents(t *testing.T) {
	for _, maxBytes := range []int{0, 16 << 10} {
		var tl *timeline
		var all []weak.Pointer[Event]
		for i := 1; i <= 5_000; i++ {
			e := sizedEvent(uint64(i), 512)
			all = append(all, weak.Make(e))
			tl = tl.appended("d", e, 100).withinBytes(maxBytes)
		}
		runtime.GC()
		oldest := tl.events(tl.n)[0].Seq
		alive := 0
		for _, w := range all {
			if e := w.Value(); e != nil && e.Seq < oldest {
				alive++
			}
		}
		if alive > 0 {
			t.Errorf("byte cap %d: %d dropped events still alive (the timeline holds %d)", maxBytes, alive, tl.n)
		}
		runtime.KeepAlive(tl)
	}
}

func TestMergeTimelines(t *testing.T) {
	var a, b *timeline
	for _, s := range []uint64{1, 4, 5} {
		a = a.appended("IP:10.0.0.9", &Event{Seq: s, DeviceID: "IP:10.0.0.9"}, 4)
	}
	for _, s := range []uint64{2, 3, 6} {
		b = b.appended(mac, &Event{Seq: s, DeviceID: mac}, 4)
	}
	m := mergeTimelines(mac, b, a, 4, 0)
	got := m.events(4)
	if diff := cmp.Diff([]uint64{3, 4, 5, 6}, seqs(got)); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.DeviceID != mac {
			t.Errorf("event %d names %s, want %s", e.Seq, e.DeviceID, mac)
		}
	}
	if a.events(4)[0].DeviceID != "IP:10.0.0.9" {
		t.Error("merging relabelled the placeholder's own events")
	}
	if mergeTimelines(mac, nil, nil, 4, 0) != nil {
		t.Error("merging nothing made a timeline")
	}
}
