package phone

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestLeaseFromACK(t *testing.T) {
	req, err := dhcpv4.NewDiscovery(net.HardwareAddr{0, 4, 0xf2, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.IPv4(10, 77, 0, 2)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 77, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptDNS(net.IPv4(10, 77, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptDomainName("lab.test")),
		dhcpv4.WithOption(dhcpv4.OptNTPServers(net.IPv4(10, 77, 0, 1))),
		dhcpv4.WithOption(dhcpv4.OptHostName("cx700")),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
		dhcpv4.WithGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{10, 2, 0, 100}),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := leaseFromACK(ack)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("10.77.0.1")
	want := Lease{Addr: netip.MustParsePrefix("10.77.0.2/24"), Server: a, DNS: a, Domain: "lab.test", NTP: a,
		Hostname: "cx700", LeaseTime: time.Hour, VendorInfo: []byte{10, 2, 0, 100}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y }), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("lease (-want +got):\n%s", diff)
	}
	if got.DNSAddr() != "10.77.0.1:53" {
		t.Errorf("DNSAddr %s", got.DNSAddr())
	}
	ack.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
	if _, err := leaseFromACK(ack); err == nil {
		t.Error("a NAK read as a lease")
	}
}
