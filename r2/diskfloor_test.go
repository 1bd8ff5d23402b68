package r2

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeDisk is a FreeSpaceFunc a test sets.
type fakeDisk struct {
	mu         sync.Mutex
	free, size uint64
	err        error
	reads      int
}

func (f *fakeDisk) set(free uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free, f.err = free, err
}

func (f *fakeDisk) read(string) (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.free, f.size, f.err
}

func (f *fakeDisk) readings() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func TestDiskFloorIsTheLargerOfPercentAndBytes(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name    string
		size    uint64
		percent int
		bytes   int64
		want    uint64
	}{
		{"small disk: 256 MiB", 4 * gib, 5, 256 << 20, 256 << 20},
		{"large disk: 5%", 100 * gib, 5, 256 << 20, 5 * gib},
		{"percent off", 100 * gib, 0, 256 << 20, 256 << 20},
		{"bytes off", 4 * gib, 5, 0, 4 * gib / 100 * 5},
		{"both off", 4 * gib, 0, 0, 0},
	} {
		d := NewDiskFloor(DiskFloorConfig{Dir: "/data", Percent: tc.percent, Bytes: tc.bytes,
			FreeSpace: func(string) (uint64, uint64, error) { return tc.size, tc.size, nil }})
		if err := d.Check(0); err != nil {
			t.Errorf("%s: Check on an empty disk: %v", tc.name, err)
		}
		if got := d.Stats().Floor; got != tc.want {
			t.Errorf("%s: floor %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestDiskFloorStopsUploadsAndCaptures(t *testing.T) {
	const floor = 256 << 20
	disk := &fakeDisk{free: 1 << 30, size: 4 << 30}
	var logs logBuffer
	d := NewDiskFloor(DiskFloorConfig{Dir: "/data", Percent: 5, Bytes: floor, FreeSpace: disk.read, Logger: logs.logger()})
	p := newPhoneFilesHandler(t, t.TempDir(), Caps{}, Caps{}, d, nil)
	upload := func(body []byte, contentLength int64) int {
		return p.upload("192.0.2.7", "/RequestHandler/CELog.txt?MAC=0004F2000001", body, contentLength).Code
	}
	if c := upload([]byte("log"), 3); c != 200 {
		t.Fatalf("upload above the floor: %d", c)
	}
	p.unidentified(t, "192.0.2.7", "<a>1</a>")

	// Nearly full: every upload and capture stops; check-ins go on.
	disk.set(floor-1, nil)
	for range 3 {
		if c := upload([]byte("log"), 3); c != http.StatusInsufficientStorage {
			t.Fatalf("upload below the floor: %d, want 507", c)
		}
		p.unidentified(t, "192.0.2.7", "<a>2</a>")
	}
	// Below the floor nothing more is written for phones, not even a
	// timeline event for each refusal.
	if len(p.obs.uploads) != 1 {
		t.Errorf("uploads reported: %+v, want only the stored one", p.obs.uploads)
	}
	if got := len(files(t, p.captureDir)); got != 1 {
		t.Errorf("%d captures on disk, want only the one from above the floor", got)
	}
	if n := strings.Count(logs.String(), "below its free-space floor"); n != 1 {
		t.Errorf("crossing logged %d times, want once:\n%s", n, logs.String())
	}

	// Just above the floor: a declared size that would cross it is
	// refused before the body is read; a chunked body is cut where it
	// would cross it.
	disk.set(floor+100<<10, nil)
	if c := upload(make([]byte, 200<<10), 200<<10); c != http.StatusInsufficientStorage {
		t.Errorf("upload declaring more than the room above the floor: %d, want 507", c)
	}
	if c := upload(make([]byte, 200<<10), -1); c != http.StatusInsufficientStorage {
		t.Errorf("chunked upload crossing the floor: %d, want 507", c)
	}
	if c := upload(make([]byte, 50<<10), -1); c != 200 {
		t.Errorf("upload that fits above the floor: %d, want 200", c)
	}
	if n := strings.Count(logs.String(), "above its free-space floor again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logs.String())
	}

	// A disk that cannot be measured is treated as full.
	disk.set(1<<30, errors.New("statfs: input/output error"))
	if c := upload([]byte("log"), 3); c != http.StatusInsufficientStorage {
		t.Errorf("upload with statfs failing: %d, want 507", c)
	}
	disk.set(1<<30, nil)
	if c := upload([]byte("log"), 3); c != 200 {
		t.Errorf("upload after statfs works again: %d", c)
	}
	st := d.Stats()
	if st.Low || st.Crossings != 4 || st.Refused == 0 {
		t.Errorf("stats %+v, want above the floor, 4 crossings, refusals counted", st)
	}
}

// TestDiskFloorRunPolls: Run reads the free space on its own, so a
// crossing is seen (and logged) with no phone writing.
func TestDiskFloorRunPolls(t *testing.T) {
	disk := &fakeDisk{free: 1 << 30, size: 4 << 30}
	var logs logBuffer
	d := NewDiskFloor(DiskFloorConfig{Dir: "/data", Percent: 5, Bytes: 256 << 20, Interval: time.Millisecond, FreeSpace: disk.read, Logger: logs.logger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for disk.readings() == 0 {
		runtime.Gosched()
	}
	disk.set(1<<20, nil)
	for !d.Stats().Low {
		runtime.Gosched() // Run reads every millisecond; the test's deadline bounds this
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if disk.readings() < 2 || !strings.Contains(logs.String(), "below its free-space floor") {
		t.Errorf("%d readings, log %q", disk.readings(), logs.String())
	}
}

func TestStatFS(t *testing.T) {
	free, size, err := StatFS(t.TempDir())
	if err != nil || size == 0 || free > size {
		t.Errorf("StatFS = %d free of %d, %v", free, size, err)
	}
	if _, _, err := StatFS("/nonexistent/tanjay"); err == nil || !strings.Contains(err.Error(), "/nonexistent/tanjay") {
		t.Errorf("StatFS of a missing directory: %v, want an error naming it", err)
	}
}

// TestDiskFloorOnATinyTmpfs runs the floor against statfs of a real, small
// filesystem: an 8 MiB tmpfs filled past a 4 MiB floor.
func TestDiskFloorOnATinyTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tanjay-test", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the fake-disk tests cover the floor", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	var logs logBuffer
	d := NewDiskFloor(DiskFloorConfig{Dir: mnt, Percent: 0, Bytes: 4 << 20, Logger: logs.logger()})
	p := newPhoneFilesHandler(t, mnt, Caps{}, Caps{}, d, nil)
	upload := func() int {
		return p.upload("192.0.2.7", "/RequestHandler/CELog.txt?MAC=0004F2000001", []byte("log"), -1).Code
	}
	if c := upload(); c != 200 {
		t.Fatalf("upload on an empty tmpfs: %d", c)
	}
	filler := filepath.Join(mnt, "operator-data")
	if err := os.WriteFile(filler, make([]byte, 5<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := upload(); c != http.StatusInsufficientStorage {
		t.Errorf("upload with %d MiB free of 8: %d, want 507", d.Stats().Free>>20, c)
	}
	p.unidentified(t, "192.0.2.7", "<a/>")
	if n := len(files(t, p.captureDir)); n != 0 {
		t.Errorf("%d captures kept below the floor", n)
	}
	os.Remove(filler)
	if c := upload(); c != 200 {
		t.Errorf("upload once space is back: %d, want 200", c)
	}
	if !strings.Contains(logs.String(), "below its free-space floor") || !strings.Contains(logs.String(), "above its free-space floor again") {
		t.Errorf("crossings not logged: %s", logs.String())
	}
}
