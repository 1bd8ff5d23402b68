package dhcp

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/bpf"
)

// ipUDP is an IPv4 packet (header of ihl 32-bit words) carrying a UDP
// datagram from port sport to dport, with fragment offset frag.
func ipUDP(proto byte, ihl int, frag uint16, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, ihl*4)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+8+len(payload)))
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8], h[9] = 64, proto
	copy(h[12:], []byte{10, 0, 0, 9})
	copy(h[16:], []byte{255, 255, 255, 255})
	u := make([]byte, 8)
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(append(h, u...), payload...)
}

// TestReplyFilter: the guard's socket filter keeps DHCP replies (UDP 67 to
// 68, IP options or not) and nothing else.
func TestReplyFilter(t *testing.T) {
	vm, err := bpf.NewVM(replyFilter)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 300)
	for _, tc := range []struct {
		name string
		pkt  []byte
		keep bool
	}{
		{"reply", ipUDP(17, 5, 0, 67, 68, body), true},
		{"reply with IP options", ipUDP(17, 6, 0, 67, 68, body), true},
		{"first fragment of a reply", ipUDP(17, 5, 0x2000, 67, 68, body), true},
		{"request", ipUDP(17, 5, 0, 68, 67, body), false},
		{"DNS", ipUDP(17, 5, 0, 53, 68, body), false},
		{"to another port", ipUDP(17, 5, 0, 67, 69, body), false},
		{"TCP", ipUDP(6, 5, 0, 67, 68, body), false},
		{"later fragment", ipUDP(17, 5, 0x0010, 67, 68, body), false},
	} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := n > 0; got != tc.keep {
			t.Errorf("%s: kept %d bytes, want keep=%v", tc.name, n, tc.keep)
		}
	}
}

// reply is a BOOTREPLY of type mt to mac, from server identifier sid
// (none when zero), offering yiaddr.
func reply(t testing.TB, mt dhcpv4.MessageType, mac net.HardwareAddr, sid, yiaddr string) []byte {
	t.Helper()
	mods := []dhcpv4.Modifier{dhcpv4.WithReply(&dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: 1, ClientHWAddr: mac}),
		dhcpv4.WithMessageType(mt), dhcpv4.WithYourIP(net.ParseIP(yiaddr))}
	if sid != "" {
		mods = append(mods, dhcpv4.WithServerIP(net.ParseIP(sid)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(sid))))
	}
	m, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m.ToBytes()
}

func TestOtherServerReply(t *testing.T) {
	mac := net.HardwareAddr{0, 4, 0xf2, 0, 0, 1}
	self := mustAddr("10.0.0.1")
	req, _ := dhcpv4.NewDiscovery(mac)
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		b    []byte
		src  string
		want string // Server() and Type, "" for no sighting
	}{
		{"another server's OFFER", reply(t, dhcpv4.MessageTypeOffer, mac, "10.0.0.9", "10.0.0.50"), "10.0.0.9", "10.0.0.9 (server identifier 10.0.0.9) OFFER"},
		{"another server's ACK via a relay", reply(t, dhcpv4.MessageTypeAck, mac, "10.9.9.9", "10.0.0.50"), "10.0.0.254", "10.0.0.254 (server identifier 10.9.9.9) ACK"},
		{"an OFFER without server identifier", reply(t, dhcpv4.MessageTypeOffer, mac, "", "10.0.0.50"), "10.0.0.9", "10.0.0.9 (server identifier none) OFFER"},
		{"our own OFFER", reply(t, dhcpv4.MessageTypeOffer, mac, "10.0.0.1", "10.0.0.50"), "10.0.0.1", ""},
		{"our own OFFER, no identifier", reply(t, dhcpv4.MessageTypeOffer, mac, "", "10.0.0.50"), "10.0.0.1", ""},
		{"a NAK", reply(t, dhcpv4.MessageTypeNak, mac, "10.0.0.9", ""), "10.0.0.9", ""},
		{"a request", req.ToBytes(), "10.0.0.9", ""},
		{"garbage", []byte("not dhcp"), "10.0.0.9", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := otherServerReply(tc.b, mustAddr(tc.src), self, at)
			got := ""
			if ok {
				got = s.Server() + " " + s.Type
				if s.At != at || s.Client != "0004F2000001" {
					t.Errorf("sighting %+v", s)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeConn is the guard's socket without a network: writes are recorded,
// reads return what the test sends.
type fakeConn struct {
	net.PacketConn // nil: only the methods below are called
	in             chan []byte
	closed         chan struct{}
	once           sync.Once
	mu             sync.Mutex
	sent           []*dhcpv4.DHCPv4
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan []byte), closed: make(chan struct{})}
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 67}, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *fakeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	m, err := dhcpv4.FromBytes(b)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return len(b), nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *fakeConn) discovers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// testGuard runs a guard on a fakeConn until the test ends; states hears
// every change.
func testGuard(t *testing.T, force bool) (*guard, *fakeConn, chan GuardStatus) {
	t.Helper()
	c := newFakeConn()
	states := make(chan GuardStatus, 100)
	g := &guard{
		iface: "lab0", mac: net.HardwareAddr{2, 0, 0, 0, 0, 1}, self: mustAddr("10.0.0.1"),
		wait: 400 * time.Millisecond, probes: 4, every: 300 * time.Millisecond, force: force,
		conn: c, log: slog.New(slog.DiscardHandler), now: time.Now,
		notify: func(st GuardStatus) { states <- st },
	}
	done := make(chan error, 1)
	go func() { done <- g.run(t.Context()) }()
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("run: %v", err)
		}
	})
	return g, c, states
}

