package sip

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"
)

// BenchmarkSignIn is one full sign-in over loopback TCP: connect, the
// three REGISTERs of the NTLM handshake (NTLMv2), the signed 200 OK
// verified, close.
func BenchmarkSignIn(b *testing.B) {
	_, addr, _ := startServer(b, Config{Observer: ObserverFunc(func(Event) {})})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c := NewClient(nc, ClientConfig{SignIn: "bench@lab.test", Password: testPassword})
		if _, err := c.Register(ctx); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sign-ins/s")
}

// BenchmarkSignedRequest is one in-dialog request of a signed-in phone:
// a signed OPTIONS, its signature verified by the server, the server's
// signed 200 verified by the client.
func BenchmarkSignedRequest(b *testing.B) {
	_, addr, _ := startServer(b, Config{Observer: ObserverFunc(func(Event) {})})
	ctx := context.Background()
	c := dialClient(b, addr, ClientConfig{SignIn: "bench@lab.test", Password: testPassword})
	if _, err := c.Register(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Do(ctx, c.NewRequest("OPTIONS"))
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(resp, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// BenchmarkRegisteredMemory signs in and registers 10,000 phones, each on
// its own connection from its own loopback address, and reports the heap
// and goroutine stacks they add, per phone. The figure includes the bare
// client sockets of the phones, which live in this process too (their
// session state is dropped before measuring): it is an upper bound for
// the server. The goal is under 50 MB for 10,000 phones.
func BenchmarkRegisteredMemory(b *testing.B) {
	const phones = 10000
	n := phones
	if limit := raiseFileLimit(2*phones + 256); limit < 2*phones+256 {
		n = int(limit-256) / 2
		b.Logf("open-file limit %d: registering %d phones instead of %d", limit, n, phones)
	}
	for b.Loop() {
		s, addr, _ := startServer(b, Config{Observer: ObserverFunc(func(Event) {}), MaxConnsPerIP: 4})
		ctx := context.Background()
		before, beforeStack := heapAndStacks()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 4, byte(i/250), byte(1+i%250))}}
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("phone %d: %v", i, err)
			}
			c := NewClient(nc, ClientConfig{SignIn: fmt.Sprintf("phone%d@lab.test", i), Password: testPassword})
			if _, err := c.Register(ctx); err != nil {
				b.Fatalf("phone %d: %v", i, err)
			}
			conns = append(conns, nc) // the Client itself is dropped
		}
		if got := s.Stats().Registered; got != n {
			b.Fatalf("%d registered, want %d", got, n)
		}
		after, afterStack := heapAndStacks()
		perPhone := float64(after-before) / float64(n)
		b.ReportMetric(float64(afterStack-beforeStack)/float64(n), "stack-B/phone")
		b.ReportMetric(perPhone, "B/phone")
		b.ReportMetric(perPhone*phones/1e6, "MB/10k-phones")
		for _, nc := range conns {
			nc.Close()
		}
	}
}

// heapAndStacks is the live heap plus goroutine stack memory in the steady
// state, and the stacks alone. Each GC halves a stack that uses under a
// quarter of it, so a few GCs shrink what the sign-in grew, as a running
// appliance's GCs do over minutes.
func heapAndStacks() (total, stacks uint64) {
	for range 5 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse, m.StackInuse
}

// raiseFileLimit tries to allow want open files and returns the limit now
// in force.
func raiseFileLimit(want uint64) uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur >= want {
		return r.Cur
	}
	nr := syscall.Rlimit{Cur: want, Max: max(r.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nr); err != nil {
		nr = syscall.Rlimit{Cur: r.Max, Max: r.Max}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nr)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}
