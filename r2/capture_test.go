package r2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCaptureReason(t *testing.T) {
	complete := tanjay(nil)
	for _, tc := range []struct {
		name string
		req  *Request
		all  bool
		want string
	}{
		{"complete", complete, false, ""},
		{"complete, capture all", complete, true, CaptureAll},
		{"unidentified", tanjay(func(r *Request) { r.Locale = "" }), false, CaptureUnidentified},
		{"no MAC but a serial", tanjay(func(r *Request) { r.MAC = "" }), false, ""},
		{"neither MAC nor serial", tanjay(func(r *Request) { r.MAC, r.Serial = "", "" }), false, CapturePartial},
		{"no modules", tanjay(func(r *Request) { r.Modules = nil }), true, CapturePartial},
	} {
		if got := captureReason(tc.req, tc.all); got != tc.want {
			t.Errorf("%s: captureReason = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSaveCapture(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "captures") // created on first use
	got, err := saveCapture(dir, seedNow, "::1", CaptureMalformed, []byte("<x"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "20090504T172339.000000000Z___1_malformed.xml"); got != want {
		t.Errorf("capture at %s, want %s", got, want)
	}
	if b, _ := os.ReadFile(got); string(b) != "<x" {
		t.Errorf("capture holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in %s, want only the capture (no temp files)", len(entries), dir)
	}
}

func TestSanitizeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"CELog.txt":                 "CELog.txt",
		"192.168.1.2":               "192.168.1.2",
		"fe80::1%eth0":              "fe80__1_eth0",
		"..":                        "x",
		"../../etc/passwd":          "_.._etc_passwd",
		".hidden":                   "hidden",
		"":                          "x",
		"a b\\c/d\x00e":             "a_b_c_d_e",
		"ünïcode":                   "__n__code",
		strings.Repeat("\x00", 300): strings.Repeat("_", 100),
	} {
		if got := sanitizeFileName(in, "x"); got != want {
			t.Errorf("sanitizeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}
