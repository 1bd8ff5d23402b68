package r2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/tanjay-lab/tanjay/images"
)

// ErrNoRoot is returned by ParseRequest for a body without a root element.
var ErrNoRoot = errors.New("check-in body has no root element")

// maxParseDepth bounds both etree's nesting and our walk of it. Real
// requests are three or four levels deep.
const maxParseDepth = 64

// ParseRequest reads a check-in body leniently (PROTOCOL.md §2 "Parsing
// rule"): any root element and namespace; every item found by element or
// attribute local name, case-insensitively, against the alias sets in
// itemKinds; the first non-empty occurrence in document order wins
// (attributes of an element before its children). It fails only when the
// body is not well-formed XML or has no root element; missing items are left
// empty. It never panics.
func ParseRequest(body []byte) (*Request, error) {
	root, err := parseXML(toUTF8(body))
	if err != nil {
		return nil, fmt.Errorf("check-in body: %w", err)
	}
	p := requestParser{req: &Request{}}
	p.element(root, 0, true)
	p.finish()
	return p.req, nil
}

// parseXML parses one document with etree and returns its root element.
// Elements and text after the root element are ignored; entities declared
// in a DTD are not expanded (an error, like any undefined entity).
func parseXML(body []byte) (*etree.Element, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.MaxDepth = maxParseDepth
	doc.ReadSettings.CharsetReader = charsetReader
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, err
	}
	root := doc.Root()
	if root == nil {
		return nil, ErrNoRoot
	}
	return root, nil
}

// toUTF8 strips a UTF-8 byte order mark, transcodes UTF-16 (with a BOM, or
// recognisable by its first '<') to UTF-8, and cuts trailing NUL bytes and
// white space. Firmware written in C that sends a fixed-size buffer would pad
// with NULs [inferred], and XML forbids them.
func toUTF8(b []byte) []byte {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return utf16ToUTF8(b[2:], false)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return utf16ToUTF8(b[2:], true)
	case len(b) >= 2 && b[0] == '<' && b[1] == 0:
		return utf16ToUTF8(b, false)
	case len(b) >= 2 && b[0] == 0 && b[1] == '<':
		return utf16ToUTF8(b, true)
	}
	return trimTrailingNUL(b)
}

func trimTrailingNUL(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case 0, ' ', '\t', '\r', '\n':
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}

func utf16ToUTF8(b []byte, bigEndian bool) []byte {
	if len(b)%2 != 0 {
		b = b[:len(b)-1] // a torn last code unit cannot be a tag
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	out := make([]byte, 0, len(units))
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return trimTrailingNUL(out)
}

// charsetReader is called by encoding/xml for an encoding declaration other
// than UTF-8. Latin-1 family bodies are transcoded; anything else (notably
// "utf-16", which .NET writes into the declaration of a string it then sends
// as UTF-8, and bodies we already transcoded) is read as UTF-8.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return input, nil
}

// itemKind is what an element or attribute local name stands for.
type itemKind uint8

const (
	kindNone itemKind = iota
	kindDeviceType
	kindMAC
	kindSerial
	kindVendor
	kindModel
	kindRevision
	kindLocale
	kindRequestTime
	kindUserID
	kindDevicePath
	kindModule     // an element describing one module
	kindModuleList // a list of modules: child elements, the text form or embedded XML
	kindFileName   // a module's file name (also accepted outside a module element)
	kindName       // "Name": a module's file name only inside a module element
	kindVersion    // a module's version
	kindTimeStamp  // a module's timestamp; at root level the request time, see finish
)

