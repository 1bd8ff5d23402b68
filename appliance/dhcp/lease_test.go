package dhcp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

const testGuardWait = 300 * time.Millisecond

// labConfig is the configuration most link tests serve on tjs0.
func labConfig() Config {
	return Config{
		Interface: "tjs0", Domain: "lab.test", Router: mustAddr("10.77.0.254"), VoiceVLAN: 100,
		Reservations: []Reservation{{MAC: net.HardwareAddr{0, 4, 0xf2, 0, 0, 1}, IP: mustAddr("10.77.0.50"), Hostname: "cx700-lobby"}},
		GuardWait:    testGuardWait,
	}
}

func newClient(t testing.TB, l *vethLink, mac net.HardwareAddr) *nclient4.Client {
	t.Helper()
	var c *nclient4.Client
	err := inNS(t, l.cli, func() (err error) {
		c, err = nclient4.New(l.cliIf, nclient4.WithHWAddr(mac), nclient4.WithTimeout(time.Second), nclient4.WithRetry(4))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func acquire(t testing.TB, c *nclient4.Client, vendor string) *nclient4.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mods []dhcpv4.Modifier
	if vendor != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)))
	}
	lease, err := c.Request(ctx, mods...)
	if err != nil {
		t.Fatalf("lease for %s: %v", c.InterfaceAddr(), err)
	}
	return lease
}

// options is the options of m that the appliance may set, as raw bytes.
func options(m *dhcpv4.DHCPv4) map[uint8][]byte {
	out := map[uint8][]byte{}
	for _, code := range []uint8{1, 3, 6, 12, 15, 42, 43, 51, 53, 54, 58, 59, 120} {
		if v := m.Options.Get(dhcpv4.GenericOptionCode(code)); v != nil {
			out[code] = v
		}
	}
	return out
}

const (
	lyncOption43 = "\x01\x0cMS-UC-Client" + "\x02\x05https" + "\x03\x0ftanjay.lab.test" + "\x04\x03443" +
		"\x05\x25/CertProv/CertProvisioningService.svc"
	lyncOption120 = "\x00" + "\x06tanjay\x03lab\x04test\x00"
)

// TestGoClientGetsEveryOption: nclient4 clients of each vendor class get
// a lease whose OFFER and ACK carry every option, byte for byte.
func TestGoClientGetsEveryOption(t *testing.T) {
	l := newLink(t, "10.77.0.1/24")
	obs := &events{}
	s, err := New(labConfig(), &memLeases{}, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, l.srv, s)
	common := map[uint8][]byte{
		1: {255, 255, 255, 0}, 3: {10, 77, 0, 254}, 6: {10, 77, 0, 1}, 15: []byte("lab.test"), 42: {10, 77, 0, 1},
		54: {10, 77, 0, 1}, 51: {0, 0, 0x0e, 0x10}, 58: {0, 0, 0x07, 0x08}, 59: {0, 0, 0x0c, 0x4e},
	}
	with := func(extra map[uint8][]byte) map[uint8][]byte {
		m := map[uint8][]byte{}
		for k, v := range common {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		mac    net.HardwareAddr
		vendor string
		ip     string
		want   map[uint8][]byte // besides 53
	}{
		{"tanjay reserved", net.HardwareAddr{0, 4, 0xf2, 0, 0, 1}, VendorTanjay, "10.77.0.50",
			with(map[uint8][]byte{12: []byte("cx700-lobby"), 43: {10, 2, 0, 100}})},
		{"lync", net.HardwareAddr{0, 4, 0xf2, 0, 0, 2}, VendorLync, "10.77.0.2",
			with(map[uint8][]byte{43: []byte(lyncOption43), 120: []byte(lyncOption120)})},
		{"no vendor class", net.HardwareAddr{0, 4, 0xf2, 0, 0, 3}, "", "10.77.0.3", with(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lease := acquire(t, newClient(t, l, tc.mac), tc.vendor)
			for _, m := range []*dhcpv4.DHCPv4{lease.Offer, lease.ACK} {
				if got := m.YourIPAddr.String(); got != tc.ip {
					t.Errorf("%s: yiaddr %s, want %s", m.MessageType(), got, tc.ip)
				}
				got := options(m)
				delete(got, 53)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s options (-want +got):\n%s", m.MessageType(), diff)
				}
			}
		})
	}
	var got []string
	for _, ev := range obs.all() {
		got = append(got, ev.Type+" "+ev.MAC+" "+ev.IP.String()+" "+ev.Reply+" "+ev.VendorClass+" "+ev.Hostname)
	}
	want := []string{
		"DISCOVER 0004F2000001 10.77.0.50 OFFER CPE-OCPHONE cx700-lobby",
		"REQUEST 0004F2000001 10.77.0.50 ACK CPE-OCPHONE cx700-lobby",
		"DISCOVER 0004F2000002 10.77.0.2 OFFER MS-UC-Client ",
		"REQUEST 0004F2000002 10.77.0.2 ACK MS-UC-Client ",
		"DISCOVER 0004F2000003 10.77.0.3 OFFER  ",
		"REQUEST 0004F2000003 10.77.0.3 ACK  ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed events (-want +got):\n%s", diff)
	}
}

// TestLeaseSurvivesRestart: leases are in the store; after a restart a
// new phone does not get an address leased before, and the first phone
// gets its address back. Without --dhcp-router and --voice-vlan there is
// no option 3, and no option 43 for CPE-OCPHONE.
func TestLeaseSurvivesRestart(t *testing.T) {
	l := newLink(t, "10.77.0.1/24")
	dir := t.TempDir()
	cfg := Config{Interface: "tjs0", Domain: "lab.test", GuardWait: testGuardWait}
	macA, macB := net.HardwareAddr{0, 4, 0xf2, 0, 0, 0xa}, net.HardwareAddr{0, 4, 0xf2, 0, 0, 0xb}

	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := startServer(t, l.srv, s)
	first := acquire(t, newClient(t, l, macA), VendorTanjay)
	if got := first.ACK.YourIPAddr.String(); got != "10.77.0.2" {
		t.Fatalf("first lease %s, want 10.77.0.2", got)
	}
	opts := options(first.ACK)
	if _, ok := opts[3]; ok {
		t.Error("option 3 sent without --dhcp-router")
	}
	if _, ok := opts[43]; ok {
		t.Error("option 43 sent to CPE-OCPHONE without --voice-vlan")
	}
	stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ls := st.Leases(nil); len(ls) != 1 || ls[0].MAC != "0004F200000A" || ls[0].IP != "10.77.0.2" || ls[0].VendorClass != VendorTanjay {
		t.Fatalf("stored leases after restart: %+v", ls)
	}
	s, err = New(cfg, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, l.srv, s)
	if got := acquire(t, newClient(t, l, macB), "").ACK.YourIPAddr.String(); got != "10.77.0.3" {
		t.Errorf("new phone after restart got %s, want 10.77.0.3 (10.77.0.2 is leased)", got)
	}
	if got := acquire(t, newClient(t, l, macA), VendorTanjay).ACK.YourIPAddr.String(); got != "10.77.0.2" {
		t.Errorf("first phone after restart got %s, want its lease 10.77.0.2 back", got)
	}
}
