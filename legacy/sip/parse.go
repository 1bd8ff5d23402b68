package sip

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what one message may hold. Real sign-in traffic is small:
// the largest message a signed-in OCS 2007 client sends is a SERVICE or a
// roaming SUBSCRIBE of a few KiB.
type Limits struct {
	// MaxHeaderBytes bounds the start line and headers together. Default
	// 16 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds Content-Length. Default 64 KiB.
	MaxBodyBytes int
	// MaxHeaders bounds the number of header lines. Default 128.
	MaxHeaders int
}

// DefaultLimits are the limits of a zero Limits field.
var DefaultLimits = Limits{MaxHeaderBytes: 16 << 10, MaxBodyBytes: 64 << 10, MaxHeaders: 128}

func (l Limits) withDefaults() Limits {
	setDefault(&l.MaxHeaderBytes, DefaultLimits.MaxHeaderBytes)
	setDefault(&l.MaxBodyBytes, DefaultLimits.MaxBodyBytes)
	setDefault(&l.MaxHeaders, DefaultLimits.MaxHeaders)
	return l
}

// ErrTooLarge is wrapped by Reader.Next when a message exceeds its limits.
// The stream cannot be resynchronised after it.
var ErrTooLarge = errors.New("sip: message too large")

// ErrMalformed is wrapped by Reader.Next when bytes are not a SIP message.
var ErrMalformed = errors.New("sip: malformed message")

// Reader reads SIP messages off a stream transport (TCP or TLS), framed by
// Content-Length (RFC 3261 §18.3).
type Reader struct {
	r   *bufio.Reader
	lim Limits
}

// readBufferSize is the read buffer of a connection; a message may be
// larger, the buffer only bounds one read.
const readBufferSize = 2048

// NewReader reads from r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readBufferSize), lim: lim.withDefaults()}
}

// reset makes the reader read from r within lim, dropping what it held.
func (r *Reader) reset(src io.Reader, lim Limits) {
	r.r.Reset(src)
	r.lim = lim.withDefaults()
}

// Next returns the next message. ping is true, with no message, when the
// peer sent a double-CRLF keep-alive (RFC 5626 §4.4.1), which the caller
// answers with a single CRLF; lone CRLFs between messages are skipped.
// When the message is too large, Next returns its head (no body) with an
// error wrapping ErrTooLarge, so the caller can answer before closing.
func (r *Reader) Next() (m *Message, ping bool, err error) {
	budget := r.lim.MaxHeaderBytes
	var line []byte
	for blank := 0; ; {
		if line, err = r.line(&budget); err != nil {
			return nil, false, err
		}
		if len(line) > 0 {
			break
		}
		if blank++; blank == 2 {
			return nil, true, nil
		}
		budget = r.lim.MaxHeaderBytes
	}
	if m, err = parseStartLine(string(line)); err != nil {
		return nil, false, err
	}
	if err := r.headers(m, &budget); err != nil {
		return nil, false, err
	}
	n, err := contentLength(m)
	if err != nil {
		return nil, false, err
	}
	if n > r.lim.MaxBodyBytes {
		return m, false, fmt.Errorf("%w: Content-Length %d is over the limit of %d bytes", ErrTooLarge, n, r.lim.MaxBodyBytes)
	}
	if n > 0 {
		m.Body = make([]byte, n)
		if _, err := io.ReadFull(r.r, m.Body); err != nil {
			return nil, false, fmt.Errorf("sip: reading a %d-byte body: %w", n, err)
		}
	}
	return m, false, nil
}

// headers reads header lines up to the blank line, unfolding
// continuations.
func (r *Reader) headers(m *Message, budget *int) error {
	for {
		line, err := r.line(budget)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.Headers) == 0 {
				return fmt.Errorf("%w: continuation line before any header", ErrMalformed)
			}
			h := &m.Headers[len(m.Headers)-1]
			h.Value = strings.TrimSpace(h.Value + " " + strings.TrimSpace(string(line)))
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if !ok || len(name) == 0 || !isToken(name) {
			return fmt.Errorf("%w: header line %q", ErrMalformed, clip(line))
		}
		if len(m.Headers) == r.lim.MaxHeaders {
			return fmt.Errorf("%w: more than %d header lines", ErrTooLarge, r.lim.MaxHeaders)
		}
		m.Headers = append(m.Headers, Header{string(name), string(bytes.TrimSpace(value))})
	}
}

// line reads one line without its CRLF (or bare LF), charging budget.
func (r *Reader) line(budget *int) ([]byte, error) {
	var out []byte
	for {
		frag, err := r.r.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return nil, fmt.Errorf("%w: headers over the limit of %d bytes", ErrTooLarge, r.lim.MaxHeaderBytes)
		}
		switch {
		case err == nil:
			if out == nil {
				out = frag
			} else {
				out = append(out, frag...)
			}
			return bytes.TrimRight(out, "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			out = append(out, frag...)
		case errors.Is(err, io.EOF) && (len(out) > 0 || len(frag) > 0):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// parseStartLine parses "METHOD URI SIP/2.0" or "SIP/2.0 CODE REASON".
func parseStartLine(line string) (*Message, error) {
	if rest, ok := strings.CutPrefix(line, "SIP/2.0 "); ok {
		codeText, reason, _ := strings.Cut(rest, " ")
		code, err := strconv.Atoi(codeText)
		if err != nil || code < 100 || code > 699 {
			return nil, fmt.Errorf("%w: status line %q", ErrMalformed, clip([]byte(line)))
		}
		return &Message{StatusCode: code, Reason: reason}, nil
	}
	f := strings.Split(line, " ")
	if len(f) != 3 || f[2] != "SIP/2.0" || f[1] == "" || !isToken([]byte(f[0])) {
		return nil, fmt.Errorf("%w: request line %q", ErrMalformed, clip([]byte(line)))
	}
	return &Message{Method: f[0], RequestURI: f[1]}, nil
}

// contentLength is the Content-Length of m; missing means 0.
func contentLength(m *Message) (int, error) {
	v := m.Get("Content-Length")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: Content-Length %q", ErrMalformed, clip([]byte(v)))
	}
	return n, nil
}

// isToken reports whether b is an RFC 3261 token (method and header names).
func isToken(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return len(b) > 0
}

// clip shortens what an error quotes from the wire.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
