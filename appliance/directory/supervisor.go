package directory

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Restart backoff: the first restart waits minBackoff, each quick death
// doubles it up to maxBackoff; a Samba that ran stableAfter resets it.
const (
	minBackoff  = time.Second
	maxBackoff  = 30 * time.Second
	stableAfter = time.Minute
	// stopGrace is how long Samba gets to stop on SIGTERM before the
	// whole PID namespace is killed.
	stopGrace = 5 * time.Second
	// readyPoll is how often readiness is tried while Samba starts.
	readyPoll = 100 * time.Millisecond
)

// Phases of the supervised Samba.
const (
	PhaseStarting   = "starting"
	PhaseRunning    = "running"
	PhaseRestarting = "restarting"
	PhaseStopped    = "stopped"
)

// State is what Settings & health shows of the directory.
type State struct {
	Phase string
	// Since is when the phase began.
	Since time.Time
	// PID is the Samba master's process id (in the appliance's PID
	// namespace), 0 when none runs.
	PID int
	// Restarts counts the restarts since the appliance started.
	Restarts int
	// LastError is why Samba last stopped unasked, "" when it never did.
	LastError string
	// NextStart is when a restarting Samba is started again.
	NextStart time.Time
}

// Event is one thing that happened to the supervised Samba.
type Event struct {
	Time time.Time
	// Kind is "started", SambaReady, SambaExited or "stopped".
	Kind string
	PID  int
	// Detail says why it exited and when it will be restarted.
	Detail string
}

// Reporter hears the Supervisor's events, for the timeline and health.
type Reporter interface{ DirectoryEvent(Event) }

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Event)

func (f ReporterFunc) DirectoryEvent(e Event) { f(e) }

// Supervisor runs Samba as a child of the appliance.
type Supervisor struct {
	cfg      Config
	log      *slog.Logger
	reporter Reporter
	// ready reports whether Samba answers; by default LDAP on 389 of the
	// first interface's address.
	ready func(ctx context.Context) bool
	// command is the Samba command line; tests replace it.
	command []string

	// audit appends the JSON audit lines Samba prints to the audit file.
	audit *auditWriter

	mu    sync.Mutex
	state State
	// downSince is when Samba last stopped unasked (zero before).
	downSince time.Time
}

// record writes an exit or a readiness to the audit file, where the
// appliance reads it (FollowAudit), whether it runs the Supervisor itself
// or Samba runs as its own service (`tanjay directory run`).
func (s *Supervisor) record(ev Event) {
	if ev.Kind == SambaExited {
		s.mu.Lock()
		s.downSince = ev.Time
		s.mu.Unlock()
	}
	line := auditRecordLine(ev.Time, sambaType, sambaFields{Event: ev.Kind, PID: ev.PID, Detail: ev.Detail})
	if err := s.audit.write(line); err != nil {
		s.log.Warn("samba: cannot write to the audit file", "file", s.audit.path, "err", err)
	}
}

// NewSupervisor checks cfg and returns a Supervisor of its Samba. A
// directory that was never provisioned is ErrNotProvisioned.
func NewSupervisor(cfg Config, log *slog.Logger, reporter Reporter) (*Supervisor, error) {
	if err := cfg.Validate(false); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if !cfg.Provisioned() {
		return nil, fmt.Errorf("%w (%s)", ErrNotProvisioned, cfg.Dir)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if reporter == nil {
		reporter = ReporterFunc(func(Event) {})
	}
	addr := ldapAddr(cfg.Interfaces)
	s := &Supervisor{
		cfg: cfg, log: log, reporter: reporter,
		ready: func(ctx context.Context) bool {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		},
		command: sambaCommand(cfg),
		state:   State{Phase: PhaseStopped, Since: time.Now()},
		audit:   &auditWriter{path: cfg.AuditLogPath()},
	}
	return s, nil
}

// sambaCommand is Samba's command line. -i: in the foreground, logging
// to standard output. Samba's DNS is off and its CLDAP on CLDAPPort in
// smb.conf already; the options keep it so in an smb.conf written by an
// older release or edited. Log level 5 logs each LDAP search (sambalog.go).
func sambaCommand(cfg Config) []string {
	cmd := []string{cfg.program("samba"), "-i", "-s", cfg.smbConf(),
		"--option=server services = -dns -dnsupdate",
		fmt.Sprintf("--option=cldap port = %d", CLDAPPort),
		"--option=log level = 5"}
	for _, o := range cfg.SambaOptions {
		cmd = append(cmd, "--option="+o)
	}
	return cmd
}

// ldapAddr is where readiness is checked: port 389 on the first IPv4
// address of the first interface that has one.
func ldapAddr(interfaces []string) string {
	for _, name := range interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return net.JoinHostPort(ipn.IP.String(), "389")
			}
		}
	}
	return "127.0.0.1:389"
}

// State is the supervised Samba's state now.
func (s *Supervisor) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Supervisor) setState(f func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.state)
}

