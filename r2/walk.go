package r2

import (
	"bytes"
	"errors"
	"sync"

	"github.com/tanjay-lab/tanjay/images"
)

// requestBuilder is what one ParseRequest has found so far. The walkers of
// the body and of module XML embedded in it write into the same one.
type requestBuilder struct {
	req        *Request
	devicePath string
	rootTime   string // a TimeStamp at root level; see finish
	embedded   bool   // inside module XML embedded as text: no deeper embedding
}

// walker reads one document in document order and applies the lenient
// rules as elements open and close. An element's role depends on what
// follows its start tag (whether it has child elements, its leading text),
// so each open element keeps a frame: its attributes stay on the attrs
// stack and its text in the arena until its role is known.
//
// The roles, for an element that is not the root:
//   - a module (name in the module set, with attributes or child
//     elements): name, version and timestamp from its attributes and leaf
//     children, else its text as the name; deeper elements are ignored;
//   - a module or module list without child elements: its text is the
//     text form of modules (or embedded module XML);
//   - a leaf: an item, its text; its attributes are items too, and a module
//     when they name a file;
//   - anything else: attributes then children in device context, and a
//     module when they name a file directly (flattened into it).
//
// The root is always the last kind; elements after it are checked for
// well-formedness and ignored.
type walker struct {
	out         requestBuilder
	parent      *requestBuilder // the outer document's, for embedded module XML; nil otherwise
	embeddedDoc bool            // the document is module XML embedded as text
	rootSeen    bool
	frames      []frame
	attrs       []xmlAttr
	// arena holds decoded text and attribute values, and text joined from
	// several pieces. Slices into it stay valid when it grows.
	arena []byte
}

// xmlAttr is one attribute: prefix, local name and decoded value.
type xmlAttr struct {
	space, local, value []byte
}

// frame is one open element.
type frame struct {
	name       []byte // qualified name as written, to match the end tag
	kind       itemKind
	mode       frameMode
	isRoot     bool
	textClosed bool // a child element or instruction ended the leading text
	attrStart  int  // its attributes are attrs[attrStart:attrEnd]
	attrEnd    int
	text       []byte // leading text, decoded
	joined     bool   // text is arena[joinStart:], joined from pieces
	joinStart  int
	mod        moduleFields // the flattened module (device context) or the module
}

// frameMode is an open element's role, as far as it is known.
type frameMode uint8

const (
	modeUndecided    frameMode = iota // child of a device-context element: leaf or not
	modeEmbeddedRoot                  // root of embedded module XML, undecided
	modeDevice                        // device context: attributes and children are items
	modeModule                        // one module
	modeModuleChild                   // child of a module: a field when it is a leaf
	modeIgnore                        // nothing inside is read
)

// moduleFields is a module's fields as found, not yet trimmed.
type moduleFields struct {
	file, version, stamp []byte
}

var walkerPool = sync.Pool{New: func() any {
	return &walker{frames: make([]frame, 0, 8), attrs: make([]xmlAttr, 0, 16), arena: make([]byte, 0, 1024)}
}}

// maxPooledArena is the largest arena kept for the next check-in.
const maxPooledArena = 16 << 10

func (w *walker) release() {
	if cap(w.arena) > maxPooledArena || cap(w.frames) > maxParseDepth+1 || cap(w.attrs) > 256 {
		return
	}
	w.reset()
	w.out = requestBuilder{}
	walkerPool.Put(w)
}

// reset empties the walker for another document.
func (w *walker) reset() {
	clear(w.frames[:cap(w.frames)]) // drop references into the last body
	clear(w.attrs[:cap(w.attrs)])
	w.frames, w.attrs, w.arena = w.frames[:0], w.attrs[:0], w.arena[:0]
	w.rootSeen = false
}

// errNotScanned is the scanner's answer for input it does not take on: the
// document is read again with encoding/xml's tokenizer.
var errNotScanned = errors.New("not for the byte scanner")

// parse reads doc with the byte scanner, or with encoding/xml's tokenizer
// when the scanner declines it; what the scanner recorded is undone first.
func (w *walker) parse(doc []byte) error {
	b := w.builder()
	saved, devicePath, rootTime := *b.req, b.devicePath, b.rootTime
	err := w.scan(doc)
	if err == errNotScanned {
		*b.req, b.devicePath, b.rootTime = saved, devicePath, rootTime
		w.reset()
		err = w.tokens(doc)
	}
	return err
}

