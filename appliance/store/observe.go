package store

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-memdb"
)

// Device ID prefixes for phones known only by serial or by address.
const (
	serialIDPrefix = "SN:"
	ipIDPrefix     = "IP:"
)

// Observe records what a phone did and returns the phone as it now stands.
// It assigns ev.Seq, fills ev.Time when zero, resolves ev.DeviceID (whatever
// the caller put there) and derives the device's stage. It never waits for
// the disk: the event is journaled by the next group commit.
//
// The device is the normalised ev.MAC when set, else "SN:"+ev.Serial, else
// the device last seen at ev.IP (for a download, of the devices at that
// address the one that was offered its file: see attribution.go), else
// "IP:"+ev.IP. A check-in that names a MAC or serial from an address whose
// device is an "IP:" placeholder (made by a DNS query before the phone
// said who it is) takes the placeholder over: its events move to the
// phone and the placeholder is deleted.
//
// A device that has neither checked in nor signed in is unconfirmed: at
// most MaxUnconfirmedDevices of them are kept, the least recently seen
// evicted first (see unconfirmed.go); an evicted device is gone, with its
// timeline, and the change feed says so.
//
// Observations are applied to memdb in batches (see commitBatchLocked):
// every read of devices or events sees all observations made before it, and
// WatchSets and the change feed hear of them within FlushInterval.
func (s *Store) Observe(ev Event) Device {
	if ev.Path != nil {
		// The caller may write to its slice; the intern table's is shared
		// by every event and device with the same hops, and never written.
		if p, ok := internPath(ev.Path); ok {
			ev.Path = p
		} else {
			ev.Path = slices.Clone(ev.Path)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastSeq++
	ev.Seq = s.lastSeq
	if ev.Time.IsZero() {
		ev.Time = s.opt.Now()
	}
	ev.Time = ev.Time.UTC() // what the journal gives back on replay

	ev.DeviceID = s.resolveDeviceID(ev)
	d, merged, err := s.observeTxn(s.batchTxnLocked(), &ev)
	if err != nil {
		// Only a bug gets here (memdb refuses objects only on indexer
		// errors). The batch cannot be half undone, so it goes, and the
		// failure stops the journal: a restart rebuilds from disk.
		s.abortBatchLocked()
		s.fail(fmt.Errorf("observe %s event of %s: %w", ev.Kind, ev.DeviceID, err))
		return d
	}
	if !s.closed {
		s.pending = append(s.pending, record{Op: opEvent, Event: s.holdEvent(&ev)})
	}
	if merged != "" {
		s.batchChanges = append(s.batchChanges, Change{Table: tableDevices, ID: merged})
	}
	for _, id := range s.unconfirmed.drainEvicted() {
		s.batchChanges = append(s.batchChanges, Change{Table: tableDevices, ID: id}, Change{Table: tableEvents, ID: id})
	}
	s.batchChanges = append(s.batchChanges, Change{Table: tableDevices, ID: d.ID}, Change{Table: tableEvents, ID: d.ID})
	if s.batchLen++; s.batchLen >= maxBatch {
		s.commitBatchLocked()
	}
	return d
}

// eventBlock is how many events waiting for the journal share one
// allocation.
const eventBlock = 64

// holdEvent is a copy of ev that stays put until the journal has it: one
// allocation for eventBlock events, not one each. Called with mu held.
func (s *Store) holdEvent(ev *Event) *Event {
	if len(s.heldEvents) == cap(s.heldEvents) {
		s.heldEvents = make([]Event, 0, eventBlock)
	}
	s.heldEvents = append(s.heldEvents, *ev)
	return &s.heldEvents[len(s.heldEvents)-1]
}

// resolveDeviceID names the phone ev came from (see Observe).
func (s *Store) resolveDeviceID(ev Event) string {
	switch {
	case ev.MAC != "":
		return ev.MAC
	case ev.Serial != "":
		return serialIDPrefix + ev.Serial
	}
	if id, ok := s.view.ips[ev.IP]; ok && ev.IP != "" {
		if ev.Kind == EventDownload {
			return s.downloader(ev, id)
		}
		return id
	}
	return ipIDPrefix + ev.IP
}

// observeTxn applies ev (DeviceID resolved) inside txn: merge, stage, the
// event itself, the addresses, the bounds on the timeline and on the
// unconfirmed devices. Replay runs it too (txn is then a fleetLoad), so it
// depends on nothing but the state and ev. It reads only s.view, never
// txn (see view). It returns the device and the ID of a placeholder it
// merged, if any.
func (s *Store) observeTxn(txn rows, ev *Event) (Device, string, error) {
	s.view.aggregate()
	var d Device
	var tl *timeline
	var was *Device
	cur := s.view.devices[ev.DeviceID]
	prevIP := ""
	if cur != nil {
		d, tl, was, prevIP = cur.Device, cur.tl, &cur.Device, cur.IP
	}
	s.canonicalize(ev, was)
	merged := ""
	if p := s.placeholderFor(ev); p != nil {
		var err error
		if d, tl, err = s.mergePlaceholder(txn, p, d, tl, ev.DeviceID); err != nil {
			return d, "", err
		}
		merged = p.ID
	}
	d = applyEvent(d, *ev, ev.Time)
	row := &deviceRow{Device: d, tl: tl.add(d.ID, ev, s.opt.MaxEventsPerDevice, s.opt.MaxTimelineBytes)}
	if err := txn.Insert(tableDevices, row); err != nil {
		return d, "", err
	}
	s.view.counts.replace(was, &row.Device)
	s.view.devices[d.ID] = row
	s.moveIP(d.ID, prevIP, d.IP)
	if err := s.trackUnconfirmed(txn, &row.Device, merged, ev.Seq); err != nil {
		return d, "", err
	}
	return d, merged, nil
}

// canonicalize makes ev's strings ones the device keeps: those cur (the
// device as it was, or nil) already holds, the intern table's, or copies,
// so that a device never holds on to a request's buffer and phones share
// what they have in common.
func (s *Store) canonicalize(ev *Event, cur *Device) {
	var was Device
	if cur != nil {
		was = *cur
	}
	ev.DeviceID = keep(ev.DeviceID, was.ID)
	ev.MAC = keep(ev.MAC, was.MAC)
	if ev.MAC == ev.DeviceID {
		ev.MAC = ev.DeviceID
	}
	ev.Serial = keep(ev.Serial, was.Serial)
	ev.IP = keep(ev.IP, was.IP)
	if p := &ev.DevicePath; *p == was.DevicePath {
		*p = was.DevicePath
	} else {
		p.DeviceType, p.Vendor, p.Model = canonical(p.DeviceType), canonical(p.Vendor), canonical(p.Model)
		p.Revision, p.Locale = canonical(p.Revision), canonical(p.Locale)
	}
	switch ev.File {
	case was.OfferedFile:
		ev.File = was.OfferedFile
	case was.DownloadFile:
		ev.File = was.DownloadFile
	default:
		ev.File = canonical(ev.File)
	}
	ev.UserAgent = sameOrCanonical(ev.UserAgent, was.UserAgent)
	ev.Handed = sameOrCanonical(ev.Handed, was.Handed)
	ev.User = sameOrCanonical(ev.User, was.SIPUser)
	ev.Name = sameOrCanonical(ev.Name, was.DNSName)
	ev.Detail = canonical(ev.Detail)
	if i := slices.Index(eventKinds, ev.Kind); i >= 0 {
		ev.Kind = eventKinds[i]
	} else {
		ev.Kind = EventKind(canonical(string(ev.Kind)))
	}
}

// eventKinds are the kinds of event the appliance makes.
var eventKinds = []EventKind{EventCheckIn, EventDownload, EventUpload, EventDNS, EventDHCP, EventSIP, EventDirectory}

// sameOrCanonical is held when it equals s, else canonical(s).
func sameOrCanonical(s, held string) string {
	if s == held {
		return held
	}
	return canonical(s)
}

// keep is held when it equals s, else a copy of s.
func keep(s, held string) string {
	if s == held {
		return held
	}
	return strings.Clone(s)
}

// placeholderFor is the "IP:" placeholder device a check-in that names its
// phone takes over: the device seen last at the check-in's address.
func (s *Store) placeholderFor(ev *Event) *deviceRow {
	if ev.Kind != EventCheckIn || ev.IP == "" || strings.HasPrefix(ev.DeviceID, ipIDPrefix) {
		return nil
	}
	if id := s.view.ips[ev.IP]; strings.HasPrefix(id, ipIDPrefix) {
		return s.view.devices[id]
	}
	return nil
}

// mergePlaceholder moves p's events to the device id (d, zero when new,
// with timeline tl) and deletes p; it returns the device and its
// timeline. A new device starts as the placeholder was (first seen,
// discovered or signed in); a known one keeps the earlier FirstSeen and
// takes what p learnt since (carryLastSeen). p leaves its address: the
// caller's moveIP puts the phone there.
func (s *Store) mergePlaceholder(txn rows, p *deviceRow, d Device, tl *timeline, id string) (Device, *timeline, error) {
	if p.tl != nil {
		tl = mergeTimelines(id, tl, p.tl, s.opt.MaxEventsPerDevice, s.opt.MaxTimelineBytes)
	}
	if err := txn.Delete(tableDevices, p); err != nil {
		return d, tl, err
	}
	s.view.counts.replace(&p.Device, nil)
	delete(s.view.devices, p.ID)
	s.leaveIP(p.ID, p.IP)
	if d.FirstSeen.IsZero() {
		d = p.Device
		d.ID = id
		return d, tl, nil
	}
	if p.FirstSeen.Before(d.FirstSeen) {
		d.FirstSeen = p.FirstSeen
	}
	return carryLastSeen(d, &p.Device), tl, nil
}

// carryLastSeen gives the known phone d what its placeholder p learnt
// since: the phone moved to p's address and asked DNS or signed in over
// SIP there before checking in from it. Only a p seen after d knows newer.
func carryLastSeen(d Device, p *Device) Device {
	if !p.LastSeen.After(d.LastSeen) {
		return d
	}
	if p.DNSName != "" {
		d.DNSName = p.DNSName
	}
	if p.SIPUser != "" {
		d.SIPUser = p.SIPUser
	}
	if !p.SignedInAt.IsZero() {
		d.SignedInAt = p.SignedInAt
	}
	if p.Handed != "" {
		d.Handed = p.Handed
	}
	if p.UserAgent != "" {
		d.UserAgent = p.UserAgent
	}
	return d
}

// Lookups below ignore memdb errors: memdb returns them only for unknown
// table or index names, and those are constants here.

// Device returns the phone with that ID.
func (s *Store) Device(id string) (Device, bool) {
	obj, _ := s.readTxn().First(tableDevices, indexID, id)
	if obj == nil {
		return Device{}, false
	}
	return obj.(*deviceRow).Device, true
}

// DeviceByIP returns the phone last seen at ip. It asks the writer's view
// (the addresses are kept there only), which holds every observation made
// before the call, as every reader sees.
func (s *Store) DeviceByIP(ip string) (Device, bool) {
	if ip == "" {
		return Device{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.view.devices[s.view.ips[ip]]
	if d == nil {
		return Device{}, false
	}
	return d.Device, true
}

// Devices returns every phone, sorted by ID. The copy is made in one
// allocation of the fleet's size: at 100,000 phones it is some 60 MB, and
// growing it by appending would take twice that.
func (s *Store) Devices(ws memdb.WatchSet) []Device {
	s.mu.Lock()
	s.commitBatchLocked()
	txn, n := s.db.Txn(false), len(s.view.devices)
	s.mu.Unlock()
	it, err := txn.Get(tableDevices, indexID)
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	out := make([]Device, 0, n)
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*deviceRow).Device)
	}
	return out
}

// Events returns a phone's timeline, oldest first: its newest events, at
// most MaxEventsPerDevice of them kept in at most MaxTimelineBytes of
// memory (the journal keeps them all). Their Path slices are shared.
func (s *Store) Events(ws memdb.WatchSet, deviceID string) []Event {
	// The timeline is part of the device's row: every event changes it.
	ch, obj, err := s.readTxn().FirstWatch(tableDevices, indexID, deviceID)
	if err != nil {
		return nil
	}
	ws.Add(ch)
	if obj == nil {
		return nil
	}
	return obj.(*deviceRow).tl.events(s.opt.MaxEventsPerDevice)
}
