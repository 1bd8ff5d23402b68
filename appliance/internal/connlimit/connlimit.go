// Package connlimit bounds what an anonymous client can hold on the
// phone-facing listeners, where anything on the lab switch may connect
// without a password: how many connections one address and everyone
// together keep open, how long request headers and bodies may take to
// arrive, and how long one write may wait for a client that stopped
// reading.
//
// A connection over a cap is closed at once in Accept (no goroutine, no
// byte read), counted, and logged at most once per address per minute.
// There is no whole-response deadline: a phone fetching a 30 MiB image over
// a slow lab link finishes as long as it keeps taking bytes.
package connlimit

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/ratelog"
)

// Defaults. A phone holds one or two connections at a time (a check-in, a
// download); 64 per address leaves room for a few phones behind one NAT
// and a technician's tools, yet one scanner cannot take the total. 4096 in
// total is far more than the appliance ever needs at once (a check-in takes
// milliseconds) and bounds memory: a connection costs about 40 KiB (its
// goroutine, bufio buffers, TLS state) plus at most the 64 KiB check-in body
// it actually sent, so 4096 slow ones take a few hundred MiB at worst.
const (
	DefaultPerAddress    = 64
	DefaultTotal         = 4096
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyMinRate   = 4 << 10 // bytes per second
	DefaultWriteStall    = 60 * time.Second
)

// Config is the set of caps. A zero field turns its cap off.
type Config struct {
	// PerAddress caps the connections one client address holds open on
	// the phone listeners together (IPv6 addresses count whole: phones on
	// one SLAAC /64 are distinct). Default 64.
	PerAddress int
	// Total caps the connections open on the phone listeners together.
	// Default 4096.
	Total int
	// HeaderTimeout bounds the TLS handshake and the request headers, and
	// is the grace a request body gets before BodyMinRate applies.
	// Default 10 s.
	HeaderTimeout time.Duration
	// BodyMinRate is the slowest average rate, in bytes per second, at
	// which a request body may arrive once HeaderTimeout has passed: a body
	// of n bytes must be in within HeaderTimeout + n/BodyMinRate of the
	// handler starting. Default 4 KiB/s (a 16 MiB log upload may take
	// over an hour; a trickled check-in is cut after about 10 s).
	BodyMinRate int
	// WriteStall is how long one write (at most writeChunk bytes) may wait
	// for the client to take it. Default 60 s.
	WriteStall time.Duration
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		PerAddress:    DefaultPerAddress,
		Total:         DefaultTotal,
		HeaderTimeout: DefaultHeaderTimeout,
		BodyMinRate:   DefaultBodyMinRate,
		WriteStall:    DefaultWriteStall,
	}
}

// Validate refuses negative values, naming the `tanjay serve` flag that
// sets each (this package's only user).
func (c Config) Validate() error {
	for _, f := range []struct {
		flag string
		v    int64
	}{
		{"--phone-conns-per-address", int64(c.PerAddress)},
		{"--phone-conns-total", int64(c.Total)},
		{"--phone-header-timeout", int64(c.HeaderTimeout)},
		{"--phone-body-min-rate", int64(c.BodyMinRate)},
		{"--phone-write-stall", int64(c.WriteStall)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%s: %s is negative; want 0 (no limit) or more", f.flag, c.show(f.flag, f.v))
		}
	}
	return nil
}

func (Config) show(flag string, v int64) string {
	switch flag {
	case "--phone-header-timeout", "--phone-write-stall":
		return time.Duration(v).String()
	}
	return fmt.Sprint(v)
}

// Refusal reasons, as counted in Stats and shown in /metrics.
const (
	ReasonPerAddress = "per-address"
	ReasonTotal      = "total"
)

// Stats are the limiter's counts since it was made.
type Stats struct {
	// Open is the number of connections open now.
	Open int
	// RefusedPerAddress and RefusedTotal count connections closed in
	// Accept because of each cap.
	RefusedPerAddress, RefusedTotal uint64
	// SlowBodies counts request bodies cut for arriving slower than
	// BodyMinRate; StalledWrites counts writes cut by their deadline
	// (WriteStall, or an earlier one the server set).
	SlowBodies, StalledWrites uint64
}

// logEvery is how often one address's refusals (or slow bodies) are logged.
const logEvery = time.Minute

// maxLogged bounds the table of addresses recently logged: beyond it,
// refusals from new addresses are summed up in one line a minute.
const maxLogged = 4096

// Limiter holds the counts shared by every listener it wraps.
type Limiter struct {
	cfg Config
	// log passes each line about an address at most once per logEvery
	// (ratelog).
	log  *slog.Logger
	rate *ratelog.Handler
	now  func() time.Time

	mu      sync.Mutex
	open    int
	perAddr map[netip.Addr]int

	refusedPerAddr, refusedTotal, slowBodies, stalledWrites atomic.Uint64
}

// New returns a limiter for cfg; log gets refusals and cuts (nil: none).
func New(cfg Config, log *slog.Logger) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{cfg: cfg, now: time.Now, perAddr: map[netip.Addr]int{}}
	l.rate = ratelog.New(log.Handler(), ratelog.Config{Every: logEvery, Max: maxLogged,
		Summary: "phone listener: refusing or cutting clients from many addresses; not logging each",
		Now:     func() time.Time { return l.now() }})
	l.log = slog.New(l.rate)
	return l, nil
}

// Stats returns the counts so far.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	open := l.open
	l.mu.Unlock()
	return Stats{
		Open:              open,
		RefusedPerAddress: l.refusedPerAddr.Load(),
		RefusedTotal:      l.refusedTotal.Load(),
		SlowBodies:        l.slowBodies.Load(),
		StalledWrites:     l.stalledWrites.Load(),
	}
}

// Listen wraps ln: its Accept closes connections over the caps itself and
// returns only admitted ones, whose Close gives their place back and whose
// writes wait at most WriteStall each. Wrap the TCP listener, under any TLS
// listener, so a refused client costs no handshake.
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		nc, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(nc)
		if reason := ln.l.admit(addr); reason != "" {
			// Counted before the client sees the close, so whoever it
			// tells next finds the refusal in /metrics.
			ln.l.refused(addr, reason)
			refuse(nc)
			continue
		}
		return &conn{Conn: nc, l: ln.l, addr: addr}, nil
	}
}

// admit takes a place for addr, or returns why there is none.
func (l *Limiter) admit(addr netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.cfg.Total > 0 && l.open >= l.cfg.Total:
		return ReasonTotal
	case l.cfg.PerAddress > 0 && l.perAddr[addr] >= l.cfg.PerAddress:
		return ReasonPerAddress
	}
	l.open++
	l.perAddr[addr]++
	return ""
}

// release gives addr's place back.
func (l *Limiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// refuse closes a connection over a cap at once, with a reset rather than
// a FIN: the client learns immediately and no TIME_WAIT is left behind.
func refuse(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

func (l *Limiter) refused(addr netip.Addr, reason string) {
	var limit int
	if reason == ReasonTotal {
		l.refusedTotal.Add(1)
		limit = l.cfg.Total
	} else {
		l.refusedPerAddr.Add(1)
		limit = l.cfg.PerAddress
	}
	l.log.Warn("phone listener: connection refused", "client", addr, "cap", reason, "limit", limit)
}

// remoteAddr is the client's address without port, IPv4-mapped IPv6
// unmapped; the zero Addr when the connection has none.
func remoteAddr(nc net.Conn) netip.Addr {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case nil:
		return netip.Addr{}
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return ap.Addr().Unmap()
	}
}
