package sip

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the SIP front end's configuration.
type Config struct {
	// Password returns the lab sign-in password: any user name in any
	// domain signs in with it. It is asked at every sign-in, so a changed
	// password takes effect for the next one. Required.
	Password func() string
	// URLs returns the update URLs provisioning hands out. Required.
	URLs func() UpdateURLs
	// Variant is the ServerConfiguration shape (VariantFlat or
	// VariantPropertyList). Default VariantFlat.
	Variant string
	// AuthVersion is the NTLM-over-SIP protocol version offered in the
	// first 401 (3 as OCS 2007 RTM, 4 as R2); the version the client
	// echoes decides the signature format. Default 3.
	AuthVersion int
	// Host is the appliance's host label, its NetBIOS computer name in the
	// NTLM challenge. Default "tanjay".
	Host string
	// Domain is the SIP domain used when a request names none (its From is
	// an IP address). Default "lab.local".
	Domain string
	// Limits bound each message. Default DefaultLimits.
	Limits Limits
	// MaxConns bounds open connections in total; MaxConnsPerIP from one
	// address (a phone holds one). Defaults 20000 and 16.
	MaxConns, MaxConnsPerIP int
	// MaxRegistrations bounds registered endpoints. Default 20000.
	MaxRegistrations int
	// KeepAlive is the keep-alive interval granted in ms-keep-alive; a
	// signed-in connection silent for KeepAlive plus a minute is closed.
	// Default 300 s, as OCS.
	KeepAlive time.Duration
	// SignInTimeout closes a connection that has not signed in within it.
	// Default 60 s.
	SignInTimeout time.Duration
	// MessageTimeout bounds how long one message may take to arrive once
	// its first byte has (slow senders). Default 30 s.
	MessageTimeout time.Duration
	// WriteTimeout bounds one write to a phone. Default 10 s.
	WriteTimeout time.Duration
	// SALifetime is how long a security association lives; clients
	// re-authenticate before 8 h. Default 8 h.
	SALifetime time.Duration
	// Observer hears of sign-in steps. Default: none.
	Observer Observer
	// Capturer keeps messages the front end did not fully understand.
	// Default: none.
	Capturer Capturer
	// Log gets refused connections and cut messages. Default: discard.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of challenges, tags and srand. Default crypto/rand.
	Rand io.Reader
}

func (c Config) withDefaults() Config {
	if c.Variant == "" {
		c.Variant = VariantFlat
	}
	if c.AuthVersion == 0 {
		c.AuthVersion = 3
	}
	if c.Host == "" {
		c.Host = "tanjay"
	}
	if c.Domain == "" {
		c.Domain = "lab.local"
	}
	c.Limits = c.Limits.withDefaults()
	setDefault(&c.MaxConns, 20000)
	setDefault(&c.MaxConnsPerIP, 16)
	setDefault(&c.MaxRegistrations, 20000)
	setDefault(&c.KeepAlive, 300*time.Second)
	setDefault(&c.SignInTimeout, 60*time.Second)
	setDefault(&c.MessageTimeout, 30*time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.SALifetime, 8*time.Hour)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return c
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Validate reports a configuration the server cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.Password == nil {
		errs = append(errs, errors.New("sip: no password source"))
	}
	if c.URLs == nil {
		errs = append(errs, errors.New("sip: no update URLs"))
	}
	if c.Variant != "" && !slices.Contains(Variants, c.Variant) {
		errs = append(errs, fmt.Errorf("sip: provisioning variant %q: want one of %s", c.Variant, strings.Join(Variants, ", ")))
	}
	if c.AuthVersion != 0 && (c.AuthVersion < 2 || c.AuthVersion > 4) {
		errs = append(errs, fmt.Errorf("sip: auth protocol version %d: want 2, 3 or 4", c.AuthVersion))
	}
	return errors.Join(errs...)
}

