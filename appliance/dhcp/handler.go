package dhcp

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// handlePacket turns one datagram received on port 67 into the reply to
// send and where to send it; reply is nil when the datagram is dropped
// (it does not parse, is not a request from an Ethernet client, or needs
// no answer). It is the whole path of a packet through the server but for
// the socket, and the fuzz target.
func (s *Server) handlePacket(b []byte) (reply []byte, to *net.UDPAddr) {
	req, err := dhcpv4.FromBytes(b)
	if err != nil {
		return nil, nil
	}
	resp := s.handle(req)
	if resp == nil {
		return nil, nil
	}
	return resp.ToBytes(), replyAddr(req, resp)
}

// handle answers one parsed request: nil for no answer.
func (s *Server) handle(req *dhcpv4.DHCPv4) *dhcpv4.DHCPv4 {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil
	}
	if s.guard != nil && !s.guard.answering() || req.ClassIdentifier() == guardClass {
		// Off while the guard refuses (nor are phones recorded: this may
		// be somebody else's network); and never an answer to a guard.
		return nil
	}
	mac := macKey(req.ClientHWAddr)
	now := s.now()
	ev := Event{At: now, MAC: mac, Type: req.MessageType().String(), VendorClass: req.ClassIdentifier(), Hostname: req.HostName()}
	var resp *dhcpv4.DHCPv4
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		resp = s.discover(req, mac, now, &ev)
	case dhcpv4.MessageTypeRequest:
		resp = s.request(req, mac, now, &ev)
	case dhcpv4.MessageTypeInform:
		ev.IP = addr4(req.ClientIPAddr)
		resp = s.build(req, dhcpv4.MessageTypeAck, netip.Addr{}, 0)
	case dhcpv4.MessageTypeRelease:
		ev.IP = addr4(req.ClientIPAddr)
		if err := s.pool.release(mac, ev.IP, now); err != nil {
			s.log.Error("dhcp: release", "mac", mac, "err", err)
		}
	case dhcpv4.MessageTypeDecline:
		ev.IP = addr4(req.RequestedIPAddress())
		if s.forOtherServer(req) {
			break // declines another server's offer
		}
		held, err := s.pool.decline(mac, ev.IP, now)
		switch {
		case err != nil:
			s.log.Error("dhcp: decline", "mac", mac, "err", err)
		case held:
			s.log.Warn("dhcp: a phone declined its address: another host answers ARP for it; not offering it for a day",
				"mac", mac, "ip", ev.IP)
		default:
			s.log.Warn("dhcp: ignored a DECLINE of an address the phone was not given", "mac", mac, "ip", ev.IP)
		}
	default:
		return nil
	}
	if resp != nil {
		ev.Reply = resp.MessageType().String()
	}
	if r, ok := s.pool.reserved[mac]; ok && r.Hostname != "" {
		ev.Hostname = r.Hostname
	}
	if s.obs != nil {
		s.obs.DHCP(ev)
	}
	return resp
}

func (s *Server) discover(req *dhcpv4.DHCPv4, mac string, now time.Time, ev *Event) *dhcpv4.DHCPv4 {
	ip, ok := s.pool.offer(mac, addr4(req.RequestedIPAddress()), now)
	if !ok {
		s.log.Warn("dhcp: no free address to offer", "mac", mac, "range", s.rangeString())
		return nil
	}
	ev.IP = ip
	return s.build(req, dhcpv4.MessageTypeOffer, ip, s.cfg.Lease)
}

// request ACKs or NAKs a REQUEST (selecting, renewing, rebinding or
// init-reboot). A REQUEST naming another server is that server's business.
func (s *Server) request(req *dhcpv4.DHCPv4, mac string, now time.Time, ev *Event) *dhcpv4.DHCPv4 {
	if s.forOtherServer(req) {
		s.pool.mu.Lock()
		delete(s.pool.offers, mac)
		s.pool.mu.Unlock()
		return nil
	}
	want := addr4(req.RequestedIPAddress())
	if !want.IsValid() {
		want = addr4(req.ClientIPAddr)
	}
	ev.IP = want
	if !want.IsValid() {
		return s.build(req, dhcpv4.MessageTypeNak, netip.Addr{}, 0)
	}
	l, ok, err := s.pool.ack(mac, want, req.ClassIdentifier(), req.HostName(), s.cfg.Lease, now)
	if err != nil {
		s.log.Error("dhcp: lease not stored, not acknowledged", "mac", mac, "ip", want, "err", err)
		return nil // the phone retries; an ACK the store lost could give the address twice
	}
	if !ok {
		return s.build(req, dhcpv4.MessageTypeNak, netip.Addr{}, 0)
	}
	return s.build(req, dhcpv4.MessageTypeAck, want, l.Expires.Sub(now).Round(time.Second))
}

// forOtherServer reports whether req names another server in its server
// identifier (option 54): a REQUEST or DECLINE that is that server's business.
func (s *Server) forOtherServer(req *dhcpv4.DHCPv4) bool {
	sid := addr4(req.ServerIdentifier())
	return sid.IsValid() && sid != s.serverIP
}

// build is the reply of type mt giving ip (zero: none, as for INFORM and
// NAK) for lease (zero: no lease options).
func (s *Server) build(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, ip netip.Addr, lease time.Duration) *dhcpv4.DHCPv4 {
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.serverIP.AsSlice())),
	)
	if err != nil {
		return nil
	}
	if mt == dhcpv4.MessageTypeNak {
		return resp
	}
	if ip.IsValid() {
		resp.YourIPAddr = ip.AsSlice()
	}
	if lease > 0 {
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lease))
		resp.UpdateOption(dhcpv4.OptRenewTimeValue(lease / 2))
		resp.UpdateOption(dhcpv4.OptRebindingTimeValue(lease * 7 / 8))
	}
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(s.network.Bits(), 32)))
	if s.cfg.Router.IsValid() {
		resp.UpdateOption(dhcpv4.OptRouter(s.cfg.Router.AsSlice()))
	}
	resp.UpdateOption(dhcpv4.OptDNS(s.serverIP.AsSlice()))
	resp.UpdateOption(dhcpv4.OptDomainName(s.cfg.Domain))
	resp.UpdateOption(dhcpv4.OptNTPServers(s.serverIP.AsSlice()))
	if r, ok := s.pool.reserved[macKey(req.ClientHWAddr)]; ok && r.Hostname != "" {
		resp.UpdateOption(dhcpv4.OptHostName(r.Hostname))
	}
	for _, o := range s.cfg.vendorOptions(req.ClassIdentifier()) {
		resp.UpdateOption(o)
	}
	return resp
}

// replyAddr is where a reply goes (RFC 2131 §4.1): to the relay, to a
// client that has its address, else broadcast (the client cannot answer
// ARP for an address it does not have yet, and the server sends no raw
// frames).
func replyAddr(req, resp *dhcpv4.DHCPv4) *net.UDPAddr {
	if giaddr := addr4(req.GatewayIPAddr); giaddr.IsValid() {
		return &net.UDPAddr{IP: giaddr.AsSlice(), Port: dhcpv4.ServerPort}
	}
	if ciaddr := addr4(req.ClientIPAddr); ciaddr.IsValid() && resp.MessageType() != dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: ciaddr.AsSlice(), Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}

// addr4 is ip as an IPv4 netip.Addr, zero when it is not one or is 0.0.0.0.
func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