// builder is the requestBuilder this walker writes into.
func (w *walker) builder() *requestBuilder {
	if w.parent != nil {
		return w.parent
	}
	return &w.out
}

// start opens an element whose attributes are attrs[attrStart:].
func (w *walker) start(name, local []byte, attrStart int) {
	f := frame{name: name, kind: kindOfBytes(local), attrStart: attrStart, attrEnd: len(w.attrs)}
	w.frames = append(w.frames, f)
	top := len(w.frames) - 1
	cur := &w.frames[top]
	if top == 0 {
		switch {
		case w.rootSeen:
			cur.mode = modeIgnore
		case !w.embeddedDoc:
			w.rootSeen = true
			cur.mode, cur.isRoot = modeDevice, true
			w.deviceAttrs(top, &cur.mod)
		default:
			w.rootSeen = true
			w.openChild(top, modeEmbeddedRoot)
		}
		return
	}
	parent := &w.frames[top-1]
	parent.textClosed = true
	switch parent.mode {
	case modeUndecided, modeEmbeddedRoot:
		w.decide(top - 1)
	case modeModuleChild:
		parent.mode = modeIgnore
	}
	switch parent.mode {
	case modeDevice:
		w.openChild(top, modeUndecided)
	case modeModule:
		cur.mode = modeModuleChild
	default:
		cur.mode = modeIgnore
	}
}

// openChild gives a new element of device context its role: a module when
// it is named like one and has attributes, else undecided.
func (w *walker) openChild(i int, undecided frameMode) {
	f := &w.frames[i]
	if f.kind == kindModule && f.attrEnd > f.attrStart {
		f.mode = modeModule
		w.moduleAttrs(i)
		return
	}
	f.mode = undecided
}

// decide settles an undecided element that turned out to have a child
// element: a module when it is named like one, else device context.
func (w *walker) decide(i int) {
	f := &w.frames[i]
	if f.kind == kindModule {
		f.mode = modeModule
		w.moduleAttrs(i)
		return
	}
	f.mode = modeDevice
	w.deviceAttrs(i, &f.mod)
}

// text adds character data to the open element's leading text.
func (w *walker) text(data []byte) {
	if len(w.frames) == 0 || len(data) == 0 {
		return
	}
	f := &w.frames[len(w.frames)-1]
	if f.textClosed || f.mode == modeDevice || f.mode == modeIgnore {
		return
	}
	switch n := len(w.arena); {
	case len(f.text) == 0:
		f.text = data
	case f.joined && f.joinStart+len(f.text) == n:
		// The text joined so far ends the arena: append the piece.
		w.arena = append(w.arena, data...)
		f.text = w.arena[f.joinStart:len(w.arena):len(w.arena)]
	case f.joined && n >= len(data) && &w.arena[n-len(data)] == &data[0] && f.joinStart+len(f.text) == n-len(data):
		// The piece was just decoded into the arena, right after the text.
		f.text = w.arena[f.joinStart:n:n]
	default:
		// Join in the arena; later pieces are appended there, so text in
		// many pieces costs linear time.
		f.joined, f.joinStart = true, n
		w.arena = append(w.arena, f.text...)
		w.arena = append(w.arena, data...)
		f.text = w.arena[n:len(w.arena):len(w.arena)]
	}
}

// instruction ends the open element's leading text (a processing
// instruction or directive, which etree's Text stopped at; comments it
// skipped).
func (w *walker) instruction() {
	if len(w.frames) > 0 {
		w.frames[len(w.frames)-1].textClosed = true
	}
}

