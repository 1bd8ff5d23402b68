package writefail_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
	"github.com/tanjay-lab/tanjay/appliance/internal/writefail/writefailtest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// TestAppenderHeals: a write that runs out of space is cut back out of the
// file, the lines stay buffered, the background retry waits for its
// backoff, and once there is room the file holds the header and every line
// whole, exactly once.
func TestAppenderHeals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u_ex240501.log")
	d := writefailtest.New(30)
	c := &clock{t: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)}
	a := writefail.Appender{Tracker: writefail.New("access log", slog.New(slog.DiscardHandler), c.now), Open: d.Open}
	if err := a.Switch(path, []byte("#header\r\n")); err != nil {
		t.Fatal(err)
	}
	a.Append([]byte("line one, long enough to not fit\r\n"))
	if err := a.Flush(false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Flush on a full disk: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("file holds %q after the failed write, want it cut back to empty", b)
	}
	st := a.Tracker.Status()
	if !st.Failing || st.Errors != 1 || !st.Since.Equal(c.t) {
		t.Errorf("Status = %+v, want failing since %v with 1 error", st, c.t)
	}
	a.Append([]byte("line two\r\n"))
	d.SetRoom(1 << 20)
	if err := a.Flush(false); err == nil {
		t.Error("Flush within the backoff wrote (or forgot the failure)")
	}
	c.t = c.t.Add(writefail.FirstRetry)
	if err := a.Flush(false); err != nil {
		t.Fatalf("Flush after the backoff with room again: %v", err)
	}
	if st := a.Tracker.Status(); st.Failing || st.Errors != 1 {
		t.Errorf("Status after recovery = %+v, want healthy with 1 error counted", st)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	want := "#header\r\nline one, long enough to not fit\r\nline two\r\n"
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Errorf("file = %q, want %q", b, want)
	}
}

// TestAppenderBackoff: the wait between background retries doubles from
// FirstRetry up to MaxRetry, and each forced write tries regardless.
func TestAppenderBackoff(t *testing.T) {
	c := &clock{t: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)}
	tr := writefail.New("journal", slog.New(slog.DiscardHandler), c.now)
	var waits []time.Duration
	for range 7 {
		tr.Failed(syscall.ENOSPC)
		start := c.t
		for !tr.Due() {
			c.t = c.t.Add(100 * time.Millisecond)
		}
		waits = append(waits, c.t.Sub(start))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", waits, want)
		}
	}
}

// TestAppenderBound: lines past MaxPending are dropped and counted, and
// the failure and the drop are logged once each however long it lasts.
func TestAppenderBound(t *testing.T) {
	var logs bytes.Buffer
	d := writefailtest.New(0)
	c := &clock{t: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)}
	a := writefail.Appender{Tracker: writefail.New("audit log", slog.New(slog.NewTextHandler(&logs, nil)), c.now), Open: d.Open, MaxPending: 25}
	a.Switch(filepath.Join(t.TempDir(), "a.csv"), nil)
	for range 5 {
		a.Append([]byte("0123456789\r\n"))
		a.Flush(true)
	}
	if a.Pending() != 24 || a.Dropped() != 3 {
		t.Errorf("pending %d bytes, dropped %d lines; want 24 and 3", a.Pending(), a.Dropped())
	}
	if n := bytes.Count(logs.Bytes(), []byte("cannot write audit log")); n != 2 {
		t.Errorf("%d log lines about the failure, want 2 (the failure, the drop):\n%s", n, logs.String())
	}
	d.SetRoom(1 << 20)
	if err := a.Flush(true); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(logs.Bytes(), []byte("audit log is written again")); n != 1 {
		t.Errorf("%d recovery log lines, want 1:\n%s", n, logs.String())
	}
}
