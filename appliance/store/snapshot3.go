package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

// Snapshot format 3 is binary and about a tenth of format 2's size: a
// magic line, then records framed as the journal's are
//
//	[payload length u32 LE][CRC-32C of payload u32 LE][payload]
//
// each payload led by a tag byte:
//
//	H  header: format (3), LastSeq, and how many devices and addresses
//	   follow (for the maps loading fills), uvarints; the first record
//	J  one JSON record (rules, images, test devices, leases: few, and
//	   kept in the journal's JSON so that they read as they always did)
//	P  one phone: its Device and its whole timeline, in the binary form
//	   below, the Device, the timeline or both
//	A  rows of the address table, addrBatch at a time
//	E  trailer: the count of records between header and trailer
//
// A phone record is self-contained: its strings are written once each and
// referred to by their place after that (a string is a uvarint: its place
// in the record's table shifted left, or its length shifted left and 1,
// followed by its bytes), so the ID, address and file names an event
// repeats cost a byte. Nothing in it refers to the process's intern
// tables, which differ from one run to the next. Loading decodes a phone
// into a Device and builds its timeline directly in its compact in-memory
// form (timelineOf), on one core, while the other inserts the objects into
// memdb (pipeline.go).
//
// Every record carries its checksum, so that a flipped bit is found with
// its offset; damage is found, skipped and counted as in format 2
// (scanSnapshot3), and a file cut short has no trailer.

// snapshotMagic starts every format 3 snapshot: format 2 lines start with
// eight hex digits, format 1 lines with '{'.
const snapshotMagic = "tanjay snapshot 3\n"

// Record tags of format 3.
const (
	tagHeader  = 'H'
	tagJSON    = 'J'
	tagPhone   = 'P'
	tagAddrs   = 'A'
	tagTrailer = 'E'
)

// addrBatch is how many address rows one A record holds at most.
const addrBatch = 1024

// maxRecordStrings bounds a phone record's string table; later strings
// are written in full each time.
const maxRecordStrings = 64

// Phone record flags.
const (
	phoneDevice   = 1 << 0
	phoneTimeline = 1 << 1
)

// writeSnapshot writes a format 3 snapshot of txn and the addresses addrs
// (IP → the device seen there last): the header, every object, and a
// trailer with their count, so that a cut-short file is never taken for a
// whole one. It returns how many objects it wrote.
func writeSnapshot(w io.Writer, txn *memdb.Txn, addrs map[string]string, lastSeq uint64) (int, error) {
	sw := snapshot3Writer{w: w}
	if _, err := io.WriteString(w, snapshotMagic); err != nil {
		return 0, err
	}
	hdr := binary.AppendUvarint([]byte{tagHeader}, 3)
	hdr = binary.AppendUvarint(hdr, lastSeq)
	hdr = binary.AppendUvarint(hdr, uint64(txnCount(txn, tableDevices)))
	hdr = binary.AppendUvarint(hdr, uint64(len(addrs)))
	if err := sw.frame(hdr); err != nil {
		return 0, err
	}
	sw.count = 0
	for _, table := range []string{tableRules, tableImages, tableTestDevices, tableLeases} {
		if err := sw.table(txn, table); err != nil {
			return sw.count, err
		}
	}
	if err := sw.phones(txn); err != nil {
		return sw.count, err
	}
	if err := sw.addresses(addrs); err != nil {
		return sw.count, err
	}
	n := sw.count
	err := sw.frame(binary.AppendUvarint([]byte{tagTrailer}, uint64(n)))
	return n, err
}

// txnCount is how many rows table holds.
func txnCount(txn *memdb.Txn, table string) int {
	it, err := txn.Get(table, indexID)
	if err != nil {
		return 0
	}
	n := 0
	for obj := it.Next(); obj != nil; obj = it.Next() {
		n++
	}
	return n
}

// snapshot3Writer frames records and counts them.
type snapshot3Writer struct {
	w     io.Writer
	buf   []byte
	enc   phoneEncoder
	count int
}

func (sw *snapshot3Writer) frame(payload []byte) error {
	sw.buf = appendFrame(sw.buf[:0], payload)
	sw.count++
	_, err := sw.w.Write(sw.buf)
	return err
}

