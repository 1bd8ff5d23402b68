// Package dhcp is the appliance's optional DHCPv4 server for an isolated
// lab switch: a phone that boots there gets an address, the appliance as
// its DNS and time server, and the domain (option 15) it appends to
// ucupdates-r2 (PROTOCOL.md §1). It never runs unless the operator names
// an interface (--dhcp-interface); see README.md for when to turn it on.
//
// It is built on github.com/insomniacslk/dhcp: server4 reads the port-67
// socket (bound to the interface) and parses each datagram; handle turns a
// request into the reply. Every reply carries option 1 (the interface's
// mask), 3 (only with --dhcp-router), 6 and 42 (the appliance), 15 (the
// domain), 54, and on OFFER/ACK 51, 58, 59; option 12 when the MAC has a
// reservation with a name. By vendor class (option 60):
//   - CPE-OCPHONE (OCS 2007 / R2 phones): option 43 with sub-option 10,
//     the voice VLAN as two bytes big-endian, only with --voice-vlan
//     [inferred layout, see options.go];
//   - MS-UC-Client (Lync Phone Edition): option 43 sub-options 1 to 5
//     (identifier "MS-UC-Client", URL scheme, web server name, port,
//     certificate provisioning path, each an ASCII string) pointing at the
//     appliance, and option 120 (RFC 3361, encoding 0: domain names)
//     naming it.
//
// Replies go to the relay (giaddr) when there is one, to ciaddr for a
// client that has its address, else to 255.255.255.255:68.
//
// Addresses: a reservation first; else the MAC's last lease, even expired
// (a phone keeps its address across restarts of either side); else the
// address it asked for when free; else the lowest never-leased address of
// the range; else the one whose lease expired longest ago. Leases live in
// the store (Leases; *store.Store) and an ACK goes out only once its lease
// is on disk, so a restart never hands one address to two phones. A
// renewal well inside the stored lease writes nothing.
//
// Rogue-server guard (guard.go): Serve answers only while the guard
// allows. It listens on a raw socket for every OFFER and ACK reaching the
// interface and sends DISCOVERs of its own from the interface's MAC:
// Config.GuardProbes of them over Config.GuardWait before DHCP serves (a
// window with no other server's answer), then one every
// Config.GuardInterval. The moment another server answers, to the guard or
// to anyone, DHCP stops answering (GuardRefused) — DHCP only: the caller's
// other services run on. It serves again after a whole quiet window, which
// starts once nothing was heard for GuardInterval. With Config.Force it
// serves anyway and says so (GuardForced). OnGuard hears every change;
// GuardStatus says where it stands, naming the other server's address and
// server identifier.
//
// Malformed input never stops the server: a datagram that does not parse
// (truncated, lying option lengths, no magic cookie), is not a BOOTREQUEST
// from an Ethernet client, or has no or an unknown message type is
// dropped without an answer. An address a phone DECLINEs is held back from
// every phone for a day (declineHold). The Observer hears of every DISCOVER,
// REQUEST, INFORM, RELEASE and DECLINE handled.
package dhcp
