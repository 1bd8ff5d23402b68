package dhcp

// Tests that need a link run on a veth pair between two network
// namespaces the test creates (ip netns add; root only). Go code reaches
// into a namespace by locking its goroutine to an OS thread and setns(2)ing
// that thread (inNS): a socket belongs to the namespace it was created in,
// so sockets opened inside inNS keep working from any goroutine after it
// returns. Whole processes (udhcpc, the phone simulator) run under
// ip netns exec.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// vethLink is a veth pair: srvIf in namespace srv (with the server's
// address), cliIf in namespace cli (no address).
type vethLink struct {
	srv, cli     string
	srvIf, cliIf string
}

var nsSeq atomic.Int32

// newLink creates the namespaces and the pair, the server end holding
// serverCIDR, and removes them when the test ends. It skips the test,
// naming the reason, when namespaces cannot be made.
func newLink(t testing.TB, serverCIDR string) *vethLink {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (Debian package iproute2)")
	}
	n := nsSeq.Add(1)
	l := &vethLink{
		srv: fmt.Sprintf("tjdhcp-%d-%d-s", os.Getpid(), n), cli: fmt.Sprintf("tjdhcp-%d-%d-c", os.Getpid(), n),
		srvIf: "tjs0", cliIf: "tjc0",
	}
	if out, err := exec.Command("ip", "netns", "add", l.srv).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.srv).Run() })
	run(t, "ip", "netns", "add", l.cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.cli).Run() })
	run(t, "ip", "-n", l.srv, "link", "add", l.srvIf, "type", "veth", "peer", "name", l.cliIf, "netns", l.cli)
	run(t, "ip", "-n", l.srv, "addr", "add", serverCIDR, "dev", l.srvIf)
	for _, c := range [][]string{{l.srv, l.srvIf}, {l.srv, "lo"}, {l.cli, l.cliIf}, {l.cli, "lo"}} {
		run(t, "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	return l
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs fn with the calling goroutine's thread in namespace ns.
func inNS(t testing.TB, ns string, fn func() error) error {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime drops it with this
		// goroutine rather than reuse a thread in the wrong namespace.
		t.Fatalf("setns back: %v", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// startServer runs Listen inside ns and serves until the test ends (or
// stop is called), and waits until the guard lets it answer; it fails the
// test when Listen fails or the guard refuses.
func startServer(t testing.TB, ns string, s *Server) (stop func()) {
	t.Helper()
	stop = serveInNS(t, ns, s)
	waitGuard(t, s, "answering", GuardStatus.Answering)
	return stop
}

// serveInNS runs Listen inside ns and serves until the test ends (or stop
// is called), without waiting for the guard.
func serveInNS(t testing.TB, ns string, s *Server) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := inNS(t, ns, s.Listen); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitGuard polls the guard until ok holds (a minute at most) and returns
// its status then.
func waitGuard(t testing.TB, s *Server, what string, ok func(GuardStatus) bool) GuardStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := s.GuardStatus()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("guard not %s after a minute: %s", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
