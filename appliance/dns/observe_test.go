package dns

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/miekg/dns"
)

// fakeWriter is a dns.ResponseWriter that packs and keeps what it is given.
type fakeWriter struct {
	remote, local net.Addr
	buf           []byte
	written       []*dns.Msg
	sizes         []int // packed length of each written message
	packErr       error // the first message that did not pack
	keep          bool  // keep written messages (tests), or only pack them (benchmarks)
}

func newFakeWriter(client string) *fakeWriter {
	return &fakeWriter{
		remote: net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(client), 5060)),
		local:  net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.1:53")),
		buf:    make([]byte, 0, dns.MaxMsgSize),
		keep:   true,
	}
}

func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	if err != nil {
		if w.packErr == nil {
			w.packErr = err
		}
		return err
	}
	w.buf = b[:0]
	if w.keep {
		w.written = append(w.written, m)
		w.sizes = append(w.sizes, len(b))
	}
	return nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *fakeWriter) LocalAddr() net.Addr         { return w.local }
func (w *fakeWriter) RemoteAddr() net.Addr        { return w.remote }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) TsigStatus() error           { return nil }
func (w *fakeWriter) TsigTimersOnly(bool)         {}
func (w *fakeWriter) Hijack()                     {}

// recorder is an Observer that keeps what it hears.
type recorder struct {
	mu      sync.Mutex
	queries []Query
}

func (r *recorder) Queried(q Query) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, q)
}

func (r *recorder) take() []Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queries
	r.queries = nil
	return q
}

// equateAddr lets cmp compare netip.Addr values.
var equateAddr = cmpopts.EquateComparable(netip.Addr{})

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestCoalescing: a retry storm is one timeline event; every query is
// still counted.
func TestCoalescing(t *testing.T) {
	rec := &recorder{}
	s, err := New(Config{}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2009, 5, 4, 16, 30, 13, 0, time.UTC)}
	s.now = clock.now
	ask := func(client, name string, qtype uint16) {
		t.Helper()
		w := newFakeWriter(client)
		s.ServeDNS(w, query(name, qtype))
		if len(w.written) != 1 {
			t.Fatalf("%s %s: %d answers", client, name, len(w.written))
		}
	}
	event := func(client, name, qtype, class, rcode string) Query {
		return Query{At: clock.t, ClientIP: netip.MustParseAddr(client), Name: name, Type: qtype, Class: class, Rcode: rcode}
	}

	for range 100 {
		ask("10.0.0.5", "ucupdates-r2.lab.local.", dns.TypeA)
	}
	want := []Query{event("10.0.0.5", "ucupdates-r2.lab.local", "A", "appliance", "NOERROR")}
	if diff := cmp.Diff(want, rec.take(), equateAddr); diff != "" {
		t.Errorf("100 identical queries (-want +got):\n%s", diff)
	}
	ask("10.0.0.5", "_ntp._udp.lab.local.", dns.TypeSRV)
	want = []Query{event("10.0.0.5", "_ntp._udp.lab.local", "SRV", "ntp", "NOERROR")}
	if diff := cmp.Diff(want, rec.take(), equateAddr); diff != "" {
		t.Errorf("a different name (-want +got):\n%s", diff)
	}
	wantCounts := map[string]uint64{"appliance/NOERROR": 100, "ntp/NOERROR": 1}
	if diff := cmp.Diff(wantCounts, s.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}

	// Within the window: another case of the name is the same query;
	// another type or another client is not.
	clock.t = clock.t.Add(DefaultCoalesceWindow - time.Second)
	ask("10.0.0.5", "UCUPDATES-R2.lab.local.", dns.TypeA)
	ask("10.0.0.5", "ucupdates-r2.lab.local.", dns.TypeAAAA)
	ask("10.0.0.6", "ucupdates-r2.lab.local.", dns.TypeA)
	want = []Query{
		event("10.0.0.5", "ucupdates-r2.lab.local", "AAAA", "appliance", "NOERROR"),
		event("10.0.0.6", "ucupdates-r2.lab.local", "A", "appliance", "NOERROR"),
	}
	if diff := cmp.Diff(want, rec.take(), equateAddr); diff != "" {
		t.Errorf("within the window (-want +got):\n%s", diff)
	}

	// One window after it was reported, the query is reported again.
	clock.t = clock.t.Add(time.Second)
	ask("10.0.0.5", "UCUPDATES-R2.lab.local.", dns.TypeA)
	want = []Query{event("10.0.0.5", "UCUPDATES-R2.lab.local", "A", "appliance", "NOERROR")}
	if diff := cmp.Diff(want, rec.take(), equateAddr); diff != "" {
		t.Errorf("after the window (-want +got):\n%s", diff)
	}
}

// TestCoalescerBound: the coalescer forgets the oldest entry when full and
// every entry once its window passed.
func TestCoalescerBound(t *testing.T) {
	c := newCoalescer(time.Minute, 3)
	t0 := time.Unix(0, 0)
	ip := netip.MustParseAddr("10.0.0.5")
	allow := func(name string, at time.Duration) bool { return c.allow(ip, name, dns.TypeA, t0.Add(at)) }
	steps := []struct {
		name string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"b", 1, true},
		{"c", 2, true},
		{"a", 3, false},
		{"d", 4, true},                // full: forgets a
		{"a", 5, true},                // forgets b
		{"c", 6, false},               // still remembered
		{"b", 7, true},                // forgets c
		{"c", time.Minute, true},      // forgets d
		{"d", time.Minute + 4, true},  // forgets a
		{"d", time.Minute + 5, false}, // just told
		{"b", time.Minute + 6, false}, // told at 7, window not over
		{"b", time.Minute + 7, true},  // window over
		{"b", time.Minute + 8, false},
	}
	for i, st := range steps {
		if got := allow(st.name, st.at); got != st.want {
			t.Errorf("step %d: allow(%s, %s) = %v, want %v", i, st.name, st.at, got, st.want)
		}
		if len(c.told) != c.order.len() || len(c.told) > 3 {
			t.Fatalf("step %d: %d keys, %d in order", i, len(c.told), c.order.len())
		}
	}
	allow("e", 10*time.Minute)
	if len(c.told) != 1 {
		t.Errorf("after every window passed: %d keys, want 1", len(c.told))
	}
}

// TestObserverOverUDP: the Observer hears the client's address and the
// name as it was asked.
func TestObserverOverUDP(t *testing.T) {
	heard := make(chan Query, 10)
	srv := startServer(t, Config{}, ObserverFunc(func(q Query) { heard <- q }))
	// The Observer hears of a query after its answer went out: wait for
	// each before asking the next.
	var got []Query
	for _, ask := range []struct{ network, addr, name string }{
		{"udp", srv.udp, "ucUpdates-r2."},
		{"tcp", srv.tcp, "pool01.ocs.contoso.com."},
	} {
		exchange(t, ask.network, ask.addr, query(ask.name, dns.TypeA))
		select {
		case q := <-heard:
			q.At = time.Time{}
			got = append(got, q)
		case <-time.After(testTimeout):
			t.Fatalf("nothing heard of %s", ask.name)
		}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	want := []Query{
		{ClientIP: lo, Name: "ucUpdates-r2", Type: "A", Class: "appliance", Rcode: "NOERROR"},
		{ClientIP: lo, Name: "pool01.ocs.contoso.com", Type: "A", Class: "other", Rcode: "NOERROR"},
	}
	if diff := cmp.Diff(want, got, equateAddr); diff != "" {
		t.Errorf("queries heard (-want +got):\n%s", diff)
	}
}
