package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRuleKey(t *testing.T) {
	for _, s := range []string{"UCPhone/Polycom/CX700/A/ENU/CPE", "OCInterim/ENU/CPE", "/UCPhone/LG-Nortel/IP8540/A/DEU/CPE/"} {
		k, err := ParseRuleKey(s)
		if err != nil {
			t.Fatalf("ParseRuleKey(%q): %v", s, err)
		}
		if k.String() != strings.Trim(s, "/") {
			t.Errorf("String() = %q, want %q", k.String(), strings.Trim(s, "/"))
		}
	}
	k, _ := ParseRuleKey("ocinterim/ENU/CPE")
	if !k.IsInterim() || k.String() != "OCInterim/ENU/CPE" {
		t.Errorf("short interim path not recognised: %+v", k)
	}
	for _, s := range []string{"", "CPE", "UCPhone/Polycom/CX700/A/CPE", "UCPhone/Polycom/../A/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/", "UCPhone//CX700/A/ENU/CPE"} {
		if _, err := ParseRuleKey(s); err == nil {
			t.Errorf("ParseRuleKey(%q) succeeded, want error", s)
		}
	}
}

func TestTransitions(t *testing.T) {
	key, _ := ParseRuleKey("UCPhone/Polycom/CX700/A/ENU/CPE")
	v1, v2 := MustParseVersion("3.5.6907.0"), MustParseVersion("4.0.7577.4066")
	r := Rule{Key: key}

	r, err := Import(r, v1)
	want := Rule{Key: key, Pending: v1}
	if err != nil || !cmp.Equal(r, want) {
		t.Fatalf("import: %+v %v", r, err)
	}
	if r, err = Approve(r); err != nil || !cmp.Equal(r, Rule{Key: key, Approved: v1}) {
		t.Fatalf("approve: %+v %v", r, err)
	}
	if _, err := Import(r, v1); !errors.Is(err, ErrAlreadyCurrent) {
		t.Errorf("re-import of approved: %v", err)
	}
	if _, err := Approve(r); !errors.Is(err, ErrNoPending) || !strings.Contains(err.Error(), key.String()) {
		t.Errorf("approve without pending: %v", err)
	}
	if _, err := Reject(r); !errors.Is(err, ErrNoPending) {
		t.Errorf("reject without pending: %v", err)
	}
	if _, err := Restore(r); !errors.Is(err, ErrNoRestore) {
		t.Errorf("restore without restore version: %v", err)
	}
	r, _ = Import(r, v2)
	if rejected, err := Reject(r); err != nil || !cmp.Equal(rejected, Rule{Key: key, Approved: v1}) {
		t.Errorf("reject: %+v %v", rejected, err)
	}
	if r, err = Approve(r); err != nil || !cmp.Equal(r, Rule{Key: key, Approved: v2, Restore: v1}) {
		t.Fatalf("second approve: %+v %v", r, err)
	}
	if r, err = Restore(r); err != nil || !cmp.Equal(r, Rule{Key: key, Approved: v1, Restored: true}) {
		t.Fatalf("restore: %+v %v", r, err)
	}
	r, _ = Import(r, v2)
	if r, err = Approve(r); err != nil || !cmp.Equal(r, Rule{Key: key, Approved: v2, Restore: v1}) {
		t.Fatalf("approve after restore clears Restored: %+v %v", r, err)
	}
	if _, err := Import(r, Version{}); !errors.Is(err, ErrZeroVersion) {
		t.Errorf("import of 0.0.0.0: %v", err)
	}
}

func TestDefaultMinFrom(t *testing.T) {
	for in, want := range map[string]string{"3.5.6907.0": "1.0.522.0", "4.0.7577.4066": "1.0.522.0", "1.0.522.103": "0.0.0.0"} {
		if got := DefaultMinFrom(MustParseVersion(in)).String(); got != want {
			t.Errorf("DefaultMinFrom(%s) = %s, want %s", in, got, want)
		}
	}
}
