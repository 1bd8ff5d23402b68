package r2

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The byte scanner reads the XML phones send without encoding/xml: no
// tokens, no strings for names, values decoded only when they hold a
// reference or a carriage return, into the walker's arena. It takes on a
// subset of XML and declines the rest with errNotScanned, and then
// tokens.go reads the document with encoding/xml's tokenizer, the one etree
// used: the scanner must never accept what that path rejects, nor read a
// document differently, but it may decline anything. It declines:
//   - anything encoding/xml or etree would reject (the error then comes
//     from there);
//   - names with bytes above 0x7F or starting with ':' (encoding/xml
//     checks them against Unicode tables), more than one ':' in a name;
//   - directives (<!DOCTYPE …>) and an XML declaration naming another
//     version or a Latin-1 encoding (which charsetReader transcodes);
//   - a document without a root element.
//
// Its rules follow encoding/xml's Decoder in strict mode (RawToken) and
// etree's checks over it (end tags match, all elements closed, at most
// maxParseDepth levels).
//
// Why not encoding/xml alone: its tokens cost a string per name and value
// and a slice per start tag. On the simulator's body (BenchmarkParseRequest*,
// same run, alternating) the etree parser took 147 allocations, the walk
// over encoding/xml's tokens 91 and about 0.6 of its time, this scanner 5
// and about 0.1 of its time.

// scan reads doc into the walker.
func (w *walker) scan(doc []byte) error {
	for i := 0; i < len(doc); {
		var ok bool
		if doc[i] != '<' {
			i, ok = w.scanText(doc, i)
		} else if i+1 >= len(doc) {
			return errNotScanned
		} else {
			switch doc[i+1] {
			case '/':
				i, ok = w.scanEndTag(doc, i+2)
			case '?':
				i, ok = w.scanInstruction(doc, i+2)
			case '!':
				i, ok = w.scanMarkup(doc, i+2)
			default:
				i, ok = w.scanStartTag(doc, i+1)
			}
		}
		if !ok {
			return errNotScanned
		}
	}
	if len(w.frames) != 0 || !w.rootSeen {
		return errNotScanned
	}
	return nil
}

// scanText reads character data up to the next '<'.
func (w *walker) scanText(doc []byte, i int) (int, bool) {
	end := len(doc)
	if j := bytes.IndexByte(doc[i:], '<'); j >= 0 {
		end = i + j
	}
	raw := doc[i:end]
	if bytes.Contains(raw, []byte("]]>")) { // only allowed in CDATA
		return 0, false
	}
	data, ok := w.decode(raw, true)
	if !ok {
		return 0, false
	}
	w.text(data)
	return end, true
}

// scanMarkup reads a comment or a CDATA section after "<!".
func (w *walker) scanMarkup(doc []byte, i int) (int, bool) {
	rest := doc[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("--")):
		// The comment ends at the first "--", which must be followed by '>'.
		j := bytes.Index(rest[2:], []byte("--"))
		if j < 0 {
			return 0, false
		}
		end := i + 2 + j + 2
		if end >= len(doc) || doc[end] != '>' {
			return 0, false
		}
		return end + 1, true
	case bytes.HasPrefix(rest, []byte("[CDATA[")):
		start := i + len("[CDATA[")
		j := bytes.Index(doc[start:], []byte("]]>"))
		if j < 0 {
			return 0, false
		}
		data, ok := w.decode(doc[start:start+j], false)
		if !ok {
			return 0, false
		}
		w.text(data)
		return start + j + 3, true
	}
	return 0, false // a directive, or not well-formed
}

// scanInstruction reads a processing instruction after "<?".
func (w *walker) scanInstruction(doc []byte, i int) (int, bool) {
	target, i, ok := scanName(doc, i)
	if !ok || bytes.IndexByte(target, ':') >= 0 {
		return 0, false
	}
	i = skipSpace(doc, i)
	j := bytes.Index(doc[i:], []byte("?>"))
	if j < 0 {
		return 0, false
	}
	if string(target) == "xml" {
		content := string(doc[i : i+j])
		if v := procInst("version", content); v != "" && v != "1.0" {
			return 0, false
		}
		// charsetReader transcodes the Latin-1 family on the other path and
		// reads any other declared encoding as UTF-8, as this scanner does.
		if enc := procInst("encoding", content); enc != "" && !strings.EqualFold(enc, "utf-8") && isLatin1Charset(enc) {
			return 0, false
		}
	}
	w.instruction()
	return i + j + 2, true
}

// scanStartTag reads a start tag after '<', with its attributes.
func (w *walker) scanStartTag(doc []byte, i int) (int, bool) {
	if len(w.frames) >= maxParseDepth {
		return 0, false
	}
	name, i, ok := scanName(doc, i)
	if !ok {
		return 0, false
	}
	_, local, ok := splitName(name)
	if !ok {
		return 0, false
	}
	attrStart := len(w.attrs)
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) {
			return 0, false
		}
		switch doc[i] {
		case '>':
			w.start(name, local, attrStart)
			return i + 1, true
		case '/':
			if i+1 >= len(doc) || doc[i+1] != '>' {
				return 0, false
			}
			w.start(name, local, attrStart)
			w.end()
			return i + 2, true
		}
		if i, ok = w.scanAttr(doc, i, attrStart); !ok {
			return 0, false
		}
	}
}

