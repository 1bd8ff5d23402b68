package writefail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Appender buffers the lines of one log file at a time (the day's audit or
// access log) and appends them to it, healing after a failed write: what
// a failed write left in the file is cut off, the lines stay buffered, and
// the next flush the Tracker allows tries again. A file never gets a
// partial line followed by whole ones.
//
// Buffered lines are bounded by MaxPending bytes; lines beyond it are
// dropped and counted. An Appender is not safe for concurrent use: its
// owner's lock guards it.
type Appender struct {
	// Tracker hears of every failed and every working write.
	Tracker *Tracker
	// MaxPending bounds the buffered bytes. Default (0): DefaultMaxPending.
	MaxPending int
	// FlushAt is the buffered size at which Append writes out at once while
	// the file can be written. Default (0): DefaultFlushAt.
	FlushAt int
	// Open opens path for appending, creating it. Default (nil): os.OpenFile
	// with O_WRONLY|O_APPEND|O_CREATE, mode 0644; tests put a full disk here.
	Open func(path string) (File, error)

	path       string
	header     []byte // written first when the file is empty
	f          File
	needHeader bool
	goodEnd    int64 // the file's size before the write that failed
	tailDirty  bool  // a failed write may have left bytes after goodEnd
	pending    []byte
	dropped    uint64
	dropLogged bool
}

// File is the log file an Appender writes: an *os.File opened O_APPEND.
type File interface {
	io.Writer
	io.Seeker
	Truncate(size int64) error
	Sync() error
	Close() error
}

// Defaults of an Appender.
const (
	DefaultMaxPending = 16 << 20
	DefaultFlushAt    = 64 << 10
)

// Switch makes path the file lines go to, written with header first when
// it is empty (a new day's file). Lines buffered for the previous file are
// written to it first; if that fails they are dropped (counted in
// Dropped) and the error returned.
func (a *Appender) Switch(path string, header []byte) error {
	if path == a.path && a.f != nil {
		return nil
	}
	var err error
	if a.path != "" && path != a.path {
		if err = a.Flush(true); err != nil {
			a.drop(uint64(bytes.Count(a.pending, []byte{'\n'})))
			a.pending = a.pending[:0]
		}
		err = errors.Join(err, a.closeFile())
	}
	a.path, a.header = path, header
	return err
}

// Path is the file lines go to ("" before the first Switch).
func (a *Appender) Path() string { return a.path }

// Append buffers one whole line (or several) for the file. While the file
// can be written, a buffer past FlushAt is written out at once; the error
// of that write is the Tracker's to report, so Append returns nothing.
func (a *Appender) Append(line []byte) {
	if len(a.pending)+len(line) > a.maxPending() {
		a.drop(1)
		return
	}
	a.pending = append(a.pending, line...)
	if len(a.pending) >= a.flushAt() && !a.Tracker.Status().Failing {
		a.Flush(false)
	}
}

// Dropped counts the lines dropped because the buffer was full, or because
// the previous day's file could not be written at the switch.
func (a *Appender) Dropped() uint64 { return a.dropped }

// Pending is how many bytes wait to be written.
func (a *Appender) Pending() int { return len(a.pending) }

func (a *Appender) drop(n uint64) {
	a.dropped += n
	if !a.dropLogged {
		a.dropLogged = true
		a.Tracker.logger().Warn("cannot write "+a.Tracker.Name()+" and its buffer is full: dropping lines until it can", "bound_bytes", a.maxPending())
	}
}

// Flush writes the buffered lines. Unless force is set, a failing file is
// only tried again once the Tracker's backoff has passed; until then Flush
// returns the last error.
func (a *Appender) Flush(force bool) error {
	if len(a.pending) == 0 && !a.tailDirty {
		return nil
	}
	if !force && !a.Tracker.Due() {
		return a.Tracker.Status().Err
	}
	if err := a.write(); err != nil {
		a.Tracker.Failed(err)
		return err
	}
	a.dropLogged = false
	a.Tracker.Succeeded()
	return nil
}

func (a *Appender) write() error {
	if a.path == "" {
		return nil
	}
	if a.f == nil {
		open := a.Open
		if open == nil {
			open = openAppend
		}
		f, err := open(a.path)
		if err != nil {
			return err
		}
		a.f, a.tailDirty = f, false
	}
	if a.tailDirty {
		if err := a.f.Truncate(a.goodEnd); err != nil {
			return fmt.Errorf("cut %s back to offset %d after a failed write: %w", a.path, a.goodEnd, err)
		}
		a.tailDirty = false
	}
	end, err := a.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	a.goodEnd = end
	if end == 0 && len(a.header) > 0 {
		a.needHeader = true
	}
	if a.needHeader {
		if _, err := a.f.Write(a.header); err != nil {
			a.cut()
			return err
		}
	}
	if _, err := a.f.Write(a.pending); err != nil {
		a.cut()
		return err
	}
	a.needHeader = false
	a.pending = a.pending[:0]
	if cap(a.pending) > 2*a.flushAt() {
		a.pending = nil
	}
	return nil
}

// cut removes what a failed write left after goodEnd, or leaves it for the
// next write to cut.
func (a *Appender) cut() {
	if a.f.Truncate(a.goodEnd) != nil {
		a.tailDirty = true
	}
}

// Close writes the buffered lines, fsyncs and closes the file.
func (a *Appender) Close() error {
	err := a.Flush(true)
	return errors.Join(err, a.closeFile())
}

func (a *Appender) closeFile() error {
	if a.f == nil {
		return nil
	}
	f := a.f
	if a.tailDirty {
		f.Truncate(a.goodEnd)
	}
	a.f, a.tailDirty, a.needHeader = nil, false, false
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("%s: %w", a.path, err)
	}
	return nil
}

func openAppend(path string) (File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

func (a *Appender) maxPending() int {
	if a.MaxPending > 0 {
		return a.MaxPending
	}
	return DefaultMaxPending
}

func (a *Appender) flushAt() int {
	if a.FlushAt > 0 {
		return a.FlushAt
	}
	return DefaultFlushAt
}
