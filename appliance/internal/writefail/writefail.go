// Package writefail tracks a log file the appliance cannot write (a full
// disk, an I/O error) until it can again: when to try next, what to tell
// /healthz, /metrics and the dashboard, and one log line for the failure
// and one for the recovery.
//
// The journal (appliance/store), the OCS audit log (r2) and the access log
// (appliance/web) share it, so they retry and report the same way.
package writefail

import (
	"log/slog"
	"sync"
	"time"
)

// Backoff between retries of a failing writer: FirstRetry after the first
// failure, doubling on each failure after it, to at most MaxRetry.
const (
	FirstRetry = time.Second
	MaxRetry   = 30 * time.Second
)

// Status is a writer's health.
type Status struct {
	// Failing is true from a failed write until the next one that works.
	Failing bool
	// Err is the latest write error of the current failure (nil when not
	// failing).
	Err error
	// Since is when the current failure began (zero when not failing).
	Since time.Time
	// Errors counts every write error since start, across failures.
	Errors uint64
}

// Tracker is one writer's failure state. The zero value is not usable:
// make one with New. Its methods are safe for concurrent use.
type Tracker struct {
	name string
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	st      Status
	next    time.Time     // no background retry before then
	backoff time.Duration // the wait after the next failure
}

// New tracks the writer called name (e.g. "journal"); log hears of each
// failure and recovery once (nil: slog.Default()); now is the clock (nil:
// time.Now).
func New(name string, log *slog.Logger, now func() time.Time) *Tracker {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Tracker{name: name, log: log, now: now, backoff: FirstRetry}
}

// SetLogger replaces the logger (nil: slog.Default()).
func (t *Tracker) SetLogger(log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t.mu.Lock()
	t.log = log
	t.mu.Unlock()
}

func (t *Tracker) logger() *slog.Logger {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.log
}

// Name is the writer's name.
func (t *Tracker) Name() string { return t.name }

// Due reports whether a background retry may write now: always when the
// writer is not failing, else once its backoff has passed. Writes someone
// waits for (an operator change) try regardless.
func (t *Tracker) Due() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.st.Failing || !t.now().Before(t.next)
}

// Failed records a write error: the first of a failure is logged, and
// each pushes the next background retry back (1 s doubling to 30 s).
func (t *Tracker) Failed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.st.Errors++
	t.st.Err = err
	if !t.st.Failing {
		t.st.Failing, t.st.Since = true, now
		t.backoff = FirstRetry
		t.log.Error("cannot write "+t.name+"; retrying until it works (check the free space of the data directory)", "err", err)
	}
	t.next = now.Add(t.backoff)
	t.backoff = min(2*t.backoff, MaxRetry)
}

// Succeeded records a write that worked; the end of a failure is logged.
func (t *Tracker) Succeeded() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.st.Failing {
		return
	}
	t.log.Info(t.name+" is written again", "failing_for", t.now().Sub(t.st.Since).Round(time.Millisecond).String(), "errors", t.st.Errors)
	t.st.Failing, t.st.Err, t.st.Since = false, nil, time.Time{}
	t.backoff, t.next = FirstRetry, time.Time{}
}

// Status is the writer's health now.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}
