package pkg

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/tanjay-lab/tanjay/images"
)

// The vendor XML schemas are not published, so every field is found by
// element or attribute local name, case-insensitively, in any namespace,
// against these aliases, in this order. "device.type" is a Type attribute or
// leaf child of a Device element.
var aliases = map[string][]string{
	"devicepath": {"devicepath"},
	"devicetype": {"devicetype", "device.type", "devicetypename", "devicekind"},
	"vendor":     {"vendor", "brand", "manufacturer", "vendorname", "oem", "device.vendor"},
	"model":      {"model", "devicemodel", "modelname", "hardwaremodel", "device.model"},
	"revision":   {"revision", "hardwarerevision", "hwrevision", "hwrev", "hardwarerev", "rev", "device.revision"},
	"locale":     {"locale", "language", "lang", "culture", "languagecode", "localename"},
	"updatetype": {"updatetype", "imagetype", "update.type", "image.type", "component"},
	"version":    {"version", "firmwareversion", "imageversion", "updateversion", "fileversion", "softwareversion", "image.version", "update.version"},
	"interim":    {"interim", "isinterim"},
}

// maxMetadataSize caps each XML file read into memory.
const maxMetadataSize = 1 << 20

// parseXML reads an XML file leniently: UTF-8 or UTF-16 (by BOM or by the
// shape of "<?"), Latin-1 when declared, unquoted attributes and unknown
// entities tolerated.
func parseXML(b []byte) (*etree.Element, error) {
	b = toUTF8(b)
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = true
	doc.ReadSettings.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
			raw, err := io.ReadAll(in)
			return strings.NewReader(latin1(raw)), err
		}
		return in, nil // already UTF-8 (UTF-16 was converted above)
	}
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, err
	}
	if doc.Root() == nil {
		return nil, io.ErrUnexpectedEOF
	}
	return doc.Root(), nil
}

func toUTF8(b []byte) []byte {
	switch {
	case bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}):
		return b[3:]
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		return utf16To8(b[2:], binary.LittleEndian)
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return utf16To8(b[2:], binary.BigEndian)
	case bytes.HasPrefix(b, []byte{'<', 0, '?', 0}):
		return utf16To8(b, binary.LittleEndian)
	case bytes.HasPrefix(b, []byte{0, '<', 0, '?'}):
		return utf16To8(b, binary.BigEndian)
	}
	return b
}

func utf16To8(b []byte, order binary.ByteOrder) []byte {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	out := make([]byte, 0, len(b))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

func latin1(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// elements lists the tree in document order, without recursion.
func elements(root *etree.Element) []*etree.Element {
	var out []*etree.Element
	stack := []*etree.Element{root}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out = append(out, e)
		kids := e.ChildElements()
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, kids[i])
		}
	}
	return out
}

// ownValues are the values an element states itself: its attributes' and
// its leaf children's texts, keyed by lower-case local name ("device.type"
// also for a Type on a Device).
func ownValues(e *etree.Element) [][2]string {
	var out [][2]string
	add := func(name, value string) {
		value = strings.TrimSpace(value)
		if value == "" {
			return
		}
		name = strings.ToLower(name)
		out = append(out, [2]string{name, value}, [2]string{strings.ToLower(e.Tag) + "." + name, value})
	}
	for _, a := range e.Attr {
		if a.Space != "xmlns" && a.Key != "xmlns" {
			add(a.Key, a.Value)
		}
	}
	kids := e.ChildElements()
	for _, c := range kids {
		if len(c.ChildElements()) == 0 {
			add(c.Tag, c.Text())
		}
	}
	if len(kids) == 0 && e.Parent() == nil {
		add(e.Tag, e.Text()) // a document that is one leaf: <Version>…</Version>
	}
	return out
}

// lookup finds field on e (attributes and leaf children), in alias order,
// skipping values that do not make sense for the field.
func lookup(e *etree.Element, field string) (string, bool) {
	vals := ownValues(e)
	for _, alias := range aliases[field] {
		for _, kv := range vals {
			if kv[0] == alias && valid(field, kv[1]) {
				return kv[1], true
			}
		}
	}
	return "", false
}

func valid(field, v string) bool {
	switch field {
	case "version":
		ver, err := images.ParseVersion(v)
		return err == nil && !ver.IsZero()
	case "devicepath":
		_, err := images.ParseDevicePath(v)
		return err == nil
	case "interim":
		_, ok := parseBool(v)
		return ok
	}
	return images.CheckFileName(v) == nil
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes", "y", "on":
		return true, true
	case "no", "n", "off":
		return false, true
	}
	b, err := strconv.ParseBool(v)
	return b, err == nil
}

// collect fills f from a chain of elements, nearest first: a field found
// on a nearer element wins.
func collect(chain []*etree.Element) fields {
	var f fields
	set := func(field string, dst *string) {
		for _, e := range chain {
			if v, ok := lookup(e, field); ok {
				*dst = v
				return
			}
		}
	}
	for _, e := range chain {
		if v, ok := lookup(e, "devicepath"); ok {
			p, _ := images.ParseDevicePath(v)
			f.setPath(p)
			break
		}
	}
	if !f.hasPath() {
		set("devicetype", &f.deviceType)
		set("vendor", &f.vendor)
		set("model", &f.model)
		set("revision", &f.revision)
		set("locale", &f.locale)
	}
	set("updatetype", &f.updateType)
	var v, interim string
	set("version", &v)
	f.version, _ = images.ParseVersion(v)
	set("interim", &interim)
	if b, ok := parseBool(interim); ok {
		f.interim = &b
	}
	return f
}

// wholeDocument is what a per-update description says: every element
// counts, in document order.
func wholeDocument(root *etree.Element) fields { return collect(elements(root)) }

// ancestry is e and its ancestors, nearest first.
func ancestry(e *etree.Element) []*etree.Element {
	var chain []*etree.Element
	for ; e != nil; e = e.Parent() {
		chain = append(chain, e)
	}
	return chain
}

// references reports how many trailing path elements of target a value
// names (0: none); values may use either separator.
func references(value, target string) int {
	v := strings.Trim(strings.ReplaceAll(strings.TrimSpace(value), `\`, "/"), "/")
	v = strings.TrimPrefix(v, "./")
	if v == "" {
		return 0
	}
	if strings.EqualFold(v, target) || len(target) > len(v) && target[len(target)-len(v)-1] == '/' && strings.EqualFold(target[len(target)-len(v):], v) {
		return strings.Count(v, "/") + 1
	}
	return 0
}
