package appliance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

func TestStoreLimitFlagsAndEnvironment(t *testing.T) {
	environ := map[string]string{
		"TANJAY_UNCONFIRMED_DEVICES": "100",
		"TANJAY_TIMELINE_KIB":        "32", // the command line below wins
	}
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	if err := parseFlags(fs, []string{"--timeline-kib", "64"}, func(k string) string { return environ[k] }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(StoreLimits{UnconfirmedDevices: 100, TimelineKiB: 64}, cfg.StoreLimits); diff != "" {
		t.Errorf("parsed limits (-want +got):\n%s", diff)
	}
	opt := cfg.StoreLimits.storeOptions(store.Options{MaxEventsPerDevice: 7})
	if opt.MaxUnconfirmedDevices != 100 || opt.MaxTimelineBytes != 64<<10 || opt.MaxEventsPerDevice != 7 {
		t.Errorf("store options = %+v", opt)
	}
}

func TestStoreLimitDefaults(t *testing.T) {
	want := StoreLimits{UnconfirmedDevices: 4096, TimelineKiB: 512}
	if diff := cmp.Diff(want, DefaultConfig().StoreLimits); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestBadStoreLimitIsRefusedNamingTheFlag(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*StoreLimits)
		flag string
	}{
		{"no unconfirmed devices", func(l *StoreLimits) { l.UnconfirmedDevices = 0 }, "--unconfirmed-devices"},
		{"negative timeline", func(l *StoreLimits) { l.TimelineKiB = -1 }, "--timeline-kib"},
		{"timeline over a GiB", func(l *StoreLimits) { l.TimelineKiB = 1<<20 + 1 }, "--timeline-kib"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Data = t.TempDir()
			tt.mut(&cfg.StoreLimits)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tt.flag)
			}
		})
	}
}