// Run runs Samba until ctx ends, restarting it with backoff whenever it
// dies; it returns nil once Samba is stopped, or an error when Samba cannot
// be started at all (not installed, not root).
//
// Samba starts as PID 1 of a PID namespace of its own: when its master dies
// (SIGKILL included), the kernel kills every process in the namespace, so
// none of its dozens of workers (and the smbd and winbindd it starts, which
// leave its process group) is orphaned. Pdeathsig kills the master when the
// appliance dies, even by SIGKILL. (Pdeathsig fires when the OS thread that
// started the child ends; Go ends a thread only under a goroutine that
// locked it and returned without unlocking, so do not call Run from one.)
func (s *Supervisor) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		if ctx.Err() != nil {
			s.setState(func(st *State) {
				*st = State{Phase: PhaseStopped, Since: time.Now(), Restarts: st.Restarts, LastError: st.LastError}
			})
			s.reporter.DirectoryEvent(Event{Time: time.Now(), Kind: "stopped"})
			return nil
		}
		started := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			continue // stopped as asked
		}
		var notStarted startError
		if errors.As(err, &notStarted) {
			s.setState(func(st *State) { st.Phase, st.Since, st.LastError = PhaseStopped, time.Now(), err.Error() })
			return fmt.Errorf("directory: %w", err)
		}
		if time.Since(started) > stableAfter {
			backoff = minBackoff
		}
		next := time.Now().Add(backoff)
		s.setState(func(st *State) {
			st.Phase, st.Since, st.PID, st.LastError, st.NextStart = PhaseRestarting, time.Now(), 0, err.Error(), next
			st.Restarts++
		})
		s.log.Warn("samba stopped; restarting", "err", err, "in", backoff)
		ev := Event{Time: time.Now(), Kind: SambaExited, Detail: fmt.Sprintf("%v; restarting in %s", err, backoff)}
		s.record(ev)
		s.reporter.DirectoryEvent(ev)
		select {
		case <-ctx.Done():
			continue
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// runOnce starts Samba, waits for it to answer and then for it to exit or
// ctx to end, and says why it stopped.
func (s *Supervisor) runOnce(ctx context.Context) error {
	cmd := exec.Command(s.command[0], s.command[1:]...)
	cmd.Dir = s.cfg.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Cloneflags: syscall.CLONE_NEWPID,
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // one pipe, lines in order
	if err := cmd.Start(); err != nil {
		return startError{err}
	}
	pid := cmd.Process.Pid
	s.setState(func(st *State) {
		st.Phase, st.Since, st.PID, st.NextStart = PhaseStarting, time.Now(), pid, time.Time{}
	})
	s.log.Info("samba started", "pid", pid)
	s.reporter.DirectoryEvent(Event{Time: time.Now(), Kind: "started", PID: pid})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		s.logLines(out, pid)
	}()
	exited := make(chan error, 1)
	go func() {
		<-logged // Wait closes the pipe: read it to the end first
		exited <- cmd.Wait()
	}()
	readyCtx, cancelReady := context.WithCancel(ctx)
	defer cancelReady()
	go s.awaitReady(readyCtx, pid)
	select {
	case err := <-exited:
		return exitError(err)
	case <-ctx.Done():
	}
	cancelReady()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		s.log.Warn("samba did not stop on SIGTERM; killing it", "pid", pid)
		cmd.Process.Kill() // PID 1 of its namespace: the kernel kills the rest
		<-exited
	}
	s.log.Info("samba stopped", "pid", pid)
	return ctx.Err()
}

// awaitReady marks Samba running once it answers.
func (s *Supervisor) awaitReady(ctx context.Context, pid int) {
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		if s.ready(ctx) {
			s.setState(func(st *State) {
				if st.PID == pid {
					st.Phase, st.Since = PhaseRunning, time.Now()
				}
			})
			s.log.Info("samba is ready", "pid", pid)
			ev := Event{Time: time.Now(), Kind: SambaReady, PID: pid}
			s.mu.Lock()
			if !s.downSince.IsZero() {
				ev.Detail = fmt.Sprintf("%.1f s after it stopped", ev.Time.Sub(s.downSince).Seconds())
			}
			s.mu.Unlock()
			s.record(ev)
			s.reporter.DirectoryEvent(ev)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logLines copies Samba's output into the appliance's log, a line each,
// but for its JSON authentication audit, which goes to the audit file.
func (s *Supervisor) logLines(r io.Reader, pid int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	auditFailed := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case isAuditLine(line) || strings.Contains(line, "LDAP Query: Duration was "):
			if !isAuditLine(line) {
				q, ok := parseSearchLine(line)
				if !ok {
					s.log.Debug("samba", "pid", pid, "line", line)
					continue
				}
				line = auditRecordLine(time.Now(), searchType, q)
			}
			if err := s.audit.write(line); err != nil && !auditFailed {
				auditFailed = true // once per run: the log is not flooded
				s.log.Warn("samba: cannot write the authentication audit", "file", s.audit.path, "err", err)
			}
		case worthLogging(line):
			s.log.Info("samba", "pid", pid, "line", line)
		default:
			s.log.Debug("samba", "pid", pid, "line", line)
		}
	}
}

// startError is a Samba that could not be started at all (not installed,
// no right to make a PID namespace): restarting would not help.
type startError struct{ err error }

func (e startError) Error() string { return "starting samba: " + e.err.Error() }
func (e startError) Unwrap() error { return e.err }

// exitError says how Samba ended on its own.
func exitError(err error) error {
	if err == nil {
		return errors.New("samba exited")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("samba was killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Errorf("samba exited with status %d", ee.ExitCode())
	}
	return err
}
