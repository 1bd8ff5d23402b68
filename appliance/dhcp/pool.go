package dhcp

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// Leases is where leases live; *store.Store implements it, durably.
type Leases interface {
	Leases(ws memdb.WatchSet) []store.Lease
	PutLease(l store.Lease) error
}

// offerHold is how long an offered address stays kept for the phone it
// was offered to, waiting for its REQUEST.
const offerHold = 30 * time.Second

// declineHold is how long an address a phone declined (RFC 2131 §4.3.3:
// its ARP probe found another host on it) is kept from every phone. A
// device with a hand-set address in the range usually stays, so the hold is
// long: a day, as Kea's decline-probation-period. It is held in memory
// only: after a restart a phone that still finds the conflict declines again.
const declineHold = 24 * time.Hour

// pool decides which address a MAC gets. It keeps the leases in memory,
// loaded from Leases at start and written through on every change.
type pool struct {
	leases   Leases
	first    netip.Addr
	last     netip.Addr
	server   netip.Addr
	network  netip.Prefix
	reserved map[string]Reservation // by MAC key
	resIPs   map[netip.Addr]string  // reserved address → MAC key

	mu     sync.Mutex
	fresh  netip.Addr // every address of the range below it was leased at some time, or is never free
	byMAC  map[string]store.Lease
	byIP   map[netip.Addr]string // who holds (or last held) an address
	offers map[string]offer      // by MAC key
	// declined holds addresses a phone declined until the time given.
	declined map[netip.Addr]time.Time
}

type offer struct {
	ip    netip.Addr
	until time.Time
}

func newPool(leases Leases, first, last, server netip.Addr, network netip.Prefix, res []Reservation) *pool {
	p := &pool{
		leases: leases, first: first, last: last, server: server, network: network,
		reserved: map[string]Reservation{}, resIPs: map[netip.Addr]string{},
		byMAC: map[string]store.Lease{}, byIP: map[netip.Addr]string{}, offers: map[string]offer{},
		declined: map[netip.Addr]time.Time{},
	}
	for _, r := range res {
		p.reserved[macKey(r.MAC)] = r
		p.resIPs[r.IP] = macKey(r.MAC)
	}
	for _, l := range leases.Leases(nil) {
		ip, err := netip.ParseAddr(l.IP)
		if err != nil || !network.Contains(ip) {
			continue // a lease of another network (the interface changed)
		}
		p.byMAC[l.MAC] = l
		if old, ok := p.byIP[ip]; !ok || p.byMAC[old].Updated.Before(l.Updated) {
			p.byIP[ip] = l.MAC
		}
	}
	p.fresh = first
	p.advanceFresh()
	return p
}

// advanceFresh moves fresh past addresses that were leased or are never
// free (the server's, reserved ones), so that finding a never-leased
// address does not walk the whole range each time.
func (p *pool) advanceFresh() {
	for p.fresh.IsValid() && p.inRange(p.fresh) {
		_, held := p.byIP[p.fresh]
		_, reserved := p.resIPs[p.fresh]
		if !held && !reserved && p.fresh != p.server {
			return
		}
		p.fresh = p.fresh.Next()
	}
}

// offer picks the address for a DISCOVER and holds it for the MAC.
func (p *pool) offer(mac string, requested netip.Addr, now time.Time) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ip, ok := p.choose(mac, requested, now)
	if ok {
		p.offers[mac] = offer{ip: ip, until: now.Add(offerHold)}
	}
	return ip, ok
}

// choose is, in order: the MAC's reservation, its lease (expired or not),
// its pending offer, the address it asked for, an address never leased,
// then one behind the never-leased mark that nobody holds any more, then
// the one whose lease expired longest ago.
func (p *pool) choose(mac string, requested netip.Addr, now time.Time) (netip.Addr, bool) {
	if r, ok := p.reserved[mac]; ok {
		return r.IP, true
	}
	if l, ok := p.byMAC[mac]; ok {
		if ip, err := netip.ParseAddr(l.IP); err == nil && p.inRange(ip) && p.free(ip, mac, now) {
			return ip, true
		}
	}
	if o, ok := p.offers[mac]; ok && p.free(o.ip, mac, now) {
		return o.ip, true
	}
	if requested.IsValid() && p.inRange(requested) && p.free(requested, mac, now) {
		return requested, true
	}
	for ip := p.fresh; ip.IsValid() && p.inRange(ip); ip = ip.Next() {
		if _, held := p.byIP[ip]; !held && p.free(ip, mac, now) {
			return ip, true
		}
	}
	var oldest netip.Addr
	var oldestAt time.Time
	for ip := p.first; ip.IsValid() && !p.last.Less(ip); ip = ip.Next() {
		if !p.free(ip, mac, now) {
			continue
		}
		var exp time.Time // an address nobody holds (its holder moved, or declined it) comes first
		if holder, held := p.byIP[ip]; held {
			exp = p.byMAC[holder].Expires
		}
		if !oldest.IsValid() || exp.Before(oldestAt) {
			oldest, oldestAt = ip, exp
		}
	}
	return oldest, oldest.IsValid()
}

