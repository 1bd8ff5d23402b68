package images

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a four-part numeric firmware version such as 1.0.522.103.
// The zero value, 0.0.0.0, means "unknown": beta phones report it for a CPE
// image they cannot name.
type Version [4]uint32

// ParseVersion parses exactly four dot-separated decimal parts.
func ParseVersion(s string) (Version, error) {
	var v Version
	s = strings.TrimSpace(s)
	rest := s
	for i := range v {
		part := rest
		if i < 3 {
			dot := strings.IndexByte(rest, '.')
			if dot < 0 {
				return Version{}, fmt.Errorf("version %q: want four dot-separated numbers like 1.0.522.103", s)
			}
			part, rest = rest[:dot], rest[dot+1:]
		}
		n, err := strconv.ParseUint(part, 10, 32)
		if err != nil || part == "" || part[0] == '+' {
			return Version{}, fmt.Errorf("version %q: part %d (%q) is not a number", s, i+1, part)
		}
		v[i] = uint32(n)
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants in code and tests.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String formats v as a.b.c.d.
func (v Version) String() string {
	var b [43]byte
	out := strconv.AppendUint(b[:0], uint64(v[0]), 10)
	for _, p := range v[1:] {
		out = append(out, '.')
		out = strconv.AppendUint(out, uint64(p), 10)
	}
	return string(out)
}

// IsZero reports whether v is 0.0.0.0, the unknown version.
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w.
func (v Version) Compare(w Version) int {
	for i := range v {
		switch {
		case v[i] < w[i]:
			return -1
		case v[i] > w[i]:
			return 1
		}
	}
	return 0
}

// Less reports whether v is lower than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// MarshalText writes v as a.b.c.d, so versions are strings in JSON.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a.b.c.d; the empty string is the zero version.
func (v *Version) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*v = Version{}
		return nil
	}
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