// table writes every row of an operator table as a J record.
func (sw *snapshot3Writer) table(txn *memdb.Txn, table string) error {
	it, err := txn.Get(table, indexID)
	if err != nil {
		return err
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		rec, ok := rowRecord(obj)
		if !ok {
			return fmt.Errorf("table %s holds a %T", table, obj)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := sw.frame(append([]byte{tagJSON}, b...)); err != nil {
			return err
		}
	}
	return nil
}

// rowRecord is the journal record that puts obj, a row of a table, back:
// what snapshots of every format write for a row.
func rowRecord(obj any) (record, bool) {
	switch o := obj.(type) {
	case *images.Rule:
		return record{Op: opRule, Rule: o}, true
	case *images.Image:
		return record{Op: opImage, Image: o}, true
	case *TestDevice:
		return record{Op: opTestDevice, TestDevice: o}, true
	case *Lease:
		return record{Op: opLease, Lease: o}, true
	case *Device:
		return record{Op: opDevice, Device: o}, true
	case *deviceRow:
		return record{Op: opDevice, Device: &o.Device}, true
	case *ipDevice:
		return record{Op: opIP, IPDevice: o}, true
	}
	return record{}, false
}

// phones writes each device with its timeline.
func (sw *snapshot3Writer) phones(txn *memdb.Txn) error {
	it, err := txn.Get(tableDevices, indexID)
	if err != nil {
		return err
	}
	for obj := it.Next(); obj != nil; obj = it.Next() {
		r, ok := obj.(*deviceRow)
		if !ok {
			return fmt.Errorf("table %s holds a %T", tableDevices, obj)
		}
		if err := sw.phone(r.ID, &r.Device, r.tl); err != nil {
			return err
		}
	}
	return nil
}

func (sw *snapshot3Writer) phone(id string, d *Device, tl *timeline) error {
	b, err := sw.enc.phone(id, d, tl)
	if err != nil {
		return err
	}
	return sw.frame(b)
}

// addresses writes the addresses in order, addrBatch a record.
func (sw *snapshot3Writer) addresses(addrs map[string]string) error {
	ips := slices.Sorted(maps.Keys(addrs))
	for len(ips) > 0 {
		batch := ips[:min(len(ips), addrBatch)]
		ips = ips[len(batch):]
		b := binary.AppendUvarint([]byte{tagAddrs}, uint64(len(batch)))
		for _, ip := range batch {
			b = appendLenString(b, ip)
			b = appendLenString(b, addrs[ip])
		}
		if err := sw.frame(b); err != nil {
			return err
		}
	}
	return nil
}

func appendLenString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// Device field bits of a phone record, in the order the fields follow.
const (
	dMAC = 1 << iota
	dSerial
	dIP
	dDevicePath
	dFirstVersion
	dVersion
	dOffered
	dOfferedFile
	dTarget
	dPath
	dIsTest
	dDNSName
	dSIPUser
	dSignedInAt
	dHanded
	dUserAgent
	dStage
	dStageReason
	dStageSince
	dDownloadFile
	dDownloadBytes
	dDownloadTotal
	dCheckIns
	dSameOffer
	dFetchedCount
	dFirstSeen
	dLastSeen
	dHops
	dAll = dHops<<1 - 1
)

// Event field bits of a phone record, in the order the fields follow the
// event's Seq, Time and Kind.
const (
	eDeviceID = 1 << iota // not the record's ID
	eIP
	eMAC
	eSerial
	eDevicePath
	eReported
	eOffered
	eTarget
	ePath
	eInterim
	eIsTest
	eFile
	eOffset
	eBytes
	eTotal
	eComplete
	eName
	eSIPStep
	eUser
	eUserAgent
	eHanded
	eDirectoryStep
	eDirectoryError
	eDetail
	eAll = eDetail<<1 - 1
)

// Time forms: the zero time, a UTC time as seconds (less the previous
// time's in the record) and nanoseconds, or any other as its text.
const (
	timeZero = iota
	timeUTC
	timeText
)

// phoneEncoder writes phone records. The zero value is ready to use.
type phoneEncoder struct {
	err     error // a time encoding/json cannot write either
	b       []byte
	strs    []string
	ev      Event
	prevSec int64
}

// phone is the P record of the phone id: d and tl, either of which may be
// nil. The result is valid until the next call.
func (e *phoneEncoder) phone(id string, d *Device, tl *timeline) ([]byte, error) {
	e.b, e.strs, e.prevSec, e.err = e.b[:0], e.strs[:0], 0, nil
	var flags byte
	if d != nil {
		flags |= phoneDevice
	}
	if tl.len() > 0 {
		flags |= phoneTimeline
	}
	e.b = append(e.b, tagPhone, flags)
	e.str(id)
	if d != nil {
		e.device(d)
	}
	if flags&phoneTimeline != 0 {
		e.b = binary.AppendUvarint(e.b, uint64(tl.len()))
		var prevSeq uint64
		tl.all(func(ev *Event) {
			e.event(id, ev, prevSeq)
			prevSeq = ev.Seq
		})
	}
	if e.err != nil {
		return nil, fmt.Errorf("phone %s: %w", id, e.err)
	}
	return e.b, nil
}

// str writes s as its place in the record's table, or in full.
func (e *phoneEncoder) str(s string) {
	for i, t := range e.strs {
		if t == s {
			e.b = binary.AppendUvarint(e.b, uint64(i)<<1)
			return
		}
	}
	e.b = binary.AppendUvarint(e.b, uint64(len(s))<<1|1)
	e.b = append(e.b, s...)
	if len(e.strs) < maxRecordStrings {
		e.strs = append(e.strs, s)
	}
}

func (e *phoneEncoder) version(v images.Version) {
	for _, p := range v {
		e.b = binary.AppendUvarint(e.b, uint64(p))
	}
}

func (e *phoneEncoder) versions(p []images.Version) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	for _, v := range p {
		e.version(v)
	}
}

