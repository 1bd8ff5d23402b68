package store

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fullDisk is a journal segment on a disk with room bytes left: a write
// beyond it writes what fits, as a real file system does, and fails with
// ENOSPC. failCut makes Truncate fail too; failSync makes Sync fail.
type fullDisk struct {
	*os.File
	mu                sync.Mutex
	room              int64
	failCut, failSync bool
	writes            int
}

func (f *fullDisk) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if int64(len(p)) <= f.room {
		f.room -= int64(len(p))
		return f.File.Write(p)
	}
	n, err := f.File.Write(p[:f.room])
	f.room -= int64(n)
	if err == nil {
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, err
}

func (f *fullDisk) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failCut {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Truncate(size)
}

func (f *fullDisk) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSync {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

func (f *fullDisk) set(room int64, failCut, failSync bool) {
	f.mu.Lock()
	f.room, f.failCut, f.failSync = room, failCut, failSync
	f.mu.Unlock()
}

// fillDisk puts the store's segment on a disk with room bytes left.
func fillDisk(t *testing.T, s *Store, room int64) *fullDisk {
	t.Helper()
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	fd := &fullDisk{File: s.journal.(*os.File), room: room}
	s.journal = fd
	return fd
}

func observeN(s *Store, from, n int) {
	for i := from; i < from+n; i++ {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), Time: t0.Add(time.Duration(i) * time.Second)})
	}
}

// clockAt is a settable clock for the backoff.
type clockAt struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clockAt) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clockAt) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestJournalHealsAfterDiskFull: a write that runs out of space leaves no
// partial record behind, fails operator changes with the disk's error,
// keeps the observations in memory, and once there is room again the next
// write lands all of them: a restart finds every observation and the
// change made after the disk came back, and Check finds the state clean.
func TestJournalHealsAfterDiskFull(t *testing.T) {
	dir := t.TempDir()
	clock := &clockAt{t: t0}
	opt := lazy
	opt.Now = clock.now
	s := openStore(t, dir, opt)
	observeN(s, 0, 3)
	_, err := s.flush(true)
	noErr(t, err)
	good := fileSize(t, segmentPath(dir, 1))

	fd := fillDisk(t, s, 10) // less than one record
	observeN(s, 3, 5)
	if _, err := s.flush(true); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk: %v, want ENOSPC", err)
	}
	if got := fileSize(t, segmentPath(dir, 1)); got != good {
		t.Errorf("segment is %d bytes after the failed write, want it cut back to %d", got, good)
	}
	h := s.WriteHealth()
	if !h.Failing || h.Errors != 1 || h.Held != 5 || !h.Since.Equal(t0) {
		t.Errorf("WriteHealth = %+v, want failing since %v, 1 error, 5 held", h, t0)
	}
	err = s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("AddTestDevice on a full disk: %v, want the disk's error", err)
	}
	if s.IsTestDevice(mac, "") {
		t.Error("a change that was not journaled became visible")
	}
	if n := len(s.Devices(nil)); n != 8 {
		t.Errorf("%d devices visible while the disk is full, want 8", n)
	}

	// Not due yet: the background flush does not touch the disk.
	writes := fd.writes
	observeN(s, 8, 1)
	if _, err := s.flush(false); err == nil {
		t.Error("flush within the backoff reported no failure")
	}
	if fd.writes != writes {
		t.Errorf("flush within the backoff wrote %d times", fd.writes-writes)
	}

	fd.set(1<<30, false, false) // the filler is deleted
	clock.add(5 * time.Second)
	_, err = s.flush(false)
	noErr(t, err)
	if h := s.WriteHealth(); h.Failing || h.Held != 0 || h.Errors != 2 {
		t.Errorf("WriteHealth after recovery = %+v, want healthy, 2 errors counted (the flush, the operator change), none held", h)
	}
	noErr(t, s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}))
	noErr(t, s.Err())
	noErr(t, s.Close())

	assertCleanState(t, dir)
	s = openStore(t, dir, lazy)
	if n := len(s.Devices(nil)); n != 9 {
		t.Errorf("%d devices after restart, want 9 (3 before, 5 during, 1 after the disk filled)", n)
	}
	if !s.IsTestDevice(mac, "") {
		t.Error("the test device added after recovery is gone after restart")
	}
}

// TestJournalCutFailsToo: when the cut after a failed write fails as well,
// the next write cuts first, so replay never sees a partial record before
// whole ones. A failed fsync is handled like a failed write.
func TestJournalCutFailsToo(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	observeN(s, 0, 2)
	_, err := s.flush(true)
	noErr(t, err)
	good := fileSize(t, segmentPath(dir, 1))

	fd := fillDisk(t, s, 20)
	fd.set(20, true, false)
	observeN(s, 2, 3)
	if _, err := s.flush(true); err == nil {
		t.Fatal("flush on a full disk succeeded")
	}
	if got := fileSize(t, segmentPath(dir, 1)); got != good+20 {
		t.Fatalf("segment is %d bytes, want %d: the partial record is still there", got, good+20)
	}
	fd.set(1<<30, false, false) // room again: the next write cuts first
	_, err = s.flush(true)
	noErr(t, err)
	assertCleanState(t, dir)

	fd.set(1<<30, false, true) // fsync fails
	observeN(s, 5, 1)
	if _, err := s.flush(true); err == nil || !strings.Contains(err.Error(), "fsync journal") {
		t.Fatalf("flush with a failing fsync: %v", err)
	}
	fd.set(1<<30, false, false)
	_, err = s.flush(true)
	noErr(t, err)
	noErr(t, s.Close())
	assertCleanState(t, dir)
	s = openStore(t, dir, lazy)
	if n := len(s.Devices(nil)); n != 6 {
		t.Errorf("%d devices after restart, want 6: each observation once", n)
	}
	for _, d := range s.Devices(nil) {
		if n := len(s.Events(nil, d.ID)); n != 1 {
			t.Errorf("%s has %d events after restart, want 1: each observation once", d.ID, n)
		}
	}
}

// TestHeldObservationsAreBounded: while the journal cannot be written, at
// most MaxHeldObservations wait in memory; the oldest go first.
func TestHeldObservationsAreBounded(t *testing.T) {
	dir := t.TempDir()
	opt := lazy
	opt.MaxHeldObservations = 4
	s := openStore(t, dir, opt)
	fd := fillDisk(t, s, 0)
	observeN(s, 0, 10)
	if _, err := s.flush(true); err == nil {
		t.Fatal("flush on a full disk succeeded")
	}
	if h := s.WriteHealth(); h.Held != 4 || h.Dropped != 6 {
		t.Errorf("WriteHealth = %+v, want 4 held and 6 dropped", h)
	}
	fd.set(1<<30, false, false)
	_, err := s.flush(true)
	noErr(t, err)
	noErr(t, s.Close())
	s = openStore(t, dir, lazy)
	var ips []string
	for _, d := range s.Devices(nil) {
		ips = append(ips, d.IP)
	}
	if len(ips) != 4 || !strings.Contains(strings.Join(ips, " "), "10.0.0.10") {
		t.Errorf("devices after restart %v, want the newest 4 (10.0.0.7 to 10.0.0.10)", ips)
	}
}

// assertCleanState: Check finds no damage and no torn tail.
func assertCleanState(t *testing.T, dir string) {
	t.Helper()
	rep, err := Check(dir)
	noErr(t, err)
	for _, f := range rep.Files {
		if f.TornTail != 0 || len(f.Corrupt) != 0 {
			t.Errorf("state check: %s has a torn tail of %d bytes and damage %+v", f.Name, f.TornTail, f.Corrupt)
		}
	}
}
