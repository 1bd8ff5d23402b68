package appliance

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
)

func TestPhoneConnFlagsAndEnvironment(t *testing.T) {
	environ := map[string]string{
		"TANJAY_PHONE_CONNS_PER_ADDRESS": "8",
		"TANJAY_PHONE_CONNS_TOTAL":       "100", // the command line below wins
		"TANJAY_PHONE_WRITE_STALL":       "2m",
	}
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	err := parseFlags(fs, []string{"--phone-conns-total", "0", "--phone-header-timeout", "5s", "--phone-body-min-rate", "512"},
		func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := connlimit.Config{PerAddress: 8, Total: 0, HeaderTimeout: 5 * time.Second, BodyMinRate: 512, WriteStall: 2 * time.Minute}
	if diff := cmp.Diff(want, cfg.PhoneConns); diff != "" {
		t.Errorf("parsed caps (-want +got):\n%s", diff)
	}
	if err := cfg.PhoneConns.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestPhoneConnDefaults(t *testing.T) {
	want := connlimit.Config{PerAddress: 64, Total: 4096, HeaderTimeout: 10 * time.Second, BodyMinRate: 4096, WriteStall: time.Minute}
	if diff := cmp.Diff(want, DefaultConfig().PhoneConns); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestNegativePhoneCapIsRefusedNamingTheFlag(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.PhoneConns.PerAddress = -1
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "--phone-conns-per-address") {
		t.Fatalf("Validate: %v, want an error naming --phone-conns-per-address", err)
	}
}
