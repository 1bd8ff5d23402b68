package store

import (
	"cmp"
	"slices"
)

// timeline is one phone's newest events, oldest first, encoded (see
// eventcode.go): a row of the events table, so that an Observe writes one
// small row instead of inserting an event row and deleting another.
//
// The events are buf[start:], n of them. Appending makes a new timeline
// that shares buf with the old one: the new event is written past
// len(buf), where no older timeline of the device looks, so readers
// holding one never see it change. That holds only because timelines of a
// device form a single chain: add is called on the newest one (the
// writer's view), never twice on the same. The oldest events are dropped
// by moving start; when buf is full, the events kept are written into a
// new buffer with room for about half as many again, so a timeline holds
// at most bound events and, with a byte limit, a buffer of at most that
// many bytes: once no reader holds an older timeline, nothing else of the
// dropped events stays in memory. The full history is in the journal.
type timeline struct {
	DeviceID string
	key      []byte // DeviceID and a NUL: the events table's key, made once per device
	buf      []byte
	start    int
	n        int
	base     eventBase
}

// minSlack is the least room a new buffer has for appends.
const minSlack = 64

// appended is t with ev added, trimmed to bound events. t may be nil.
func (t *timeline) appended(deviceID string, ev *Event, bound int) *timeline {
	return t.add(deviceID, ev, bound, 0)
}

// add is t with ev added, trimmed to bound events and to a buffer of at
// most maxBytes (0: no limit; the newest event is always kept). t may be
// nil.
func (t *timeline) add(deviceID string, ev *Event, bound, maxBytes int) *timeline {
	if t != nil && t.n > 0 && t.DeviceID == deviceID {
		var scratch [128]byte
		enc := appendEvent(scratch[:0], ev, &t.base)
		if len(t.buf)+len(enc) <= cap(t.buf) {
			nt := *t
			nt.buf = append(t.buf, enc...)
			nt.n++
			nt.dropOldest(bound)
			return &nt
		}
	}
	return t.rebuilt(deviceID, ev, bound, maxBytes)
}

// dropOldest forgets the oldest events beyond bound.
func (t *timeline) dropOldest(bound int) {
	for t.n > max(bound, 1) {
		t.start += eventLen(t.buf, t.start)
		t.n--
	}
}

// size is the memory the timeline's events take: its buffer.
func (t *timeline) size() int {
	if t == nil {
		return 0
	}
	return cap(t.buf)
}

// withinBytes is t with its oldest events dropped until its buffer is at
// most maxBytes (0: no limit); the newest event is always kept. It returns
// t itself when t is within the limit.
func (t *timeline) withinBytes(maxBytes int) *timeline {
	if t == nil || t.n == 0 || maxBytes <= 0 || cap(t.buf) <= maxBytes {
		return t
	}
	return t.rebuilt(t.DeviceID, nil, t.n, maxBytes)
}

// rebuilt writes the newest events of t, and ev (when not nil), into a
// new buffer, at most bound events and maxBytes bytes (0: no limit), with
// room to append. The events are written again against a new base only
// when the phone's home address or serial changed.
func (t *timeline) rebuilt(deviceID string, ev *Event, bound, maxBytes int) *timeline {
	olds := t.offsets()
	keep := max(bound, 1)
	if ev != nil {
		keep--
	}
	olds = olds[max(len(olds)-keep, 0):]

	base, same := t.nextBase(deviceID, ev, olds)
	enc := make([]byte, 0, t.encodedLen()+minSlack)
	sizes := make([]int, 0, len(olds)+1)
	var e Event
	for _, off := range olds {
		before := len(enc)
		if same {
			enc = append(enc, t.buf[off:off+eventLen(t.buf, off)]...)
		} else {
			decodeEvent(t.buf, off, &t.base, &e)
			enc = appendEvent(enc, &e, &base)
		}
		sizes = append(sizes, len(enc)-before)
	}
	if ev != nil {
		before := len(enc)
		enc = appendEvent(enc, ev, &base)
		sizes = append(sizes, len(enc)-before)
	}
	// Dropping events for the byte limit drops a quarter more, so that
	// the next appends do not each write a new buffer.
	limit := maxBytes
	if maxBytes > 0 && len(enc) > maxBytes {
		limit = maxBytes - maxBytes/4
	}
	from, dropped := 0, 0
	for maxBytes > 0 && len(enc)-from > limit && dropped < len(sizes)-1 {
		from += sizes[dropped]
		dropped++
	}
	live := len(enc) - from
	room := live + max(live/2, minSlack)
	if maxBytes > 0 {
		room = min(room, max(maxBytes, live))
	}
	nt := &timeline{DeviceID: deviceID, base: base, n: len(sizes) - dropped}
	nt.buf = append(make([]byte, 0, room), enc[from:]...)
	if t != nil && t.DeviceID == deviceID && t.key != nil {
		nt.key = t.key
	} else {
		nt.key = append([]byte(deviceID), 0)
	}
	return nt
}

