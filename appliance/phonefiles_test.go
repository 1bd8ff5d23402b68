package appliance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/r2"
)

func TestPhoneFilesFlags(t *testing.T) {
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	environ := map[string]string{"TANJAY_CAPTURE_TOTAL_FILES": "50", "TANJAY_DISK_FLOOR_MIB": "1"}
	err := parseFlags(fs, []string{"--upload-phone-files", "3", "--upload-total-mib", "10", "--capture-phone-mib", "2",
		"--disk-floor-percent", "0", "--disk-floor-mib", "512"}, func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := defaultPhoneFiles()
	want.Uploads.PhoneFiles, want.Uploads.TotalBytes = 3, 10<<20
	want.Captures.PhoneBytes, want.Captures.TotalFiles = 2<<20, 50
	want.DiskFloorPercent, want.DiskFloorMiB = 0, 512
	if diff := cmp.Diff(want, cfg.PhoneFiles); diff != "" {
		t.Errorf("PhoneFiles (-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestPhoneFilesDefaults(t *testing.T) {
	got := DefaultConfig().PhoneFiles
	want := PhoneFilesConfig{
		Uploads:          r2.Caps{PhoneFiles: 64, PhoneBytes: 64 << 20, TotalFiles: 4096, TotalBytes: 1 << 30},
		Captures:         r2.Caps{PhoneFiles: 100, PhoneBytes: 8 << 20, TotalFiles: 10000, TotalBytes: 256 << 20},
		DiskFloorPercent: 5, DiskFloorMiB: 256,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestPhoneFilesFlagsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string // from parsing or from Validate
	}{
		{[]string{"--upload-phone-mib", "0"}, "upload-phone-mib"},
		{[]string{"--capture-total-mib", "lots"}, "capture-total-mib"},
		{[]string{"--upload-total-files", "0"}, "--upload-total-files: want at least 1 file"},
		{[]string{"--disk-floor-percent", "80"}, "--disk-floor-percent: want 0 to 50"},
		{[]string{"--disk-floor-mib", "-1"}, "--disk-floor-mib: want 0 or more"},
	} {
		cfg := DefaultConfig()
		fs := newFlagSet("serve", "", "", &bytes.Buffer{})
		serveFlags(fs, &cfg)
		err := parseFlags(fs, tc.args, func(string) string { return "" })
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: error %v, want one naming %q", tc.args, err, tc.wantErr)
		}
	}
}
