package r2

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
)

// tokens reads doc with encoding/xml's tokenizer (strict, raw tokens, the
// charset reader for declared Latin-1 bodies) into the walker, with the
// checks etree made over the same tokens: end tags match their start tags,
// every element is closed, at most maxParseDepth levels. It is the path for
// what the byte scanner declines; it allocates for every token.
func (w *walker) tokens(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.CharsetReader = charsetReader
	var open []xml.Name
	for {
		t, err := d.RawToken()
		switch {
		case err == io.EOF:
			if len(open) > 0 {
				return fmt.Errorf("element <%s> is not closed", qualifiedName(open[len(open)-1]))
			}
			if !w.rootSeen {
				return ErrNoRoot
			}
			return nil
		case err != nil:
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			if len(open) >= maxParseDepth {
				return errTooDeep
			}
			open = append(open, t.Name)
			attrStart := len(w.attrs)
			w.tokenAttrs(t.Attr, attrStart)
			w.start(nil, []byte(t.Name.Local), attrStart)
		case xml.EndElement:
			if len(open) == 0 || open[len(open)-1] != t.Name {
				return fmt.Errorf("end tag </%s> does not close an open element", qualifiedName(t.Name))
			}
			open = open[:len(open)-1]
			w.end()
		case xml.CharData:
			w.text(w.keep(t))
		case xml.ProcInst, xml.Directive:
			w.instruction()
		}
	}
}

// errTooDeep is returned for elements nested deeper than maxParseDepth.
var errTooDeep = fmt.Errorf("elements nested deeper than %d levels", maxParseDepth)

// tokenAttrs adds a start element's attributes, a later one of the same
// name replacing the value of the earlier (etree's rule).
func (w *walker) tokenAttrs(attrs []xml.Attr, attrStart int) {
next:
	for _, a := range attrs {
		space, local, value := []byte(a.Name.Space), []byte(a.Name.Local), w.keep([]byte(a.Value))
		for k := attrStart; k < len(w.attrs); k++ {
			if b := &w.attrs[k]; bytes.Equal(b.space, space) && bytes.Equal(b.local, local) {
				b.value = value
				continue next
			}
		}
		w.attrs = append(w.attrs, xmlAttr{space: space, local: local, value: value})
	}
}

// keep copies token data, valid only until the next token, into the arena.
func (w *walker) keep(data []byte) []byte {
	start := len(w.arena)
	w.arena = append(w.arena, data...)
	return w.arena[start:len(w.arena):len(w.arena)]
}

func qualifiedName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}
