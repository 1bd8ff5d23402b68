package appliance

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/dhcp"
)

// TestDHCPGuardFlags: the guard's flags and their TANJAY_ variables land in
// Config.DHCP, and the defaults are the dhcp package's.
func TestDHCPGuardFlags(t *testing.T) {
	cfg := DefaultConfig()
	if d := cfg.DHCP; d.GuardWait != dhcp.DefaultGuardWait || d.GuardProbes != dhcp.DefaultGuardProbes || d.GuardInterval != dhcp.DefaultGuardInterval {
		t.Errorf("default guard settings %v %d %v", d.GuardWait, d.GuardProbes, d.GuardInterval)
	}
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	environ := map[string]string{"TANJAY_DHCP_GUARD_INTERVAL": "30s", "TANJAY_DHCP_FORCE": "true"}
	err := parseFlags(fs, []string{"--dhcp-interface", "eth1", "--dhcp-guard-wait", "12s", "--dhcp-guard-probes", "6"},
		func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig().DHCP
	want.Interface, want.GuardWait, want.GuardProbes, want.GuardInterval, want.Force = "eth1", 12*time.Second, 6, 30*time.Second, true
	if diff := cmp.Diff(want, cfg.DHCP, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("parsed DHCP config (-want +got):\n%s", diff)
	}
	cfg.DHCP.GuardProbes = 101
	if err := cfg.dhcpConfig().Validate(); err == nil || !strings.Contains(err.Error(), "--dhcp-guard-probes") {
		t.Errorf("Validate with 101 probes = %v, want an error naming --dhcp-guard-probes", err)
	}
}
