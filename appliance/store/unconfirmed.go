package store

import (
	"cmp"
	"container/list"
	"slices"
)

// Anyone on the lab switch can make the appliance see a device: a DNS
// query or a DHCP discover is one UDP datagram, from any source address
// it likes to forge; a log upload may name any MAC; a failed SIP sign-in
// or a directory search needs no password. A device is confirmed once it
// has checked in or signed in over SIP (both over TCP, a sign-in with the
// lab password). Until then it is unconfirmed, and the unconfirmed devices
// are kept in a table of at most Options.MaxUnconfirmedDevices, the least
// recently seen evicted first, with their timelines and address rows.
//
// Eviction is durable without a journal record of its own: the table's
// order is the Seq of each device's newest event, and observeTxn, which
// replay runs too, evicts as it goes. Replaying the journal (or loading a
// snapshot, which holds only the devices that were left) therefore evicts
// the same devices again, given the same bound. A start with a smaller
// bound evicts the least recently seen down to it (boundLoaded); a start
// with a larger one may keep devices the journal since the last snapshot
// still names that the smaller bound had evicted.

// confirmed reports whether d has checked in or signed in.
func confirmed(d *Device) bool { return d.CheckIns > 0 || !d.SignedInAt.IsZero() }

// unconfirmedTable orders the unconfirmed devices by the Seq of their
// newest event, least recent at the front. Its zero value is empty and not
// yet built from the view (build). Guarded by Store.mu.
type unconfirmedTable struct {
	built   bool
	order   *list.List // of *unconfirmedEntry
	entries map[string]*list.Element
	// evicted are the devices evicted since the last drain, for the
	// change feed.
	evicted []string
}

type unconfirmedEntry struct {
	id  string
	seq uint64
}

// build fills the table from the devices in v (loaded from a snapshot), in
// the order of their newest events. It does nothing once built.
func (u *unconfirmedTable) build(v *view) {
	if u.built {
		return
	}
	u.built = true
	u.order, u.entries = list.New(), map[string]*list.Element{}
	var es []unconfirmedEntry
	for id, d := range v.devices {
		if !confirmed(&d.Device) {
			es = append(es, unconfirmedEntry{id: id, seq: d.tl.newest()})
		}
	}
	slices.SortFunc(es, func(a, b unconfirmedEntry) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.id, b.id))
	})
	for _, e := range es {
		u.entries[e.id] = u.order.PushBack(&unconfirmedEntry{id: e.id, seq: e.seq})
	}
}

// seen records that the unconfirmed device id was seen in event seq: it
// becomes the most recent.
func (u *unconfirmedTable) seen(id string, seq uint64) {
	if el, ok := u.entries[id]; ok {
		el.Value.(*unconfirmedEntry).seq = seq
		u.order.MoveToBack(el)
		return
	}
	u.entries[id] = u.order.PushBack(&unconfirmedEntry{id: id, seq: seq})
}

// forget takes id out of the table: it was confirmed or merged.
func (u *unconfirmedTable) forget(id string) {
	if el, ok := u.entries[id]; ok {
		u.order.Remove(el)
		delete(u.entries, id)
	}
}

// len is how many unconfirmed devices there are.
func (u *unconfirmedTable) len() int {
	if u.order == nil {
		return 0
	}
	return u.order.Len()
}

// oldest is the least recently seen unconfirmed device.
func (u *unconfirmedTable) oldest() string {
	return u.order.Front().Value.(*unconfirmedEntry).id
}

// drainEvicted returns and clears the devices evicted since the last call.
func (u *unconfirmedTable) drainEvicted() []string {
	ids := u.evicted
	u.evicted = u.evicted[:0:0]
	return ids
}

// trackUnconfirmed updates the table for device d, just seen in event seq,
// and for merged, a placeholder d took over (or ""), then evicts the least
// recently seen down to the bound. It runs inside observeTxn.
func (s *Store) trackUnconfirmed(txn rows, d *Device, merged string, seq uint64) error {
	u := &s.unconfirmed
	u.build(&s.view)
	if merged != "" {
		u.forget(merged)
	}
	if confirmed(d) {
		u.forget(d.ID)
	} else {
		u.seen(d.ID, seq)
	}
	return s.evictUnconfirmed(txn)
}

// evictUnconfirmed removes the least recently seen unconfirmed devices,
// with their timelines and address rows, until at most
// MaxUnconfirmedDevices are left.
func (s *Store) evictUnconfirmed(txn rows) error {
	u := &s.unconfirmed
	for u.len() > s.opt.MaxUnconfirmedDevices {
		id := u.oldest()
		u.forget(id)
		if err := s.deleteDevice(txn, id); err != nil {
			return err
		}
		u.evicted = append(u.evicted, id)
	}
	return nil
}

// deleteDevice removes device id, with its timeline, and its address row
// from txn and the view.
func (s *Store) deleteDevice(txn rows, id string) error {
	d := s.view.devices[id]
	if d == nil {
		return nil
	}
	s.view.aggregate()
	s.leaveIP(id, d.IP)
	s.view.counts.replace(&d.Device, nil)
	delete(s.view.devices, id)
	return txn.Delete(tableDevices, d)
}

// boundLoaded applies the bounds of this start to the state just loaded
// (a snapshot and the journal replayed onto it, in txn): the unconfirmed
// devices beyond MaxUnconfirmedDevices and the timelines beyond
// MaxTimelineBytes, which a start with larger bounds left. Open calls it
// once, after replay.
func (s *Store) boundLoaded(txn rows) error {
	s.unconfirmed.build(&s.view)
	if err := s.evictUnconfirmed(txn); err != nil {
		return err
	}
	s.unconfirmed.drainEvicted() // nobody has subscribed yet
	for id, d := range s.view.devices {
		if nt := d.tl.withinBytes(s.opt.MaxTimelineBytes); nt != d.tl {
			row := &deviceRow{Device: d.Device, tl: nt}
			if err := txn.Insert(tableDevices, row); err != nil {
				return err
			}
			s.view.devices[id] = row
		}
	}
	return nil
}

// UnconfirmedDevices is how many devices have neither checked in nor
// signed in (at most Options.MaxUnconfirmedDevices).
func (s *Store) UnconfirmedDevices() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unconfirmed.build(&s.view)
	return s.unconfirmed.len()
}

// The defaults of Options.MaxUnconfirmedDevices and MaxTimelineBytes.
const (
	DefaultMaxUnconfirmedDevices = 4096
	DefaultMaxTimelineBytes      = 512 << 10
)
