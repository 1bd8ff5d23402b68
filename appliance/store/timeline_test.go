package store

import (
	"testing"

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

func TestMergeTimelines(t *testing.T) {
	var a, b *timeline
	for _, s := range []uint64{1, 4, 5} {
		a = a.appended("IP:10.0.0.9", &Event{Seq: s, DeviceID: "IP:10.0.0.9"}, 4)
	}
	for _, s := range []uint64{2, 3, 6} {
		b = b.appended(mac, &Event{Seq: s, DeviceID: mac}, 4)
	}
	m := mergeTimelines(mac, b, a, 4)
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
	if mergeTimelines(mac, nil, nil, 4) != nil {
		t.Error("merging nothing made a timeline")
	}
}
