package store

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/tanjay-lab/tanjay/images"
)

// appendEventRecord appends what json.Marshal makes of record{Op: opEvent,
// Event: ev}, byte for byte (TestEventRecordMatchesEncodingJSON holds it to
// that, for every field), without reflection and nearly without
// allocating: every observation is journaled, and encoding/json was a fifth
// of the CPU an Observe cost. Replay decodes it with encoding/json.
func appendEventRecord(b []byte, ev *Event) ([]byte, error) {
	b = append(b, `{"op":"event","event":{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"time":`...)
	b, err := appendTime(b, ev.Time)
	if err != nil {
		return b, err
	}
	b = appendField(b, "device_id", ev.DeviceID, false)
	b = appendField(b, "kind", string(ev.Kind), false)
	b = appendField(b, "ip", ev.IP, true)
	b = appendField(b, "mac", ev.MAC, true)
	b = appendField(b, "serial", ev.Serial, true)
	if p := ev.DevicePath; p != (images.DevicePath{}) {
		b = append(b, `,"device_path":{"device_type":`...)
		b = appendString(b, p.DeviceType)
		b = appendField(b, "vendor", p.Vendor, true)
		b = appendField(b, "model", p.Model, true)
		b = appendField(b, "revision", p.Revision, true)
		b = appendField(b, "locale", p.Locale, false)
		b = append(b, '}')
	}
	b = appendVersionField(b, "reported", ev.Reported)
	b = appendVersionField(b, "offered", ev.Offered)
	b = appendVersionField(b, "target", ev.Target)
	if len(ev.Path) > 0 {
		b = append(b, `,"path":[`...)
		for i, v := range ev.Path {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendVersion(b, v)
		}
		b = append(b, ']')
	}
	b = appendBoolField(b, "interim", ev.Interim)
	b = appendBoolField(b, "is_test", ev.IsTest)
	b = appendField(b, "file", ev.File, true)
	b = appendIntField(b, "offset", ev.Offset)
	b = appendIntField(b, "bytes", ev.Bytes)
	b = appendIntField(b, "total", ev.Total)
	b = appendBoolField(b, "complete", ev.Complete)
	b = appendField(b, "name", ev.Name, true)
	b = appendField(b, "sip_step", ev.SIPStep, true)
	b = appendField(b, "user", ev.User, true)
	b = appendField(b, "user_agent", ev.UserAgent, true)
	b = appendField(b, "handed", ev.Handed, true)
	b = appendField(b, "directory_step", ev.DirectoryStep, true)
	b = appendField(b, "directory_error", ev.DirectoryError, true)
	b = appendField(b, "detail", ev.Detail, true)
	return append(b, "}}"...), nil
}

// appendField appends ,"name":"value" (nothing when omitEmpty and empty).
func appendField(b []byte, name, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func appendVersionField(b []byte, name string, v images.Version) []byte {
	if v.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendVersion(b, v)
}

func appendBoolField(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	return append(b, `":true`...)
}

func appendIntField(b []byte, name string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// appendVersion appends v as images.Version.MarshalText writes it, quoted.
func appendVersion(b []byte, v images.Version) []byte {
	b = append(b, '"')
	for i, part := range v {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(part), 10)
	}
	return append(b, '"')
}

// appendTime appends t as time.Time.MarshalJSON does.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		j, err := json.Marshal(t) // fails as Marshal would
		return append(b, j...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendString appends s quoted. Plain ASCII is copied; anything
// encoding/json would escape (quotes, backslashes, control characters,
// <, >, &, non-ASCII) goes through encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always marshals
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
