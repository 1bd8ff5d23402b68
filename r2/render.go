package r2

import (
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/tanjay-lab/tanjay/images"
)

// This file is the only place response XML is produced. The "nothing to do"
// shape is confirmed byte for byte (PROTOCOL.md §2). Everything inside
// <Files> is inferred: Microsoft never published those element names, so a
// capture from a real phone changes this file and the golden files in
// testdata/checkin, nothing else.

// Layouts of the times in a response.
const (
	// CurrentTimeLayout is the server's local time, no zone [confirmed].
	CurrentTimeLayout = "2006-01-02T15:04:05"
	// FileTimeLayout is a file's timestamp, month first, as the audit log
	// sample writes it [confirmed for the audit log, inferred here].
	FileTimeLayout = "01.02.2006 15:04:05"
)

// ErrBlankURL is returned by the renderer for an update without a base URL:
// old firmware never downloads when BaseURL or ExternalBaseURL is blank
// (PROTOCOL.md §2), so this appliance refuses to send one.
var ErrBlankURL = errors.New("update has a blank BaseURL or ExternalBaseURL")

// ErrNoImageFile is returned by the renderer for an update without an image
// file name: the phone would have nothing to fetch.
var ErrNoImageFile = errors.New("update has no image file name")

// unknownFileTime is the FILETIME epoch, which phones themselves report for
// an image they cannot date; a zero OfferedUpdate.TimeStamp renders as it.
const unknownFileTime = "01.01.1601 00:00:00"

// RenderResponse writes the response to a check-in. now is written as
// CurrentTime in its own location: pass the server's local time.
func RenderResponse(w io.Writer, offer Offer, now time.Time) error {
	b, err := AppendResponse(nil, offer, now)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// AppendResponse appends the response document to dst. Lines end in "\n"
// (the confirmed sample does not show its line ending; phones parse XML, so
// this is our choice) and the document ends with a newline.
//
// With no updates it is the confirmed "nothing to do" shape. With updates,
// NumOfFiles is their number, the first update's Version, BaseURL and
// ExternalBaseURL follow LangList at top level (the element names the Polycom
// network trace shows), and <Files> holds one <File> per update [inferred].
// An update with a blank URL or no image file is refused with an error and
// nothing is appended.
func AppendResponse(dst []byte, offer Offer, now time.Time) ([]byte, error) {
	for i := range offer.Updates {
		if err := checkUpdate(&offer.Updates[i]); err != nil {
			return dst, fmt.Errorf("render update %d of %d: %w", i+1, len(offer.Updates), err)
		}
	}
	dst = append(dst, "<?xml version=\"1.0\" ?>\n<Response>\n  <NumOfFiles>"...)
	dst = appendInt(dst, len(offer.Updates))
	dst = append(dst, "</NumOfFiles>\n  <CurrentTime>"...)
	dst = appendCurrentTime(dst, now)
	dst = append(dst, "</CurrentTime>\n  <LangList>"...)
	for i, l := range offer.LangList {
		if i > 0 {
			dst = append(dst, '|')
		}
		dst = appendEscaped(dst, l)
	}
	dst = append(dst, "</LangList>\n"...)
	if len(offer.Updates) > 0 {
		first := &offer.Updates[0]
		dst = appendVersionElement(dst, "  ", first.Version)
		dst = appendElement(dst, "  ", "BaseURL", first.BaseURL)
		dst = appendElement(dst, "  ", "ExternalBaseURL", first.ExternalBaseURL)
		dst = append(dst, "  <Files>\n"...)
		for i := range offer.Updates {
			dst = appendFile(dst, &offer.Updates[i])
		}
		dst = append(dst, "  </Files>\n"...)
	}
	return append(dst, "</Response>\n"...), nil
}

func checkUpdate(u *OfferedUpdate) error {
	switch {
	case u.BaseURL == "" || u.ExternalBaseURL == "":
		return fmt.Errorf("%s %s: %w", u.UpdateType, u.Version, ErrBlankURL)
	case u.ImageFile == "":
		return fmt.Errorf("%s %s: %w", u.UpdateType, u.Version, ErrNoImageFile)
	}
	return nil
}

// appendFile writes one <File>. An empty UpdateType is written as CPE, the
// main image; an empty SignatureFile is left out.
func appendFile(dst []byte, u *OfferedUpdate) []byte {
	const in = "      "
	updateType := u.UpdateType
	if updateType == "" {
		updateType = images.DefaultUpdateType
	}
	dst = append(dst, "    <File>\n"...)
	dst = appendElement(dst, in, "UpdateType", updateType)
	dst = appendVersionElement(dst, in, u.Version)
	dst = appendElement(dst, in, "BaseURL", u.BaseURL)
	dst = appendElement(dst, in, "ExternalBaseURL", u.ExternalBaseURL)
	dst = appendElement(dst, in, "ImageFileName", u.ImageFile)
	if u.SignatureFile != "" {
		dst = appendElement(dst, in, "SignatureFileName", u.SignatureFile)
	}
	dst = append(dst, in...)
	dst = append(dst, "<TimeStamp>"...)
	dst = appendFileTime(dst, u.TimeStamp)
	dst = append(dst, "</TimeStamp>\n    </File>\n"...)
	return dst
}

// appendFileTime writes t in FileTimeLayout, or the FILETIME epoch for the
// zero time.
func appendFileTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, unknownFileTime...)
	}
	return appendFileTimeLayout(dst, t)
}

