package dhcp

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"minimal", Config{Interface: "eth1"}, ""},
		{"no interface", Config{}, "--dhcp-interface"},
		{"half a range", Config{Interface: "eth1", Range: [2]netip.Addr{mustAddr("10.0.0.5")}}, "--dhcp-range"},
		{"range backwards", Config{Interface: "eth1", Range: [2]netip.Addr{mustAddr("10.0.0.9"), mustAddr("10.0.0.5")}}, "--dhcp-range"},
		{"short lease", Config{Interface: "eth1", Lease: time.Second}, "--dhcp-lease"},
		{"IPv6 router", Config{Interface: "eth1", Router: mustAddr("fe80::1")}, "--dhcp-router"},
		{"bad domain", Config{Interface: "eth1", Domain: "lab..test"}, "--domain"},
		{"VLAN too big", Config{Interface: "eth1", VoiceVLAN: 4095}, "--voice-vlan"},
		{"reservation twice", Config{Interface: "eth1", Reservations: []Reservation{
			{MAC: net.HardwareAddr{0, 4, 0xf2, 0, 0, 1}, IP: mustAddr("10.0.0.5")},
			{MAC: net.HardwareAddr{0, 4, 0xf2, 0, 0, 2}, IP: mustAddr("10.0.0.5")}}}, "--dhcp-reserve"},
		{"negative guard", Config{Interface: "eth1", GuardWait: -time.Second}, "--dhcp-guard-wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	r, err := ParseRange("192.168.50.100-192.168.50.199")
	if err != nil || r != [2]netip.Addr{mustAddr("192.168.50.100"), mustAddr("192.168.50.199")} {
		t.Errorf("ParseRange = %v, %v", r, err)
	}
	for _, bad := range []string{"192.168.50.100", "a-b", "10.0.0.9-10.0.0.1"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) = nil error", bad)
		}
	}
	res, err := ParseReservation("00-04-F2-AA-BB-CC=192.168.50.20,cx700-lobby")
	want := Reservation{MAC: net.HardwareAddr{0, 4, 0xf2, 0xaa, 0xbb, 0xcc}, IP: mustAddr("192.168.50.20"), Hostname: "cx700-lobby"}
	if err != nil || !cmp.Equal(want, res, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
		t.Errorf("ParseReservation = %+v, %v", res, err)
	}
	for _, bad := range []string{"0004F2AABBCC", "0004F2AABB=10.0.0.1", "0004F2AABBCC=10.0.0.1,bad name"} {
		if _, err := ParseReservation(bad); err == nil {
			t.Errorf("ParseReservation(%q) = nil error", bad)
		}
	}
}

// TestAllocation covers the address choices without a link.
func TestAllocation(t *testing.T) {
	leases := &memLeases{}
	cfg := Config{Range: [2]netip.Addr{mustAddr("10.0.0.1"), mustAddr("10.0.0.4")},
		Reservations: []Reservation{{MAC: net.HardwareAddr{0, 0, 0, 0, 0, 9}, IP: mustAddr("10.0.0.3")}}}
	s := offlineServer(t, cfg, "10.0.0.1/24", leases, nil)
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	ack := func(mac string) string {
		ip, ok := s.pool.offer(mac, netip.Addr{}, now)
		if !ok {
			return "none"
		}
		if _, ok, err := s.pool.ack(mac, ip, "", "", time.Hour, now); !ok || err != nil {
			t.Fatalf("ack %s %s: %v %v", mac, ip, ok, err)
		}
		return ip.String()
	}
	// .1 is the server, .3 reserved: A gets .2, B .4, C nothing.
	if got := []string{ack("00000000000A"), ack("00000000000B"), ack("00000000000C"), ack("000000000009")}; !cmp.Equal(got,
		[]string{"10.0.0.2", "10.0.0.4", "none", "10.0.0.3"}) {
		t.Errorf("allocation %v", got)
	}
	if err := s.pool.release("00000000000A", mustAddr("10.0.0.2"), now); err != nil {
		t.Fatal(err)
	}
	if got := ack("00000000000C"); got != "10.0.0.2" {
		t.Errorf("after A released, C got %s, want 10.0.0.2", got)
	}
	if got := ack("00000000000A"); got != "none" {
		t.Errorf("A came back to a full range and got %s", got)
	}
}
