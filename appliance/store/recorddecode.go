package store

import (
	"encoding/json"
	"errors"
	"math"
	"time"
	"unicode/utf8"

	"github.com/tanjay-lab/tanjay/images"
)

// Start-up decodes every journal record and snapshot line: millions of
// them for a large fleet, and encoding/json's reflection was three
// quarters of a restart. recordDecoder reads, without reflection, the
// records that are nearly all of them (events, devices, address rows,
// snapshot headers and trailers) as the encoders write them, and hands
// anything else to encoding/json: older shapes, operator records, keys in
// another case, escaped strings, nulls, repeated keys. What the fast path
// accepts it decodes exactly as json.Unmarshal would (FuzzRecordDecoder
// holds it to that); what it refuses, encoding/json decodes, so every file
// an older appliance wrote loads as it did.

// errNotFast is why the fast path gave a record to encoding/json.
var errNotFast = errors.New("not a record the fast decoder reads")

// recordDecoder decodes records. It keeps the last string it made for
// each field, so that a value repeated from one record to the next (a
// phone's ID and address in each of its events, which a snapshot writes
// one after another; event kinds, device paths, file names) is one string,
// not one per event. The zero value is ready to use. Not safe for
// concurrent use.
type recordDecoder struct {
	last [numStringFields]string
}

// stringField names a string field for recordDecoder.last.
type stringField uint8

const (
	fieldOp stringField = iota
	fieldID
	fieldDeviceID
	fieldKind
	fieldIP
	fieldMAC
	fieldSerial
	fieldDeviceType
	fieldVendor
	fieldModel
	fieldRevision
	fieldLocale
	fieldFile
	fieldName
	fieldSIPStep
	fieldUser
	fieldUserAgent
	fieldHanded
	fieldDirectoryStep
	fieldDirectoryError
	fieldDetail
	fieldStage
	fieldStageReason
	fieldDNSName
	numStringFields
)

// decode decodes one record: the fast path, else encoding/json.
func (d *recordDecoder) decode(b []byte) (record, error) {
	var rec record
	if d.fast(b, &rec) == nil {
		return rec, nil
	}
	rec = record{}
	err := json.Unmarshal(b, &rec)
	return rec, err
}

// fast decodes b into rec, or returns errNotFast having decoded part of it.
func (d *recordDecoder) fast(b []byte, rec *record) error {
	p := parser{b: b, d: d}
	var seen uint16
	err := p.object(func(key []byte) error {
		var bit uint16
		switch string(key) {
		case "op":
			bit = 1 << 0
			rec.Op = p.str(fieldOp)
		case "event":
			bit = 1 << 1
			rec.Event = new(Event)
			p.event(rec.Event)
		case "device":
			bit = 1 << 2
			rec.Device = new(Device)
			p.device(rec.Device)
		case "ip_device":
			bit = 1 << 3
			rec.IPDevice = new(ipDevice)
			p.ipDevice(rec.IPDevice)
		case "format":
			bit = 1 << 4
			rec.Format = p.int()
		case "last_seq":
			bit = 1 << 5
			rec.LastSeq = p.uint64()
		case "count":
			bit = 1 << 6
			rec.Count = p.int()
		case "id":
			bit = 1 << 7
			rec.ID = p.str(fieldID)
		default:
			return errNotFast
		}
		if seen&bit != 0 {
			return errNotFast
		}
		seen |= bit
		return p.err
	})
	if err != nil {
		return err
	}
	p.space()
	if p.i != len(p.b) {
		return errNotFast
	}
	return nil
}

// parser reads one JSON value after another from b[i:]. The first value
// it cannot read as the fast path wants sets err (errNotFast) and every
// later call does nothing.
type parser struct {
	b   []byte
	i   int
	err error
	d   *recordDecoder
}

func (p *parser) fail() { p.err = errNotFast }

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether c comes next, consuming it.
func (p *parser) next(c byte) bool {
	p.space()
	if p.err == nil && p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"key":value,…}, calling field for each key with the