func (e *phoneEncoder) devicePath(p images.DevicePath) {
	e.str(p.DeviceType)
	e.str(p.Vendor)
	e.str(p.Model)
	e.str(p.Revision)
	e.str(p.Locale)
}

// time writes t as encoding/json would give it back: UTC times as numbers,
// others (an offset of their own) as their text.
func (e *phoneEncoder) time(t time.Time) {
	_, offset := t.Zone()
	switch {
	case t.IsZero() && offset == 0:
		e.b = append(e.b, timeZero)
	case offset == 0 && t.Year() >= 0 && t.Year() <= 9999:
		e.b = append(e.b, timeUTC)
		e.b = binary.AppendVarint(e.b, t.Unix()-e.prevSec)
		e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
		e.prevSec = t.Unix()
	default:
		// Outside what RFC 3339 writes, MarshalText fails as
		// json.Marshal does: the snapshot fails, as format 2's did.
		text, err := t.MarshalText()
		if err != nil && e.err == nil {
			e.err = err
		}
		e.b = append(e.b, timeText)
		e.b = appendLenString(e.b, string(text))
	}
}

func (e *phoneEncoder) device(d *Device) {
	var f uint64
	set := func(bit uint64, on bool) {
		if on {
			f |= bit
		}
	}
	set(dMAC, d.MAC != "")
	set(dSerial, d.Serial != "")
	set(dIP, d.IP != "")
	set(dDevicePath, d.DevicePath != images.DevicePath{})
	set(dFirstVersion, !d.FirstVersion.IsZero())
	set(dVersion, !d.Version.IsZero())
	set(dOffered, !d.Offered.IsZero())
	set(dOfferedFile, d.OfferedFile != "")
	set(dTarget, !d.Target.IsZero())
	set(dPath, len(d.Path) > 0)
	set(dIsTest, d.IsTest)
	set(dDNSName, d.DNSName != "")
	set(dSIPUser, d.SIPUser != "")
	set(dSignedInAt, !d.SignedInAt.IsZero())
	set(dHanded, d.Handed != "")
	set(dUserAgent, d.UserAgent != "")
	set(dStage, true)
	set(dStageReason, d.StageReason != "")
	set(dStageSince, true)
	set(dDownloadFile, d.DownloadFile != "")
	set(dDownloadBytes, d.DownloadBytes != 0)
	set(dDownloadTotal, d.DownloadTotal != 0)
	set(dCheckIns, d.CheckIns != 0)
	set(dSameOffer, d.SameOffer != 0)
	set(dFetchedCount, d.FetchedCount != 0)
	set(dFirstSeen, true)
	set(dLastSeen, true)
	set(dHops, len(d.Hops) > 0)
	e.b = binary.AppendUvarint(e.b, f)
	e.strIf(f, dMAC, d.MAC)
	e.strIf(f, dSerial, d.Serial)
	e.strIf(f, dIP, d.IP)
	if f&dDevicePath != 0 {
		e.devicePath(d.DevicePath)
	}
	e.versionIf(f, dFirstVersion, d.FirstVersion)
	e.versionIf(f, dVersion, d.Version)
	e.versionIf(f, dOffered, d.Offered)
	e.strIf(f, dOfferedFile, d.OfferedFile)
	e.versionIf(f, dTarget, d.Target)
	if f&dPath != 0 {
		e.versions(d.Path)
	}
	e.strIf(f, dDNSName, d.DNSName)
	e.strIf(f, dSIPUser, d.SIPUser)
	if f&dSignedInAt != 0 {
		e.time(d.SignedInAt)
	}
	e.strIf(f, dHanded, d.Handed)
	e.strIf(f, dUserAgent, d.UserAgent)
	e.str(string(d.Stage))
	e.strIf(f, dStageReason, d.StageReason)
	e.time(d.StageSince)
	e.strIf(f, dDownloadFile, d.DownloadFile)
	e.varintIf(f, dDownloadBytes, d.DownloadBytes)
	e.varintIf(f, dDownloadTotal, d.DownloadTotal)
	e.varintIf(f, dCheckIns, int64(d.CheckIns))
	e.varintIf(f, dSameOffer, int64(d.SameOffer))
	e.varintIf(f, dFetchedCount, int64(d.FetchedCount))
	e.time(d.FirstSeen)
	e.time(d.LastSeen)
	if f&dHops != 0 {
		e.b = binary.AppendUvarint(e.b, uint64(len(d.Hops)))
		for _, h := range d.Hops {
			e.version(h.Version)
			e.time(h.At)
		}
	}
}

