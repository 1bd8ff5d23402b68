package dhcp

import (
	"bytes"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// badPackets are datagrams the server must drop without an answer.
func badPackets(t testing.TB) map[string][]byte {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(net.HardwareAddr{0, 4, 0xf2, 9, 9, 9}, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(VendorLync)))
	if err != nil {
		t.Fatal(err)
	}
	good := d.ToBytes()
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	const optStart = 240 // fixed header (236) and the magic cookie (4)
	return map[string][]byte{
		"empty":            {},
		"one byte":         {1},
		"truncated header": good[:100],
		"no magic cookie":  good[:236],
		"oversized":        append(bytes.Clone(good[:optStart]), bytes.Repeat([]byte{0xfe, 0xff}, 4000)...),
		"BOOTREPLY op":     mutate(func(b []byte) []byte { b[0] = 2; return b }),
		"unknown op":       mutate(func(b []byte) []byte { b[0] = 7; return b }),
		"not Ethernet":     mutate(func(b []byte) []byte { b[1] = 6; return b }),
		"hlen 16":          mutate(func(b []byte) []byte { b[2] = 16; return b }),
		"bad magic cookie": mutate(func(b []byte) []byte { b[236] = 0; return b }),
		"lying option length": append(bytes.Clone(good[:optStart]),
			53, 1, 1, // DISCOVER
			60, 200, 'M', 'S'), // vendor class claims 200 bytes, has 2
		"lying length at end": append(bytes.Clone(good[:optStart]), 53, 1, 1, 12, 255),
		"no message type":     append(bytes.Clone(good[:optStart]), 60, 2, 'M', 'S', 255),
		"message type OFFER":  append(bytes.Clone(good[:optStart]), 53, 1, 2, 255),
		"message type 200":    append(bytes.Clone(good[:optStart]), 53, 1, 200, 255),
		"empty message type":  append(bytes.Clone(good[:optStart]), 53, 0, 255),
	}
}

// TestBadInputIsDropped: the packet handler makes no answer to any bad
// datagram.
func TestBadInputIsDropped(t *testing.T) {
	s := offlineServer(t, Config{}, "10.0.0.1/24", &memLeases{}, nil)
	for name, b := range badPackets(t) {
		if reply, _ := s.handlePacket(b); reply != nil {
			r, _ := dhcpv4.FromBytes(reply)
			t.Errorf("%s: answered %v", name, r.Summary())
		}
	}
}

// TestServerKeepsServingAfterBadInput sends every bad datagram to a
// serving server and then leases an address.
func TestServerKeepsServingAfterBadInput(t *testing.T) {
	l := newLink(t, "10.77.0.1/24")
	s, err := New(labConfig(), &memLeases{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, l.srv, s)
	run(t, "ip", "-n", l.cli, "addr", "add", "10.77.0.9/24", "dev", l.cliIf)
	var conn *net.UDPConn
	if err := inNS(t, l.cli, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: dhcpv4.ServerPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 3 {
		for name, b := range badPackets(t) {
			if _, err := conn.Write(b); err != nil {
				t.Fatalf("send %s: %v", name, err)
			}
		}
	}
	acquire(t, newClient(t, l, net.HardwareAddr{0, 4, 0xf2, 0, 0, 0x42}), VendorLync)
}