// appendCurrentTime is t.AppendFormat(dst, CurrentTimeLayout) without
// reading the layout on every check-in.
func appendCurrentTime(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, CurrentTimeLayout)
	}
	hour, minute, sec := t.Clock()
	dst = appendDate(dst, year, month, day)
	dst = append(dst, 'T')
	return appendClock(dst, hour, minute, sec)
}

// appendFileTimeLayout is t.AppendFormat(dst, FileTimeLayout), which is
// also AuditTimeLayout, without reading the layout.
func appendFileTimeLayout(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, FileTimeLayout)
	}
	hour, minute, sec := t.Clock()
	dst = appendTwoDigits(dst, int(month))
	dst = append(dst, '.')
	dst = appendTwoDigits(dst, day)
	dst = append(dst, '.')
	dst = appendTwoDigits(dst, year/100)
	dst = appendTwoDigits(dst, year%100)
	dst = append(dst, ' ')
	return appendClock(dst, hour, minute, sec)
}

// appendDate writes 2006-01-02 for a year from 0 to 9999.
func appendDate(dst []byte, year int, month time.Month, day int) []byte {
	dst = appendTwoDigits(dst, year/100)
	dst = appendTwoDigits(dst, year%100)
	dst = append(dst, '-')
	dst = appendTwoDigits(dst, int(month))
	dst = append(dst, '-')
	return appendTwoDigits(dst, day)
}

// appendClock writes 15:04:05.
func appendClock(dst []byte, hour, minute, sec int) []byte {
	dst = appendTwoDigits(dst, hour)
	dst = append(dst, ':')
	dst = appendTwoDigits(dst, minute)
	dst = append(dst, ':')
	return appendTwoDigits(dst, sec)
}

func appendTwoDigits(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10), byte('0'+n%10))
}

func appendElement(dst []byte, indent, name, text string) []byte {
	dst = append(dst, indent...)
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, '>')
	dst = appendEscaped(dst, text)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, ">\n"...)
}

func appendVersionElement(dst []byte, indent string, v images.Version) []byte {
	dst = append(dst, indent...)
	dst = append(dst, "<Version>"...)
	dst = appendVersion(dst, v)
	return append(dst, "</Version>\n"...)
}

func appendVersion(dst []byte, v images.Version) []byte {
	for i, part := range v {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = appendInt(dst, int(part))
	}
	return dst
}

func appendInt(dst []byte, n int) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// appendEscaped appends s as XML character data: the five special
// characters as entities, characters XML cannot carry (controls other than
// tab and newlines, invalid UTF-8) as U+FFFD, like encoding/xml.EscapeText.
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'' {
			i++
			continue
		}
		r, width := rune(c), 1
		if c >= utf8.RuneSelf {
			r, width = utf8.DecodeRuneInString(s[i:])
		}
		var esc string
		switch {
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			esc = "&gt;"
		case c == '"':
			esc = "&#34;"
		case c == '\'':
			esc = "&#39;"
		case c == '\t':
			esc = "&#x9;"
		case c == '\n':
			esc = "&#xA;"
		case c == '\r':
			esc = "&#xD;"
		case r == utf8.RuneError && width == 1, c < 0x20, !isXMLChar(r):
			esc = "\uFFFD"
		default:
			i += width
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += width
		last = i
	}
	return append(dst, s[last:]...)
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
