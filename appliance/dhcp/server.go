package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Server is the appliance's DHCPv4 server on one interface.
type Server struct {
	cfg    Config
	leases Leases
	obs    Observer // nil: nobody listens
	log    *slog.Logger
	now    func() time.Time

	// Set by Listen (or configure, in tests).
	serverIP netip.Addr
	network  netip.Prefix
	pool     *pool

	mu     sync.Mutex
	conn   net.PacketConn
	guard  *guard // set by Listen; nil in handler tests, which always answer
	notify func(GuardStatus)
	served bool
}

// New returns a server for cfg that keeps its leases in leases, tells obs
// (which may be nil) about each message and logs to log (nil: nowhere). It
// touches no interface and binds nothing yet; see Listen.
func New(cfg Config, leases Leases, obs Observer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	if leases == nil {
		return nil, errors.New("dhcp: no lease store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg.withDefaults(), leases: leases, obs: obs, log: log, now: time.Now}, nil
}

// Listen reads the interface's address, binds UDP port 67 on the
// interface and opens the rogue-server guard's socket. It fails when the
// interface has no IPv4 address, when Range or a reservation lies outside
// its prefix, or when a socket cannot be opened (port 67 needs
// CAP_NET_BIND_SERVICE, the guard CAP_NET_RAW). It does not wait for the
// guard: Serve runs it, and answers only while it allows.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil || s.served {
		return errors.New("dhcp: already listening")
	}
	ifc, err := net.InterfaceByName(s.cfg.Interface)
	if err != nil {
		return fmt.Errorf("dhcp: --dhcp-interface %s: %w", s.cfg.Interface, err)
	}
	network, err := interfaceNetwork(s.cfg.Interface, s.cfg.ServerIP)
	if err != nil {
		return err
	}
	if err := s.configure(network); err != nil {
		return err
	}
	gconn, err := openGuardConn(s.cfg.Interface)
	if err != nil {
		return err
	}
	conn, err := server4.NewIPv4UDPConn(s.cfg.Interface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		gconn.Close()
		return fmt.Errorf("dhcp: --dhcp-interface %s: %w", s.cfg.Interface, err)
	}
	s.conn = conn
	s.guard = &guard{
		iface: s.cfg.Interface, mac: ifc.HardwareAddr, self: s.serverIP,
		wait: s.cfg.GuardWait, probes: s.cfg.GuardProbes, every: s.cfg.GuardInterval, force: s.cfg.Force,
		conn: gconn, log: s.log, now: s.now, notify: s.notify,
	}
	return nil
}

// OnGuard makes fn hear every change of the guard's state (GuardStatus),
// on the guard's goroutine; fn must not block. Call it before Listen.
func (s *Server) OnGuard(fn func(GuardStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify = fn
}

// GuardStatus is the rogue-server guard's state: whether DHCP answers and
// why not. Its State is empty before Serve.
func (s *Server) GuardStatus() GuardStatus {
	s.mu.Lock()
	g := s.guard
	s.mu.Unlock()
	if g == nil {
		return GuardStatus{}
	}
	return g.Status()
}

// interfaceNetwork is the interface's IPv4 prefix holding want (any, when
// want is zero), with the interface's address as its Addr.
func interfaceNetwork(name string, want netip.Addr) (netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("dhcp: --dhcp-interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("dhcp: --dhcp-interface %s: %w", name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP.To4())
		ones, bits := ipn.Mask.Size()
		if !ok || bits != 32 || (want.IsValid() && ip != want) {
			continue
		}
		return netip.PrefixFrom(ip, ones), nil
	}
	if want.IsValid() {
		return netip.Prefix{}, fmt.Errorf("dhcp: --dhcp-interface %s does not have the address %s", name, want)
	}
	return netip.Prefix{}, fmt.Errorf("dhcp: --dhcp-interface %s has no IPv4 address: give it one first", name)
}

// configure sets the server's address and network (the interface's
// address and prefix), derives the default range and loads the leases.
func (s *Server) configure(network netip.Prefix) error {
	if network.Bits() > 30 {
		return fmt.Errorf("dhcp: --dhcp-interface %s: prefix %s leaves no addresses to hand out", s.cfg.Interface, network)
	}
	s.serverIP, s.network = network.Addr(), network.Masked()
	first, last := s.cfg.Range[0], s.cfg.Range[1]
	if !first.IsValid() {
		first, last = s.network.Addr().Next(), broadcastOf(s.network).Prev()
	}
	if !s.network.Contains(first) || !s.network.Contains(last) {
		return fmt.Errorf("dhcp: --dhcp-range %s-%s: outside the interface's network %s", first, last, s.network)
	}
	for _, r := range s.cfg.Reservations {
		if !s.network.Contains(r.IP) || r.IP == s.serverIP {
			return fmt.Errorf("dhcp: --dhcp-reserve %s=%s: outside the network %s, or the appliance's own address", r.MAC, r.IP, s.network)
		}
	}
	s.cfg.Range = [2]netip.Addr{first, last}
	s.pool = newPool(s.leases, first, last, s.serverIP, s.network, s.cfg.Reservations)
	return nil
}

func (s *Server) rangeString() string {
	return s.cfg.Range[0].String() + "-" + s.cfg.Range[1].String()
}

// ServerIP is the appliance's address on the interface, zero before
// Listen.
func (s *Server) ServerIP() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serverIP
}

// Range is the range served, zero before Listen.
func (s *Server) Range() [2]netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Range
}

// Close releases the socket of a Server that Listen bound but that will
// not serve. A serving Server is stopped through Serve's context instead.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.served {
		return errors.New("dhcp: Close of a serving server; cancel Serve's context")
	}
	s.served = true
	if s.conn == nil {
		return nil
	}
	return errors.Join(s.conn.Close(), s.guard.conn.Close())
}

// Serve runs the rogue-server guard and answers requests while it allows,
// until ctx is done; then it closes the sockets and returns nil. It returns
// an error when a socket fails. Listen must have succeeded first. A Server
// serves once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	conn, g, served := s.conn, s.guard, s.served
	s.served = true
	s.mu.Unlock()
	if served || conn == nil {
		return errors.New("dhcp: Serve without a successful Listen, twice, or after Close")
	}
	srv, err := server4.NewServer(s.cfg.Interface, nil, s.serveOne, server4.WithConn(conn))
	if err != nil {
		conn.Close()
		g.conn.Close()
		return fmt.Errorf("dhcp: %w", err)
	}
	s.log.Info("dhcp: listening", "interface", s.cfg.Interface, "address", s.serverIP,
		"range", s.rangeString(), "lease", s.cfg.Lease, "domain", s.cfg.Domain)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	guardErr := make(chan error, 1)
	go func() {
		guardErr <- g.run(gctx)
		cancel() // a failed guard stops the server: it would answer unguarded
	}()
	stop := context.AfterFunc(gctx, func() { srv.Close() })
	defer stop()
	err = srv.Serve()
	cancel()
	gerr := <-guardErr
	switch {
	case ctx.Err() != nil:
		return nil
	case gerr != nil:
		return gerr
	}
	return fmt.Errorf("dhcp: serve %s: %w", s.cfg.Interface, err)
}

// serveOne is server4's handler: answer one parsed request.
func (s *Server) serveOne(conn net.PacketConn, _ net.Addr, req *dhcpv4.DHCPv4) {
	resp := s.handle(req)
	if resp == nil {
		return
	}
	if _, err := conn.WriteTo(resp.ToBytes(), replyAddr(req, resp)); err != nil {
		s.log.Debug("dhcp: send reply", "mac", macKey(req.ClientHWAddr), "err", err)
	}
}
