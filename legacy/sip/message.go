package sip

import (
	"bytes"
	"strconv"
	"strings"
)

// Header is one header line as it came off the wire: the name as spelled
// and the value with surrounding white space trimmed. Values are never
// re-folded or re-quoted, because the NTLM signature covers them byte for
// byte ([MS-SIP] 3.1.4.2).
type Header struct {
	Name, Value string
}

// Message is a SIP request or response. Headers keep their order and
// repetitions (Microsoft clients send Supported several times).
type Message struct {
	// Method and RequestURI are set for requests.
	Method, RequestURI string
	// StatusCode and Reason are set for responses.
	StatusCode int
	Reason     string
	Headers    []Header
	Body       []byte
}

// IsRequest reports whether m is a request.
func (m *Message) IsRequest() bool { return m.Method != "" }

// compactForms maps RFC 3261 §7.3.3 compact header names to full ones.
var compactForms = map[string]string{
	"i": "call-id", "f": "from", "t": "to", "v": "via", "l": "content-length",
	"c": "content-type", "m": "contact", "k": "supported", "o": "event",
	"s": "subject", "e": "content-encoding", "u": "allow-events",
}

// canonical is the lower-case full name of a header name.
func canonical(name string) string {
	n := strings.ToLower(name)
	if full, ok := compactForms[n]; ok {
		return full
	}
	return n
}

// Get returns the first value of the header name (any case, compact forms
// too), or "".
func (m *Message) Get(name string) string {
	want := canonical(name)
	for _, h := range m.Headers {
		if canonical(h.Name) == want {
			return h.Value
		}
	}
	return ""
}

// Values returns every value of the header name, in order.
func (m *Message) Values(name string) []string {
	want := canonical(name)
	var out []string
	for _, h := range m.Headers {
		if canonical(h.Name) == want {
			out = append(out, h.Value)
		}
	}
	return out
}

// Has reports whether the comma-separated lists of the header name
// contain token (any case), as in "Supported: ms-benotify, gruu-10".
func (m *Message) Has(name, token string) bool {
	for _, v := range m.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Add appends a header.
func (m *Message) Add(name, value string) { m.Headers = append(m.Headers, Header{name, value}) }

// Set replaces every header name with one line holding value, in the place
// of the first one, or appends it.
func (m *Message) Set(name, value string) {
	want := canonical(name)
	out := m.Headers[:0]
	done := false
	for _, h := range m.Headers {
		if canonical(h.Name) != want {
			out = append(out, h)
			continue
		}
		if !done {
			out = append(out, Header{name, value})
			done = true
		}
	}
	m.Headers = out
	if !done {
		m.Add(name, value)
	}
}

// Del removes every header name.
func (m *Message) Del(name string) {
	want := canonical(name)
	out := m.Headers[:0]
	for _, h := range m.Headers {
		if canonical(h.Name) != want {
			out = append(out, h)
		}
	}
	m.Headers = out
}

// CSeq is the sequence number and method of the CSeq header.
func (m *Message) CSeq() (num, method string) {
	f := strings.Fields(m.Get("CSeq"))
	if len(f) >= 1 {
		num = f[0]
	}
	if len(f) >= 2 {
		method = f[1]
	}
	return num, method
}

// Bytes is m on the wire: start line, headers in order, a Content-Length
// that matches the body (any given one is replaced), the body.
func (m *Message) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(512 + len(m.Body))
	if m.IsRequest() {
		b.WriteString(m.Method + " " + m.RequestURI + " SIP/2.0\r\n")
	} else {
		b.WriteString("SIP/2.0 " + strconv.Itoa(m.StatusCode) + " " + m.Reason + "\r\n")
	}
	for _, h := range m.Headers {
		if canonical(h.Name) == "content-length" {
			continue
		}
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(m.Body)) + "\r\n\r\n")
	b.Write(m.Body)
	return b.Bytes()
}

// reasons are the reason phrases of the status codes the front end sends.
var reasons = map[int]string{
	200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
	407: "Proxy Authentication Required", 413: "Request Entity Too Large",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
	501: "Not Implemented", 503: "Service Unavailable",
}

// newResponse starts the response to req: Via, From, To, Call-ID and CSeq
// copied as RFC 3261 §8.2.6.2 says; the caller adds a To tag when the
// request had none.
func newResponse(req *Message, code int) *Message {
	r := &Message{StatusCode: code, Reason: reasons[code]}
	if r.Reason == "" {
		r.Reason = "Unknown"
	}
	for _, h := range req.Headers {
		switch canonical(h.Name) {
		case "via", "from", "to", "call-id", "cseq":
			r.Headers = append(r.Headers, Header{fullName(h.Name), h.Value})
		}
	}
	return r
}

// fullName spells a compact header name out, so responses use one form.
func fullName(name string) string {
	switch canonical(name) {
	case "via":
		return "Via"
	case "from":
		return "From"
	case "to":
		return "To"
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	return name
}
