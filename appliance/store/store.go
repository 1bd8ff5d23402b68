package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
)

// Options tunes a Store. The zero value means every default.
type Options struct {
	// FlushInterval is how often observations are written and fsynced
	// together (group commit). Default 100ms.
	FlushInterval time.Duration
	// SnapshotBytes is the journal size after which Open, or the background
	// compactor, writes a snapshot and starts over. Default 64 MiB.
	SnapshotBytes int64
	// MaxEventsPerDevice bounds each phone's timeline; the oldest events
	// are dropped. Default 500.
	MaxEventsPerDevice int
	// MaxTimelineBytes bounds the memory of each phone's timeline (its
	// encoded events, timeline.size); the oldest are dropped, the newest
	// always kept. Default 512 KiB: 500 ordinary events (20 to 30 bytes
	// each) fit many times over, and the count bound rules.
	MaxTimelineBytes int
	// MaxUnconfirmedDevices bounds the devices that have neither checked
	// in nor signed in (known only from DNS, DHCP, uploads, SIP or
	// directory events anyone can forge); the least recently seen are
	// evicted. Default 4096.
	MaxUnconfirmedDevices int
	// Now is the clock for events without a time. Default time.Now.
	Now func() time.Time
	// Logger hears of what Open repaired on its own (a torn journal tail
	// cut), and once each of a journal that cannot be written and of its
	// recovery. Default slog.Default().
	Logger *slog.Logger
	// MaxHeldObservations bounds the observations kept in memory while the
	// journal cannot be written (a full disk); they are written once it
	// can be again. Beyond the bound the oldest are dropped: they stay
	// visible but do not survive a restart. Default 65536.
	MaxHeldObservations int
}

func (o Options) withDefaults() Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.SnapshotBytes <= 0 {
		o.SnapshotBytes = 64 << 20
	}
	if o.MaxEventsPerDevice <= 0 {
		o.MaxEventsPerDevice = 500
	}
	if o.MaxTimelineBytes <= 0 {
		o.MaxTimelineBytes = DefaultMaxTimelineBytes
	}
	if o.MaxUnconfirmedDevices <= 0 {
		o.MaxUnconfirmedDevices = DefaultMaxUnconfirmedDevices
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxHeldObservations <= 0 {
		o.MaxHeldObservations = 1 << 16
	}
	return o
}

// lockName is the file in the state directory a running Store holds an
// exclusive flock on.
const lockName = "LOCK"

var errClosed = errors.New("state store is closed")

// ErrLocked is why Open or Repair cannot have the state directory: a
// running tanjay holds its lock.
var ErrLocked = errors.New("stop it first")

// Store is the appliance's state. Its methods are safe for concurrent use.
//
// Locks, always taken in this order: snapMu (one Snapshot at a time),
// journalMu (whoever writes the journal file: the flusher, an operator
// change, a snapshot's rotation, Close), mu (every memdb write, through one
// batch transaction; Seq; the pending journal buffer). mu is never held
// across disk I/O, so Observe never waits for the disk.
type Store struct {
	dir string
	opt Options
	db  *memdb.MemDB
	// testIDs caches the test devices' IDs for IsTestDevice (operator.go).
	testIDs atomic.Pointer[testIDs]
	lock    *os.File
	feed    feed

	snapMu sync.Mutex

	journalMu    sync.Mutex
	journal      segmentFile // nil once closed
	journalSeq   uint64
	journalBytes int64    // written since the newest snapshot
	spare        []record // a pending list to reuse
	frames       []byte   // encoding buffer
	// writes tracks a journal that cannot be written (a full disk) until
	// it can again. After a failed write the segment is cut back to
	// goodEnd, the end of its last whole record; tailDirty says that cut
	// is still to be done.
	writes    *writefail.Tracker
	goodEnd   int64
	tailDirty bool

	mu           sync.Mutex
	lastSeq      uint64     // of the newest event
	view         view       // what the batch holds, for the writer
	pending      []record   // not yet written to the journal (at most MaxHeldObservations while it cannot be)
	heldEvents   []Event    // where pending's events are kept, a block at a time (observe.go)
	dropped      uint64     // observations dropped from pending for that bound
	batchTxn     *memdb.Txn // open write transaction of not yet visible observations
	batchLen     int
	batchChanges []Change
	closed       bool
	dirty        atomic.Bool // batchTxn is open: readers commit it first

	// unconfirmed orders the devices that have neither checked in nor
	// signed in, for their bound (unconfirmed.go). Guarded by mu.
	unconfirmed unconfirmedTable

	droppedLogged atomic.Bool // the current write failure's drop is logged

	errMu      sync.Mutex
	failed     error // sticky: a bug (an encoding or apply failure) stopped the journal
	compactErr error // the last background compaction, nil when it worked

	recovered int64

	stop      chan struct{}
	compact   chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open loads the state in dir (normally <data>/state), creating dir if
// needed, and locks it against a second appliance. A torn journal tail (a
// bad record at the end of the last segment with nothing valid after it)
// is cut and logged; any other damage is a *CorruptError, and then nothing
// on disk is changed (Check reports, Repair salvages).
func Open(dir string, opt Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	return openLocked(dir, opt, lock)
}

// openLocked is Open once lock (dir's LOCK, flock'ed) is held; the Store
// owns the lock from here on, and releases it on failure.
func openLocked(dir string, opt Options, lock *os.File) (*Store, error) {
	opt = opt.withDefaults()
	s := &Store{
		dir:     dir,
		opt:     opt,
		lock:    lock,
		view:    newView(),
		stop:    make(chan struct{}),
		compact: make(chan struct{}, 1),
		writes:  writefail.New("journal", opt.Logger, opt.Now),
	}
	if err := s.load(); err != nil {
		if s.journal != nil {
			s.journal.Close()
		}
		lock.Close()
		if ce := (*CorruptError)(nil); errors.As(err, &ce) {
			if rep, cerr := Check(dir); cerr == nil {
				ce.Files = max(ce.Files, len(rep.Damaged()))
			}
		}
		return nil, fmt.Errorf("state %s: %w", dir, err)
	}
	s.wg.Add(2)
	go s.flushLoop()
	go s.compactLoop(s.journalBytes > opt.SnapshotBytes)
	return s, nil
}

// lockDir takes the exclusive lock on dir/LOCK. The kernel drops it when the
// process dies, so a crash never leaves the directory locked.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another tanjay is already using %s (it holds the lock on %s): %w", dir, path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// load rebuilds memdb from the newest readable snapshot and the journal
// segments after it, then opens the last segment for appending.
func (s *Store) load() error {
	if err := removeTemps(s.dir); err != nil {
		return err
	}
	st, err := listState(s.dir)
	if err != nil {
		return err
	}
	db, err := memdb.NewMemDB(newDBSchema())
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	s.db = db
	txn, base, err := s.loadNewestSnapshot(st.snapshots)
	if err != nil {
		return err
	}
	defer txn.abort()
	replay, err := segmentsFrom(st.journals, base)
	if err != nil {
		return err
	}
	for i, seq := range replay {
		n, cut, err := s.replaySegment(txn, segmentPath(s.dir, seq), i == len(replay)-1)
		if err != nil {
			return err
		}
		s.journalBytes += n
		s.recovered += cut
	}
	if err := s.boundLoaded(txn); err != nil {
		return err
	}
	if err := s.commitLoad(txn); err != nil {
		return err
	}

	seq := max(base, 1)
	if len(replay) > 0 {
		seq = replay[len(replay)-1]
	}
	f, err := openSegment(s.dir, seq)
	if err != nil {
		return err
	}
	s.journal, s.journalSeq = f, seq
	return removeBefore(s.dir, base)
}

// flushLoop group-commits observations every FlushInterval and asks for a
// compaction when the journal has grown past SnapshotBytes.
func (s *Store) flushLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if n, err := s.flush(false); err == nil && n > s.opt.SnapshotBytes {
			select {
			case s.compact <- struct{}{}:
			default:
			}
		}
	}
}

