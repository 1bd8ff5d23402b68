package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
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

// checkInEvent is a check-in as a CX700 on the beta build makes it.
func checkInEvent(seq uint64) *Event {
	return &Event{
		Seq: seq, DeviceID: mac, Time: time.Date(2026, 12, 6, 9, 0, int(seq), 0, time.UTC), Kind: EventCheckIn,
		IP: "10.0.0.5", MAC: mac, Serial: "1108015382", DevicePath: cx700,
		Reported: vBeta, Offered: vInterim, Target: vRelease, Path: []images.Version{vInterim, vRelease}, File: "CPE.nbt",
	}
}

func TestTimelineBound(t *testing.T) {
	tests := []struct {
		name      string
		bound, n  int
		wantFirst uint64
	}{
		{"under the bound", 40, 10, 1},
		{"at the bound", 40, 40, 1},
		{"past the bound", 40, 100, 61},
		{"many times the bound", 3, 70, 68},
		{"bound of one", 1, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl *timeline
			for i := 1; i <= tt.n; i++ {
				tl = tl.appended(mac, checkInEvent(uint64(i)), tt.bound)
				if tl.n != min(i, tt.bound) {
					t.Fatalf("after %d events the timeline keeps %d, want %d", i, tl.n, min(i, tt.bound))
				}
			}
			if diff := cmp.Diff(seqRange(tt.wantFirst, uint64(tt.n)), seqs(tl.events(tt.bound))); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimelineReadersSeeNoChange: readers hold old timelines while the
// writer appends to the newest, across new buffers and trims.
func TestTimelineReadersSeeNoChange(t *testing.T) {
	var tl *timeline
	var held []*timeline
	var want [][]Event
	for i := 1; i <= 200; i++ {
		tl = tl.appended(mac, checkInEvent(uint64(i)), 40)
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
// between the appends.
func TestTimelineReadersSeeNoChangeWithByteCap(t *testing.T) {
	var tl *timeline
	var held []*timeline
	var want [][]Event
	for i := 1; i <= 300; i++ {
		tl = tl.add("d", &Event{Seq: uint64(i), DeviceID: "d", Detail: strings.Repeat("x", (i%5)*400)}, 1000, 8<<10)
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

// sizedEvent is an event of about n bytes: its detail, stored in full.
func sizedEvent(seq uint64, n int) *Event {
	return &Event{Seq: seq, DeviceID: "d", Kind: EventDNS, Detail: strings.Repeat("d", max(n, maxInternLen+1))}
}

func TestTimelineByteCap(t *testing.T) {
	tests := []struct {
		name     string
		event    func(seq uint64) *Event
		maxBytes int
		n        int
		wantMin  int // fewest events kept at the end
	}{
		{"ordinary events: the count bound rules", checkInEvent, DefaultMaxTimelineBytes, 2000, 500},
		{"large events: the byte cap rules", func(s uint64) *Event { return sizedEvent(s, 4<<10) }, 64 << 10, 500, (64 << 10) * 3 / 4 / (4 << 10)},
		{"events near the cap: one at a time", func(s uint64) *Event { return sizedEvent(s, 40<<10) }, 64 << 10, 100, 1},
		{"one event over the cap is kept alone", func(s uint64) *Event { return sizedEvent(s, 100<<10) }, 64 << 10, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl *timeline
			for i := 1; i <= tt.n; i++ {
				tl = tl.add("d", tt.event(uint64(i)), 500, tt.maxBytes)
				if tl.size() > tt.maxBytes && tl.n > 1 {
					t.Fatalf("after %d events the timeline holds %d events in %d bytes, over the cap %d", i, tl.n, tl.size(), tt.maxBytes)
				}
				if tl.n > 500 {
					t.Fatalf("after %d events the timeline holds %d events, over the bound", i, tl.n)
				}
			}
			evs := tl.events(500)
			if len(evs) < tt.wantMin || evs[len(evs)-1].Seq != uint64(tt.n) {
				t.Errorf("kept %d events, newest %d; want at least %d and the newest, %d", len(evs), evs[len(evs)-1].Seq, tt.wantMin, tt.n)
			}
			if diff := cmp.Diff(seqRange(uint64(tt.n-len(evs)+1), uint64(tt.n)), seqs(evs)); diff != "" {
				t.Errorf("kept events are not the newest, in order (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTimelineHoldsOnlyWhatItKeeps: the newest timeline's buffer is sized
// by the events it keeps, not by how many were ever appended (re-slicing
// kept everything dropped reachable).
func TestTimelineHoldsOnlyWhatItKeeps(t *testing.T) {
	for _, maxBytes := range []int{0, 16 << 10} {
		var tl *timeline
		for i := 1; i <= 5_000; i++ {
			tl = tl.add("d", sizedEvent(uint64(i), 512), 100, maxBytes)
		}
		live := tl.encodedLen()
		if limit := 2*live + minSlack; tl.size() > limit {
			t.Errorf("byte cap %d: the timeline's buffer is %d bytes for %d bytes of events", maxBytes, tl.size(), live)
		}
		if maxBytes == 0 && tl.n != 100 {
			t.Errorf("no byte cap: keeps %d events, want 100", tl.n)
		}
	}
}

// TestTimelineSmall: an ordinary event takes a few tens of bytes.
func TestTimelineSmall(t *testing.T) {
	var tl *timeline
	for i := 1; i <= 1000; i++ {
		ev := checkInEvent(uint64(i))
		ev.Time = ev.Time.Add(time.Duration(i) * 7 * time.Minute)
		tl = tl.appended(mac, ev, 100)
	}
	if per := tl.encodedLen() / tl.n; per > 32 {
		t.Errorf("a check-in takes %d bytes, want at most 32", per)
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