// nextBase is the base for a rebuilt timeline whose newest event is ev
// (nil: the newest of olds): home address and serial the newest event's.
// same says it is t's own, so that t's events need not be written again.
func (t *timeline) nextBase(deviceID string, ev *Event, olds []int) (eventBase, bool) {
	var newest Event
	switch {
	case ev != nil:
		newest = *ev
	case len(olds) > 0:
		decodeEvent(t.buf, olds[len(olds)-1], &t.base, &newest)
	}
	ip, serial := newest.IP, newest.Serial
	if t != nil && t.DeviceID == deviceID {
		ip, serial = cmp.Or(ip, t.base.ip), cmp.Or(serial, t.base.serial)
		if t.n > 0 && ip == t.base.ip && serial == t.base.serial {
			return t.base, true
		}
	}
	return baseFor(deviceID, &newest, ip, serial), false
}

// encodedLen is how many bytes t's events take.
func (t *timeline) encodedLen() int {
	if t == nil {
		return 0
	}
	return len(t.buf) - t.start
}

// offsets are where t's events start in t.buf, oldest first.
func (t *timeline) offsets() []int {
	if t == nil {
		return nil
	}
	offs := make([]int, 0, t.n)
	for off, i := t.start, 0; i < t.n; i++ {
		offs = append(offs, off)
		off += eventLen(t.buf, off)
	}
	return offs
}

// events returns the newest bound events, oldest first.
func (t *timeline) events(bound int) []Event {
	if t == nil {
		return nil
	}
	skip := max(t.n-bound, 0)
	out := make([]Event, t.n-skip)
	off := t.start
	for range skip {
		off += eventLen(t.buf, off)
	}
	for i := range out {
		off = decodeEvent(t.buf, off, &t.base, &out[i])
	}
	return out
}

// all calls fn for every event kept, oldest first. The event fn is given
// is valid only until fn returns: fn copies what it keeps.
func (t *timeline) all(fn func(*Event)) {
	if t == nil {
		return
	}
	var e Event
	for off, i := t.start, 0; i < t.n; i++ {
		off = decodeEvent(t.buf, off, &t.base, &e)
		fn(&e)
	}
}

// newest is the Seq of the newest event kept, 0 for none.
func (t *timeline) newest() uint64 {
	var seq uint64
	t.all(func(e *Event) { seq = e.Seq })
	return seq
}

// mergeTimelines is a new timeline for deviceID holding the events of a
// and b in Seq order, each re-labelled with deviceID, trimmed to bound
// events and maxBytes (0: no limit).
func mergeTimelines(deviceID string, a, b *timeline, bound, maxBytes int) *timeline {
	evs := append(a.events(a.len()), b.events(b.len())...)
	slices.SortStableFunc(evs, func(x, y Event) int { return cmp.Compare(x.Seq, y.Seq) })
	var t *timeline
	for i := range evs {
		evs[i].DeviceID = deviceID
		t = t.add(deviceID, &evs[i], bound, maxBytes)
	}
	return t
}

// len is how many events t keeps.
func (t *timeline) len() int {
	if t == nil {
		return 0
	}
	return t.n
}