// parser at its value.
func (p *parser) object(field func(key []byte) error) error {
	if !p.next('{') {
		p.fail()
		return p.err
	}
	if p.next('}') {
		return p.err
	}
	for {
		key := p.raw()
		if p.err != nil || !p.next(':') {
			p.fail()
			return p.err
		}
		p.space()
		if err := field(key); err != nil {
			p.err = err
			return err
		}
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return p.err
		}
		p.fail()
		return p.err
	}
}

// raw reads a string that needs no unescaping: no backslash, no control
// character, valid UTF-8 (which encoding/json would keep as it is). It
// returns its bytes, without the quotes.
func (p *parser) raw() []byte {
	if !p.next('"') {
		p.fail()
		return nil
	}
	start, ascii := p.i, true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				p.fail()
			}
			return s
		case c == '\\' || c < 0x20:
			p.fail()
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	p.fail()
	return nil
}

// str reads a string value for field f, the same string as the last one
// when the bytes are.
func (p *parser) str(f stringField) string {
	b := p.raw()
	if p.err != nil || len(b) == 0 {
		return ""
	}
	if last := p.d.last[f]; last == string(b) {
		return last
	}
	s := string(b)
	p.d.last[f] = s
	return s
}

func (p *parser) bool() bool {
	switch {
	case p.err != nil:
	case hasPrefixAt(p.b, p.i, "true"):
		p.i += 4
		return true
	case hasPrefixAt(p.b, p.i, "false"):
		p.i += 5
	default:
		p.fail()
	}
	return false
}

func hasPrefixAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}

// digits reads an unsigned JSON integer (no sign, fraction or exponent)
// that fits in max.
func (p *parser) digits(max uint64) uint64 {
	if p.err != nil {
		return 0
	}
	start := p.i
	var n uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		c := uint64(p.b[p.i] - '0')
		if n > (max-c)/10 {
			p.fail()
			return 0
		}
		n = n*10 + c
	}
	switch {
	case p.i == start, p.b[start] == '0' && p.i-start > 1:
		p.fail()
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		p.fail() // encoding/json refuses these for an integer field
	}
	return n
}

func (p *parser) uint64() uint64 { return p.digits(math.MaxUint64) }

func (p *parser) int64() int64 {
	if p.err == nil && p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
		return -int64(p.digits(1 << 63))
	}
	return int64(p.digits(math.MaxInt64))
}

// int reads an int; one that does not fit (32-bit platforms) is refused.
func (p *parser) int() int {
	n := p.int64()
	if int64(int(n)) != n {
		p.fail()
	}
	return int(n)
}

// time reads a time as time.Time.UnmarshalJSON does.
func (p *parser) time() time.Time {
	start := p.i
	p.raw()
	var t time.Time
	if p.err == nil && t.UnmarshalJSON(p.b[start:p.i]) != nil {
		p.fail()
	}
	return t
}

// version reads a version as images.Version.UnmarshalText does.
func (p *parser) version() images.Version {
	b := p.raw()
	var v images.Version
	if p.err != nil {
		return v
	}
	if fastVersion(b, &v) {
		return v
	}
	if v.UnmarshalText(b) != nil {
		p.fail()
	}
	return v
}

// fastVersion reads the plain a.b.c.d (decimal parts that fit in 32
// bits), which ParseVersion reads the same; false for anything else.
func fastVersion(b []byte, v *images.Version) bool {
	part, n, digits := 0, uint64(0), 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n, digits = n*10+uint64(c-'0'), digits+1
			if digits > 10 || n > math.MaxUint32 {
				return false
			}
		case c == '.' && digits > 0 && part < 3:
			v[part], part, n, digits = uint32(n), part+1, 0, 0
		default:
			return false
		}
	}
	if part != 3 || digits == 0 {
		return false
	}
	v[3] = uint32(n)
	return true
}

