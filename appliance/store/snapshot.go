package store

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"

	"github.com/hashicorp/go-memdb"
)

// snapshotFormat is the newest format of checksummed JSON lines: 2, every
// line led by its CRC-32C, so that a flipped bit is found, with its
// offset, rather than loaded. Snapshots are written in format 3 now
// (snapshot3.go); Open still reads formats 1 (bare JSON lines) and 2, and
// refuses any other.
const snapshotFormat = 2

// Snapshot writes the whole state to snapshot-<seq>.json, where seq is a new
// journal segment started at the same instant, then removes the older
// segments and snapshots. Writers are held up only while the segment is
// rotated, not while the snapshot is written.
func (s *Store) Snapshot() error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	seq, txn, addrs, lastSeq, err := s.rotate()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	path := snapshotPath(s.dir, seq)
	if err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		_, err := writeSnapshot(w, txn, addrs, lastSeq)
		return err
	}); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := removeBefore(s.dir, seq); err != nil {
		return fmt.Errorf("snapshot: remove old state: %w", err)
	}
	return nil
}

// rotate writes pending observations to the current segment and starts
// segment seq+1. The read transaction and the copy of the addresses (kept
// in the view only) it returns hold exactly the state of the segments
// before the new one.
func (s *Store) rotate() (seq uint64, txn *memdb.Txn, addrs map[string]string, lastSeq uint64, err error) {
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	s.mu.Lock()
	s.commitBatchLocked()
	b := s.takePendingLocked()
	txn, addrs, lastSeq = s.db.Txn(false), maps.Clone(s.view.ips), s.lastSeq
	s.mu.Unlock()
	if err := s.writeJournal(b); err != nil {
		return 0, nil, nil, 0, err
	}
	next, err := openSegment(s.dir, s.journalSeq+1)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	old := s.journal
	s.journal, s.journalSeq, s.journalBytes = next, s.journalSeq+1, 0
	if err := old.Close(); err != nil {
		return 0, nil, nil, 0, fmt.Errorf("close journal segment: %w", err)
	}
	return s.journalSeq, txn, addrs, lastSeq, nil
}

// loadNewestSnapshot loads the newest snapshot into a new load and returns
// it with the snapshot's seq (0 and an empty load when there is none). A
// damaged newest snapshot is a *CorruptError: an older one would silently
// miss the changes made since.
func (s *Store) loadNewestSnapshot(seqs []uint64) (*fleetLoad, uint64, error) {
	txn := s.beginLoad()
	if len(seqs) == 0 {
		return txn, 0, nil
	}
	seq := seqs[len(seqs)-1]
	if err := s.loadSnapshot(txn, snapshotPath(s.dir, seq)); err != nil {
		txn.abort()
		return nil, 0, err
	}
	return txn, seq, nil
}

// loadSnapshot loads a whole, undamaged snapshot.
func (s *Store) loadSnapshot(txn *fleetLoad, path string) error {
	sc, err := s.readSnapshot(txn, path)
	if err != nil {
		return err
	}
	if len(sc.damage) > 0 {
		return &CorruptError{Path: path, Damage: sc.damage[0], Files: 1}
	}
	return nil
}

// readSnapshot loads every valid record of the snapshot at path, skipping
// damage, which it returns.
func (s *Store) readSnapshot(txn *fleetLoad, path string) (snapshotScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshotScan{}, err
	}
	defer f.Close()
	if v3, err := isSnapshot3(f); err != nil {
		return snapshotScan{}, fmt.Errorf("read %s: %w", path, err)
	} else if v3 {
		return s.readSnapshot3(txn, f, path)
	}
	var sc snapshotScan
	scanErr, applyErr := pipelined(func(emit func(decodedRecord) error) error {
		var err error
		sc, err = scanSnapshot(f, func(off int64, rec record) error {
			return emit(decodedRecord{off: off, rec: rec})
		})
		return err
	}, func(r decodedRecord) error {
		if err := s.loadSnapshotRecord(txn, r.rec); err != nil {
			return fmt.Errorf("%s at offset %d: %w", path, r.off, err)
		}
		return nil
	})
	if err := errors.Join(applyErr, scanErr); err != nil {
		return sc, err
	}
	s.lastSeq = max(s.lastSeq, sc.lastSeq)
	return sc, nil
}

