package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// guardClass is the vendor class (option 60) of the guard's own DISCOVERs:
// the server never answers them.
const guardClass = "tanjay-guard"

// GuardState is what the rogue-server guard lets the server do.
type GuardState string

// The guard's states. The server answers in GuardServing and GuardForced
// only.
const (
	// GuardProbing: the first window after start; DHCP does not answer yet.
	GuardProbing GuardState = "probing"
	// GuardServing: no other server answered; DHCP answers, the guard
	// keeps watching.
	GuardServing GuardState = "serving"
	// GuardRefused: another server answered; DHCP is off until none
	// answers for a whole window.
	GuardRefused GuardState = "refused"
	// GuardForced: another server answered, DHCP answers anyway
	// (--dhcp-force).
	GuardForced GuardState = "forced"
)

// Sighting is one reply of another DHCP server the guard heard: to its
// own DISCOVER, or (broadcast) to a phone.
type Sighting struct {
	At time.Time
	// From is the reply's IPv4 source address (the OFFER's siaddr when the
	// source is 0.0.0.0); zero when neither says.
	From netip.Addr
	// ServerID is the reply's server identifier (option 54), zero when it
	// has none.
	ServerID netip.Addr
	// Type is OFFER or ACK.
	Type string
	// Client is the MAC the reply is for (12 upper-case hex digits),
	// Offered the address it gives (zero: none).
	Client  string
	Offered netip.Addr
}

// Server is the other server as people name it: "10.0.2.2 (server
// identifier 10.0.2.2)".
func (s Sighting) Server() string {
	from, sid := "an unnamed server", "none"
	if s.From.IsValid() {
		from = s.From.String()
	}
	if s.ServerID.IsValid() {
		sid = s.ServerID.String()
	}
	return from + " (server identifier " + sid + ")"
}

// GuardStatus is the guard's state and why.
type GuardStatus struct {
	State     GuardState
	Since     time.Time
	Interface string
	// Wait, Probes and Interval are the guard's settings (Config).
	Wait     time.Duration
	Probes   int
	Interval time.Duration
	// Other is the other server last heard; zero until one answers.
	Other Sighting
	// Stopped says DHCP was serving when Other answered, and stopped.
	Stopped bool
}

// Answering reports whether the server answers phones in this state.
func (st GuardStatus) Answering() bool {
	return st.State == GuardServing || st.State == GuardForced
}

// String is one line for the console, the log, /healthz and Settings &
// health, e.g. "refused: another DHCP server 10.0.2.2 (server identifier
// 10.0.2.2) answered on eth0 …".
func (st GuardStatus) String() string {
	switch st.State {
	case GuardProbing:
		return fmt.Sprintf("probing: listening on %s for other DHCP servers (%d DISCOVERs over %s) before serving",
			st.Interface, st.Probes, st.Wait)
	case GuardServing:
		return fmt.Sprintf("serving on %s since %s; watching for other DHCP servers (a DISCOVER every %s)",
			st.Interface, stamp(st.Since), st.Interval)
	case GuardForced:
		return fmt.Sprintf("serving on %s despite another DHCP server %s, last heard %s (--dhcp-force)",
			st.Interface, st.Other.Server(), stamp(st.Other.At))
	}
	what := st.Other.Type
	if st.Other.Offered.IsValid() {
		what += " of " + st.Other.Offered.String()
	}
	stopped := "stays off"
	if st.Stopped {
		stopped = "stopped and stays off"
	}
	return fmt.Sprintf("refused: another DHCP server %s answered on %s (an %s at %s); DHCP %s, everything else keeps running; "+
		"DHCP serves once no other server answers for %s (checked every %s), or with --dhcp-force",
		st.Other.Server(), st.Interface, what, stamp(st.Other.At), stopped, st.Wait, st.Interval)
}

func stamp(t time.Time) string { return t.UTC().Format(time.DateTime + " MST") }

// guard is the rogue-server guard of one interface. It listens on a raw
// socket (guardconn.go) for every OFFER and ACK that reaches the
// interface, and sends DISCOVERs of its own from the interface's MAC
// (broadcast flag set, vendor class guardClass):
//   - at start, Probes DISCOVERs spread over Wait; DHCP serves when no
//     other server answered during the whole window;
//   - while serving, a DISCOVER every Interval; the moment another server
//     answers (to it or to anyone), DHCP stops;
//   - while refused, a new window once nothing was heard for Interval.
//
// Wait must outlast the slowest server: BusyBox udhcpd ARP-probes the
// address for 2s before it offers it, Windows Server's conflict detection
// pings it first too.
type guard struct {
	iface  string
	mac    net.HardwareAddr
	self   netip.Addr
	wait   time.Duration
	probes int
	every  time.Duration
	force  bool
	conn   net.PacketConn
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	status GuardStatus
	notify func(GuardStatus)

	// Owned by run's goroutine.
	checking    bool      // a window is running
	windowStart time.Time // its start
	sent        int       // DISCOVERs sent in it
	sendFailed  error     // a DISCOVER of it could not be sent
	next        time.Time // when tick runs next
}

// Status is the guard's state now.
func (g *guard) Status() GuardStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}

