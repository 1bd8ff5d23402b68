package dashboard

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestLimiter() (*loginLimiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	return newLoginLimiter(c.now), c
}

// attempts counts how many of n attempts from addr are allowed.
func attempts(l *loginLimiter, addr string, n int) int {
	ok := 0
	for range n {
		if l.allow(addr) {
			ok++
		}
	}
	return ok
}

func TestLoginLimiterPerClient(t *testing.T) {
	l, c := newTestLimiter()
	if got := attempts(l, "10.0.0.1", 10); got != loginBurst {
		t.Errorf("allowed %d of 10 at once, want %d", got, loginBurst)
	}
	if got := attempts(l, "10.0.0.2", 1); got != 1 {
		t.Error("another client is limited by the first one's failures")
	}
	c.t = c.t.Add(loginRefill)
	if got := attempts(l, "10.0.0.1", 10); got != 1 {
		t.Errorf("after one refill interval: %d allowed, want 1", got)
	}
}

func TestLoginLimiterGlobal(t *testing.T) {
	l, c := newTestLimiter()
	allowed := 0
	for i := range 200 {
		allowed += attempts(l, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), 1)
	}
	if allowed != loginGlobalBurst {
		t.Errorf("200 addresses, one try each: %d allowed, want the global %d", allowed, loginGlobalBurst)
	}
	c.t = c.t.Add(loginGlobalRefill)
	if got := attempts(l, "10.9.9.9", 3); got != 1 {
		t.Errorf("after one global refill: %d allowed, want 1", got)
	}
}

func TestLoginLimiterSuccessGivesBack(t *testing.T) {
	l, _ := newTestLimiter()
	for range 3 * loginGlobalBurst {
		if !l.allow("10.0.0.1") {
			t.Fatal("a client that keeps logging in with the right password is limited")
		}
		l.succeeded("10.0.0.1")
	}
}

// TestLoginLimiterSprayCannotReset: a limited client stays limited however
// many other addresses try, and the table stays bounded.
func TestLoginLimiterSprayCannotReset(t *testing.T) {
	l, c := newTestLimiter()
	attempts(l, "10.0.0.1", loginBurst)
	for i := range 3 * loginMaxClients {
		l.allow(fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256))
	}
	if n := len(l.clients); n > loginMaxClients {
		t.Errorf("%d clients tracked, more than %d", n, loginMaxClients)
	}
	if l.clients["10.0.0.1"] == nil {
		t.Fatal("the spray evicted the limited client")
	}
	// One shared attempt accrues; the client's own bucket has not refilled.
	c.t = c.t.Add(loginGlobalRefill)
	if l.allow("10.0.0.1") {
		t.Error("a client limited before the spray is allowed after it")
	}
	if l.global.tokens < 1 {
		t.Errorf("shared bucket %.2f: the check above proved nothing", l.global.tokens)
	}
}

func TestLoginLimiterForgetsRefilledClients(t *testing.T) {
	l, c := newTestLimiter()
	for i := range loginMaxClients {
		l.clients[fmt.Sprint("c", i)] = &bucket{tokens: 0, last: c.t}
	}
	if l.allow("10.0.0.1") {
		t.Error("a new client is allowed while the table is full of recent failures")
	}
	c.t = c.t.Add(loginBurst * loginRefill)
	if !l.allow("10.0.0.1") {
		t.Error("a new client is refused after the others refilled")
	}
	if n := len(l.clients); n != 1 {
		t.Errorf("%d clients tracked, want 1 (the refilled ones forgotten)", n)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10.0.0.1", "10.0.0.1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