// isSnapshot3 reports whether f, at its start, is a format 3 snapshot,
// and leaves it at its start.
func isSnapshot3(f *os.File) (bool, error) {
	var magic [len(snapshotMagic)]byte
	n, err := io.ReadFull(f, magic[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	return n == len(magic) && string(magic[:]) == snapshotMagic, nil
}

// readSnapshot3 loads every valid record of the format 3 snapshot f,
// skipping damage, which it returns. One goroutine checks and decodes the
// records and builds the timelines, the caller's inserts them.
func (s *Store) readSnapshot3(txn *fleetLoad, f *os.File, path string) (snapshotScan, error) {
	info, err := f.Stat()
	if err != nil {
		return snapshotScan{}, fmt.Errorf("read %s: %w", path, err)
	}
	var sc snapshotScan
	scanErr, applyErr := pipelined(func(emit func(loadedItem) error) error {
		var err error
		sc, err = scanSnapshot3File(f, info.Size(), s.opt.MaxEventsPerDevice, func(off int64, it loadedItem) error {
			it.off = off
			return emit(it)
		})
		if err != nil {
			err = fmt.Errorf("read %s: %w", path, err)
		}
		return err
	}, func(it loadedItem) error {
		if err := s.applyLoaded(txn, it); err != nil {
			return fmt.Errorf("%s at offset %d: %w", path, it.off, err)
		}
		return nil
	})
	if err := errors.Join(applyErr, scanErr); err != nil {
		return sc, err
	}
	s.lastSeq = max(s.lastSeq, sc.lastSeq)
	return sc, nil
}

// applyLoaded inserts one decoded format 3 record.
func (s *Store) applyLoaded(txn *fleetLoad, it loadedItem) error {
	switch it.tag {
	case tagHeader:
		// Room for what follows, when nothing is loaded yet (the
		// counts are a hint: at most a million are believed).
		v := &s.view
		if len(v.devices) == 0 && len(v.ips) == 0 {
			n, ips := min(it.devices, 1<<20), min(it.ips, 1<<20)
			v.devices, v.ips = make(map[string]*deviceRow, n), make(map[string]string, ips)
		}
		return nil
	case tagPhone:
		// A timeline without a device (older appliances could leave
		// one) is of nobody the appliance lists: it is not kept.
		if it.row != nil {
			it.row.tl = it.tl
			s.view.devices[it.id] = it.row
		}
		s.lastSeq = max(s.lastSeq, it.lastSeq)
		return nil
	case tagAddrs:
		for _, r := range it.addrs {
			if d := s.view.devices[r.DeviceID]; d != nil {
				// The device's own strings, not copies.
				r.DeviceID = d.ID
				if d.IP == r.IP {
					r.IP = d.IP
				}
			}
			s.view.ips[r.IP] = r.DeviceID
		}
		return nil
	case tagJSON:
		switch it.rec.Op {
		case opRule, opImage, opTestDevice, opLease:
			return s.applyRecord(txn, it.rec)
		}
		return fmt.Errorf("a %q record where only rules, images, test devices and leases belong", it.rec.Op)
	}
	return fmt.Errorf("a record tagged %q in the middle of a snapshot", it.tag)
}

// loadSnapshotRecord inserts devices and events as they were; everything
// else is an operator record.
func (s *Store) loadSnapshotRecord(txn *fleetLoad, rec record) error {
	switch {
	case rec.Op == opDevice && rec.Device != nil:
		s.view.devices[rec.Device.ID] = &deviceRow{Device: *rec.Device}
		return nil
	case rec.Op == opIP && rec.IPDevice != nil:
		s.view.ips[rec.IPDevice.IP] = rec.IPDevice.DeviceID
		return nil
	case rec.Op == opEvent && rec.Event != nil:
		// Written by device, oldest first, after every device. The row
		// is not in memdb yet (commitLoad inserts it), so it is extended
		// in place. Events of no device are not kept (see applyLoaded).
		id := rec.Event.DeviceID
		if d := s.view.devices[id]; d != nil {
			d.tl = d.tl.appended(id, rec.Event, s.opt.MaxEventsPerDevice)
		}
		s.lastSeq = max(s.lastSeq, rec.Event.Seq)
		return nil
	case rec.Op == opEvent:
		return fmt.Errorf("incomplete %q record", rec.Op)
	}
	return s.applyRecord(txn, rec)
}

// removeBefore removes the segments before seq and every snapshot but seq's.
func removeBefore(dir string, seq uint64) error {
	st, err := listState(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range st.journals {
		if j < seq {
			errs = append(errs, os.Remove(segmentPath(dir, j)))
		}
	}
	for _, sn := range st.snapshots {
		if sn < seq {
			errs = append(errs, os.Remove(snapshotPath(dir, sn)))
		}
	}
	errs = append(errs, syncDir(dir))
	return errors.Join(errs...)
}