func (e *phoneEncoder) strIf(f, bit uint64, s string) {
	if f&bit != 0 {
		e.str(s)
	}
}

func (e *phoneEncoder) versionIf(f, bit uint64, v images.Version) {
	if f&bit != 0 {
		e.version(v)
	}
}

func (e *phoneEncoder) varintIf(f, bit uint64, n int64) {
	if f&bit != 0 {
		e.b = binary.AppendVarint(e.b, n)
	}
}

// event writes ev of the phone id; prevSeq is the Seq of the event before
// it in the record (0 for the first).
func (e *phoneEncoder) event(id string, ev *Event, prevSeq uint64) {
	var f uint64
	set := func(bit uint64, on bool) {
		if on {
			f |= bit
		}
	}
	set(eDeviceID, ev.DeviceID != id)
	set(eIP, ev.IP != "")
	set(eMAC, ev.MAC != "")
	set(eSerial, ev.Serial != "")
	set(eDevicePath, ev.DevicePath != images.DevicePath{})
	set(eReported, !ev.Reported.IsZero())
	set(eOffered, !ev.Offered.IsZero())
	set(eTarget, !ev.Target.IsZero())
	set(ePath, len(ev.Path) > 0)
	set(eInterim, ev.Interim)
	set(eIsTest, ev.IsTest)
	set(eFile, ev.File != "")
	set(eOffset, ev.Offset != 0)
	set(eBytes, ev.Bytes != 0)
	set(eTotal, ev.Total != 0)
	set(eComplete, ev.Complete)
	set(eName, ev.Name != "")
	set(eSIPStep, ev.SIPStep != "")
	set(eUser, ev.User != "")
	set(eUserAgent, ev.UserAgent != "")
	set(eHanded, ev.Handed != "")
	set(eDirectoryStep, ev.DirectoryStep != "")
	set(eDirectoryError, ev.DirectoryError != "")
	set(eDetail, ev.Detail != "")
	e.b = binary.AppendUvarint(e.b, f)
	e.b = binary.AppendVarint(e.b, int64(ev.Seq-prevSeq))
	e.time(ev.Time)
	e.str(string(ev.Kind))
	e.strIf(f, eDeviceID, ev.DeviceID)
	e.strIf(f, eIP, ev.IP)
	e.strIf(f, eMAC, ev.MAC)
	e.strIf(f, eSerial, ev.Serial)
	if f&eDevicePath != 0 {
		e.devicePath(ev.DevicePath)
	}
	e.versionIf(f, eReported, ev.Reported)
	e.versionIf(f, eOffered, ev.Offered)
	e.versionIf(f, eTarget, ev.Target)
	if f&ePath != 0 {
		e.versions(ev.Path)
	}
	e.strIf(f, eFile, ev.File)
	e.varintIf(f, eOffset, ev.Offset)
	e.varintIf(f, eBytes, ev.Bytes)
	e.varintIf(f, eTotal, ev.Total)
	e.strIf(f, eName, ev.Name)
	e.strIf(f, eSIPStep, ev.SIPStep)
	e.strIf(f, eUser, ev.User)
	e.strIf(f, eUserAgent, ev.UserAgent)
	e.strIf(f, eHanded, ev.Handed)
	e.strIf(f, eDirectoryStep, ev.DirectoryStep)
	e.strIf(f, eDirectoryError, ev.DirectoryError)
	e.strIf(f, eDetail, ev.Detail)
}