// end closes the innermost element.
func (w *walker) end() {
	top := len(w.frames) - 1
	f := &w.frames[top]
	switch f.mode {
	case modeUndecided: // a leaf in device context
		w.item(f.kind, f.text, &w.frames[top-1].mod)
		if f.attrEnd > f.attrStart {
			var own moduleFields
			w.deviceAttrs(top, &own)
			if len(own.file) > 0 {
				w.addModule(own)
			}
		}
	case modeEmbeddedRoot: // a leaf at the root of embedded module XML
		if f.kind == kindModule || f.kind == kindModuleList {
			w.moduleText(f.text)
			break
		}
		var flat moduleFields
		w.deviceAttrs(top, &flat)
		if len(flat.file) > 0 {
			w.addModule(flat)
		}
	case modeDevice:
		switch {
		case len(f.mod.file) > 0:
			w.addModule(f.mod)
		case f.isRoot:
			w.builder().rootTime = string(bytes.TrimSpace(f.mod.stamp))
		}
	case modeModule:
		if len(f.mod.file) == 0 {
			text := bytes.TrimSpace(f.text)
			if bytes.ContainsAny(text, ";#") {
				w.moduleText(text)
				break
			}
			f.mod.file = text
		}
		w.addModule(f.mod)
	case modeModuleChild:
		moduleField(&w.frames[top-1].mod, f.kind, f.text)
	}
	w.attrs = w.attrs[:f.attrStart]
	w.frames[top] = frame{}
	w.frames = w.frames[:top]
}

// deviceAttrs records the attributes of frame i found in device context.
func (w *walker) deviceAttrs(i int, flat *moduleFields) {
	f := &w.frames[i]
	for _, a := range w.attrs[f.attrStart:f.attrEnd] {
		if !w.skipAttr(i, &a) {
			w.item(kindOfBytes(a.local), a.value, flat)
		}
	}
}

// moduleAttrs records the attributes of module frame i as its fields.
func (w *walker) moduleAttrs(i int) {
	f := &w.frames[i]
	for _, a := range w.attrs[f.attrStart:f.attrEnd] {
		if !w.skipAttr(i, &a) {
			moduleField(&f.mod, kindOfBytes(a.local), a.value)
		}
	}
}

// xsiNamespace is the XML Schema instance namespace (xsi:type, xsi:nil).
const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// skipAttr reports whether an attribute of frame i is XML machinery rather
// than data: namespace declarations, xml:* and xsi:* (xsi:type would
// otherwise read as the device type), by prefix or by the namespace the
// prefix is bound to.
func (w *walker) skipAttr(i int, a *xmlAttr) bool {
	switch space := string(a.space); {
	case space == "" && string(a.local) == "xmlns":
		return true
	case space == "xmlns" || space == "xml":
		return true
	case space != "":
		return space == "xsi" || string(w.namespaceURI(i, a.space)) == xsiNamespace
	}
	return false
}

// namespaceURI is the URI prefix is bound to at frame i: the first
// xmlns:prefix attribute of the element or, failing that, of the nearest
// ancestor that has one.
func (w *walker) namespaceURI(i int, prefix []byte) []byte {
	for ; i >= 0; i-- {
		f := &w.frames[i]
		for _, a := range w.attrs[f.attrStart:f.attrEnd] {
			if string(a.space) == "xmlns" && bytes.Equal(a.local, prefix) {
				return a.value
			}
		}
	}
	return nil
}

// item records one leaf value found in device context.
func (w *walker) item(kind itemKind, value []byte, flat *moduleFields) {
	b := w.builder()
	r := b.req
	switch kind {
	case kindDeviceType:
		setFirst(&r.DeviceType, value)
	case kindMAC:
		setFirst(&r.RawMAC, value)
	case kindSerial:
		setFirst(&r.Serial, value)
	case kindVendor:
		setFirst(&r.Vendor, value)
	case kindModel:
		setFirst(&r.Model, value)
	case kindRevision:
		setFirst(&r.Revision, value)
	case kindLocale:
		setFirst(&r.Locale, value)
	case kindRequestTime:
		setFirst(&r.RequestTime, value)
	case kindUserID:
		setFirst(&r.UserID, value)
	case kindDevicePath:
		setFirst(&b.devicePath, value)
	case kindModule, kindModuleList:
		w.moduleText(value)
	case kindFileName:
		setFirstBytes(&flat.file, value)
	case kindVersion:
		setFirstBytes(&flat.version, value)
	case kindTimeStamp:
		setFirstBytes(&flat.stamp, value)
	}
}

