package phone

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tanjay-lab/tanjay/images"
)

// Time formats the phone writes. RequestTime is the phone's own clock, day
// first (the seed's sample "04.05.2009 07:30:04" was sent on 4 May); a module
// TimeStamp is month first, as the server writes image time stamps
// ("05.04.2009 20:09:14").
const (
	requestTimeLayout = "02.01.2006 15:04:05"
	moduleTimeLayout  = "01.02.2006 15:04:05"
	// epochTimeStamp is the FILETIME epoch a beta phone reports with
	// version 0.0.0.0 for an image it cannot name.
	epochTimeStamp = "01.01.1601 00:00:00"
	// cpeModule is the module name phones report for their main image.
	cpeModule = "cpe.nbt"
)

// appendRequest appends the check-in body a phone with identity id, running
// the CPE image v (installed at installed; zero for "unknown"), sends at
// time now. The element names are our inference (PROTOCOL.md §2): this is the
// one place to change when a capture of a real phone arrives. It is built by
// appending because fleets send thousands per second.
func appendRequest(b []byte, id Identity, now time.Time, v images.Version, installed time.Time) []byte {
	b = append(b, `<?xml version="1.0" encoding="utf-8"?>`+"\n<Request>"...)
	b = appendElement(b, "DeviceType", id.DeviceType)
	b = appendElement(b, "MacAddress", id.MAC)
	b = appendElement(b, "SerialNumber", id.Serial)
	b = appendElement(b, "Vendor", id.Vendor)
	b = appendElement(b, "Model", id.Model)
	b = appendElement(b, "Revision", id.Revision)
	b = appendElement(b, "Locale", id.Locale)
	b = append(b, "<RequestTime>"...)
	b = now.AppendFormat(b, requestTimeLayout)
	b = append(b, "</RequestTime><Modules><Module><FileName>"+cpeModule+"</FileName><Version>"...)
	b = appendVersion(b, v)
	b = append(b, "</Version><TimeStamp>"...)
	if installed.IsZero() {
		b = append(b, epochTimeStamp...)
	} else {
		b = installed.AppendFormat(b, moduleTimeLayout)
	}
	return append(b, "</TimeStamp></Module></Modules></Request>"...)
}

// appendVersion appends v as a.b.c.d without allocating.
func appendVersion(b []byte, v images.Version) []byte {
	for i, part := range v {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(part), 10)
	}
	return b
}

func appendElement(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped appends s as XML character data. Characters XML cannot carry
// (control characters, invalid UTF-8) become U+FFFD, as encoding/xml does;
// tab, newline and carriage return are kept as character references.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&#34;"...)
		case r == '\'':
			b = append(b, "&#39;"...)
		case r == '\t':
			b = append(b, "&#x9;"...)
		case r == '\n':
			b = append(b, "&#xA;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case !isXMLChar(r) || (r == utf8.RuneError && size == 1):
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// isXMLChar is the Char production of XML 1.0.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