// compactLoop writes a snapshot whenever flushLoop asks. A failure is kept
// for Err and Close; the next request tries again. With atOpen, the
// journal Open replayed is already long, and it first writes a snapshot of
// what was loaded: in the background, as it would while serving, because a
// snapshot only shortens the next start (the journal holds everything) and
// writing one at 100,000 phones takes longer than the whole load. Failing,
// that one is only logged: a full disk must not keep the appliance from
// starting, and compaction tries again as the journal grows.
func (s *Store) compactLoop(atOpen bool) {
	defer s.wg.Done()
	if atOpen {
		if err := s.Snapshot(); err != nil {
			s.opt.Logger.Warn("store: no snapshot at start; the journal keeps everything, compaction tries again later", "err", err)
		}
	}
	for {
		select {
		case <-s.stop:
			return
		case <-s.compact:
		}
		err := s.Snapshot()
		s.errMu.Lock()
		s.compactErr = err
		s.errMu.Unlock()
	}
}

// Err reports why the store cannot write its journal: for good after a
// bug (only a restart recovers), or for now (operator changes fail with it
// and observations are held in memory until a write works again; see
// WriteHealth); or else why the last background compaction failed. It is
// nil when all is well.
func (s *Store) Err() error {
	if err := s.writes.Status().Err; err != nil {
		if f := s.failure(); f != nil {
			return f
		}
		return err
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	return s.compactErr
}

// WriteHealth is whether the journal can be written, and what is held in
// memory while it cannot.
type WriteHealth struct {
	writefail.Status
	// Held is how many observations wait in memory for the journal.
	Held int
	// Dropped counts observations dropped since Open because Held reached
	// Options.MaxHeldObservations.
	Dropped uint64
}

// WriteHealth reports the journal's writes. A journal stopped for good by
// a bug reports Failing too.
func (s *Store) WriteHealth() WriteHealth {
	h := WriteHealth{Status: s.writes.Status()}
	if err := s.failure(); err != nil && !h.Failing {
		h.Failing, h.Err = true, err
	}
	s.mu.Lock()
	h.Held, h.Dropped = len(s.pending), s.dropped
	s.mu.Unlock()
	return h
}

// fail makes err the store's sticky failure (the first one wins) and
// returns it.
func (s *Store) fail(err error) error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.failed == nil {
		s.failed = err
	}
	return s.failed
}

func (s *Store) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.failed
}

// RecoveredTail is how many bytes of torn journal tail Open cut.
func (s *Store) RecoveredTail() int64 { return s.recovered }

// Close writes and fsyncs pending observations, stops the background work,
// closes every subscription and releases the lock. It may be called more
// than once; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		_, err := s.flush(true)

		s.journalMu.Lock()
		s.mu.Lock()
		s.closed = true
		s.pending = nil
		s.mu.Unlock()
		err = errors.Join(err, s.journal.Close())
		s.journal = nil
		s.journalMu.Unlock()

		s.feed.close()
		s.errMu.Lock()
		err = errors.Join(err, s.compactErr)
		s.errMu.Unlock()
		s.closeErr = errors.Join(err, s.lock.Close())
	})
	return s.closeErr
}
