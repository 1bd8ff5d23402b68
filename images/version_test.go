package images

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	good := map[string]Version{
		"1.0.522.103":   {1, 0, 522, 103},
		"0.0.0.0":       {},
		" 3.5.6907.37 ": {3, 5, 6907, 37},
		"4.0.7577.4066": {4, 0, 7577, 4066},
	}
	for in, want := range good {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
		if strings.TrimSpace(in) != got.String() {
			t.Errorf("String() = %q, want %q", got.String(), strings.TrimSpace(in))
		}
	}
	for _, in := range []string{"", "1.0.522", "1.0.522.103.1", "1.0.x.3", "1..2.3", "+1.0.0.0", "1.0.0.-1", "1.0.0.4294967296"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) succeeded, want error", in)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	order := []string{"0.0.0.0", "1.0.199.123", "1.0.522.73", "1.0.522.103", "3.5.6907.0", "3.5.6907.37", "4.0.7577.4066"}
	for i := range order {
		for j := range order {
			a, b := MustParseVersion(order[i]), MustParseVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestVersionJSON(t *testing.T) {
	b, err := json.Marshal(struct{ V Version }{MustParseVersion("1.0.522.103")})
	if err != nil || string(b) != `{"V":"1.0.522.103"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back struct{ V Version }
	if err := json.Unmarshal(b, &back); err != nil || back.V != MustParseVersion("1.0.522.103") {
		t.Fatalf("Unmarshal = %v, %v", back, err)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.522.103", "0.0.0.0", "1..2.3", "99999999999.0.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		back, err := ParseVersion(v.String())
		if err != nil || back != v {
			t.Fatalf("%q → %v does not round-trip: %v %v", s, v, back, err)
		}
	})
}