func next(t *testing.T, states chan GuardStatus, want GuardState) GuardStatus {
	t.Helper()
	select {
	case st := <-states:
		if st.State != want {
			t.Fatalf("guard went %s (%s), want %s", st.State, st, want)
		}
		return st
	case <-time.After(30 * time.Second):
		t.Fatalf("guard never went %s", want)
	}
	return GuardStatus{}
}

// TestGuardStates: the guard serves after a quiet window in which it sent
// every DISCOVER, stops the moment another server answers, serves again
// once that server stays quiet, and with force serves despite it.
func TestGuardStates(t *testing.T) {
	t.Run("refuse and retry", func(t *testing.T) {
		g, c, states := testGuard(t, false)
		next(t, states, GuardProbing)
		if g.answering() {
			t.Fatal("answering while probing")
		}
		st := next(t, states, GuardServing)
		if n := c.discovers(); n < 4 {
			t.Errorf("served after %d DISCOVERs, want the window's 4", n)
		}
		c.mu.Lock()
		d := c.sent[0]
		c.mu.Unlock()
		if d.MessageType() != dhcpv4.MessageTypeDiscover || !d.IsBroadcast() || d.ClassIdentifier() != guardClass || d.ClientHWAddr.String() != "02:00:00:00:00:01" {
			t.Errorf("guard DISCOVER %s", d.Summary())
		}
		if !strings.Contains(st.String(), "serving on lab0") {
			t.Errorf("status line %q", st)
		}
		c.in <- reply(t, dhcpv4.MessageTypeOffer, net.HardwareAddr{0, 4, 0xf2, 0, 0, 2}, "10.0.0.9", "10.0.0.60")
		st = next(t, states, GuardRefused)
		if g.answering() || !st.Stopped || st.Other.ServerID != mustAddr("10.0.0.9") {
			t.Errorf("refused status %+v", st)
		}
		for _, w := range []string{"refused: another DHCP server 10.0.0.9 (server identifier 10.0.0.9) answered on lab0", "OFFER of 10.0.0.60", "DHCP stopped and stays off", "--dhcp-force"} {
			if !strings.Contains(st.String(), w) {
				t.Errorf("status line %q lacks %q", st, w)
			}
		}
		next(t, states, GuardServing) // quiet for every+wait
	})
	t.Run("force", func(t *testing.T) {
		g, c, states := testGuard(t, true)
		next(t, states, GuardProbing)
		c.in <- reply(t, dhcpv4.MessageTypeOffer, net.HardwareAddr{0, 4, 0xf2, 0, 0, 2}, "10.0.0.9", "10.0.0.60")
		st := next(t, states, GuardForced)
		if !g.answering() || !strings.Contains(st.String(), "despite another DHCP server 10.0.0.9") {
			t.Errorf("forced status %q", st)
		}
	})
	t.Run("own replies are no evidence", func(t *testing.T) {
		_, c, states := testGuard(t, false)
		next(t, states, GuardProbing)
		c.in <- reply(t, dhcpv4.MessageTypeOffer, net.HardwareAddr{0, 4, 0xf2, 0, 0, 2}, "10.0.0.1", "10.0.0.60")
		next(t, states, GuardServing)
	})
}
