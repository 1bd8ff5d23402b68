package dhcp

import (
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// otherServerReply reads one datagram sent to UDP port 68 from src (the
// IPv4 source address, zero when unknown) and reports whether it is an
// OFFER or ACK from a server other than self (the appliance's address on
// the interface): the guard's evidence. The appliance's own replies pass
// the same socket and are not evidence. It is the guard's parser of bytes
// from the network, and a fuzz target.
func otherServerReply(b []byte, src, self netip.Addr, at time.Time) (Sighting, bool) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
		return Sighting{}, false
	}
	mt := m.MessageType()
	if mt != dhcpv4.MessageTypeOffer && mt != dhcpv4.MessageTypeAck {
		return Sighting{}, false
	}
	s := Sighting{At: at, From: src, ServerID: addr4(m.ServerIdentifier()), Type: mt.String(), Client: macKey(m.ClientHWAddr), Offered: addr4(m.YourIPAddr)}
	if !s.From.IsValid() {
		s.From = addr4(m.ServerIPAddr)
	}
	if self.IsValid() && (s.ServerID == self || !s.ServerID.IsValid() && s.From == self) {
		return Sighting{}, false
	}
	return s, true
}
