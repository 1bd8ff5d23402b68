package store

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// A timeline keeps its events encoded, about 20 to 30 bytes each instead
// of an Event of some 450 bytes with strings of its own. An event is
//
//	length  uvarint: of what follows
//	fields  uvarint: a bit per field present (the field bits below)
//	seq     varint:  Seq less the timeline's base
//	time    varint:  Time in ns less the base (wide: seconds, then ns)
//	kind    uvarint: 1 + its place in eventKinds, or 0 and a string
//	then each field present, in bit order
//
// and a string is a uvarint: an intern table's number shifted left, or
// the length shifted left and 1 followed by the bytes. What a check-in
// says of the phone and its hops (its shape: device path, versions, hop
// list), the same for every phone of a model at a step, is one number in
// the shapes table, or in full when that is full. The encoding lives only in memory: the journal and the snapshots
// write events as JSON, so it may change with any release.

// The field bits. The fields a check-in or a download usually has come
// first, so that their bits fit in two bytes.
const (
	fIPIsHome     = 1 << iota // IP is the timeline's home address
	fMACIsID                  // MAC is the DeviceID
	fSerialIsHome             // Serial is the timeline's home serial
	fShape                    // DevicePath, Reported, Offered, Target or Path is set
	fFile
	fInterim
	fIsTest
	fDetail
	fOffset
	fBytes
	fTotal
	fComplete
	fIP
	fMAC
	fSerial
	fName
	fSIPStep
	fUser
	fUserAgent
	fHanded
	fDirectoryStep
	fDirectoryError
	fDeviceID // an event relabelled to another device (never, in practice)
	fTimeWide // Time is outside what int64 nanoseconds near the base hold
	fTimeZero // Time is the zero time
	fShapeIn  // the shape in full (its table was full)
)

// eventBase is what a timeline's events are encoded against.
type eventBase struct {
	deviceID string
	seq      uint64
	nanos    int64
	ip       string // home address: the one most events name
	serial   string
}

// maxNanoDelta bounds a time's distance from the base for the short form.
const maxNanoDelta = 1 << 62

// baseFor is a base for events around ev, with home address and serial.
func baseFor(deviceID string, ev *Event, ip, serial string) eventBase {
	b := eventBase{deviceID: deviceID, seq: ev.Seq, ip: ip, serial: serial}
	if nanosFit(ev.Time) {
		b.nanos = ev.Time.UnixNano()
	}
	return b
}

func nanosFit(t time.Time) bool {
	s := t.Unix()
	return !t.IsZero() && s > math.MinInt64/1_000_000_000+1 && s < math.MaxInt64/1_000_000_000-1
}