func (p *pool) inRange(ip netip.Addr) bool {
	return !ip.Less(p.first) && !p.last.Less(ip)
}

// free reports whether mac may have ip now: it is a host address of the
// network, not the server's, not reserved for another MAC, not declined
// lately, not leased to another MAC unexpired, not offered to another MAC.
func (p *pool) free(ip netip.Addr, mac string, now time.Time) bool {
	if !p.network.Contains(ip) || ip == p.server || ip == p.network.Masked().Addr() || ip == broadcastOf(p.network) {
		return false
	}
	if m, ok := p.resIPs[ip]; ok && m != mac {
		return false
	}
	if until, ok := p.declined[ip]; ok && until.After(now) {
		return false
	}
	if holder, ok := p.byIP[ip]; ok && holder != mac && p.byMAC[holder].Expires.After(now) {
		return false
	}
	for m, o := range p.offersAt(ip) {
		if m != mac && o.until.After(now) {
			return false
		}
	}
	return true
}

// offersAt yields the offers of ip (there are few: one per DISCOVER in
// the last offerHold).
func (p *pool) offersAt(ip netip.Addr) func(func(string, offer) bool) {
	return func(yield func(string, offer) bool) {
		for m, o := range p.offers {
			if o.ip == ip && !yield(m, o) {
				return
			}
		}
	}
}

// ack leases the address a REQUEST asked for, when the MAC may have it,
// and returns the lease, durable. ok is false (NAK) when it may not.
func (p *pool) ack(mac string, want netip.Addr, vendor, hostname string, lease time.Duration, now time.Time) (store.Lease, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.choose(mac, want, now); !ok || ip != want {
		return store.Lease{}, false, nil
	}
	if r, ok := p.reserved[mac]; ok && r.Hostname != "" {
		hostname = r.Hostname
	}
	l := store.Lease{MAC: mac, IP: want.String(), Hostname: hostname, VendorClass: vendor, Expires: now.Add(lease).UTC(), Updated: now.UTC()}
	delete(p.offers, mac)
	if old, ok := p.byMAC[mac]; ok && old.IP == l.IP && old.Hostname == l.Hostname && old.VendorClass == l.VendorClass &&
		old.Expires.After(now.Add(lease/2)) {
		return old, true, nil // a renewal well inside the stored lease: nothing to write
	}
	if err := p.leases.PutLease(l); err != nil {
		return store.Lease{}, false, fmt.Errorf("dhcp: store lease %s → %s: %w", mac, l.IP, err)
	}
	p.put(l, want)
	return l, true, nil
}

// release ends the MAC's lease of ip now, keeping the binding so that the
// phone gets the same address when it comes back.
func (p *pool) release(mac string, ip netip.Addr, now time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.offers, mac)
	l, ok := p.byMAC[mac]
	if !ok || l.IP != ip.String() || !l.Expires.After(now) {
		return nil
	}
	l.Expires, l.Updated = now.UTC(), now.UTC()
	if err := p.leases.PutLease(l); err != nil {
		return fmt.Errorf("dhcp: store release of %s by %s: %w", ip, mac, err)
	}
	p.put(l, ip)
	return nil
}

// decline takes ip out of use for declineHold after mac declined it, and
// ends mac's lease of it so that its next DISCOVER is offered another
// address. It reports false, changing nothing, when mac was neither offered
// nor leased ip: a stray DECLINE must not take addresses away.
func (p *pool) decline(mac string, ip netip.Addr, now time.Time) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, leased := p.byMAC[mac]
	leased = leased && l.IP == ip.String()
	o, offered := p.offers[mac]
	offered = offered && o.ip == ip
	if !leased && !offered || !ip.IsValid() {
		return false, nil
	}
	delete(p.offers, mac)
	for ip, until := range p.declined { // forget holds that ran out
		if !until.After(now) {
			delete(p.declined, ip)
		}
	}
	p.declined[ip] = now.Add(declineHold)
	if leased && l.Expires.After(now) {
		l.Expires, l.Updated = now.UTC(), now.UTC()
		if err := p.leases.PutLease(l); err != nil {
			return true, fmt.Errorf("dhcp: store end of the lease %s declined by %s: %w", ip, mac, err)
		}
		p.put(l, ip)
	}
	return true, nil
}

func (p *pool) put(l store.Lease, ip netip.Addr) {
	if old, ok := p.byMAC[l.MAC]; ok && old.IP != l.IP {
		if oldIP, err := netip.ParseAddr(old.IP); err == nil && p.byIP[oldIP] == l.MAC {
			delete(p.byIP, oldIP)
		}
	}
	p.byMAC[l.MAC] = l
	p.byIP[ip] = l.MAC
	p.advanceFresh()
	for m, o := range p.offers { // forget offers that ran out
		if !o.until.After(l.Updated) {
			delete(p.offers, m)
		}
	}
}

// broadcastOf is the last address of the prefix.
func broadcastOf(n netip.Prefix) netip.Addr {
	a := n.Masked().Addr().As4()
	bits := n.Bits()
	for i := range 4 {
		for b := range 8 {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}
