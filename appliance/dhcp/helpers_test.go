package dhcp

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// memLeases is an in-memory Leases for tests that need no durability.
type memLeases struct {
	mu sync.Mutex
	m  map[string]store.Lease
}

func (l *memLeases) Leases(memdb.WatchSet) []store.Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []store.Lease
	for _, v := range l.m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b store.Lease) int { return strings.Compare(a.MAC, b.MAC) })
	return out
}

func (l *memLeases) PutLease(v store.Lease) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]store.Lease{}
	}
	l.m[v.MAC] = v
	return nil
}

// events collects what the Observer hears.
type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) DHCP(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ev)
}

// offlineServer is a Server configured as if Listen had found the
// interface at network, without any socket: for the handler tests.
func offlineServer(t testing.TB, cfg Config, network string, leases Leases, obs Observer) *Server {
	t.Helper()
	if cfg.Interface == "" {
		cfg.Interface = "test0"
	}
	s, err := New(cfg, leases, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.configure(netip.MustParsePrefix(network)); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