// appendEvent appends ev, encoded against b, to dst.
func appendEvent(dst []byte, ev *Event, b *eventBase) []byte {
	start := len(dst)
	dst = encodeEventBody(append(dst, 0), ev, b)
	n := len(dst) - start - 1
	if n < 0x80 {
		dst[start] = byte(n)
		return dst
	}
	var prefix [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(prefix[:], uint64(n))
	dst = append(dst, prefix[:k-1]...)
	copy(dst[start+k:], dst[start+1:start+1+n])
	copy(dst[start:], prefix[:k])
	return dst
}

// eventFields is the field bits of ev.
func eventFields(ev *Event, b *eventBase) uint64 {
	var f uint64
	set := func(bit uint64, on bool) {
		if on {
			f |= bit
		}
	}
	set(fIPIsHome, ev.IP != "" && ev.IP == b.ip)
	set(fIP, ev.IP != "" && ev.IP != b.ip)
	set(fMACIsID, ev.MAC != "" && ev.MAC == b.deviceID)
	set(fMAC, ev.MAC != "" && ev.MAC != b.deviceID)
	set(fSerialIsHome, ev.Serial != "" && ev.Serial == b.serial)
	set(fSerial, ev.Serial != "" && ev.Serial != b.serial)
	set(fShape, shapeOf(ev) != (shapeKey{}))
	set(fFile, ev.File != "")
	set(fInterim, ev.Interim)
	set(fIsTest, ev.IsTest)
	set(fDetail, ev.Detail != "")
	set(fOffset, ev.Offset != 0)
	set(fBytes, ev.Bytes != 0)
	set(fTotal, ev.Total != 0)
	set(fComplete, ev.Complete)
	set(fName, ev.Name != "")
	set(fSIPStep, ev.SIPStep != "")
	set(fUser, ev.User != "")
	set(fUserAgent, ev.UserAgent != "")
	set(fHanded, ev.Handed != "")
	set(fDirectoryStep, ev.DirectoryStep != "")
	set(fDirectoryError, ev.DirectoryError != "")
	set(fDeviceID, ev.DeviceID != b.deviceID)
	set(fTimeZero, ev.Time.IsZero())
	set(fTimeWide, !ev.Time.IsZero() && !nanosFitNear(ev.Time, b.nanos))
	return f
}

func nanosFitNear(t time.Time, base int64) bool {
	if !nanosFit(t) {
		return false
	}
	d := t.UnixNano() - base
	return d > -maxNanoDelta && d < maxNanoDelta
}

func encodeEventBody(dst []byte, ev *Event, b *eventBase) []byte {
	f := eventFields(ev, b)
	var shapeID uint32
	if f&fShape != 0 {
		var ok bool
		if shapeID, ok = internShape(ev); !ok {
			f |= fShapeIn
		}
	}
	dst = binary.AppendUvarint(dst, f)
	dst = binary.AppendVarint(dst, int64(ev.Seq-b.seq))
	switch {
	case f&fTimeZero != 0:
	case f&fTimeWide != 0:
		dst = binary.AppendVarint(dst, ev.Time.Unix())
		dst = binary.AppendUvarint(dst, uint64(ev.Time.Nanosecond()))
	default:
		dst = binary.AppendVarint(dst, ev.Time.UnixNano()-b.nanos)
	}
	dst = appendKind(dst, ev.Kind)
	dst = appendIf(dst, f, fIP, ev.IP)
	dst = appendIf(dst, f, fMAC, ev.MAC)
	dst = appendIf(dst, f, fSerial, ev.Serial)
	switch {
	case f&fShapeIn != 0:
		dst = appendShape(dst, ev)
	case f&fShape != 0:
		dst = binary.AppendUvarint(dst, uint64(shapeID))
	}
	dst = appendIf(dst, f, fFile, ev.File)
	dst = appendIf(dst, f, fDetail, ev.Detail)
	for _, n := range [...]struct {
		bit uint64
		v   int64
	}{{fOffset, ev.Offset}, {fBytes, ev.Bytes}, {fTotal, ev.Total}} {
		if f&n.bit != 0 {
			dst = binary.AppendVarint(dst, n.v)
		}
	}
	dst = appendIf(dst, f, fName, ev.Name)
	dst = appendIf(dst, f, fSIPStep, ev.SIPStep)
	dst = appendIf(dst, f, fUser, ev.User)
	dst = appendIf(dst, f, fUserAgent, ev.UserAgent)
	dst = appendIf(dst, f, fHanded, ev.Handed)
	dst = appendIf(dst, f, fDirectoryStep, ev.DirectoryStep)
	dst = appendIf(dst, f, fDirectoryError, ev.DirectoryError)
	return appendIf(dst, f, fDeviceID, ev.DeviceID)
}

func appendIf(dst []byte, f, bit uint64, s string) []byte {
	if f&bit == 0 {
		return dst
	}
	return appendRef(dst, s)
}

// appendKind appends k as its place in eventKinds, or in full.
func appendKind(dst []byte, k EventKind) []byte {
	for i, known := range eventKinds {
		if k == known {
			return binary.AppendUvarint(dst, uint64(i+1))
		}
	}
	return appendRef(binary.AppendUvarint(dst, 0), string(k))
}

// appendShape appends ev's shape in full, as appendShapeKey does but with
// the device path's strings as appendRef writes them.
func appendShape(dst []byte, ev *Event) []byte {
	p := ev.DevicePath
	for _, s := range [...]string{p.DeviceType, p.Vendor, p.Model, p.Revision, p.Locale} {
		dst = appendRef(dst, s)
	}
	return appendShapeVersions(dst, ev)
}

// appendShapeVersions appends a check-in shape's versions: reported,
// offered, target, then the path (its length plus one; 0 for nil).
func appendShapeVersions(dst []byte, ev *Event) []byte {
	for _, v := range [...]images.Version{ev.Reported, ev.Offered, ev.Target} {
		dst = appendVersionParts(dst, v)
	}
	if ev.Path == nil {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ev.Path))+1)
	for _, v := range ev.Path {
		dst = appendVersionParts(dst, v)
	}
	return dst
}

func appendVersionParts(dst []byte, v images.Version) []byte {
	for _, p := range v {
		dst = binary.AppendUvarint(dst, uint64(p))
	}
	return dst
}