// errBadRecord is why a format 3 payload does not decode.
var errBadRecord = errors.New("not a valid snapshot record")

// loadedItem is one decoded format 3 record, ready to apply.
type loadedItem struct {
	off     int64 // where the file holds it
	tag     byte
	format  int        // H
	devices int        // H: how many the snapshot holds
	ips     int        // H
	lastSeq uint64     // H; P: the Seq of the newest event
	count   int        // E
	rec     record     // J
	row     *deviceRow // P, or nil: the device (its timeline is tl)
	tl      *timeline  // P, or nil
	id      string     // P
	addrs   []ipDevice // A
}

// phoneDecoder decodes format 3 payloads. The zero value is ready to use;
// bound is the timeline's bound in events (0: none). Not safe for
// concurrent use.
type phoneDecoder struct {
	bound int
	json  recordDecoder
	// The record being read.
	b       []byte
	i       int
	bad     bool
	strs    []string
	prevSec int64
	evs     []Event
	// known keeps the strings phones share (device paths, kinds, file
	// names, stages), so that they are one string, not one per phone.
	known map[string]string
}

// maxKnown bounds phoneDecoder.known.
const maxKnown = 4096

// decode decodes one payload.
func (d *phoneDecoder) decode(payload []byte) (loadedItem, error) {
	d.b, d.i, d.bad, d.strs, d.prevSec = payload, 0, false, d.strs[:0], 0
	it := loadedItem{tag: d.byte()}
	switch it.tag {
	case tagHeader:
		it.format, it.lastSeq, it.devices, it.ips = d.int(), d.uvarint(), d.int(), d.int()
	case tagTrailer:
		it.count = d.int()
	case tagJSON:
		rec, err := d.json.decode(payload[1:])
		if err != nil {
			return it, fmt.Errorf("%w: %v", errBadRecord, err)
		}
		it.rec, d.i = rec, len(payload)
	case tagAddrs:
		n := d.count(2)
		if !d.bad {
			it.addrs = make([]ipDevice, n)
			for i := range it.addrs {
				it.addrs[i] = ipDevice{IP: d.bytes(), DeviceID: d.bytes()}
			}
		}
	case tagPhone:
		d.phone(&it)
	default:
		d.bad = true
	}
	if d.bad || d.i != len(d.b) {
		return it, errBadRecord
	}
	return it, nil
}

func (d *phoneDecoder) phone(it *loadedItem) {
	flags := d.byte()
	if flags&^(phoneDevice|phoneTimeline) != 0 || flags == 0 {
		d.bad = true
		return
	}
	it.id = d.str()
	if flags&phoneDevice != 0 {
		it.row = d.device(it.id)
	}
	if flags&phoneTimeline == 0 || d.bad {
		return
	}
	n := d.count(3) // an event takes at least 3 bytes
	if n == 0 {
		d.bad = true
		return
	}
	evs := d.evs[:0]
	var seq uint64
	for range n {
		if d.bad {
			return
		}
		evs = append(evs, Event{})
		ev := &evs[len(evs)-1]
		d.event(it.id, ev, seq)
		seq = ev.Seq
	}
	d.evs = evs
	if d.bad {
		return
	}
	for i := range evs {
		it.lastSeq = max(it.lastSeq, evs[i].Seq)
	}
	it.tl = timelineOf(it.id, evs, d.bound)
	clear(evs)
}

func (d *phoneDecoder) byte() byte {
	if d.i >= len(d.b) {
		d.bad = true
		return 0
	}
	c := d.b[d.i]
	d.i++
	return c
}

func (d *phoneDecoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }

func (d *phoneDecoder) varint() int64 { return readVarint(d, binary.Varint) }

// readVarint reads one value with read (binary.Uvarint or Varint), marking
// d bad when there is none.
func readVarint[T uint64 | int64](d *phoneDecoder, read func([]byte) (T, int)) T {
	if d.bad {
		return 0
	}
	v, n := read(d.b[d.i:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.i += n
	return v
}

// int reads a uvarint that fits in an int32 (counts, the format).
func (d *phoneDecoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.bad = true
		return 0
	}
	return int(v)
}

// count reads a count of items taking at least size bytes each, refused
// when the record cannot hold that many.
func (d *phoneDecoder) count(size int) int {
	n := d.int()
	if n > (len(d.b)-d.i)/size {
		d.bad = true
		return 0
	}
	return n
}

// raw reads n bytes.
func (d *phoneDecoder) raw(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)-d.i) {
		d.bad = true
		return nil
	}
	b := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return b
}

