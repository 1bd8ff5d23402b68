package dns

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// fallbackRefresh is how long the machine's address is reused before the
// interfaces are read again (a lab VM may get its address after start).
const fallbackRefresh = 30 * time.Second

// fallbackAddr is the IPv4 address answered when neither Advertise nor the
// query's local address gives one (a query over IPv6, or a kernel that did
// not report the destination): the machine's first non-loopback IPv4
// address, else 127.0.0.1.
type fallbackAddr struct {
	interfaceAddrs func() ([]net.Addr, error) // net.InterfaceAddrs; tests replace it
	now            func() time.Time

	mu   sync.Mutex
	at   time.Time
	last netip.Addr
}

func (f *fallbackAddr) addr() netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.last.IsValid() && now.Sub(f.at) < fallbackRefresh {
		return f.last
	}
	f.last, f.at = firstIPv4(f.interfaceAddrs), now
	return f.last
}

// firstIPv4 is the first non-loopback, non-link-local IPv4 address the
// machine has, else 127.0.0.1.
func firstIPv4(interfaceAddrs func() ([]net.Addr, error)) netip.Addr {
	addrs, _ := interfaceAddrs() // no interfaces: loopback is the answer
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if ip = ip.Unmap(); ok && ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsUnspecified() {
			return ip
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}