// appendRef appends s as an intern number, or in full.
func appendRef(dst []byte, s string) []byte {
	if _, id, ok := internString(s); ok {
		return binary.AppendUvarint(dst, uint64(id)<<1)
	}
	dst = binary.AppendUvarint(dst, uint64(len(s))<<1|1)
	return append(dst, s...)
}

// eventReader decodes one encoded event. Its input was written by
// appendEvent in this process: it is trusted.
type eventReader struct {
	b   []byte
	off int
}

func (r *eventReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	r.off += n
	return v
}

func (r *eventReader) varint() int64 {
	v, n := binary.Varint(r.b[r.off:])
	r.off += n
	return v
}

func (r *eventReader) string() string {
	v := r.uvarint()
	if v&1 == 0 {
		return internedStrings.value(uint32(v >> 1))
	}
	n := int(v >> 1)
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

func (r *eventReader) stringIf(f, bit uint64) string {
	if f&bit == 0 {
		return ""
	}
	return r.string()
}

func (r *eventReader) kind() EventKind {
	if k := r.uvarint(); k > 0 {
		return eventKinds[k-1]
	}
	return EventKind(r.string())
}

// shape reads a shape written in full (appendShape) into ev.
func (r *eventReader) shape(ev *Event) {
	ev.DevicePath = images.DevicePath{DeviceType: r.string(), Vendor: r.string(), Model: r.string(), Revision: r.string(), Locale: r.string()}
	for _, v := range []*images.Version{&ev.Reported, &ev.Offered, &ev.Target} {
		*v = r.version()
	}
	if n := r.uvarint(); n > 0 {
		ev.Path = make([]images.Version, n-1)
		for i := range ev.Path {
			ev.Path[i] = r.version()
		}
	}
}

func (r *eventReader) version() images.Version {
	var v images.Version
	for i := range v {
		v[i] = uint32(r.uvarint())
	}
	return v
}

// eventLen is the length of the encoded event at b[off:], its length
// prefix included.
func eventLen(b []byte, off int) int {
	v, n := binary.Uvarint(b[off:])
	return n + int(v)
}

// decodeEvent decodes the event at b[off:] (length prefix first) into ev,
// against base, and returns the offset past it.
func decodeEvent(b []byte, off int, base *eventBase, ev *Event) int {
	end := off + eventLen(b, off)
	r := eventReader{b: b[:end], off: off}
	r.uvarint() // the length
	f := r.uvarint()
	*ev = Event{DeviceID: base.deviceID, Seq: base.seq + uint64(r.varint())}
	switch {
	case f&fTimeZero != 0:
	case f&fTimeWide != 0:
		sec := r.varint()
		ev.Time = time.Unix(sec, int64(r.uvarint())).UTC()
	default:
		ev.Time = time.Unix(0, base.nanos+r.varint()).UTC()
	}
	ev.Kind = r.kind()
	ev.IP = pick(f, fIPIsHome, base.ip, r.stringIf(f, fIP))
	ev.MAC = pick(f, fMACIsID, base.deviceID, r.stringIf(f, fMAC))
	ev.Serial = pick(f, fSerialIsHome, base.serial, r.stringIf(f, fSerial))
	switch {
	case f&fShapeIn != 0:
		r.shape(ev)
	case f&fShape != 0:
		internedShapes.value(uint32(r.uvarint())).apply(ev)
	}
	ev.File = r.stringIf(f, fFile)
	ev.Detail = r.stringIf(f, fDetail)
	for _, n := range [...]struct {
		bit uint64
		to  *int64
	}{{fOffset, &ev.Offset}, {fBytes, &ev.Bytes}, {fTotal, &ev.Total}} {
		if f&n.bit != 0 {
			*n.to = r.varint()
		}
	}
	ev.Interim, ev.IsTest, ev.Complete = f&fInterim != 0, f&fIsTest != 0, f&fComplete != 0
	ev.Name = r.stringIf(f, fName)
	ev.SIPStep = r.stringIf(f, fSIPStep)
	ev.User = r.stringIf(f, fUser)
	ev.UserAgent = r.stringIf(f, fUserAgent)
	ev.Handed = r.stringIf(f, fHanded)
	ev.DirectoryStep = r.stringIf(f, fDirectoryStep)
	ev.DirectoryError = r.stringIf(f, fDirectoryError)
	if f&fDeviceID != 0 {
		ev.DeviceID = r.string()
	}
	return end
}

// pick is home when f has bit, else s.
func pick(f, bit uint64, home, s string) string {
	if f&bit != 0 {
		return home
	}
	return s
}
