package dns

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
)

// fallbackRefresh is how long the machine's address is reused before the
// interfaces are read again (a lab VM may get its address after start).
const fallbackRefresh = 30 * time.Second

// fallbackAddr is the IPv4 address answered when neither Advertise nor the
// query's local address gives one (a query over IPv6, or a kernel that did
// not report the destination): the machine's first LAN address
// (netaddr.FirstLAN: IPv4, neither loopback nor link-local), else
// 127.0.0.1.
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
	addrs, _ := f.interfaceAddrs() // no interfaces: loopback is the answer
	f.last, f.at = netaddr.FirstLAN(addrs), now
	return f.last
}
