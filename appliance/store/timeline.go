package store

import (
	"cmp"
	"slices"
)

// chunkSize is how many events share one backing array in a timeline.
const chunkSize = 32

// timeline is one phone's events, oldest first: a row of the events table,
// so that an Observe writes one small row instead of inserting an event
// row and deleting another.
//
// Appending makes a new timeline that shares the chunks with the old one:
// the new event goes into a slot past the end of every older timeline of
// the device, so readers holding one never see it change. That holds only
// because timelines of a device form a single chain: appended must be
// called on the newest one (the writer's view), never twice on the same.
// An append costs one small allocation whatever the bound.
//
// A timeline keeps between bound and bound+chunkSize-1 events (whole chunks
// are dropped from the front); events reports only the newest bound.
type timeline struct {
	DeviceID string
	chunks   [][]*Event // each chunkSize long
	first    int        // slot of the oldest event in chunks[0]
	n        int
}

// appended is t with ev added, trimmed to bound. t may be nil.
func (t *timeline) appended(deviceID string, ev *Event, bound int) *timeline {
	nt := &timeline{}
	if t != nil {
		*nt = *t
	}
	nt.DeviceID = deviceID
	end := nt.first + nt.n
	if end == len(nt.chunks)*chunkSize {
		nt.chunks = append(nt.chunks, make([]*Event, chunkSize))
	}
	nt.chunks[end/chunkSize][end%chunkSize] = ev
	nt.n++
	for len(nt.chunks) > 1 && nt.n-(chunkSize-nt.first) >= bound {
		nt.n -= chunkSize - nt.first
		nt.first = 0
		nt.chunks = nt.chunks[1:]
	}
	return nt
}

// events returns copies of the newest bound events, oldest first.
func (t *timeline) events(bound int) []Event {
	if t == nil {
		return nil
	}
	skip := max(t.n-bound, 0)
	out := make([]Event, 0, t.n-skip)
	for i := t.first + skip; i < t.first+t.n; i++ {
		out = append(out, *t.chunks[i/chunkSize][i%chunkSize])
	}
	return out
}

// all calls fn for every event kept, oldest first.
func (t *timeline) all(fn func(*Event)) {
	if t == nil {
		return
	}
	for i := t.first; i < t.first+t.n; i++ {
		fn(t.chunks[i/chunkSize][i%chunkSize])
	}
}

// mergeTimelines is a new timeline for deviceID holding the events of a
// and b in Seq order, each re-labelled with deviceID, trimmed to bound.
func mergeTimelines(deviceID string, a, b *timeline, bound int) *timeline {
	var evs []*Event
	a.all(func(e *Event) { evs = append(evs, e) })
	b.all(func(e *Event) { evs = append(evs, e) })
	slices.SortFunc(evs, func(x, y *Event) int { return cmp.Compare(x.Seq, y.Seq) })
	var t *timeline
	for _, e := range evs {
		if e.DeviceID != deviceID {
			relabelled := *e
			relabelled.DeviceID = deviceID
			e = &relabelled
		}
		t = t.appended(deviceID, e, bound)
	}
	return t
}
