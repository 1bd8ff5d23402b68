package dhcp

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
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
		{"guard waits too long", Config{Interface: "eth1", GuardWait: time.Hour}, "--dhcp-guard-wait"},
		{"no probes", Config{Interface: "eth1", GuardProbes: -1}, "--dhcp-guard-probes"},
		{"guard looks again too often", Config{Interface: "eth1", GuardInterval: time.Millisecond}, "--dhcp-guard-interval"},
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

// TestDecline: an address a phone declined is offered to nobody until the
// hold runs out, the phone gets another, and a DECLINE of an address the
// phone was not given changes nothing.
func TestDecline(t *testing.T) {
	leases := &memLeases{}
	cfg := Config{Range: [2]netip.Addr{mustAddr("10.0.0.2"), mustAddr("10.0.0.4")}}
	s := offlineServer(t, cfg, "10.0.0.1/24", leases, nil)
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	offer := func(mac string, at time.Time) string {
		ip, ok := s.pool.offer(mac, netip.Addr{}, at)
		if !ok {
			return "none"
		}
		return ip.String()
	}
	if got := offer("00000000000A", now); got != "10.0.0.2" {
		t.Fatalf("A offered %s, want 10.0.0.2", got)
	}
	if _, ok, err := s.pool.ack("00000000000A", mustAddr("10.0.0.2"), "", "", time.Hour, now); !ok || err != nil {
		t.Fatalf("ack: %v %v", ok, err)
	}
	if held, err := s.pool.decline("00000000000B", mustAddr("10.0.0.3"), now); held || err != nil {
		t.Errorf("B declined an address it was not given: held=%v err=%v", held, err)
	}
	if held, err := s.pool.decline("00000000000A", mustAddr("10.0.0.2"), now); !held || err != nil {
		t.Fatalf("A's decline: held=%v err=%v", held, err)
	}
	if got := leases.Leases(nil)[0].Expires; !got.Equal(now) {
		t.Errorf("A's stored lease expires %s after the decline, want %s", got, now)
	}
	later := now.Add(time.Second)
	for _, c := range []struct{ mac, want string }{{"00000000000A", "10.0.0.3"}, {"00000000000C", "10.0.0.4"}} {
		mac, want := c.mac, c.want
		got := offer(mac, later)
		if got != want {
			t.Fatalf("%s was offered %s while .2 is held, want %s", mac, got, want)
		}
		if _, ok, err := s.pool.ack(mac, mustAddr(got), "", "", 48*time.Hour, later); !ok || err != nil {
			t.Fatalf("ack %s: %v %v", mac, ok, err)
		}
	}
	if got := offer("00000000000D", now.Add(time.Minute)); got != "none" {
		t.Errorf("D was offered %s, want none (.2 held, .3 and .4 leased)", got)
	}
	if got := offer("00000000000D", now.Add(declineHold+time.Minute)); got != "10.0.0.2" {
		t.Errorf("D after the hold was offered %s, want 10.0.0.2", got)
	}
}

// TestDeclinePacket: a DECLINE naming this server holds the address; one
// naming another server does not.
func TestDeclinePacket(t *testing.T) {
	cfg := Config{Range: [2]netip.Addr{mustAddr("10.0.0.2"), mustAddr("10.0.0.3")}}
	s := offlineServer(t, cfg, "10.0.0.1/24", &memLeases{}, nil)
	now := time.Now()
	mac := net.HardwareAddr{0, 4, 0xf2, 0, 0, 0x0a}
	decline := func(server net.IP) {
		t.Helper()
		m, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 2))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)))
		if err != nil {
			t.Fatal(err)
		}
		if reply, _ := s.handlePacket(m.ToBytes()); reply != nil {
			t.Errorf("DECLINE answered with %d bytes", len(reply))
		}
	}
	if ip, _ := s.pool.offer(macKey(mac), netip.Addr{}, now); ip != mustAddr("10.0.0.2") {
		t.Fatalf("offered %s, want 10.0.0.2", ip)
	}
	decline(net.IPv4(10, 0, 0, 9))
	if _, held := s.pool.declined[mustAddr("10.0.0.2")]; held {
		t.Error("a DECLINE naming another server held the address")
	}
	decline(net.IPv4(10, 0, 0, 1))
	if _, held := s.pool.declined[mustAddr("10.0.0.2")]; !held {
		t.Error("a DECLINE naming this server did not hold the address")
	}
}
