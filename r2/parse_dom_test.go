package r2

import (
	"strings"

	"github.com/beevik/etree"
	"github.com/tanjay-lab/tanjay/images"
)

// This file keeps the check-in parser as it was before the streaming one:
// an etree DOM walked recursively. It is the oracle the streaming parser is
// compared with (parse_agree_test.go); nothing outside the tests uses it.

// parseRequestDOM is the old ParseRequest.
func parseRequestDOM(body []byte) (*Request, error) {
	root, err := parseXMLDOM(toUTF8(body))
	if err != nil {
		return nil, err
	}
	p := domParser{req: &Request{}}
	p.element(root, 0, true)
	p.finish()
	return p.req, nil
}

// parseXMLDOM parses one document with etree and returns its root element.
func parseXMLDOM(body []byte) (*etree.Element, error) {
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

// skipAttrDOM is skipAttr over an etree attribute.
func skipAttrDOM(a *etree.Attr) bool {
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

// domParser is one walk over one parsed document.
type domParser struct {
	req        *Request
	devicePath string
	rootTime   string // a TimeStamp at root level; see finish
	embedded   bool   // inside module XML embedded as text: no deeper embedding
}

// element walks e in device context: device items, module lists and
// modules. A non-module element that carries a file name directly (a module
// flattened into its parent, e.g. into the root) is a module too.
func (p *domParser) element(e *etree.Element, depth int, isRoot bool) {
	if depth > maxParseDepth {
		return
	}
	switch kind := kindOf(e.Tag); {
	case isRoot: // whatever its name, the root holds the device items
	case kind == kindModule && (hasChildElementsDOM(e) || len(e.Attr) > 0):
		p.module(e)
		return
	case (kind == kindModule || kind == kindModuleList) && !hasChildElementsDOM(e):
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
		if hasChildElementsDOM(c) {
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
func (p *domParser) attrs(e *etree.Element, flat *Module) {
	for i := range e.Attr {
		if a := &e.Attr[i]; !skipAttrDOM(a) {
			p.item(kindOf(a.Key), a.Value, flat)
		}
	}
}

// item records one leaf value found in device context.
func (p *domParser) item(kind itemKind, value string, flat *Module) {
	r := p.req
	switch kind {
	case kindDeviceType:
		setFirstDOM(&r.DeviceType, value)
	case kindMAC:
		setFirstDOM(&r.RawMAC, value)
	case kindSerial:
		setFirstDOM(&r.Serial, value)
	case kindVendor:
		setFirstDOM(&r.Vendor, value)
	case kindModel:
		setFirstDOM(&r.Model, value)
	case kindRevision:
		setFirstDOM(&r.Revision, value)
	case kindLocale:
		setFirstDOM(&r.Locale, value)
	case kindRequestTime:
		setFirstDOM(&r.RequestTime, value)
	case kindUserID:
		setFirstDOM(&r.UserID, value)
	case kindDevicePath:
		setFirstDOM(&p.devicePath, value)
	case kindModule, kindModuleList:
		p.moduleText(value)
	case kindFileName:
		setFirstDOM(&flat.FileName, value)
	case kindVersion:
		setFirstDOM(&flat.VersionText, value)
	case kindTimeStamp:
		setFirstDOM(&flat.TimeStamp, value)
	}
}

// module reads one module element: name, version and timestamp as
// attributes or leaf children, or the element's own text as the name
// (<Module Version="…">cpe.nbt</Module>).
func (p *domParser) module(e *etree.Element) {
	var m Module
	for i := range e.Attr {
		if a := &e.Attr[i]; !skipAttrDOM(a) {
			moduleFieldDOM(&m, kindOf(a.Key), a.Value)
		}
	}
	for _, tok := range e.Child {
		if c, ok := tok.(*etree.Element); ok && !hasChildElementsDOM(c) {
			moduleFieldDOM(&m, kindOf(c.Tag), c.Text())
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

func moduleFieldDOM(m *Module, kind itemKind, value string) {
	switch kind {
	case kindFileName, kindName, kindModule:
		setFirstDOM(&m.FileName, value)
	case kindVersion:
		setFirstDOM(&m.VersionText, value)
	case kindTimeStamp, kindRequestTime:
		setFirstDOM(&m.TimeStamp, value)
	}
}

// moduleText reads the text form FileName;Version;TimeStamp#… or, once,
// module XML embedded as text (the seed's server trace names a "Requested
// Module XML").
func (p *domParser) moduleText(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if s[0] == '<' {
		if p.embedded {
			return
		}
		root, err := parseXMLDOM([]byte(s))
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
func (p *domParser) addModule(m Module) {
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

// finish is the old finish.
func (p *domParser) finish() {
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

func setFirstDOM(dst *string, value string) {
	if *dst == "" {
		*dst = strings.TrimSpace(value)
	}
}

func hasChildElementsDOM(e *etree.Element) bool {
	for _, tok := range e.Child {
		if _, ok := tok.(*etree.Element); ok {
			return true
		}
	}
	return false
}
