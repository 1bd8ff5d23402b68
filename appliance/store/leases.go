package store

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"
)

// Lease is one DHCP lease the appliance's DHCP server gave: the address a
// phone's MAC holds until Expires. A released lease is kept, expired, so
// that the phone gets the same address when it comes back.
type Lease struct {
	// MAC is the phone's hardware address, 12 upper-case hex digits: the
	// same form as Device.ID, so a lease is found from a phone's row.
	MAC         string    `json:"mac"`
	IP          string    `json:"ip"`
	Hostname    string    `json:"hostname,omitempty"`     // from a reservation, else what the phone sent (option 12)
	VendorClass string    `json:"vendor_class,omitempty"` // option 60: CPE-OCPHONE, MS-UC-Client, ...
	Expires     time.Time `json:"expires"`
	Updated     time.Time `json:"updated"`
}

// PutLease stores l, replacing the lease of the same MAC, and is on disk
// before it returns: a DHCP server ACKs only what a restart keeps, or it
// could give one address to two phones. The MAC must be 12 hex digits
// (any case, any separators) and the IP an IPv4 address; Updated defaults
// to now.
func (s *Store) PutLease(l Lease) error {
	mac := normaliseLeaseMAC(l.MAC)
	if mac == "" {
		return fmt.Errorf("lease: MAC %q: want 12 hex digits", l.MAC)
	}
	ip, err := netip.ParseAddr(l.IP)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("lease %s: IP %q: want an IPv4 address", mac, l.IP)
	}
	l.MAC, l.IP = mac, ip.String()
	if l.Updated.IsZero() {
		l.Updated = s.opt.Now().UTC()
	}
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	return s.commit(record{Op: opLease, Lease: &l})
}

// LeaseOf returns the lease of a MAC (any separators, any case).
func (s *Store) LeaseOf(mac string) (Lease, bool) {
	obj, _ := s.db.Txn(false).First(tableLeases, indexID, normaliseLeaseMAC(mac))
	if obj == nil {
		return Lease{}, false
	}
	return *obj.(*Lease), true
}

// Leases returns every lease, expired ones included, sorted by MAC.
func (s *Store) Leases(ws memdb.WatchSet) []Lease {
	it, err := s.db.Txn(false).Get(tableLeases, indexID)
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	var out []Lease
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*Lease))
	}
	slices.SortFunc(out, func(a, b Lease) int { return strings.Compare(a.MAC, b.MAC) })
	return out
}

// leasesTableSchema holds *Lease keyed by MAC.
func leasesTableSchema() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tableLeases,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {
				Name:    indexID,
				Unique:  true,
				Indexer: stringIndexer[Lease]{Of: "MAC", of: func(l *Lease) string { return l.MAC }},
			},
		},
	}
}

// normaliseLeaseMAC is mac as 12 upper-case hex digits, or "".
func normaliseLeaseMAC(mac string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(mac) {
		switch {
		case c == ':' || c == '-' || c == '.' || c == ' ':
		case c >= '0' && c <= '9' || c >= 'A' && c <= 'F':
			b.WriteRune(c)
		default:
			return ""
		}
	}
	if b.Len() != 12 {
		return ""
	}
	return b.String()
}