func (g *guard) answering() bool { return g.Status().Answering() }

// set records st and tells the log and the notify function.
func (g *guard) set(st GuardStatus) {
	st.Interface, st.Wait, st.Probes, st.Interval = g.iface, g.wait, g.probes, g.every
	g.mu.Lock()
	g.status = st
	notify := g.notify
	g.mu.Unlock()
	switch st.State {
	case GuardRefused, GuardForced:
		g.log.Warn("dhcp: "+st.String(), "interface", g.iface, "server", st.Other.From.String(), "server_id", st.Other.ServerID.String())
	default:
		g.log.Info("dhcp: "+st.String(), "interface", g.iface)
	}
	if notify != nil {
		notify(st)
	}
}

// run watches until ctx ends (nil) or the socket fails (an error).
func (g *guard) run(ctx context.Context) error {
	heard := make(chan Sighting, 16)
	readErr := make(chan error, 1)
	go g.read(heard, readErr)
	defer g.conn.Close() // ends read
	now := g.now()
	g.set(GuardStatus{State: GuardProbing, Since: now})
	g.startWindow(now)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dhcp: --dhcp-interface %s: rogue-server guard: %w", g.iface, err)
		case s := <-heard:
			g.heard(s)
		case <-timer.C:
			g.tick(g.now())
		}
		timer.Reset(g.next.Sub(g.now()))
	}
}

// read passes every other server's reply the socket receives to heard; it
// drops one when run is behind (one is all it needs).
func (g *guard) read(heard chan<- Sighting, readErr chan<- error) {
	buf := make([]byte, 1500)
	for {
		n, from, err := g.conn.ReadFrom(buf)
		if err != nil {
			readErr <- err
			return
		}
		var src netip.Addr
		if u, ok := from.(*net.UDPAddr); ok {
			src = addr4(u.IP)
		}
		if s, ok := otherServerReply(buf[:n], src, g.self, g.now()); ok {
			select {
			case heard <- s:
			default:
			}
		}
	}
}

func (g *guard) startWindow(now time.Time) {
	g.checking, g.windowStart, g.sent, g.sendFailed, g.next = true, now, 0, nil, now
}

// tick sends what is due and ends a window that ran its course.
func (g *guard) tick(now time.Time) {
	st := g.Status()
	switch {
	case g.checking:
		if g.sent < g.probes && !now.Before(g.probeAt(g.sent)) {
			if err := g.discover(); err != nil {
				g.sendFailed = err
			}
			g.sent++
		}
		end := g.windowStart.Add(g.wait)
		if now.Before(end) {
			g.next = end
			if g.sent < g.probes {
				g.next = g.probeAt(g.sent)
			}
			return
		}
		g.checking = false
		if g.sendFailed != nil {
			// Nobody was asked: a quiet window proves nothing.
			g.log.Warn("dhcp: the rogue-server guard could not send its DISCOVER; DHCP stays off, trying again",
				"interface", g.iface, "in", g.every, "err", g.sendFailed)
			g.next = now.Add(g.every)
			return
		}
		g.set(GuardStatus{State: GuardServing, Since: now})
		g.next = now.Add(g.every)
	case st.State == GuardRefused:
		g.startWindow(now)
		g.tick(now)
	default: // serving or forced: one DISCOVER; the reader hears its answer
		if err := g.discover(); err != nil {
			g.log.Warn("dhcp: the rogue-server guard could not send its DISCOVER", "interface", g.iface, "err", err)
		}
		g.next = now.Add(g.every)
	}
}

// probeAt is when DISCOVER i of a window goes out.
func (g *guard) probeAt(i int) time.Time {
	return g.windowStart.Add(g.wait * time.Duration(i) / time.Duration(g.probes))
}

// heard acts on another server's reply.
func (g *guard) heard(s Sighting) {
	st := g.Status()
	switch {
	case g.force && st.State != GuardForced:
		g.checking = false
		g.set(GuardStatus{State: GuardForced, Since: s.At, Other: s})
		g.next = s.At.Add(g.every)
	case g.force:
		g.updateOther(s)
	case st.State == GuardRefused:
		// Still there: wait a whole Interval of silence again.
		g.checking = false
		g.next = s.At.Add(g.every)
		if s.From != st.Other.From || s.ServerID != st.Other.ServerID {
			st.Other = s
			g.set(st) // a different server: say so
			return
		}
		g.updateOther(s)
	default: // probing or serving: stop
		g.checking = false
		g.set(GuardStatus{State: GuardRefused, Since: s.At, Other: s, Stopped: st.State == GuardServing})
		g.next = s.At.Add(g.every)
	}
}

// updateOther records when the same server was heard last, silently.
func (g *guard) updateOther(s Sighting) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status.Other = s
}

// discover broadcasts one DISCOVER from the interface's MAC.
func (g *guard) discover() error {
	d, err := dhcpv4.NewDiscovery(g.mac, dhcpv4.WithBroadcast(true), dhcpv4.WithOption(dhcpv4.OptClassIdentifier(guardClass)))
	if err != nil {
		return err
	}
	_, err = g.conn.WriteTo(d.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort})
	return err
}
