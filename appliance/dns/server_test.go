package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestServeStops: Serve returns nil once its context is done, even when
// that happens before it got going.
func TestServeStops(t *testing.T) {
	for _, listenFirst := range []bool{true, false} {
		s, err := New(Config{Addr: "127.0.0.1:0"}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if listenFirst {
			if err := s.Listen(); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("listen first %v: Serve = %v, want nil", listenFirst, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("listen first %v: Serve did not return", listenFirst)
		}
		if err := s.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("second Serve = %v, want an error", err)
		}
	}
}

// TestClose: Close releases what Listen bound, and the Server is done.
func TestClose(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	udp, tcp := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Errorf("UDP still bound after Close: %v", err)
	} else {
		pc.Close()
	}
	ln, err := net.Listen("tcp", tcp.String())
	if err != nil {
		t.Errorf("TCP still bound after Close: %v", err)
	} else {
		ln.Close()
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("Serve after Close succeeded")
	}
}

// TestListenFailsFast: a taken port is an error from Listen, naming what
// could not be bound, and nothing stays bound.
func TestListenFailsFast(t *testing.T) {
	srv := startServer(t, Config{}, nil)
	s, err := New(Config{Addr: srv.udp}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "listen tcp") {
		t.Errorf("Listen on taken %s = %v, want a listen tcp error", srv.udp, err)
	}
	// TCP free, UDP taken: a UDP port whose TCP twin no other process on
	// this (shared) machine holds.
	pc := udpWithFreeTCPTwin(t)
	defer pc.Close()
	s, err = New(Config{Addr: pc.LocalAddr().String()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "listen udp") {
		t.Errorf("Listen with UDP taken = %v, want a listen udp error", err)
	}
	// Nothing stays bound: TCP on that port is free again.
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Errorf("TCP port still held after a failed Listen: %v", err)
	} else {
		ln.Close()
	}
}

// udpWithFreeTCPTwin binds a UDP port on loopback whose TCP port of the
// same number is free at the time of asking.
func udpWithFreeTCPTwin(t *testing.T) net.PacketConn {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if ln, err := net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			ln.Close()
			return pc
		}
		pc.Close()
	}
	t.Fatal("no UDP port on 127.0.0.1 with its TCP twin free in 20 tries")
	return nil
}

// TestUDPSessionLocalAddress: the UDP socket reports each datagram's
// destination address, and answers from it.
func TestUDPSessionLocalAddress(t *testing.T) {
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	conn := newUDPConn(uc, func() { t.Error("oversized") })
	defer conn.Close()
	client, err := net.Dial("udp", conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(testTimeout))
	conn.SetDeadline(time.Now().Add(testTimeout))
	client.Write([]byte("ping"))
	buf := make([]byte, maxQuerySize+1)
	n, addr, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	sess, ok := addr.(*udpSession)
	if !ok || string(buf[:n]) != "ping" {
		t.Fatalf("ReadFrom = %q from %T", buf[:n], addr)
	}
	if want := netip.MustParseAddr("127.0.0.1"); sess.local != want {
		t.Errorf("destination %s, want %s (IP_PKTINFO)", sess.local, want)
	}
	if sess.remote.String() != client.LocalAddr().String() {
		t.Errorf("remote %s, want %s", sess.remote, client.LocalAddr())
	}
	if _, err := conn.WriteTo([]byte("pong"), addr); err != nil {
		t.Fatal(err)
	}
	n, err = client.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Errorf("reply %q, %v", buf[:n], err)
	}
}

// TestControlMessages: the source control message written for a reply
// parses back to the same address.
func TestControlMessages(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "2001:db8::7"} {
		ip := netip.MustParseAddr(s)
		if oob := sourceControl(ip); oob == nil {
			t.Errorf("%s: no control message", s)
		}
	}
	for _, s := range []string{"", "0.0.0.0", "224.0.0.251"} {
		ip, _ := netip.ParseAddr(s)
		if oob := sourceControl(ip); oob != nil {
			t.Errorf("%q: control message %x, want none", s, oob)
		}
	}
	if got := destination(nil); got.IsValid() {
		t.Errorf("destination(nil) = %s", got)
	}
}

// TestAdvertisedFallback: without Advertise and without an IPv4 local
// address, the machine's first non-loopback IPv4 address, else loopback.
func TestAdvertisedFallback(t *testing.T) {
	cidrs := func(ss ...string) func() ([]net.Addr, error) {
		return func() ([]net.Addr, error) {
			var out []net.Addr
			for _, s := range ss {
				ip, n, err := net.ParseCIDR(s)
				if err != nil {
					t.Fatal(err)
				}
				n.IP = ip
				out = append(out, n)
			}
			return out, nil
		}
	}
	tests := []struct {
		name  string
		addrs func() ([]net.Addr, error)
		local string
		want  string
	}{
		{"IPv4 local address", cidrs("192.168.7.81/24"), "10.0.0.1", "10.0.0.1"},
		{"IPv4-mapped local address", cidrs("192.168.7.81/24"), "::ffff:10.0.0.1", "10.0.0.1"},
		{"IPv6 local address", cidrs("127.0.0.1/8", "fe80::1/64", "169.254.1.1/16", "192.168.7.81/24"), "fd00::1", "192.168.7.81"},
		{"unknown local address", cidrs("192.168.7.81/24"), "", "192.168.7.81"},
		{"only loopback", cidrs("127.0.0.1/8", "::1/128"), "::1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.fallback.interfaceAddrs = tt.addrs
			local, _ := netip.ParseAddr(tt.local)
			if got := s.advertised(local); got.String() != tt.want {
				t.Errorf("advertised(%s) = %s, want %s", tt.local, got, tt.want)
			}
		})
	}
}

// TestWildcardLocalAddress: the handler answers with the address the query
// came to, as the UDP socket reports it per datagram.
func TestWildcardLocalAddress(t *testing.T) {
	s, err := New(Config{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newFakeWriter("192.168.7.50")
	w.remote = &udpSession{remote: netip.MustParseAddrPort("192.168.7.50:5060"), local: netip.MustParseAddr("192.168.7.81")}
	w.local = net.UDPAddrFromAddrPort(netip.MustParseAddrPort("0.0.0.0:53"))
	s.ServeDNS(w, query("ucupdates-r2.lab.local.", dns.TypeA))
	if len(w.written) != 1 || len(w.written[0].Answer) != 1 || w.written[0].Answer[0].(*dns.A).A.String() != "192.168.7.81" {
		t.Errorf("answer %v, want 192.168.7.81", w.written)
	}
}
