package store

import (
	"cmp"
	"slices"
	"unsafe"
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
// are dropped from the front); events reports only the newest bound. When
// a chunk is dropped the list of chunks is copied, so that nothing the
// newest timeline holds refers to a dropped chunk: dropped events are freed
// as soon as no reader holds an older timeline. Bytes is what the events
// held are estimated to cost (eventBytes); withinBytes bounds it.
type timeline struct {
	DeviceID string
	chunks   [][]*Event // each chunkSize long
	first    int        // slot of the oldest event in chunks[0]
	n        int
	bytes    int // eventBytes of the n events held
}

// eventOverhead is what an event costs besides its strings: the struct
// itself and the slot that points at it.
const eventOverhead = int(unsafe.Sizeof(Event{})) + int(unsafe.Sizeof((*Event)(nil)))

// eventBytes estimates the memory an event holds: the struct and every
// string and slice it points to (strings shared with other objects are
// counted as if they were not: an estimate that errs on the large side).
func eventBytes(e *Event) int {
	n := eventOverhead + len(e.DeviceID) + len(e.Kind) + len(e.IP) + len(e.MAC) + len(e.Serial)
	p := e.DevicePath
	n += len(p.DeviceType) + len(p.Vendor) + len(p.Model) + len(p.Revision) + len(p.Locale)
	n += len(e.Path) * int(unsafe.Sizeof(e.Reported))
	n += len(e.File) + len(e.Name) + len(e.SIPStep) + len(e.User) + len(e.UserAgent) + len(e.Handed)
	n += len(e.DirectoryStep) + len(e.DirectoryError) + len(e.Detail)
	return n
}

// appended is t with ev added, trimmed to bound events. t may be nil.
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
	nt.bytes += eventBytes(ev)
	dropped := false
	for len(nt.chunks) > 1 && nt.n-(chunkSize-nt.first) >= bound {
		nt.dropFirstChunk()
		dropped = true
	}
	if dropped {
		nt.chunks = slices.Clone(nt.chunks)
	}
	return nt
}

// dropFirstChunk forgets chunks[0] and the events it holds. The caller
// copies nt.chunks afterwards (the backing array still points at the
// dropped chunk).
func (nt *timeline) dropFirstChunk() {
	for i := nt.first; i < chunkSize && i < nt.first+nt.n; i++ {
		nt.bytes -= eventBytes(nt.chunks[0][i])
	}
	nt.n -= min(chunkSize-nt.first, nt.n)
	nt.first = 0
	nt.chunks = nt.chunks[1:]
}

// withinBytes is t trimmed, oldest first, until the events it holds are
// estimated at no more than maxBytes (0: no limit); the newest event is
// always kept. It returns t itself when t is within the limit. Whole
// chunks are dropped, so a trimmed timeline holds between maxBytes less
// one chunk's events and maxBytes; a single chunk over the limit is copied
// with only its newest events.
func (t *timeline) withinBytes(maxBytes int) *timeline {
	if t == nil || maxBytes <= 0 || t.bytes <= maxBytes {
		return t
	}
	nt := *t
	for len(nt.chunks) > 1 && nt.bytes > maxBytes {
		nt.dropFirstChunk()
	}
	if nt.bytes <= maxBytes {
		nt.chunks = slices.Clone(nt.chunks)
		return &nt
	}
	// One chunk, over the limit on its own: keep its newest events that
	// fit (at least one) in a chunk of their own.
	keep, size := 0, 0
	for i := nt.first + nt.n - 1; i >= nt.first; i-- {
		b := eventBytes(nt.chunks[0][i])
		if keep > 0 && size+b > maxBytes {
			break
		}
		keep, size = keep+1, size+b
	}
	c := make([]*Event, chunkSize)
	copy(c, nt.chunks[0][nt.first+nt.n-keep:nt.first+nt.n])
	nt.chunks, nt.first, nt.n, nt.bytes = [][]*Event{c}, 0, keep, size
	return &nt
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

// newest is the Seq of the newest event kept, 0 for none.
func (t *timeline) newest() uint64 {
	if t == nil || t.n == 0 {
		return 0
	}
	i := t.first + t.n - 1
	return t.chunks[i/chunkSize][i%chunkSize].Seq
}

// mergeTimelines is a new timeline for deviceID holding the events of a
// and b in Seq order, each re-labelled with deviceID, trimmed to bound
// events and maxBytes (0: no limit).
func mergeTimelines(deviceID string, a, b *timeline, bound, maxBytes int) *timeline {
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
	return t.withinBytes(maxBytes)
}