// itemKinds maps lower-case local names to what they stand for. The first
// names of each set are from PROTOCOL.md §2; the rest are our guesses at what
// other firmware might send (README.md lists them).
var itemKinds = map[string]itemKind{
	"devicetype": kindDeviceType, "type": kindDeviceType,

	"macaddress": kindMAC, "mac": kindMAC, "devicemacaddress": kindMAC, "hardwareaddress": kindMAC,
	"macaddr": kindMAC, "devicemac": kindMAC, "physicaladdress": kindMAC,

	"serialnumber": kindSerial, "serial": kindSerial, "sn": kindSerial,
	"deviceserialnumber": kindSerial, "serialno": kindSerial,

	"vendor": kindVendor, "brand": kindVendor, "manufacturer": kindVendor,
	"devicevendor": kindVendor, "vendorname": kindVendor,

	"model": kindModel, "devicemodel": kindModel, "modelname": kindModel, "modelnumber": kindModel,

	"revision": kindRevision, "hardwarerevision": kindRevision, "hwrevision": kindRevision,
	"devicerevision": kindRevision, "hwrev": kindRevision,

	"locale": kindLocale, "language": kindLocale, "lang": kindLocale,
	"devicelocale": kindLocale, "culture": kindLocale,

	"requesttime": kindRequestTime, "requestdatetime": kindRequestTime, "time": kindRequestTime,
	"devicetime": kindRequestTime, "clienttime": kindRequestTime,

	"userid": kindUserID, "user": kindUserID, "username": kindUserID, "sipuri": kindUserID,
	"sipaddress": kindUserID, "signinname": kindUserID, "lastuser": kindUserID,

	"devicepath": kindDevicePath,

	"module": kindModule, "file": kindModule, "image": kindModule, "requestedmodule": kindModule,
	"moduleinfo": kindModule, "fileinfo": kindModule, "imageinfo": kindModule, "component": kindModule,

	"modules": kindModuleList, "requestedmodules": kindModuleList, "modulelist": kindModuleList,
	"requestedmodulexml": kindModuleList, "requestedmodulesxml": kindModuleList, "modulesxml": kindModuleList,
	"files": kindModuleList, "images": kindModuleList, "filelist": kindModuleList,
	"imagelist": kindModuleList, "components": kindModuleList,

	"filename": kindFileName, "imagefilename": kindFileName, "imagename": kindFileName,
	"modulename": kindFileName, "imagefile": kindFileName,
	"name": kindName,

	"version": kindVersion, "fileversion": kindVersion, "imageversion": kindVersion,
	"moduleversion": kindVersion,

	"timestamp": kindTimeStamp, "filetimestamp": kindTimeStamp, "moduletimestamp": kindTimeStamp,
	"imagetimestamp": kindTimeStamp, "datetime": kindTimeStamp,
}

// kindOf looks a local name up case-insensitively without allocating.
func kindOf(name string) itemKind {
	var buf [24]byte
	if len(name) > len(buf) {
		return kindNone
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return itemKinds[string(buf[:len(name)])]
}

// skipAttr reports whether an attribute is XML machinery rather than data:
// namespace declarations, xml:* and xsi:* (xsi:type would otherwise read as
// the device type).
func skipAttr(a *etree.Attr) bool {
	switch {
	case a.Space == "" && a.Key == "xmlns":
		return true
	case a.Space == "xmlns" || a.Space == "xml":
		return true
	case a.Space != "":
		return a.Space == "xsi" || a.NamespaceURI() == "http://www.w3.org/2001/XMLSchema-instance"
	}
	return false
}

// requestParser is one walk over one parsed document.
type requestParser struct {
	req        *Request
	devicePath string
	rootTime   string // a TimeStamp at root level; see finish
	embedded   bool   // inside module XML embedded as text: no deeper embedding
}

// element walks e in device context: device items, module lists and
// modules. A non-module element that carries a file name directly (a module
// flattened into its parent, e.g. into the root) is a module too.
func (p *requestParser) element(e *etree.Element, depth int, isRoot bool) {
	if depth > maxParseDepth {
		return
	}
	switch kind := kindOf(e.Tag); {
	case isRoot: // whatever its name, the root holds the device items
	case kind == kindModule && (hasChildElements(e) || len(e.Attr) > 0):
		p.module(e)
		return
	case (kind == kindModule || kind == kindModuleList) && !hasChildElements(e):
		p.moduleText(e.Text())
		return
	}
	var flat Module
	p.attrs(e, &flat)
	for _, tok := range e.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		if hasChildElements(c) {
			p.element(c, depth+1, false)
			continue
		}
		kind := kindOf(c.Tag)
		if kind == kindModule && len(c.Attr) > 0 {
			p.module(c)
			continue
		}
		p.item(kind, c.Text(), &flat)
		if len(c.Attr) > 0 { // <Device Type="UCPhone" Vendor="Polycom"/>
			var own Module
			p.attrs(c, &own)
			if own.FileName != "" {
				p.addModule(own)
			}
		}
	}
	switch {
	case flat.FileName != "":
		p.addModule(flat)
	case isRoot:
		p.rootTime = strings.TrimSpace(flat.TimeStamp)
	}
}

// attrs records the attributes of e found in device context.
func (p *requestParser) attrs(e *etree.Element, flat *Module) {
	for i := range e.Attr {
		if a := &e.Attr[i]; !skipAttr(a) {
			p.item(kindOf(a.Key), a.Value, flat)
		}
	}
}

// item records one leaf value found in device context.
func (p *requestParser) item(kind itemKind, value string, flat *Module) {
	r := p.req
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
		setFirst(&p.devicePath, value)
	case kindModule, kindModuleList:
		p.moduleText(value)
	case kindFileName:
		setFirst(&flat.FileName, value)
	case kindVersion:
		setFirst(&flat.VersionText, value)
	case kindTimeStamp:
		setFirst(&flat.TimeStamp, value)
	}
}

