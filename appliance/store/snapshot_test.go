package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSnapshotThenJournal(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	noErr(t, s.Snapshot())
	noErr(t, s.AddTestDevice(TestDevice{ID: "SN-after", Kind: TestDeviceSerial, Added: t0}))
	s.Observe(withEvent(checkIn(vInterim, vRelease), func(e *Event) { e.Time = t1.Add(time.Hour) }))
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.99", Time: t1})
	want := dump(s)
	noErr(t, s.Close())

	st, err := listState(dir)
	noErr(t, err)
	if diff := cmp.Diff(stateFiles{journals: []uint64{2}, snapshots: []uint64{2}}, st, cmp.AllowUnexported(stateFiles{})); diff != "" {
		t.Errorf("state files after a snapshot (-want +got):\n%s", diff)
	}
	s2 := openStore(t, dir, lazy)
	if diff := cmp.Diff(want, dump(s2)); diff != "" {
		t.Errorf("snapshot + journal reopened (-before +after):\n%s", diff)
	}
	// A second snapshot with nothing new still reopens to the same state.
	noErr(t, s2.Snapshot())
	noErr(t, s2.Close())
	if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
		t.Errorf("second snapshot reopened (-before +after):\n%s", diff)
	}
}

// TestCrashBeforeSnapshotWritten: the segment was rotated but the snapshot
// never renamed into place; Open replays the old segments and the new one.
func TestCrashBeforeSnapshotWritten(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	noErr(t, s.Snapshot())
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.99", Time: t1})
	_, _, _, _, err := s.rotate() // segment 3 starts, no snapshot-3
	noErr(t, err)
	noErr(t, os.WriteFile(snapshotPath(dir, 3)+".tmp", []byte("{half"), 0o600))
	want := dump(s)
	noErr(t, s.Close())

	s2 := openStore(t, dir, lazy)
	if diff := cmp.Diff(want, dump(s2)); diff != "" {
		t.Errorf("reopened (-before +after):\n%s", diff)
	}
	if _, err := os.Stat(snapshotPath(dir, 3) + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temp file left behind: %v", err)
	}
}

func TestTruncatedSnapshotIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	noErr(t, s.Snapshot())
	noErr(t, s.Close())
	path := snapshotPath(dir, 2)
	noErr(t, os.Truncate(path, fileSize(t, path)/2))
	if _, err := Open(dir, lazy); err == nil {
		t.Fatal("Open loaded half a snapshot")
	}
}

func TestBackgroundCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{FlushInterval: time.Millisecond, SnapshotBytes: 4 << 10})
	for i := range 200 {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Time: t0})
	}
	waitFor(t, "a background snapshot", func() bool {
		st, err := listState(dir)
		return err == nil && len(st.snapshots) > 0
	})
	want := dump(s)
	noErr(t, s.Close())
	noErr(t, s.Err())
	if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
		t.Errorf("reopened after compaction (-before +after):\n%s", diff)
	}
}

func TestOpenCompactsLongJournal(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	for i := range 100 {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.0.0.%d", i), Time: t0})
	}
	want := dump(s)
	noErr(t, s.Close())

	// Open compacts in the background; Close waits for it.
	s2 := openStore(t, dir, Options{FlushInterval: time.Hour, SnapshotBytes: 1 << 10})
	if diff := cmp.Diff(want, dump(s2)); diff != "" {
		t.Errorf("while compacting at Open (-before +after):\n%s", diff)
	}
	noErr(t, s2.Close())
	st, err := listState(dir)
	noErr(t, err)
	if len(st.snapshots) != 1 || len(st.journals) != 1 || st.journals[0] != st.snapshots[0] {
		t.Errorf("after Open over a long journal: %+v, want one snapshot and its segment", st)
	}
	if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
		t.Errorf("compacted at Open (-before +after):\n%s", diff)
	}
}

// BenchmarkLoadSnapshot loads the same state from a format 1 snapshot
// (bare JSON lines), a format 2 one (each line checksummed) and a format
// 3 one (binary records), to show what each costs at start-up. Run with
// -count to alternate them.
func BenchmarkLoadSnapshot(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{FlushInterval: time.Hour, MaxEventsPerDevice: 50, Logger: lazy.Logger})
	if err != nil {
		b.Fatal(err)
	}
	populate(b, s)
	for i := range 10000 {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.%d.%d.%d", i/62500, i/250%250, i%250), Time: t0.Add(time.Duration(i) * time.Millisecond), Detail: "ucupdates-r2.lab"})
	}
	noErr(b, s.Snapshot())
	noErr(b, s.Close())
	v3, err := os.ReadFile(snapshotPath(dir, 2))
	noErr(b, err)
	rewriteFormat2(b, dir, 2)
	v2, err := os.ReadFile(snapshotPath(dir, 2))
	noErr(b, err)
	var v1 []byte
	for _, line := range bytes.SplitAfter(v2, []byte("\n")) {
		if len(line) > crcPrefix {
			v1 = append(v1, line[crcPrefix:]...)
		}
	}
	v1 = bytes.Replace(v1, []byte(`"format":2`), []byte(`"format":1`), 1)
	for _, tt := range []struct {
		name string
		data []byte
	}{{"format=1", v1}, {"format=2", v2}, {"format=3", v3}} {
		path := filepath.Join(b.TempDir(), "snapshot-00000002.json")
		noErr(b, os.WriteFile(path, tt.data, 0o600))
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.data)))
			for b.Loop() {
				st, err := scratchStore(dir, Options{MaxEventsPerDevice: 50})
				noErr(b, err)
				txn := st.beginLoad()
				noErr(b, st.loadSnapshot(txn, path))
				noErr(b, st.commitLoad(txn))
			}
		})
	}
}

// TestOpenOnFullDiskSkipsTheSnapshot: a journal long enough for a snapshot
// at Open, on a disk with no room for it: Open still succeeds (the journal
// holds everything; an appliance that could not start would stay down),
// says so in the log, and a later Open has the same state.
func TestOpenOnFullDiskSkipsTheSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs small enough to fill")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tanjay-storefull", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dir := filepath.Join(mnt, "state")
	s := openStore(t, dir, lazy)
	for i := range 100 {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.0.0.%d", i), Time: t0})
	}
	want := dump(s)
	noErr(t, s.Close())
	// Fill what is left.
	f, err := os.Create(filepath.Join(mnt, "filler"))
	noErr(t, err)
	for chunk := make([]byte, 4096); ; {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for one := make([]byte, 1); ; {
		if _, err := f.Write(one); err != nil {
			break
		}
	}
	f.Close()

	var log bytes.Buffer
	s2, err := Open(dir, Options{FlushInterval: time.Hour, SnapshotBytes: 1 << 10, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	if diff := cmp.Diff(want, dump(s2)); diff != "" {
		t.Errorf("state on a full disk (-before +after):\n%s", diff)
	}
	s2.Close() // waits for the compaction Open started
	if !strings.Contains(log.String(), "no snapshot at start") || !strings.Contains(log.String(), "no space left on device") {
		t.Errorf("log:\n%s", log.String())
	}
	s2.Close()
	os.Remove(filepath.Join(mnt, "filler"))
	s3 := openStore(t, dir, lazy)
	if diff := cmp.Diff(want, dump(s3)); diff != "" {
		t.Errorf("state after the disk has room (-before +after):\n%s", diff)
	}
}
