package dns

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultConfig(t *testing.T) {
	want := Config{
		Addr:           ":53",
		Domains:        []string{"lab.local."},
		Host:           "tanjay",
		Mode:           ModeLab,
		Timeout:        2 * time.Second,
		NTPPort:        123,
		TTL:            60,
		CoalesceWindow: 30 * time.Second,
	}
	if diff := cmp.Diff(want, DefaultConfig(), equateAddr); diff != "" {
		t.Errorf("DefaultConfig (-want +got):\n%s", diff)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestConfigNormalised(t *testing.T) {
	got := Config{
		Domains:   []string{"Lab.Local", "lab.local.", " corp.example "},
		Host:      "Tanjay",
		Upstream:  "192.0.2.53",
		Advertise: netip.MustParseAddr("::ffff:10.1.2.3"),
	}.withDefaults()
	if diff := cmp.Diff([]string{"lab.local.", "corp.example."}, got.Domains); diff != "" {
		t.Errorf("Domains (-want +got):\n%s", diff)
	}
	if got.Host != "tanjay" || got.Upstream != "192.0.2.53:53" || got.Advertise != netip.MustParseAddr("10.1.2.3") {
		t.Errorf("Host %q, Upstream %q, Advertise %s", got.Host, got.Upstream, got.Advertise)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid; else a substring of the error
	}{
		{"zero is lab mode on :53", Config{}, ""},
		{"forward with upstream", Config{Mode: ModeForward, Upstream: "192.0.2.53:5353"}, ""},
		{"forward with a bare IPv6 upstream", Config{Mode: ModeForward, Upstream: "2001:db8::53"}, ""},
		{"forward with a named upstream", Config{Mode: ModeForward, Upstream: "resolver.corp.example:53"}, ""},
		{"several domains", Config{Domains: []string{"lab.local", "corp.example", "x"}}, ""},
		{"advertise both families", Config{Advertise: netip.MustParseAddr("10.0.0.1"), Advertise6: netip.MustParseAddr("fd00::1")}, ""},
		{"SIP listeners", Config{SIPPort: 5060, SIPTLSPort: 5061}, ""},
		{"addr without port", Config{Addr: "0.0.0.0"}, "--dns-addr"},
		{"addr with a bad port", Config{Addr: ":99999"}, "--dns-addr"},
		{"empty domain", Config{Domains: []string{""}}, "--domain"},
		{"root domain", Config{Domains: []string{"."}}, "--domain"},
		{"domain with a space", Config{Domains: []string{"lab local"}}, "--domain"},
		{"domain with an empty label", Config{Domains: []string{"lab..local"}}, "--domain"},
		{"host with a dot", Config{Host: "tanjay.lab"}, "--host"},
		{"host with a leading hyphen", Config{Host: "-tanjay"}, "--host"},
		{"unknown mode", Config{Mode: "recursive"}, "--dns-mode"},
		{"forward without upstream", Config{Mode: ModeForward}, "--dns-upstream"},
		{"upstream without port", Config{Mode: ModeForward, Upstream: "resolver.corp.example"}, "--dns-upstream"},
		{"upstream with a bad port", Config{Mode: ModeForward, Upstream: "192.0.2.1:dns-ish"}, "--dns-upstream"},
		{"IPv6 advertise for A", Config{Advertise: netip.MustParseAddr("fd00::1")}, "--advertise"},
		{"unspecified advertise", Config{Advertise: netip.MustParseAddr("0.0.0.0")}, "--advertise"},
		{"IPv4 advertise6", Config{Advertise6: netip.MustParseAddr("10.0.0.1")}, "--advertise6"},
		{"negative timeout", Config{Timeout: -time.Second}, "--dns-timeout"},
		{"negative coalesce window", Config{CoalesceWindow: -time.Second}, "coalesce window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error naming %s", err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg, nil, nil); (nerr == nil) != (err == nil) {
				t.Errorf("New disagrees with Validate: %v", nerr)
			}
		})
	}
}