// versions reads an array of versions; [] is an empty slice, not nil, as
// encoding/json makes it.
func (p *parser) versions() []images.Version {
	if !p.next('[') {
		p.fail()
		return nil
	}
	out := []images.Version{}
	if p.next(']') {
		return out
	}
	for p.err == nil {
		p.space()
		out = append(out, p.version())
		if p.next(',') {
			continue
		}
		if !p.next(']') {
			p.fail()
		}
		break
	}
	return out
}

func (p *parser) devicePath(dp *images.DevicePath) {
	var seen uint8
	p.object(func(key []byte) error {
		var bit uint8
		switch string(key) {
		case "device_type":
			bit, dp.DeviceType = 1<<0, p.str(fieldDeviceType)
		case "vendor":
			bit, dp.Vendor = 1<<1, p.str(fieldVendor)
		case "model":
			bit, dp.Model = 1<<2, p.str(fieldModel)
		case "revision":
			bit, dp.Revision = 1<<3, p.str(fieldRevision)
		case "locale":
			bit, dp.Locale = 1<<4, p.str(fieldLocale)
		default:
			return errNotFast
		}
		return once(&seen, bit, p.err)
	})
}

// once marks bit in *seen, or refuses a key seen before (encoding/json
// would let the last one win, or merge objects).
func once[T uint8 | uint32 | uint64](seen *T, bit T, err error) error {
	if err != nil {
		return err
	}
	if *seen&bit != 0 {
		return errNotFast
	}
	*seen |= bit
	return nil
}

func (p *parser) event(ev *Event) {
	var seen uint32
	p.object(func(key []byte) error {
		var bit uint32
		switch string(key) {
		case "seq":
			bit, ev.Seq = 1<<0, p.uint64()
		case "time":
			bit, ev.Time = 1<<1, p.time()
		case "device_id":
			bit, ev.DeviceID = 1<<2, p.str(fieldDeviceID)
		case "kind":
			bit, ev.Kind = 1<<3, EventKind(p.str(fieldKind))
		case "ip":
			bit, ev.IP = 1<<4, p.str(fieldIP)
		case "mac":
			bit, ev.MAC = 1<<5, p.str(fieldMAC)
		case "serial":
			bit, ev.Serial = 1<<6, p.str(fieldSerial)
		case "device_path":
			bit = 1 << 7
			p.devicePath(&ev.DevicePath)
		case "reported":
			bit, ev.Reported = 1<<8, p.version()
		case "offered":
			bit, ev.Offered = 1<<9, p.version()
		case "target":
			bit, ev.Target = 1<<10, p.version()
		case "path":
			bit, ev.Path = 1<<11, p.versions()
		case "interim":
			bit, ev.Interim = 1<<12, p.bool()
		case "is_test":
			bit, ev.IsTest = 1<<13, p.bool()
		case "file":
			bit, ev.File = 1<<14, p.str(fieldFile)
		case "offset":
			bit, ev.Offset = 1<<15, p.int64()
		case "bytes":
			bit, ev.Bytes = 1<<16, p.int64()
		case "total":
			bit, ev.Total = 1<<17, p.int64()
		case "complete":
			bit, ev.Complete = 1<<18, p.bool()
		case "name":
			bit, ev.Name = 1<<19, p.str(fieldName)
		case "sip_step":
			bit, ev.SIPStep = 1<<20, p.str(fieldSIPStep)
		case "user":
			bit, ev.User = 1<<21, p.str(fieldUser)
		case "user_agent":
			bit, ev.UserAgent = 1<<22, p.str(fieldUserAgent)
		case "handed":
			bit, ev.Handed = 1<<23, p.str(fieldHanded)
		case "directory_step":
			bit, ev.DirectoryStep = 1<<24, p.str(fieldDirectoryStep)
		case "directory_error":
			bit, ev.DirectoryError = 1<<25, p.str(fieldDirectoryError)
		case "detail":
			bit, ev.Detail = 1<<26, p.str(fieldDetail)
		default:
			return errNotFast
		}
		return once(&seen, bit, p.err)
	})
}