// module reads one module element: name, version and timestamp as
// attributes or leaf children, or the element's own text as the name
// (<Module Version="…">cpe.nbt</Module>).
func (p *requestParser) module(e *etree.Element) {
	var m Module
	for i := range e.Attr {
		if a := &e.Attr[i]; !skipAttr(a) {
			moduleField(&m, kindOf(a.Key), a.Value)
		}
	}
	for _, tok := range e.Child {
		if c, ok := tok.(*etree.Element); ok && !hasChildElements(c) {
			moduleField(&m, kindOf(c.Tag), c.Text())
		}
	}
	if m.FileName == "" {
		text := strings.TrimSpace(e.Text())
		if strings.ContainsAny(text, ";#") {
			p.moduleText(text)
			return
		}
		m.FileName = text
	}
	p.addModule(m)
}

func moduleField(m *Module, kind itemKind, value string) {
	switch kind {
	case kindFileName, kindName, kindModule:
		setFirst(&m.FileName, value)
	case kindVersion:
		setFirst(&m.VersionText, value)
	case kindTimeStamp, kindRequestTime:
		setFirst(&m.TimeStamp, value)
	}
}

// moduleText reads the text form FileName;Version;TimeStamp#… or, once,
// module XML embedded as text (the seed's server trace names a "Requested
// Module XML").
func (p *requestParser) moduleText(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if s[0] == '<' {
		if p.embedded {
			return
		}
		root, err := parseXML([]byte(s))
		if err != nil {
			return
		}
		p.embedded = true
		p.element(root, 1, false)
		p.embedded = false
		return
	}
	for s != "" {
		var entry string
		entry, s, _ = strings.Cut(s, "#")
		name, rest, _ := strings.Cut(entry, ";")
		version, stamp, _ := strings.Cut(rest, ";")
		p.addModule(Module{FileName: name, VersionText: version, TimeStamp: stamp})
	}
}

// addModule trims m, parses its version and keeps it unless it is empty.
func (p *requestParser) addModule(m Module) {
	m.FileName = strings.TrimSpace(m.FileName)
	m.VersionText = strings.TrimSpace(m.VersionText)
	m.TimeStamp = strings.TrimSpace(m.TimeStamp)
	if m.FileName == "" && m.VersionText == "" && m.TimeStamp == "" {
		return
	}
	if v, err := images.ParseVersion(m.VersionText); err == nil {
		m.Version = v
	}
	p.req.Modules = append(p.req.Modules, m)
}

// finish applies the rules that need the whole document: the DevicePath
// fills parts the separate items left empty; a root-level TimeStamp is the
// request time only when no request-time item was found and the root was not
// itself a (flattened) module; the MAC is normalised; RawModules is built.
func (p *requestParser) finish() {
	r := p.req
	if p.devicePath != "" {
		fillFromDevicePath(r, p.devicePath)
	}
	if r.RequestTime == "" {
		r.RequestTime = p.rootTime
	}
	r.MAC = NormalizeMAC(r.RawMAC)
	r.RawModules = rawModules(r.Modules)
}

// fillFromDevicePath reads UCPhone/LG-Nortel/IP8540/A/ENU/ (slashes or
// backslashes; parts after the fifth ignored) into the empty items.
func fillFromDevicePath(r *Request, path string) {
	fields := [5]*string{&r.DeviceType, &r.Vendor, &r.Model, &r.Revision, &r.Locale}
	var parts [5]string
	n := 0
	for rest := path; rest != "" && n < len(parts); {
		i := strings.IndexAny(rest, `/\`)
		part := rest
		if i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if part = strings.TrimSpace(part); part != "" {
			parts[n] = part
			n++
		}
	}
	if n < len(parts) {
		return
	}
	for i, f := range fields {
		if *f == "" {
			*f = parts[i]
		}
	}
}

// rawModules writes modules as the audit log does: FileName;Version;TimeStamp
// joined by #.
func rawModules(ms []Module) string {
	switch len(ms) {
	case 0:
		return ""
	case 1:
		m := ms[0]
		return m.FileName + ";" + m.VersionText + ";" + m.TimeStamp
	}
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte('#')
		}
		b.WriteString(m.FileName)
		b.WriteByte(';')
		b.WriteString(m.VersionText)
		b.WriteByte(';')
		b.WriteString(m.TimeStamp)
	}
	return b.String()
}

// NormalizeMAC returns s as 12 upper-case hex digits, accepting '-', ':',
// '.' and spaces between them, or "" when s is anything else.
func NormalizeMAC(s string) string {
	var out [12]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == ':' || c == '.' || c == ' ' || c == '\t':
			continue
		case n == len(out):
			return ""
		case '0' <= c && c <= '9', 'A' <= c && c <= 'F':
		case 'a' <= c && c <= 'f':
			c -= 'a' - 'A'
		default:
			return ""
		}
		out[n] = c
		n++
	}
	if n != len(out) {
		return ""
	}
	if s == string(out[:]) {
		return s
	}
	return string(out[:])
}

func setFirst(dst *string, value string) {
	if *dst == "" {
		*dst = strings.TrimSpace(value)
	}
}

func hasChildElements(e *etree.Element) bool {
	for _, tok := range e.Child {
		if _, ok := tok.(*etree.Element); ok {
			return true
		}
	}
	return false
}
