// Package netaddr holds the address helpers the appliance and its
// responders share, so that each question has one answer: the host of the
// advertised address, this machine's first LAN address, and whether a
// name is a DNS host label.
package netaddr

import (
	"net"
	"net/netip"
	"strings"
)

// Host is the host of an advertised address, whatever form the operator
// gave it in: "10.0.0.5", "10.0.0.5:8080", "tanjay.lab", "[fd00::1]:80",
// "[fd00::1]" or a bare "fd00::1". Brackets and the port are dropped; ""
// stays "" (":8080" gives "" too: no host named).
func Host(advertise string) string {
	if h, _, err := net.SplitHostPort(advertise); err == nil {
		return h
	}
	if len(advertise) > 1 && advertise[0] == '[' && advertise[len(advertise)-1] == ']' {
		return advertise[1 : len(advertise)-1]
	}
	return advertise
}

// loopback is the answer when a machine has no LAN address at all.
var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// FirstLAN is the first IPv4 address among addrs that a phone on the lab
// can be pointed at, else 127.0.0.1. Loopback, unspecified and link-local
// (169.254.0.0/16) addresses are skipped: a link-local address is what an
// interface holds when DHCP failed, and the phones, which get their
// address from the lab's DHCP server, cannot reach it. IPv6 addresses are
// skipped: the DNS answer and the URLs phones are handed need IPv4.
func FirstLAN(addrs []net.Addr) netip.Addr {
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		default:
			continue
		}
		addr, ok := netip.AddrFromSlice(ip)
		if addr = addr.Unmap(); ok && IsLAN(addr) {
			return addr
		}
	}
	return loopback
}

// IsLAN reports whether ip is an IPv4 address a phone on the lab can be
// pointed at: not loopback, unspecified, link-local or multicast.
func IsLAN(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.Is4() && !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// FirstLANAddress is FirstLAN of this machine's interfaces, read now. A
// machine whose interfaces cannot be read has no LAN address: 127.0.0.1.
func FirstLANAddress() netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	return FirstLAN(addrs)
}

// IsHostLabel reports whether s is one DNS host label (RFC 1123): 1 to 63
// letters, digits and hyphens, neither first nor last a hyphen. Letters of
// either case are accepted (DNS compares names without case).
func IsHostLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// HostLabel is the first label of a host name, lower-cased, when it is a
// host label ("Lab1.corp.example" gives "lab1"), else "".
func HostLabel(host string) string {
	label, _, _ := strings.Cut(strings.ToLower(host), ".")
	if !IsHostLabel(label) {
		return ""
	}
	return label
}
