package dns

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// coalesceLimit bounds the coalescer's memory: past it the oldest entry is
// forgotten (its next query is reported again).
const coalesceLimit = 10000

// coalesceKey is one query as the timeline sees it: who asked what.
type coalesceKey struct {
	client netip.Addr
	name   string // lower-case
	qtype  uint16
}

// coalescer lets through the first of a run of identical queries and then
// stays silent for one window, so a phone's retry storm becomes one event
// on its timeline rather than hundreds.
type coalescer struct {
	window time.Duration
	limit  int

	mu    sync.Mutex
	told  map[coalesceKey]time.Time // when the key was last let through
	order ring                      // the keys of told, oldest first
}

func newCoalescer(window time.Duration, limit int) *coalescer {
	return &coalescer{window: window, limit: limit, told: make(map[coalesceKey]time.Time), order: newRing(limit)}
}

// allow reports whether the query (client, name, qtype) seen at now is to
// be reported. now
// must not go backwards between calls.
func (c *coalescer) allow(client netip.Addr, name string, qtype uint16, now time.Time) bool {
	k := coalesceKey{client: client, name: strings.ToLower(name), qtype: qtype}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetBefore(now.Add(-c.window))
	if _, ok := c.told[k]; ok {
		return false
	}
	if len(c.told) >= c.limit {
		delete(c.told, c.order.pop().key)
	}
	c.told[k] = now
	c.order.push(coalesceEntry{key: k, at: now})
	return true
}

// forgetBefore drops the keys let through before cutoff. Entries enter
// the ring in time order, so the expired ones are at its front, and a key
// is in the ring once: it is let through again only after it expired.
func (c *coalescer) forgetBefore(cutoff time.Time) {
	for c.order.len() > 0 && !c.order.front().at.After(cutoff) {
		delete(c.told, c.order.pop().key)
	}
}

type coalesceEntry struct {
	key coalesceKey
	at  time.Time
}

// ring is a fixed-capacity FIFO of coalesce entries.
type ring struct {
	buf        []coalesceEntry
	head, size int
}

func newRing(capacity int) ring { return ring{buf: make([]coalesceEntry, capacity)} }

func (r *ring) len() int              { return r.size }
func (r *ring) front() *coalesceEntry { return &r.buf[r.head] }

func (r *ring) push(e coalesceEntry) {
	r.buf[(r.head+r.size)%len(r.buf)] = e
	r.size++
}

func (r *ring) pop() coalesceEntry {
	e := r.buf[r.head]
	r.buf[r.head] = coalesceEntry{}
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return e
}
