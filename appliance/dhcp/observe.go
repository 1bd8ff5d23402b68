package dhcp

import (
	"net/netip"
	"time"
)

// Observer is told about every DISCOVER, REQUEST, INFORM, RELEASE and
// DECLINE the server handled. DHCP is called on the serving goroutine after
// the answer went out and must not block.
type Observer interface {
	DHCP(ev Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// DHCP calls f(ev).
func (f ObserverFunc) DHCP(ev Event) { f(ev) }

// Event is one message a phone sent and what it got.
type Event struct {
	At          time.Time
	MAC         string     // 12 upper-case hex digits, as store.Device.ID
	IP          netip.Addr // offered or acked; requested on a NAK; the client's on RELEASE/DECLINE/INFORM
	Type        string     // DISCOVER, REQUEST, INFORM, RELEASE, DECLINE
	Reply       string     // OFFER, ACK, NAK, or "" for none
	VendorClass string     // option 60: CPE-OCPHONE, MS-UC-Client, ...
	Hostname    string     // the reservation's name, else the phone's option 12
}
