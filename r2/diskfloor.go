package r2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of DiskFloorConfig. The floor is the larger of 5% of the
// filesystem and 256 MiB: 256 MiB keeps room on a small VM disk for the
// journal's next segment and snapshot (64 MiB each at most) and a firmware
// import (a CX700 image is about 30 MiB) while the operator makes space; 5%
// scales that on a large disk, where a fixed amount would be reached
// within seconds of a runaway writer.
const (
	DefaultDiskFloorPercent  = 5
	DefaultDiskFloorBytes    = 256 << 20
	DefaultDiskFloorInterval = 10 * time.Second
)

// ErrDiskLow is why an upload or a capture was refused: the data
// directory's filesystem has less free space than the floor.
var ErrDiskLow = errors.New("free space of the data directory is below the floor")

// FreeSpaceFunc reports the space available to the appliance (not to root)
// and the size of the filesystem holding dir, in bytes.
type FreeSpaceFunc func(dir string) (free, size uint64, err error)

// StatFS is the default FreeSpaceFunc: statfs(2) of dir.
func StatFS(dir string) (free, size uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), nil
}

// DiskFloorConfig configures a DiskFloor.
type DiskFloorConfig struct {
	// Dir is on the filesystem watched: the data directory. Required.
	Dir string
	// Percent of the filesystem's size kept free (DefaultDiskFloorPercent
	// is 5). Taken as given: 0 is no percentage.
	Percent int
	// Bytes kept free at least (DefaultDiskFloorBytes is 256 MiB). Taken as
	// given: 0 is no fixed amount. The floor is the larger of the two; with
	// both 0, uploads and captures stop only on a full disk.
	Bytes int64
	// Interval between two readings when nothing is written. Default 10s.
	Interval time.Duration
	// FreeSpace reads the filesystem. Default StatFS.
	FreeSpace FreeSpaceFunc
	// Logger hears of every crossing of the floor, once each. Default:
	// discard.
	Logger *slog.Logger
}

// DiskFloor stops what anonymous phones make the appliance write (log
// uploads, check-in captures) before the data directory's filesystem is so
// full that operator data (the journal, firmware imports) is at risk. It
// reads the free space every Interval (Run) and again before each body is
// accepted (Check), and counts the bytes it let through since the last
// reading (Take), so concurrent writers cannot all pass the last free
// megabytes of one stale reading. A reading that fails counts as below the
// floor: nothing anonymous is written to a disk that cannot be measured.
type DiskFloor struct {
	cfg DiskFloorConfig

	mu    sync.Mutex
	read  bool   // a reading was made
	free  uint64 // at the last reading
	floor uint64 // at the last reading
	spent uint64 // bytes Take allowed since the last reading
	low   bool
	err   error // of the last reading

	crossings, refused atomic.Uint64
}

// NewDiskFloor returns a DiskFloor; the first reading is made by the first
// Check, Take or Run. Percent is clamped to 0…100 and Bytes to 0 or more.
func NewDiskFloor(cfg DiskFloorConfig) *DiskFloor {
	cfg.Percent, cfg.Bytes = min(max(cfg.Percent, 0), 100), max(cfg.Bytes, 0)
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultDiskFloorInterval
	}
	if cfg.FreeSpace == nil {
		cfg.FreeSpace = StatFS
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &DiskFloor{cfg: cfg}
}

// Run reads the free space every Interval until ctx ends, so a crossing is
// logged and counted even when no phone writes. It returns nil.
func (d *DiskFloor) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		d.refresh()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check reads the free space now and reports ErrDiskLow when it is below
// the floor, or would be after n more bytes (a declared size; 0 when
// unknown). It counts nothing: the bytes are counted by Take as they are
// written.
func (d *DiskFloor) Check(n int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.admitLocked(n, false)
}

// Take counts n bytes about to be written against the last reading (and
// what Take let through since) and reports ErrDiskLow when they would take
// the free space below the floor. Refused bytes are not counted.
func (d *DiskFloor) Take(n int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.read {
		d.refreshLocked()
	}
	return d.admitLocked(n, true)
}

func (d *DiskFloor) admitLocked(n int64, count bool) error {
	if err := d.belowLocked(uint64(max(n, 0))); err != nil {
		d.refused.Add(1)
		return err
	}
	if count {
		d.spent += uint64(max(n, 0))
	}
	return nil
}

func (d *DiskFloor) belowLocked(n uint64) error {
	switch {
	case d.err != nil:
		return fmt.Errorf("%w: %w", ErrDiskLow, d.err)
	case d.low || d.free < d.floor+d.spent+n:
		return fmt.Errorf("%w (%d MiB free, floor %d MiB)", ErrDiskLow, (d.free-min(d.free, d.spent))>>20, d.floor>>20)
	}
	return nil
}

func (d *DiskFloor) refresh() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
}

// refreshLocked takes a new reading and logs a crossing of the floor.
func (d *DiskFloor) refreshLocked() {
	free, size, err := d.cfg.FreeSpace(d.cfg.Dir)
	floor := max(size/100*uint64(d.cfg.Percent), uint64(d.cfg.Bytes))
	low := err != nil || free < floor
	d.free, d.floor, d.spent, d.err, d.read = free, floor, 0, err, true
	if low == d.low {
		return
	}
	d.low = low
	d.crossings.Add(1)
	switch {
	case err != nil:
		d.cfg.Logger.Error("cannot read the data directory's free space: phone uploads and captures stop", "dir", d.cfg.Dir, "err", err)
	case low:
		d.cfg.Logger.Warn("data directory below its free-space floor: phone uploads and captures stop",
			"dir", d.cfg.Dir, "free_mib", free>>20, "floor_mib", floor>>20)
	default:
		d.cfg.Logger.Info("data directory above its free-space floor again: phone uploads and captures resume",
			"dir", d.cfg.Dir, "free_mib", free>>20, "floor_mib", floor>>20)
	}
}

// DiskFloorStats is what /metrics shows of a DiskFloor.
type DiskFloorStats struct {
	Free, Floor uint64 // at the last reading
	Low         bool   // below the floor (or unreadable) at the last reading
	Crossings   uint64 // times the floor was crossed, either way
	Refused     uint64 // writes refused for the floor
}

// Stats reports the last reading and the counts.
func (d *DiskFloor) Stats() DiskFloorStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DiskFloorStats{Free: d.free, Floor: d.floor, Low: d.low, Crossings: d.crossings.Load(), Refused: d.refused.Load()}
}