func (p *parser) device(d *Device) {
	var seen uint32
	p.object(func(key []byte) error {
		var bit uint32
		switch string(key) {
		case "id":
			bit, d.ID = 1<<0, p.str(fieldDeviceID)
		case "mac":
			bit, d.MAC = 1<<1, p.str(fieldMAC)
		case "serial":
			bit, d.Serial = 1<<2, p.str(fieldSerial)
		case "ip":
			bit, d.IP = 1<<3, p.str(fieldIP)
		case "device_path":
			bit = 1 << 4
			p.devicePath(&d.DevicePath)
		case "first_version":
			bit, d.FirstVersion = 1<<5, p.version()
		case "version":
			bit, d.Version = 1<<6, p.version()
		case "offered":
			bit, d.Offered = 1<<7, p.version()
		case "offered_file":
			bit, d.OfferedFile = 1<<8, p.str(fieldFile)
		case "target":
			bit, d.Target = 1<<9, p.version()
		case "path":
			bit, d.Path = 1<<10, p.versions()
		case "is_test":
			bit, d.IsTest = 1<<11, p.bool()
		case "dns_name":
			bit, d.DNSName = 1<<12, p.str(fieldDNSName)
		case "sip_user":
			bit, d.SIPUser = 1<<13, p.str(fieldUser)
		case "signed_in_at":
			bit, d.SignedInAt = 1<<14, p.time()
		case "handed":
			bit, d.Handed = 1<<15, p.str(fieldHanded)
		case "user_agent":
			bit, d.UserAgent = 1<<16, p.str(fieldUserAgent)
		case "stage":
			bit, d.Stage = 1<<17, Stage(p.str(fieldStage))
		case "stage_reason":
			bit, d.StageReason = 1<<18, p.str(fieldStageReason)
		case "stage_since":
			bit, d.StageSince = 1<<19, p.time()
		case "download_file":
			bit, d.DownloadFile = 1<<20, p.str(fieldFile)
		case "download_bytes":
			bit, d.DownloadBytes = 1<<21, p.int64()
		case "download_total":
			bit, d.DownloadTotal = 1<<22, p.int64()
		case "checkins":
			bit, d.CheckIns = 1<<23, p.int()
		case "same_offer":
			bit, d.SameOffer = 1<<24, p.int()
		case "fetched_count":
			bit, d.FetchedCount = 1<<25, p.int()
		case "first_seen":
			bit, d.FirstSeen = 1<<26, p.time()
		case "last_seen":
			bit, d.LastSeen = 1<<27, p.time()
		case "hops":
			bit, d.Hops = 1<<28, p.hops()
		default:
			return errNotFast
		}
		return once(&seen, bit, p.err)
	})
}

// hops reads an array of hops; [] is an empty slice, not nil.
func (p *parser) hops() []Hop {
	if !p.next('[') {
		p.fail()
		return nil
	}
	out := []Hop{}
	if p.next(']') {
		return out
	}
	for p.err == nil {
		p.space()
		var h Hop
		var seen uint8
		p.object(func(key []byte) error {
			var bit uint8
			switch string(key) {
			case "version":
				bit, h.Version = 1<<0, p.version()
			case "at":
				bit, h.At = 1<<1, p.time()
			default:
				return errNotFast
			}
			return once(&seen, bit, p.err)
		})
		out = append(out, h)
		if p.next(',') {
			continue
		}
		if !p.next(']') {
			p.fail()
		}
		break
	}
	return out
}

func (p *parser) ipDevice(row *ipDevice) {
	var seen uint8
	p.object(func(key []byte) error {
		var bit uint8
		switch string(key) {
		case "ip":
			bit, row.IP = 1<<0, p.str(fieldIP)
		case "device_id":
			bit, row.DeviceID = 1<<1, p.str(fieldDeviceID)
		default:
			return errNotFast
		}
		return once(&seen, bit, p.err)
	})
}
