// Package writefailtest is a disk that fills up, for the tests of the
// logs that heal after one (writefail.Appender's Open).
package writefailtest

import (
	"os"
	"sync"
	"syscall"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
)

// Disk has Room bytes left for the files opened through it: a write
// beyond that writes what fits and fails with ENOSPC, as a real file
// system does. Its methods are safe for concurrent use.
type Disk struct {
	mu   sync.Mutex
	room int64
}

// New is a disk with room bytes left.
func New(room int64) *Disk { return &Disk{room: room} }

// SetRoom makes room bytes free (deleting a filler file).
func (d *Disk) SetRoom(room int64) {
	d.mu.Lock()
	d.room = room
	d.mu.Unlock()
}

// Open opens path for appending on the disk: an Appender's Open.
func (d *Disk) Open(path string) (writefail.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return file{f, d}, nil
}

type file struct {
	*os.File
	d *Disk
}

func (f file) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if int64(len(p)) <= f.d.room {
		f.d.room -= int64(len(p))
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:f.d.room])
	f.d.room -= int64(n)
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}
