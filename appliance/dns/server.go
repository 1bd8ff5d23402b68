package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// shutdownTimeout bounds how long Serve waits for queries in flight (a
// forwarded one takes at most Config.Timeout) once its context is done.
const shutdownTimeout = 5 * time.Second

// Server is the appliance's DNS responder, on UDP and TCP.
type Server struct {
	cfg      Config
	names    nameTable
	obs      Observer // nil: nobody listens
	log      *slog.Logger
	now      func() time.Time
	coalesce *coalescer
	counts   counters
	fwd      *forwarder // forward mode only
	fallback fallbackAddr

	mu     sync.Mutex
	udp    *udpConn
	tcp    net.Listener
	served bool
}

// New returns a responder for cfg (zero fields take their defaults) that
// tells obs (which may be nil) about queries and logs to log (nil: nowhere).
// It binds nothing yet; see Listen.
func New(cfg Config, obs Observer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		names:    buildNames(cfg),
		obs:      obs,
		log:      log,
		now:      time.Now,
		coalesce: newCoalescer(cfg.CoalesceWindow, coalesceLimit),
		fallback: fallbackAddr{interfaceAddrs: net.InterfaceAddrs, now: time.Now},
	}
	if cfg.Mode == ModeForward {
		s.fwd = newForwarder(cfg.Upstream, cfg.Timeout, log)
	}
	return s, nil
}

// Listen binds UDP and TCP on Config.Addr, on one port: with port 0, TCP
// takes the port UDP was given. It fails when either cannot be bound, so
// the appliance can bind every listener before serving any.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return errors.New("dns: already listening")
	}
	host, port, _ := net.SplitHostPort(s.cfg.Addr) // Validate checked it
	// A port free for TCP may be taken for UDP; with port 0 try a few.
	tries := 1
	if port == "0" {
		tries = 5
	}
	var err error
	for range tries {
		if err = s.listenOnce(host, port); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	bound := s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	if s.fwd != nil && forwardsToItself(s.cfg.Upstream, bound, net.InterfaceAddrs) {
		err = fmt.Errorf("dns: --dns-upstream %s is this responder (a forwarding loop)", s.cfg.Upstream)
		s.udp.Close()
		s.tcp.Close()
		s.udp, s.tcp = nil, nil
	}
	return err
}

// listenOnce binds TCP first and UDP on the same port: with port 0 the
// kernel picks a port free for TCP, where every outgoing connection of the
// machine takes one too, and UDP has far fewer sockets to collide with.
func (s *Server) listenOnce(host, port string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("dns: listen tcp %s: %w", s.cfg.Addr, err)
	}
	bound := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, bound))
	if err != nil {
		ln.Close()
		return fmt.Errorf("dns: listen udp %s: %w", s.cfg.Addr, err)
	}
	uc, err := net.ListenUDP("udp", ua)
	if err != nil {
		ln.Close()
		return fmt.Errorf("dns: listen udp %s: %w", net.JoinHostPort(host, bound), err)
	}
	s.udp = newUDPConn(uc, func() { s.counts.dropped(classMalformed) })
	s.tcp = ln
	return nil
}

// Addr returns the bound addresses, nil before Listen.
func (s *Server) Addr() (udp, tcp net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil, nil
	}
	return s.udp.LocalAddr(), s.tcp.Addr()
}

// Close releases the sockets of a Server that Listen bound but that will
// not serve (another listener of the appliance failed to bind). A serving
// Server is stopped through Serve's context instead.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.served {
		return errors.New("dns: Close of a serving server; cancel Serve's context")
	}
	s.served = true // nothing may serve the closed sockets
	if s.udp == nil {
		return nil
	}
	return errors.Join(s.udp.Close(), s.tcp.Close())
}

// Counts returns the number of queries answered (or dropped) so far, keyed
// "<class>/<RCODE>": class is appliance, ntp, sip, other or malformed
// (packets that never became a question), RCODE the answer's (NOERROR,
// NXDOMAIN, REFUSED, ...) or DROPPED for no answer. Only non-zero counts
// appear.
func (s *Server) Counts() map[string]uint64 {
	return s.counts.snapshot()
}

// Serve answers queries on both listeners (binding them first unless
// Listen was called) until ctx is done, then shuts both down and returns
// nil; it returns an error when a listener fails. A Server serves once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.startServing(); err != nil {
		return err
	}
	udp := start(s.miekgServer(func(m *dns.Server) { m.PacketConn = s.udp }), "udp")
	tcp := start(s.miekgServer(func(m *dns.Server) { m.Listener = s.tcp }), "tcp")
	s.log.Info("dns: serving", "udp", s.udp.LocalAddr(), "tcp", s.tcp.Addr(),
		"mode", s.cfg.Mode, "domains", s.cfg.Domains, "upstream", s.cfg.Upstream)
	select {
	case <-ctx.Done():
	case <-udp.done:
	case <-tcp.done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return errors.Join(udp.stop(sctx), tcp.stop(sctx))
}

// startServing binds unless bound and marks the server used.
func (s *Server) startServing() error {
	s.mu.Lock()
	bound, served := s.udp != nil, s.served
	s.served = true
	s.mu.Unlock()
	if served {
		return errors.New("dns: Serve called twice, or after Close")
	}
	if bound {
		return nil
	}
	return s.Listen()
}

// miekgServer is a miekg/dns server for one listener, set by with.
func (s *Server) miekgServer(with func(*dns.Server)) *dns.Server {
	m := &dns.Server{
		Handler:        s,
		UDPSize:        maxQuerySize + 1, // see udpConn.ReadFrom
		MsgAcceptFunc:  s.accept,
		MsgInvalidFunc: s.invalid,
	}
	with(m)
	return m
}

// running is one miekg/dns server serving in its goroutine.
type running struct {
	srv     *dns.Server
	network string
	started chan struct{} // closed once it serves (Shutdown works from then)
	done    chan struct{} // closed when ActivateAndServe returned err
	err     error
}

func start(srv *dns.Server, network string) *running {
	r := &running{srv: srv, network: network, started: make(chan struct{}), done: make(chan struct{})}
	srv.NotifyStartedFunc = func() { close(r.started) }
	go func() {
		defer close(r.done)
		if err := srv.ActivateAndServe(); err != nil {
			r.err = fmt.Errorf("dns: serve %s: %w", network, err)
		}
	}()
	return r
}

// stop shuts the server down (when it still runs) and returns the error it
// stopped with, nil for a clean stop.
func (r *running) stop(ctx context.Context) error {
	select {
	case <-r.started:
	case <-r.done:
		return r.err
	}
	if err := r.srv.ShutdownContext(ctx); err != nil && ctx.Err() != nil {
		return fmt.Errorf("dns: shut down %s: %w", r.network, err)
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("dns: shut down %s: %w", r.network, ctx.Err())
	}
}
