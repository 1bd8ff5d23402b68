package dhcp

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// BenchmarkExchange measures complete DISCOVER-OFFER-REQUEST-ACK exchanges
// over a veth pair, one at a time, with leases in a real store:
//   - renew: 200 phones over and over; after the first round a lease is
//     extended without a write (it is well inside its stored time);
//   - new-phone: a new MAC every exchange, so every ACK waits for the
//     store's fsync.
//
// The client is a UDP socket on port 68 bound to the client's veth end
// (nclient4 takes only replies for its interface's own MAC), sending as
// many MACs as it likes.
func BenchmarkExchange(b *testing.B) {
	for _, bc := range []struct {
		name   string
		phones int
	}{{"renew", 200}, {"new-phone", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			l := newLink(b, "10.78.0.1/16")
			run(b, "ip", "-n", l.cli, "addr", "add", "10.78.255.254/16", "dev", l.cliIf)
			st, err := store.Open(b.TempDir(), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			s, err := New(Config{Interface: l.srvIf, GuardWait: time.Millisecond}, st, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			startServer(b, l.srv, s)
			var conn *net.UDPConn
			if err := inNS(b, l.cli, func() (err error) {
				conn, err = server4.NewIPv4UDPConn(l.cliIf, &net.UDPAddr{Port: dhcpv4.ClientPort})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			for i := 0; b.Loop(); i++ {
				n := i
				if bc.phones > 0 {
					n = i % bc.phones
				}
				exchange(b, conn, net.HardwareAddr{2, 0xbe, 0, byte(n >> 16), byte(n >> 8), byte(n)})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
		})
	}
}

// exchange runs one DISCOVER-OFFER-REQUEST-ACK for mac.
func exchange(b *testing.B, conn *net.UDPConn, mac net.HardwareAddr) {
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}
	d, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		b.Fatal(err)
	}
	offer := roundTrip(b, conn, bcast, d, dhcpv4.MessageTypeOffer)
	r, err := dhcpv4.NewRequestFromOffer(offer)
	if err != nil {
		b.Fatal(err)
	}
	roundTrip(b, conn, bcast, r, dhcpv4.MessageTypeAck)
}

// roundTrip sends m until the reply comes (a fresh veth pair may drop the
// first frames) and returns it.
func roundTrip(b *testing.B, conn *net.UDPConn, to *net.UDPAddr, m *dhcpv4.DHCPv4, want dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	buf := make([]byte, 1500)
	for try := 0; ; try++ {
		if _, err := conn.WriteTo(m.ToBytes(), to); err != nil {
			b.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil && try < 4 {
				break
			} else if err != nil {
				b.Fatalf("waiting for %s to %s: %v", want, m.ClientHWAddr, err)
			}
			resp, err := dhcpv4.FromBytes(buf[:n])
			if err == nil && resp.TransactionID == m.TransactionID && resp.OpCode == dhcpv4.OpcodeBootReply {
				if resp.MessageType() != want {
					b.Fatalf("got %s, want %s", resp.MessageType(), want)
				}
				return resp
			}
		}
	}
}
