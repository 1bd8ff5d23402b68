package dns

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// maxQuerySize is the largest UDP query served; a datagram that does not
// fit is dropped unread (no phone sends a query anywhere near this).
const maxQuerySize = 4096

// udpConn is the UDP socket the responder serves on. It learns the
// destination address of every datagram from the IP_PKTINFO/IPV6_PKTINFO
// control message, so that on a wildcard bind the handler knows which of the
// machine's addresses the phone asked (that is the address to answer with)
// and the reply leaves from that same address. miekg/dns reads the control
// message itself for a bare *net.UDPConn but does not hand the address to
// the handler: its LocalAddr is the bound (wildcard) address.
//
// ReadFrom returns a *udpSession as the peer address; the miekg/dns server
// gives it back to WriteTo and, as RemoteAddr, to the handler.
type udpConn struct {
	*net.UDPConn
	oob       []byte // read by the single serving goroutine only
	oversized func() // told of each datagram dropped for its size
}

// udpSession is the peer of one datagram and the local address it was sent
// to.
type udpSession struct {
	remote netip.AddrPort
	local  netip.Addr // invalid when the kernel did not say
}

func (a *udpSession) Network() string { return "udp" }
func (a *udpSession) String() string  { return a.remote.String() }

// newUDPConn asks the kernel for destination addresses on c. The request
// fails for one family on a single-family socket; without either, replies
// still work but the handler falls back to the machine's address.
func newUDPConn(c *net.UDPConn, oversized func()) *udpConn {
	_ = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst, true)
	_ = ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst, true)
	// Room for both: a dual-stack socket may deliver an IPv4 datagram's
	// destination in both forms.
	oob4 := ipv4.NewControlMessage(ipv4.FlagDst | ipv4.FlagInterface)
	oob6 := ipv6.NewControlMessage(ipv6.FlagDst | ipv6.FlagInterface)
	return &udpConn{UDPConn: c, oob: make([]byte, len(oob4)+len(oob6)), oversized: oversized}
}

// ReadFrom reads the next datagram that fits in b with room to spare; b is
// maxQuerySize+1 long, so a full b means the datagram was cut.
func (c *udpConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, oobn, _, remote, err := c.ReadMsgUDPAddrPort(b, c.oob)
		if err != nil {
			return n, nil, err
		}
		if n >= len(b) {
			c.oversized()
			continue
		}
		return n, &udpSession{remote: remote, local: destination(c.oob[:oobn])}, nil
	}
}

// WriteTo sends b to the peer of a session, from the address the query
// was sent to.
func (c *udpConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	s, ok := addr.(*udpSession)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	if oob := sourceControl(s.local); oob != nil {
		if n, _, err := c.WriteMsgUDPAddrPort(b, oob, s.remote); err == nil {
			return n, nil
		}
		// The kernel refused the source (e.g. a broadcast destination):
		// let it choose.
	}
	n, _, err := c.WriteMsgUDPAddrPort(b, nil, s.remote)
	return n, err
}

// destination is the datagram's destination address from its control
// messages, IPv4 ones unmapped.
func destination(oob []byte) netip.Addr {
	if len(oob) == 0 {
		return netip.Addr{}
	}
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil {
		ip, _ := netip.AddrFromSlice(cm6.Dst)
		return ip.Unmap()
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		ip, _ := netip.AddrFromSlice(cm4.Dst)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// sourceControl is the control message that sends a reply from local, or
// nil to let the kernel choose. An IPv4 source takes IP_PKTINFO, which
// Linux also honours on a dual-stack IPv6 socket.
func sourceControl(local netip.Addr) []byte {
	switch {
	case !local.IsValid() || local.IsUnspecified() || local.IsMulticast():
		return nil
	case local.Is4():
		v4 := local.As4()
		return (&ipv4.ControlMessage{Src: v4[:]}).Marshal()
	default:
		v6 := local.As16()
		return (&ipv6.ControlMessage{Src: v6[:]}).Marshal()
	}
}