// scanAttr reads one attribute name="value" and adds it to the element's,
// replacing the value of an earlier one of the same name as etree does.
func (w *walker) scanAttr(doc []byte, i, attrStart int) (int, bool) {
	name, i, ok := scanName(doc, i)
	if !ok {
		return 0, false
	}
	space, local, ok := splitName(name)
	if !ok {
		return 0, false
	}
	i = skipSpace(doc, i)
	if i >= len(doc) || doc[i] != '=' {
		return 0, false
	}
	i = skipSpace(doc, i+1)
	if i >= len(doc) || doc[i] != '"' && doc[i] != '\'' {
		return 0, false
	}
	quote := doc[i]
	j := bytes.IndexByte(doc[i+1:], quote)
	if j < 0 {
		return 0, false
	}
	raw := doc[i+1 : i+1+j]
	if bytes.IndexByte(raw, '<') >= 0 {
		return 0, false
	}
	value, ok := w.decode(raw, true)
	if !ok {
		return 0, false
	}
	for k := attrStart; k < len(w.attrs); k++ {
		if a := &w.attrs[k]; bytes.Equal(a.space, space) && bytes.Equal(a.local, local) {
			a.value = value
			return i + 2 + j, true
		}
	}
	w.attrs = append(w.attrs, xmlAttr{space: space, local: local, value: value})
	return i + 2 + j, true
}

// scanEndTag reads an end tag after "</"; it must close the innermost open
// element.
func (w *walker) scanEndTag(doc []byte, i int) (int, bool) {
	name, i, ok := scanName(doc, i)
	if !ok || len(w.frames) == 0 || !bytes.Equal(name, w.frames[len(w.frames)-1].name) {
		return 0, false
	}
	if _, _, ok := splitName(name); !ok {
		return 0, false
	}
	i = skipSpace(doc, i)
	if i >= len(doc) || doc[i] != '>' {
		return 0, false
	}
	w.end()
	return i + 1, true
}

// scanName reads an ASCII XML name: a letter or '_', then letters, digits,
// '_', ':', '.' and '-'. A name running into a byte above 0x7F is
// declined.
func scanName(doc []byte, i int) ([]byte, int, bool) {
	start := i
	if i >= len(doc) || !isNameStart(doc[i]) {
		return nil, 0, false
	}
	for i++; i < len(doc) && isNameByte(doc[i]); i++ {
	}
	if i < len(doc) && doc[i] >= utf8.RuneSelf {
		return nil, 0, false
	}
	return doc[start:i], i, true
}

func isNameStart(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_'
}

func isNameByte(c byte) bool {
	return isNameStart(c) || '0' <= c && c <= '9' || c == ':' || c == '.' || c == '-'
}

// splitName splits prefix:local as encoding/xml does: a name with one ':'
// between two non-empty parts has a prefix; otherwise it is all local. A
// name with more than one ':' is not accepted.
func splitName(name []byte) (space, local []byte, ok bool) {
	colon := -1
	for i, c := range name {
		if c == ':' {
			if colon >= 0 {
				return nil, nil, false
			}
			colon = i
		}
	}
	if colon <= 0 || colon == len(name)-1 {
		return nil, name, true
	}
	return name[:colon], name[colon+1:], true
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// decode returns character data or an attribute value as encoding/xml
// delivers it: references replaced (when refs is set, i.e. outside CDATA),
// "\r\n" and "\r" as "\n". Raw data that needs neither is returned as it
// is, without copying. It reports false for data encoding/xml rejects
// (invalid UTF-8, characters XML excludes, undefined or malformed
// references).
func (w *walker) decode(raw []byte, refs bool) ([]byte, bool) {
	plain := true
	for _, c := range raw {
		if c == '\r' || c == '&' && refs || c < 0x20 && c != '\t' && c != '\n' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return raw, true
	}
	start := len(w.arena)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\r':
			w.arena = append(w.arena, '\n')
			if i++; i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c == '&' && refs:
			n, ok := w.decodeReference(raw[i+1:])
			if !ok {
				return nil, false
			}
			i += 1 + n
		default:
			w.arena = append(w.arena, c)
			i++
		}
	}
	data := w.arena[start:len(w.arena):len(w.arena)]
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 || !isXMLChar(r) {
			return nil, false
		}
		i += size
	}
	return data, true
}

// decodeReference appends the character a reference stands for (rest
// follows its '&') and returns the length of rest it used, up to and
// including ';'. Only the five predefined entities and character
// references are accepted, as encoding/xml does without a DTD.
func (w *walker) decodeReference(rest []byte) (int, bool) {
	if len(rest) > 0 && rest[0] == '#' {
		digits, base := rest[1:], 10
		if len(digits) > 0 && digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		n := 0
		for n < len(digits) && isDigit(digits[n], base) {
			n++
		}
		if n >= len(digits) || digits[n] != ';' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(digits[:n]), base, 64)
		if err != nil || v > utf8.MaxRune {
			return 0, false
		}
		w.arena = utf8.AppendRune(w.arena, rune(v)) // a surrogate becomes U+FFFD, as string(rune(v)) does
		return len(rest) - len(digits) + n + 1, true
	}
	for _, e := range predefinedEntities {
		if bytes.HasPrefix(rest, []byte(e.name)) {
			w.arena = append(w.arena, e.char)
			return len(e.name), true
		}
	}
	return 0, false
}

var predefinedEntities = [...]struct {
	name string
	char byte
}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"apos;", '\''}, {"quot;", '"'}}

func isDigit(c byte, base int) bool {
	return '0' <= c && c <= '9' || base == 16 && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')
}

// procInst returns the value of param in the content of an XML
// declaration, exactly as encoding/xml's unexported procInst does (which
// decides what the other path checks).
func procInst(param, s string) string {
	param = param + "="
	lenp := len(param)
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || lenp+k >= len(sub) {
			return ""
		}
		i += lenp + k + 1
		if c := sub[lenp+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}