// bytes reads a length-led string.
func (d *phoneDecoder) bytes() string {
	return d.intern(d.raw(d.uvarint()))
}

// str reads a string as phoneEncoder.str writes it.
func (d *phoneDecoder) str() string {
	v := d.uvarint()
	if d.bad {
		return ""
	}
	if v&1 == 0 {
		if v>>1 >= uint64(len(d.strs)) {
			d.bad = true
			return ""
		}
		return d.strs[v>>1]
	}
	s := d.intern(d.raw(v >> 1))
	if !d.bad && len(d.strs) < maxRecordStrings {
		d.strs = append(d.strs, s)
	}
	return s
}

// intern is b as a string: the one known for those bytes, else a new one
// (known from then on while there is room).
func (d *phoneDecoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.known[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(b) <= maxInternLen && len(d.known) < maxKnown {
		if d.known == nil {
			d.known = map[string]string{}
		}
		d.known[s] = s
	}
	return s
}

func (d *phoneDecoder) version() images.Version {
	var v images.Version
	for i := range v {
		n := d.uvarint()
		if n > math.MaxUint32 {
			d.bad = true
		}
		v[i] = uint32(n)
	}
	return v
}

// versions reads a hop list: nil when empty, as encoding/json gives an
// omitted one back, and the intern table's copy when it has one.
func (d *phoneDecoder) versions() []images.Version {
	n := d.count(4) // a version takes at least 4 bytes
	if n == 0 || d.bad {
		d.bad = true // written only when not empty
		return nil
	}
	p := make([]images.Version, n)
	for i := range p {
		p[i] = d.version()
	}
	if shared, ok := internPath(p); ok && !d.bad {
		return shared
	}
	return p
}

func (d *phoneDecoder) devicePath() images.DevicePath {
	return images.DevicePath{DeviceType: d.str(), Vendor: d.str(), Model: d.str(), Revision: d.str(), Locale: d.str()}
}

func (d *phoneDecoder) time() time.Time {
	switch d.byte() {
	case timeZero:
		return time.Time{}
	case timeUTC:
		sec := d.varint() + d.prevSec
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.bad = true
			return time.Time{}
		}
		d.prevSec = sec
		return time.Unix(sec, int64(nsec)).UTC()
	case timeText:
		var t time.Time
		if err := t.UnmarshalText(d.raw(d.uvarint())); err != nil {
			d.bad = true
		}
		return t
	}
	d.bad = true
	return time.Time{}
}

func (d *phoneDecoder) flags(all uint64) uint64 {
	f := d.uvarint()
	if f&^all != 0 {
		d.bad = true
	}
	return f
}

func (d *phoneDecoder) strIf(f, bit uint64) string {
	if f&bit == 0 {
		return ""
	}
	return d.str()
}

func (d *phoneDecoder) versionIf(f, bit uint64) images.Version {
	if f&bit == 0 {
		return images.Version{}
	}
	return d.version()
}

func (d *phoneDecoder) varintIf(f, bit uint64) int64 {
	if f&bit == 0 {
		return 0
	}
	return d.varint()
}

// intIf reads an int written by varintIf; one that does not fit is refused.
func (d *phoneDecoder) intIf(f, bit uint64) int {
	n := d.varintIf(f, bit)
	if int64(int(n)) != n {
		d.bad = true
	}
	return int(n)
}

func (d *phoneDecoder) device(id string) *deviceRow {
	f := d.flags(dAll)
	row := &deviceRow{Device: Device{ID: id}}
	dev := &row.Device
	dev.MAC = d.strIf(f, dMAC)
	dev.Serial = d.strIf(f, dSerial)
	dev.IP = d.strIf(f, dIP)
	if f&dDevicePath != 0 {
		dev.DevicePath = d.devicePath()
	}
	dev.FirstVersion = d.versionIf(f, dFirstVersion)
	dev.Version = d.versionIf(f, dVersion)
	dev.Offered = d.versionIf(f, dOffered)
	dev.OfferedFile = d.strIf(f, dOfferedFile)
	dev.Target = d.versionIf(f, dTarget)
	if f&dPath != 0 {
		dev.Path = d.versions()
	}
	dev.IsTest = f&dIsTest != 0
	dev.DNSName = d.strIf(f, dDNSName)
	dev.SIPUser = d.strIf(f, dSIPUser)
	if f&dSignedInAt != 0 {
		dev.SignedInAt = d.time()
	}
	dev.Handed = d.strIf(f, dHanded)
	dev.UserAgent = d.strIf(f, dUserAgent)
	if f&dStage == 0 || f&dStageSince == 0 || f&dFirstSeen == 0 || f&dLastSeen == 0 {
		d.bad = true // always written
	}
	dev.Stage = Stage(d.str())
	dev.StageReason = d.strIf(f, dStageReason)
	dev.StageSince = d.time()
	dev.DownloadFile = d.strIf(f, dDownloadFile)
	dev.DownloadBytes = d.varintIf(f, dDownloadBytes)
	dev.DownloadTotal = d.varintIf(f, dDownloadTotal)
	dev.CheckIns = d.intIf(f, dCheckIns)
	dev.SameOffer = d.intIf(f, dSameOffer)
	dev.FetchedCount = d.intIf(f, dFetchedCount)
	dev.FirstSeen = d.time()
	dev.LastSeen = d.time()
	if f&dHops != 0 {
		n := d.count(5) // a hop takes at least 5 bytes
		if n == 0 {
			d.bad = true
		}
		if !d.bad {
			dev.Hops = make([]Hop, n)
			for i := range dev.Hops {
				dev.Hops[i] = Hop{Version: d.version(), At: d.time()}
			}
		}
	}
	return row
}

