package dashboard

import (
	"net/netip"
	"sync"
	"time"
)

// Login rate limits. Every attempt takes a token from its client's bucket
// and from the one bucket all clients share; a successful login gives both
// back, so the limits count failed logins. The shared bucket is what a
// client spraying source addresses runs into: with it empty nobody can try
// a password until it refills (the admin API's token still works).
const (
	loginBurst  = 5                // failed logins allowed at once per client
	loginRefill = 12 * time.Second // one more attempt per client per interval

	loginGlobalBurst  = 20              // failed logins allowed at once, all clients together
	loginGlobalRefill = 3 * time.Second // one more attempt in all per interval

	// loginMaxClients bounds the per-client table. A client whose bucket
	// has refilled is forgotten (it is as good as new); while the table
	// is full of clients that failed recently, a new client is refused.
	loginMaxClients = 4096
)

// loginLimiter is the login rate limiter. Safe for concurrent use.
type loginLimiter struct {
	now func() time.Time

	mu      sync.Mutex
	global  bucket
	clients map[string]*bucket // clientKey → its bucket
}

// bucket is a token bucket; tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill adds what has accrued since last, up to burst.
func (b *bucket) refill(now time.Time, burst float64, every time.Duration) {
	if now.After(b.last) {
		b.tokens = min(burst, b.tokens+float64(now.Sub(b.last))/float64(every))
		b.last = now
	}
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, global: bucket{tokens: loginGlobalBurst, last: now()}, clients: map[string]*bucket{}}
}

// allow takes one attempt for the client at addr (an IP address, as
// clientAddr returns it). It reports false when the client or everyone
// together has none left.
func (l *loginLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.global.refill(now, loginGlobalBurst, loginGlobalRefill)
	b := l.client(clientKey(addr), now)
	if b == nil {
		return false
	}
	b.refill(now, loginBurst, loginRefill)
	if b.tokens < 1 || l.global.tokens < 1 {
		return false
	}
	b.tokens--
	l.global.tokens--
	return true
}

// succeeded gives back the attempt of a login that had the right password.
func (l *loginLimiter) succeeded(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.global.tokens = min(loginGlobalBurst, l.global.tokens+1)
	if b := l.clients[clientKey(addr)]; b != nil {
		b.tokens = min(loginBurst, b.tokens+1)
	}
}

// client returns key's bucket, making one when there is room; nil when the
// table is full of clients that failed recently.
func (l *loginLimiter) client(key string, now time.Time) *bucket {
	if b := l.clients[key]; b != nil {
		return b
	}
	if len(l.clients) >= loginMaxClients {
		for k, b := range l.clients {
			if b.refill(now, loginBurst, loginRefill); b.tokens >= loginBurst {
				delete(l.clients, k)
			}
		}
		if len(l.clients) >= loginMaxClients {
			return nil
		}
	}
	b := &bucket{tokens: loginBurst, last: now}
	l.clients[key] = b
	return b
}

// clientKey is what one client is: its IPv4 address, or the /64 of an IPv6
// address (one host is given a whole /64 to pick from).
func clientKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}
