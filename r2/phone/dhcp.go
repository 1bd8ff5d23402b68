package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// Lease is what a phone learned from DHCP, as a phone uses it: its
// address, the DNS server it asks for ucupdates-r2.<Domain>, the domain
// (option 15), the time server.
type Lease struct {
	Addr        netip.Prefix // the address and the subnet mask (option 1)
	Server      netip.Addr   // the DHCP server (option 54)
	DNS         netip.Addr   // option 6, first server; zero when absent
	Domain      string       // option 15
	Router      netip.Addr   // option 3; zero when absent
	NTP         netip.Addr   // option 42, first server; zero when absent
	Hostname    string       // option 12
	LeaseTime   time.Duration
	VendorInfo  []byte // option 43, raw
	SIPServers  []byte // option 120, raw
	VendorClass string // what the phone sent as option 60
}

// DNSAddr is the lease's DNS server as host:port, for Config.DNS.
func (l Lease) DNSAddr() string {
	return netip.AddrPortFrom(l.DNS, 53).String()
}

// AcquireLease runs DISCOVER-OFFER-REQUEST-ACK on iface, sending
// vendorClass as option 60 (CPE-OCPHONE for a Tanjay, MS-UC-Client for
// Lync Phone Edition; empty: none), and then configures the address on
// iface with `ip addr replace` as the phone's own network stack would.
// The calling process must be allowed to (root, or CAP_NET_RAW and
// CAP_NET_ADMIN); run it inside the phone's network namespace.
func AcquireLease(ctx context.Context, iface, vendorClass string) (Lease, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(4))
	if err != nil {
		return Lease{}, fmt.Errorf("phone: dhcp on %s: %w", iface, err)
	}
	defer c.Close()
	var mods []dhcpv4.Modifier
	if vendorClass != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendorClass)))
	}
	mods = append(mods, dhcpv4.WithRequestedOptions(dhcpv4.OptionNTPServers, dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionSIPServers))
	got, err := c.Request(ctx, mods...)
	if err != nil {
		return Lease{}, fmt.Errorf("phone: dhcp on %s: %w", iface, err)
	}
	l, err := leaseFromACK(got.ACK)
	if err != nil {
		return Lease{}, fmt.Errorf("phone: dhcp on %s: %w", iface, err)
	}
	l.VendorClass = vendorClass
	if out, err := exec.CommandContext(ctx, "ip", "addr", "replace", l.Addr.String(), "dev", iface).CombinedOutput(); err != nil {
		return l, fmt.Errorf("phone: configure %s on %s: %w: %s", l.Addr, iface, err, out)
	}
	return l, nil
}

// leaseFromACK reads the lease an ACK gives.
func leaseFromACK(ack *dhcpv4.DHCPv4) (Lease, error) {
	if ack.MessageType() != dhcpv4.MessageTypeAck {
		return Lease{}, fmt.Errorf("got a %s, not an ACK", ack.MessageType())
	}
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return Lease{}, errors.New("the ACK gives no address")
	}
	mask := ack.SubnetMask()
	if mask == nil {
		return Lease{}, errors.New("the ACK has no subnet mask (option 1)")
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return Lease{}, fmt.Errorf("the ACK's subnet mask %s is not one", net.IP(mask))
	}
	return Lease{
		Addr:       netip.PrefixFrom(ip, ones),
		Server:     first4(ack.ServerIdentifier()),
		DNS:        first4(ack.DNS()...),
		Domain:     ack.DomainName(),
		Router:     first4(ack.Router()...),
		NTP:        first4(ack.NTPServers()...),
		Hostname:   ack.HostName(),
		LeaseTime:  ack.IPAddressLeaseTime(0),
		VendorInfo: ack.GetOneOption(dhcpv4.OptionVendorSpecificInformation),
		SIPServers: ack.GetOneOption(dhcpv4.OptionSIPServers),
	}, nil
}

// first4 is the first of ips as an IPv4 netip.Addr, zero when there is none.
func first4(ips ...net.IP) netip.Addr {
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip.To4()); ok {
			return a
		}
	}
	return netip.Addr{}
}