// event reads an event of the phone id into ev; prevSeq is the Seq of the
// event before it.
func (d *phoneDecoder) event(id string, ev *Event, prevSeq uint64) {
	f := d.flags(eAll)
	ev.Seq = prevSeq + uint64(d.varint())
	ev.Time = d.time()
	ev.Kind = EventKind(d.str())
	ev.DeviceID = id
	if f&eDeviceID != 0 {
		ev.DeviceID = d.str()
	}
	ev.IP = d.strIf(f, eIP)
	ev.MAC = d.strIf(f, eMAC)
	ev.Serial = d.strIf(f, eSerial)
	if f&eDevicePath != 0 {
		ev.DevicePath = d.devicePath()
	}
	ev.Reported = d.versionIf(f, eReported)
	ev.Offered = d.versionIf(f, eOffered)
	ev.Target = d.versionIf(f, eTarget)
	if f&ePath != 0 {
		ev.Path = d.versions()
	}
	ev.Interim, ev.IsTest, ev.Complete = f&eInterim != 0, f&eIsTest != 0, f&eComplete != 0
	ev.File = d.strIf(f, eFile)
	ev.Offset = d.varintIf(f, eOffset)
	ev.Bytes = d.varintIf(f, eBytes)
	ev.Total = d.varintIf(f, eTotal)
	ev.Name = d.strIf(f, eName)
	ev.SIPStep = d.strIf(f, eSIPStep)
	ev.User = d.strIf(f, eUser)
	ev.UserAgent = d.strIf(f, eUserAgent)
	ev.Handed = d.strIf(f, eHanded)
	ev.DirectoryStep = d.strIf(f, eDirectoryStep)
	ev.DirectoryError = d.strIf(f, eDirectoryError)
	ev.Detail = d.strIf(f, eDetail)
}

// frame3At is the length of the whole, checksummed format 3 record at
// b[off:] whose payload decodes, with what it decodes to; 0 when there is
// none.
func frame3At(b []byte, off int, dec *phoneDecoder) (int, loadedItem) {
	if len(b)-off < frameHeader {
		return 0, loadedItem{}
	}
	length := binary.LittleEndian.Uint32(b[off:])
	if length == 0 || length > maxPayload || int64(length) > int64(len(b)-off-frameHeader) {
		return 0, loadedItem{}
	}
	payload := b[off+frameHeader : off+frameHeader+int(length)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[off+4:]) {
		return 0, loadedItem{}
	}
	it, err := dec.decode(payload)
	if err != nil {
		return 0, loadedItem{}
	}
	return frameHeader + int(length), it
}

// scan3 is one pass over a format 3 snapshot: a header, objects, a
// trailer with their count. fn, when set, gets the header and every valid
// object record with its offset, damage skipped: after a bad record the
// scan re-synchronises on the framing, trying each following offset for a
// record whose length and checksum verify and whose payload decodes.
type scan3 struct {
	sc           snapshotScan
	dec          phoneDecoder
	trailer      bool
	trailerCount int
	trailerOff   int64
	fn           func(off int64, it loadedItem) error
}

