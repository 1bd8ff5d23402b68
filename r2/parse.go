package r2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrNoRoot is returned by ParseRequest for a body without a root element.
var ErrNoRoot = errors.New("check-in body has no root element")

// maxParseDepth bounds the nesting of elements, as etree's MaxDepth did
// for the parser before this one. Real requests are three or four levels
// deep.
const maxParseDepth = 64

// ParseRequest reads a check-in body leniently (PROTOCOL.md §2 "Parsing
// rule"): any root element and namespace; every item found by element or
// attribute local name, case-insensitively, against the alias sets in
// itemKinds; the first non-empty occurrence in document order wins
// (attributes of an element before its children). It fails only when the
// body is not well-formed XML or has no root element; missing items are left
// empty. It never panics.
//
// It reads the body in one streaming pass (walker), without building a
// tree: a byte scanner for the XML phones send (scan.go), or encoding/xml's
// tokenizer for anything that scanner does not take on (tokens.go). Both
// accept exactly what the etree parser before them accepted; the tests
// compare them with it.
func ParseRequest(body []byte) (*Request, error) {
	w := walkerPool.Get().(*walker)
	defer w.release()
	req := new(requestWithModules)
	req.Modules = req.first[:0]
	w.out = requestBuilder{req: &req.Request}
	if err := w.parse(toUTF8(body)); err != nil {
		return nil, fmt.Errorf("check-in body: %w", err)
	}
	w.out.finish()
	return &req.Request, nil
}

// requestWithModules allocates a Request together with room for the one or
// two modules a phone reports.
type requestWithModules struct {
	Request
	first [2]Module
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
	if isLatin1Charset(charset) {
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

// isLatin1Charset reports whether charsetReader transcodes a body that
// declares charset.
func isLatin1Charset(charset string) bool {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii", "ascii":
		return true
	}
	return false
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

// kindOfBytes is kindOf for a name as bytes.
func kindOfBytes(name []byte) itemKind {
	var buf [24]byte
	if len(name) > len(buf) {
		return kindNone
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return itemKinds[string(buf[:len(name)])]
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
