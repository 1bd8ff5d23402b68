package netaddr

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"IPv4", "10.0.0.5", "10.0.0.5"},
		{"IPv4 with port", "10.0.0.5:8080", "10.0.0.5"},
		{"name", "tanjay.lab.local", "tanjay.lab.local"},
		{"name with port", "tanjay.lab.local:80", "tanjay.lab.local"},
		{"bracketed IPv6 with port", "[fd00::1]:8080", "fd00::1"},
		{"bracketed IPv6", "[fd00::1]", "fd00::1"},
		{"bare IPv6", "fd00::1", "fd00::1"},
		{"link-local IPv6 with zone and port", "[fe80::1%eth0]:80", "fe80::1%eth0"},
		{"port only", ":8080", ""},
		{"lone bracket", "[", "["},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Host(tt.in); got != tt.want {
				t.Errorf("Host(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func ipnet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestFirstLAN(t *testing.T) {
	for _, tt := range []struct {
		name  string
		addrs []net.Addr
		want  string
	}{
		{"none", nil, "127.0.0.1"},
		{"loopback only", []net.Addr{ipnet("127.0.0.1/8"), ipnet("::1/128")}, "127.0.0.1"},
		{"LAN after loopback", []net.Addr{ipnet("127.0.0.1/8"), ipnet("10.77.0.1/24")}, "10.77.0.1"},
		{"link-local skipped", []net.Addr{ipnet("169.254.10.20/16"), ipnet("192.168.1.5/24")}, "192.168.1.5"},
		{"link-local only", []net.Addr{ipnet("169.254.10.20/16")}, "127.0.0.1"},
		{"IPv6 skipped", []net.Addr{ipnet("fd00::5/64"), ipnet("fe80::1/64"), ipnet("10.1.2.3/8")}, "10.1.2.3"},
		{"IPv6 only", []net.Addr{ipnet("fd00::5/64")}, "127.0.0.1"},
		{"IPv4-mapped", []net.Addr{&net.IPNet{IP: net.ParseIP("::ffff:10.9.8.7"), Mask: net.CIDRMask(24, 32)}}, "10.9.8.7"},
		{"IPAddr", []net.Addr{&net.IPAddr{IP: net.ParseIP("172.16.0.9")}}, "172.16.0.9"},
		{"unspecified skipped", []net.Addr{&net.IPAddr{IP: net.IPv4zero}, ipnet("10.0.0.2/8")}, "10.0.0.2"},
		{"other address kinds skipped", []net.Addr{&net.UnixAddr{Name: "/x"}, ipnet("10.0.0.3/8")}, "10.0.0.3"},
		{"first wins", []net.Addr{ipnet("10.0.0.1/8"), ipnet("10.0.0.2/8")}, "10.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := FirstLAN(tt.addrs); got != netip.MustParseAddr(tt.want) {
				t.Errorf("FirstLAN = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFirstLANAddressIsLANOrLoopback(t *testing.T) {
	got := FirstLANAddress()
	if !IsLAN(got) && got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("FirstLANAddress = %s: neither a LAN address nor 127.0.0.1", got)
	}
}

func TestIsHostLabel(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"tanjay", true},
		{"Tanjay-01", true},
		{"a", true},
		{"0", true},
		{"-x", false},
		{"x-", false},
		{"a-b", true},
		{"bad_name", false},
		{"lab.local", false},
		{"has space", false},
		{"ünicode", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	} {
		if got := IsHostLabel(tt.in); got != tt.want {
			t.Errorf("IsHostLabel(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestHostLabel(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"tanjay", "tanjay"},
		{"Lab1.corp.example", "lab1"},
		{"bad_name.lab", ""},
		{"-x", ""},
		{".lab", ""},
		{"10.0.0.5", "10"},
		{strings.Repeat("b", 64) + ".lab", ""},
	} {
		if got := HostLabel(tt.in); got != tt.want {
			t.Errorf("HostLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