// scanSnapshot3 scans a whole format 3 snapshot held in b (the magic
// included). Only fn's failure is an error; damage is in the result. bound
// is the timelines' bound in events.
func scanSnapshot3(b []byte, bound int, fn func(off int64, it loadedItem) error) (snapshotScan, error) {
	s3 := scan3{sc: snapshotScan{size: int64(len(b))}, dec: phoneDecoder{bound: bound}, trailerOff: -1, fn: fn}
	if len(b) < len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic {
		s3.sc.bad(0, int64(min(len(b), len(snapshotMagic))), "the file does not start as a format 3 snapshot")
	}
	if len(b) > len(snapshotMagic) {
		if err := s3.scanBytes(b[len(snapshotMagic):], int64(len(snapshotMagic))); err != nil {
			return s3.sc, err
		}
	}
	return s3.finish(), nil
}

// scanSnapshot3File scans the format 3 snapshot f, size bytes, whose magic
// is checked: it reads the records one after another and reads the rest of
// the file whole only from the first damage on, to find what follows it.
// Only a failing read or fn is an error.
func scanSnapshot3File(f io.ReaderAt, size int64, bound int, fn func(off int64, it loadedItem) error) (snapshotScan, error) {
	s3 := scan3{sc: snapshotScan{size: size}, dec: phoneDecoder{bound: bound}, trailerOff: -1, fn: fn}
	off := int64(len(snapshotMagic))
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, size-off), 1<<16)
	var hdr [frameHeader]byte
	var payload []byte
	for off < size {
		n, ok, err := readFrameAny(r, hdr[:], &payload, size-off)
		if err != nil {
			return s3.sc, fmt.Errorf("at offset %d: %w", off, err)
		}
		if ok {
			if it, err := s3.dec.decode(payload); err == nil {
				if err := s3.valid(off, int(n), it); err != nil {
					return s3.sc, err
				}
				off += n
				continue
			}
		}
		rest := make([]byte, size-off)
		if _, err := f.ReadAt(rest, off); err != nil && !errors.Is(err, io.EOF) {
			return s3.sc, fmt.Errorf("at offset %d: %w", off, err)
		}
		if err := s3.scanBytes(rest, off); err != nil {
			return s3.sc, err
		}
		break
	}
	return s3.finish(), nil
}

// scanBytes scans b, the file from offset base on.
func (s3 *scan3) scanBytes(b []byte, base int64) error {
	for off := 0; off < len(b); {
		n, it := frame3At(b, off, &s3.dec)
		if n == 0 {
			start := off
			for off++; off < len(b); off++ {
				if n, _ := frame3At(b, off, &s3.dec); n > 0 {
					break
				}
			}
			s3.sc.bad(base+int64(start), int64(off-start), fmt.Sprintf("%d %s hold no valid record", off-start, plural(off-start, "byte", "bytes")))
			continue
		}
		if err := s3.valid(base+int64(off), n, it); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// valid takes the valid record at off, n bytes long: the header, the
// trailer, an object, or one out of place (damage).
func (s3 *scan3) valid(at int64, n int, it loadedItem) error {
	sc := &s3.sc
	first := at == int64(len(snapshotMagic))
	switch {
	case first && it.tag == tagHeader && it.format == 3:
		sc.format, sc.lastSeq = 3, it.lastSeq
		if s3.fn != nil {
			if err := s3.fn(at, it); err != nil {
				return err
			}
		}
	case first:
		sc.bad(at, int64(n), "the first record is not a snapshot header of format 3")
		return nil
	case s3.trailer:
		sc.bad(at, int64(n), "a record follows the trailer")
		return nil
	case it.tag == tagTrailer:
		s3.trailer, s3.trailerCount, s3.trailerOff = true, it.count, at
	case it.tag == tagHeader:
		sc.bad(at, int64(n), "a second snapshot header")
		return nil
	default:
		sc.objects++
		if s3.fn != nil {
			if err := s3.fn(at, it); err != nil {
				return err
			}
		}
	}
	sc.records++
	return nil
}

// finish checks the trailer and counts the records after each damage.
func (s3 *scan3) finish() snapshotScan {
	sc := &s3.sc
	lastEnd := int64(-1)
	if k := len(sc.damage) - 1; k >= 0 {
		lastEnd = sc.damage[k].Offset + sc.damage[k].Length
	}
	switch {
	case !s3.trailer && lastEnd != sc.size:
		sc.bad(sc.size, 0, "the file ends before the trailer (cut short)")
	case len(sc.damage) == 0 && s3.trailerCount != sc.objects:
		sc.bad(s3.trailerOff, 0, fmt.Sprintf("the trailer counts %d records but %d were read", s3.trailerCount, sc.objects))
	}
	for i := range sc.damage {
		sc.damage[i].ValidAfter = sc.records - sc.before[i]
	}
	return *sc
}