// moduleField records one field of a module element.
func moduleField(m *moduleFields, kind itemKind, value []byte) {
	switch kind {
	case kindFileName, kindName, kindModule:
		setFirstBytes(&m.file, value)
	case kindVersion:
		setFirstBytes(&m.version, value)
	case kindTimeStamp, kindRequestTime:
		setFirstBytes(&m.stamp, value)
	}
}

// moduleText reads the text form FileName;Version;TimeStamp#… or, once,
// module XML embedded as text (the seed's server trace names a "Requested
// Module XML"). Embedded XML that is not well-formed is ignored whole.
func (w *walker) moduleText(s []byte) {
	s = bytes.TrimSpace(s)
	if len(s) == 0 {
		return
	}
	if s[0] == '<' {
		w.embeddedXML(s)
		return
	}
	for len(s) > 0 {
		var entry []byte
		entry, s, _ = bytes.Cut(s, []byte{'#'})
		name, rest, _ := bytes.Cut(entry, []byte{';'})
		version, stamp, _ := bytes.Cut(rest, []byte{';'})
		w.addModule(moduleFields{file: name, version: version, stamp: stamp})
	}
}

// embeddedXML walks module XML found as text with a walker of its own,
// writing into the same request; what it recorded is undone when the XML
// turns out not to be well-formed.
func (w *walker) embeddedXML(doc []byte) {
	b := w.builder()
	if b.embedded {
		return
	}
	saved, devicePath := *b.req, b.devicePath
	b.embedded = true
	sub := &walker{parent: b, embeddedDoc: true}
	if err := sub.parse(doc); err != nil {
		*b.req, b.devicePath = saved, devicePath
	}
	b.embedded = false
}

// addModule trims m, parses its version and keeps it unless it is empty.
func (w *walker) addModule(m moduleFields) {
	file, version, stamp := bytes.TrimSpace(m.file), bytes.TrimSpace(m.version), bytes.TrimSpace(m.stamp)
	if len(file) == 0 && len(version) == 0 && len(stamp) == 0 {
		return
	}
	mod := Module{FileName: internValue(file), VersionText: internValue(version), TimeStamp: internValue(stamp)}
	if v, err := images.ParseVersion(mod.VersionText); err == nil {
		mod.Version = v
	}
	r := w.builder().req
	r.Modules = append(r.Modules, mod)
}

// finish applies the rules that need the whole document: the DevicePath
// fills parts the separate items left empty; a root-level TimeStamp is the
// request time only when no request-time item was found and the root was not
// itself a (flattened) module; the MAC is normalised; RawModules is built.
func (b *requestBuilder) finish() {
	r := b.req
	if b.devicePath != "" {
		fillFromDevicePath(r, b.devicePath)
	}
	if r.RequestTime == "" {
		r.RequestTime = b.rootTime
	}
	r.MAC = NormalizeMAC(r.RawMAC)
	r.RawModules = rawModules(r.Modules)
	if len(r.Modules) == 0 {
		r.Modules = nil
	}
}

// setFirst sets *dst to value, trimmed, unless *dst is already set.
func setFirst(dst *string, value []byte) {
	if *dst == "" {
		*dst = internValue(bytes.TrimSpace(value))
	}
}

func setFirstBytes(dst *[]byte, value []byte) {
	if len(*dst) == 0 {
		*dst = bytes.TrimSpace(value)
	}
}

// internValue returns b as a string, without allocating for the values every
// phone of the fleet sends (PROTOCOL.md §2), so that a check-in allocates
// only for what identifies one phone.
func internValue(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "UCPhone":
		return "UCPhone"
	case "RoundTable":
		return "RoundTable"
	case "LG-Nortel":
		return "LG-Nortel"
	case "Polycom":
		return "Polycom"
	case "Aastra":
		return "Aastra"
	case "IP8540":
		return "IP8540"
	case "CX700":
		return "CX700"
	case "A":
		return "A"
	case "B":
		return "B"
	case "ENU":
		return "ENU"
	case "DEU":
		return "DEU"
	case "cpe.nbt":
		return "cpe.nbt"
	case "CPE.nbt":
		return "CPE.nbt"
	case "0.0.0.0":
		return "0.0.0.0"
	case "1.0.522.103":
		return "1.0.522.103"
	case "01.01.1601 00:00:00":
		return "01.01.1601 00:00:00"
	}
	return string(b)
}
