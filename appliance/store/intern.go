package store

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tanjay-lab/tanjay/images"
)

// Phones repeat themselves: every check-in of a CX700 names the same device
// path, versions, file name and update URLs. The timelines store such
// values once, in an intern table, and refer to them by a small number
// (see eventcode.go); the devices share the same strings.
//
// The tables are bounded, in entries and in bytes, and never shrink. A
// value is stored the second time it is seen; until then, and when it
// does not fit (a full table, a value longer than maxInternLen), it is
// stored in full where it is used, which costs memory but loses nothing.
// Nothing a phone can send makes a table grow without bound. The tables
// are shared by every Store in the process: their values are the same
// across stores, and a reader decodes an event without knowing which
// store wrote it.

// Bounds of the intern tables.
const (
	maxInternEntries = 1 << 16
	maxInternBytes   = 4 << 20
	maxInternLen     = 160 // longer strings are stored in full
)

// internChunk is how many values share one array; arrays are never moved,
// so that readers need no lock.
const internChunk = 1024

// interner numbers values of type T by a string key. Writers (Observe,
// Open) take mu; readers (decoding events) look values up without a lock:
// they only ever ask for numbers they read from an event, which was
// written after the value was stored, and published to them through
// memdb's commit (or mu).
type interner[T any] struct {
	mu     sync.Mutex
	ids    map[string]uint32
	chunks atomic.Pointer[[]*[internChunk]T]
	n      uint32
	bytes  int
	// seen admits a value on its second sighting only: values seen once
	// (forged DNS names, the names of capture files) do not fill the
	// table. A value is remembered by its hash, in a slot of its own,
	// until another value takes the slot.
	seen [admitSlots]uint64
}

// admitSlots is how many values seen once an interner remembers.
const admitSlots = 4096

var admitSeed = maphash.MakeSeed()

// id is the number of the value stored under key, storing make(key) if
// there is none yet. ok is false when the table is full or key too long.
func (in *interner[T]) id(key []byte, make func(string) T) (uint32, bool) {
	if len(key) > maxInternLen {
		return 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.ids[string(key)]; ok {
		return id, true
	}
	if in.n >= maxInternEntries || in.bytes+len(key) > maxInternBytes {
		return 0, false
	}
	h := maphash.Bytes(admitSeed, key) | 1 // never the empty slot's 0
	if slot := &in.seen[h%admitSlots]; *slot != h {
		*slot = h
		return 0, false
	}
	if in.ids == nil {
		in.ids = map[string]uint32{}
	}
	k := string(key)
	id := in.n
	chunks := in.loadChunks()
	if int(id/internChunk) == len(chunks) {
		grown := append(chunks[:len(chunks):len(chunks)], new([internChunk]T))
		in.chunks.Store(&grown)
		chunks = grown
	}
	chunks[id/internChunk][id%internChunk] = make(k)
	in.ids[k] = id
	in.n++
	in.bytes += len(key)
	return id, true
}

// value is the value numbered id. id must have come from id (through an
// encoded event).
func (in *interner[T]) value(id uint32) T {
	return in.loadChunks()[id/internChunk][id%internChunk]
}

func (in *interner[T]) loadChunks() []*[internChunk]T {
	if p := in.chunks.Load(); p != nil {
		return *p
	}
	return nil
}

// The process's intern tables: strings, check-in shapes and hop lists.
var (
	internedStrings interner[string]
	internedShapes  interner[shape]
	internedPaths   interner[[]images.Version]
)

func sameString(s string) string { return s }

// internString returns the table's copy of s (s itself when it does not
// fit) and its number.
func internString(s string) (string, uint32, bool) {
	// The key is only read, and copied before it is kept.
	id, ok := internedStrings.id(unsafe.Slice(unsafe.StringData(s), len(s)), sameString)
	if !ok {
		return s, 0, false
	}
	return internedStrings.value(id), id, true
}

// canonical is the table's copy of s, or a copy of s of its own when it
// does not fit: a device never holds on to a buffer of a request.
func canonical(s string) string {
	if s == "" {
		return ""
	}
	if c, _, ok := internString(s); ok {
		return c
	}
	return strings.Clone(s)
}

// shape is what a check-in says of the phone and its hops, the same for
// every phone of a model at one step of its path.
type shape struct {
	devicePath                images.DevicePath
	reported, offered, target images.Version
	path                      []images.Version // shared: nobody writes to it
}

// shapeKey is the comparable part of a shape, and whether it has a path.
type shapeKey struct {
	devicePath                images.DevicePath
	reported, offered, target images.Version
	hasPath                   bool
}

func shapeOf(ev *Event) shapeKey {
	return shapeKey{ev.DevicePath, ev.Reported, ev.Offered, ev.Target, ev.Path != nil}
}

// apply sets ev's shape fields.
func (sh shape) apply(ev *Event) {
	ev.DevicePath, ev.Reported, ev.Offered, ev.Target, ev.Path = sh.devicePath, sh.reported, sh.offered, sh.target, sh.path
}

// internShape is the number of ev's shape in the shapes table.
func internShape(ev *Event) (uint32, bool) {
	var buf [maxInternLen]byte
	key := appendShapeKey(buf[:0], ev)
	if len(key) > maxInternLen {
		return 0, false
	}
	return internedShapes.id(key, shapeFromKey)
}

// appendShapeKey appends ev's shape: the device path's strings, each led
// by its length, the three versions and the hop list (its length + 1, 0
// for none), numbers as uvarints.
func appendShapeKey(dst []byte, ev *Event) []byte {
	p := ev.DevicePath
	for _, s := range [...]string{p.DeviceType, p.Vendor, p.Model, p.Revision, p.Locale} {
		dst = append(binary.AppendUvarint(dst, uint64(len(s))), s...)
	}
	return appendShapeVersions(dst, ev)
}

// shapeFromKey reads a shape back from its key.
func shapeFromKey(k string) shape {
	r := eventReader{b: []byte(k)}
	str := func() string {
		n := int(r.uvarint())
		s := canonical(k[r.off : r.off+n])
		r.off += n
		return s
	}
	sh := shape{devicePath: images.DevicePath{DeviceType: str(), Vendor: str(), Model: str(), Revision: str(), Locale: str()}}
	sh.reported, sh.offered, sh.target = r.version(), r.version(), r.version()
	if n := r.uvarint(); n > 0 {
		sh.path = make([]images.Version, n-1)
		for i := range sh.path {
			sh.path[i] = r.version()
		}
	}
	return sh
}

// pathKey is p as bytes, 16 a version.
func pathKey(buf []byte, p []images.Version) []byte {
	for _, v := range p {
		for _, part := range v {
			buf = binary.LittleEndian.AppendUint32(buf, part)
		}
	}
	return buf
}

func pathFromKey(k string) []images.Version {
	p := make([]images.Version, len(k)/16)
	for i := range p {
		for j := range p[i] {
			b := k[16*i+4*j:]
			p[i][j] = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		}
	}
	return p
}

// internPath returns the table's copy of p (shared: nobody writes to it),
// or false when p does not fit.
func internPath(p []images.Version) ([]images.Version, bool) {
	var buf [maxInternLen]byte
	key := pathKey(buf[:0], p)
	if len(key) > maxInternLen {
		return nil, false
	}
	id, ok := internedPaths.id(key, pathFromKey)
	if !ok {
		return nil, false
	}
	return internedPaths.value(id), true
}
