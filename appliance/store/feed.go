package store

import "sync"

// Change says that one object changed: Table is "devices", "rules",
// "images", "testdevices" or "events", ID the object's key in that table
// (Device.ID, Rule.Key.ID(), Image.ID(), TestDevice.ID). For "events", ID is
// the DeviceID whose timeline changed. A deleted object's ID no longer
// resolves. Seq counts changes since Open.
type Change struct {
	Seq    uint64
	Table  string
	ID     string
	Lagged bool // changes before this one were dropped: re-read what you show
}

// Subscription delivers changes on C until Close (or the store's Close,
// which closes C).
type Subscription struct {
	C <-chan Change

	ch   chan Change
	feed *feed
}

// feed fans changes out to subscribers without ever blocking the writer: a
// subscriber whose buffer is full loses its oldest buffered change, and the
// new one is marked Lagged. The newest change always gets in, which is what
// a live dashboard needs.
type feed struct {
	mu     sync.Mutex
	seq    uint64
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscribe returns a subscription with room for buf changes (at least 1).
func (s *Store) Subscribe(buf int) *Subscription {
	return s.feed.subscribe(buf)
}

// Close ends the subscription and closes C. It may be called more than once.
func (sub *Subscription) Close() {
	f := sub.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[sub]; ok {
		delete(f.subs, sub)
		close(sub.ch)
	}
}

func (f *feed) subscribe(buf int) *Subscription {
	ch := make(chan Change, max(buf, 1))
	sub := &Subscription{C: ch, ch: ch, feed: f}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return sub
	}
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[sub] = struct{}{}
	return sub
}

// publish tells every subscriber of the changes (Seq is assigned here).
func (f *feed) publish(changes []Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range changes {
		f.seq++
		c.Seq = f.seq
		for sub := range f.subs {
			sub.send(c)
		}
	}
}

// send never blocks: when the buffer is full it drops the oldest change and
// sends c marked Lagged. Only publish sends (under feed.mu), so after the
// drop there is room; the last select is non-blocking all the same.
func (sub *Subscription) send(c Change) {
	select {
	case sub.ch <- c:
		return
	default:
	}
	select {
	case <-sub.ch:
	default:
	}
	c.Lagged = true
	select {
	case sub.ch <- c:
	default:
	}
}

// close closes every subscription; later Subscribe calls get a closed C.
func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for sub := range f.subs {
		delete(f.subs, sub)
		close(sub.ch)
	}
}