// Stats are the front end's counters.
type Stats struct {
	Conns, Registered             int    // now
	SignIns, AuthFailures         uint64 // since start
	SignatureFailures, Refused    uint64 // Refused: connections over a limit
	Cut, Provisioned, Unsupported uint64 // Cut: messages too large, malformed or too slow
}

// Server is the SIP front end. One Server serves any number of listeners
// (TCP and TLS).
type Server struct {
	cfg Config

	mu    sync.Mutex
	conns map[*conn]struct{}
	perIP map[netip.Addr]int
	regs  map[string]*registration

	signIns, authFailures, sigFailures, refused, cut, provisioned, unsupported atomic.Uint64
}

// registration is one registered endpoint (AOR and epid).
type registration struct {
	conn    *conn
	expires time.Time
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:   cfg.withDefaults(),
		conns: map[*conn]struct{}{},
		perIP: map[netip.Addr]int{},
		regs:  map[string]*registration{},
	}, nil
}

// Stats reports the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns, regs := len(s.conns), len(s.regs)
	s.mu.Unlock()
	return Stats{
		Conns: conns, Registered: regs,
		SignIns: s.signIns.Load(), AuthFailures: s.authFailures.Load(),
		SignatureFailures: s.sigFailures.Load(), Refused: s.refused.Load(),
		Cut: s.cut.Load(), Provisioned: s.provisioned.Load(), Unsupported: s.unsupported.Load(),
	}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection it accepted and waits for them. transport ("tcp" or "tls")
// names ln in Via headers and events; for TLS, ln is already a
// tls.Listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener, transport string) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			if c.transport == transport {
				c.nc.Close()
			}
		}
		s.mu.Unlock()
	})
	defer stop()
	var err error
	for delay := time.Duration(0); ; {
		var nc net.Conn
		if nc, err = ln.Accept(); err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				break
			}
			// Out of file descriptors, or a connection aborted before it
			// was accepted: wait and go on, as net/http does, rather than
			// take the whole appliance down.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Log.Warn("sip: accept failed, retrying", "transport", transport, "err", err, "in", delay)
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		c, ok := s.admit(nc, transport)
		if !ok {
			continue
		}
		wg.Go(func() { c.serve(ctx) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("sip %s listener: %w", transport, err)
}

// admit registers a new connection within the limits, or closes it.
func (s *Server) admit(nc net.Conn, transport string) (*conn, bool) {
	ip := remoteIP(nc)
	s.mu.Lock()
	over := ""
	switch {
	case len(s.conns) >= s.cfg.MaxConns:
		over = fmt.Sprintf("the appliance already holds %d SIP connections (the limit)", len(s.conns))
	case s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		over = fmt.Sprintf("%s already holds %d SIP connections (the per-address limit)", ip, s.perIP[ip])
	}
	if over != "" {
		s.mu.Unlock()
		s.refused.Add(1)
		s.cfg.Log.Warn("sip: connection refused", "client", ip, "transport", transport, "reason", over)
		nc.Close()
		return nil, false
	}
	c := newConn(s, nc, transport, ip)
	s.conns[c] = struct{}{}
	s.perIP[ip]++
	s.mu.Unlock()
	return c, true
}

// release forgets a closed connection and its registrations.
func (s *Server) release(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	for key, r := range s.regs {
		if r.conn == c {
			delete(s.regs, key)
		}
	}
}

// register records (or refreshes) a binding; false when the table is full
// even after dropping expired bindings.
func (s *Server) register(key string, c *conn, expires time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.regs[key]; !ok && len(s.regs) >= s.cfg.MaxRegistrations {
		now := s.cfg.Now()
		for k, r := range s.regs {
			if now.After(r.expires) {
				delete(s.regs, k)
			}
		}
		if len(s.regs) >= s.cfg.MaxRegistrations {
			return false
		}
	}
	s.regs[key] = &registration{conn: c, expires: expires}
	return true
}

// unregister drops a binding.
func (s *Server) unregister(key string) {
	s.mu.Lock()
	delete(s.regs, key)
	s.mu.Unlock()
}

// remoteIP is the peer's address, IPv4 unmapped.
func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
