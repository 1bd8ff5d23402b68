package dhcp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzHandlePacket feeds arbitrary datagrams through the whole packet path
// but the socket: it must never panic, and any reply it makes must parse
// and be a BOOTREPLY for the same transaction.
func FuzzHandlePacket(f *testing.F) {
	for _, seed := range seedPackets(f) {
		f.Add(seed)
	}
	s := offlineServer(f, Config{VoiceVLAN: 100, Reservations: []Reservation{{MAC: net.HardwareAddr{0, 4, 0xf2, 1, 2, 3}, IP: mustAddr("10.0.0.50"), Hostname: "cx700"}}},
		"10.0.0.1/24", &memLeases{}, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		reply, to := s.handlePacket(b)
		if reply == nil {
			return
		}
		resp, err := dhcpv4.FromBytes(reply)
		if err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		req, _ := dhcpv4.FromBytes(b)
		if resp.OpCode != dhcpv4.OpcodeBootReply || resp.TransactionID != req.TransactionID || to == nil {
			t.Fatalf("reply %v to %v for request %v", resp.Summary(), to, req.Summary())
		}
	})
}

// seedPackets are a DISCOVER and REQUEST of each vendor class, an INFORM,
// a RELEASE and a DECLINE.
func seedPackets(tb testing.TB) [][]byte {
	tb.Helper()
	mac := net.HardwareAddr{0, 4, 0xf2, 1, 2, 3}
	var out [][]byte
	for _, vc := range []string{"", VendorTanjay, VendorLync} {
		d, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vc)))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, d.ToBytes())
		r, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 50))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vc)))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, r.ToBytes())
	}
	for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeInform, dhcpv4.MessageTypeRelease} {
		m, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt), dhcpv4.WithClientIP(net.IPv4(10, 0, 0, 50)))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m.ToBytes())
	}
	d, err := dhcpv4.New(dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 0, 0, 50))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1))))
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, d.ToBytes())
}

// FuzzOtherServerReply feeds arbitrary datagrams to the guard's parser: it
// must never panic, and whatever it takes for another server's reply is an
// OFFER or ACK that names a server other than the appliance.
func FuzzOtherServerReply(f *testing.F) {
	mac := net.HardwareAddr{0, 4, 0xf2, 1, 2, 3}
	for _, sid := range []string{"10.0.0.9", "10.0.0.1", ""} {
		for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak} {
			f.Add(reply(f, mt, mac, sid, "10.0.0.50"), []byte{10, 0, 0, 9})
		}
	}
	for _, seed := range seedPackets(f) {
		f.Add(seed, []byte{10, 0, 0, 1})
	}
	self := mustAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, b, src []byte) {
		from, _ := netip.AddrFromSlice(src)
		s, ok := otherServerReply(b, from, self, time.Time{})
		if !ok {
			return
		}
		if s.Type != "OFFER" && s.Type != "ACK" || s.ServerID == self || !s.ServerID.IsValid() && s.From == self {
			t.Fatalf("sighting %+v from %v", s, from)
		}
		_ = s.Server()
	})
}
