package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

// snapshotFormat is the header's Format of the snapshots written now: 2,
// every line led by its CRC-32C, so that a flipped bit is found, with its
// offset, rather than loaded. Open also reads format 1 (bare JSON lines)
// and refuses any other.
const snapshotFormat = 2

// snapshotTables is the order tables are written in. The events table is
// written as single events; loading rebuilds the timelines from them.
var snapshotTables = []string{tableRules, tableImages, tableTestDevices, tableDevices, tableIPs, tableLeases, tableEvents}

// Snapshot writes the whole state to snapshot-<seq>.json, where seq is a new
// journal segment started at the same instant, then removes the older
// segments and snapshots. Writers are held up only while the segment is
// rotated, not while the snapshot is written.
func (s *Store) Snapshot() error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	seq, txn, lastSeq, err := s.rotate()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	path := snapshotPath(s.dir, seq)
	if err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		_, err := writeSnapshot(w, txn, lastSeq)
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
// segment seq+1. The read transaction it returns holds exactly the state of
// the segments before the new one.
func (s *Store) rotate() (seq uint64, txn *memdb.Txn, lastSeq uint64, err error) {
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	s.mu.Lock()
	s.commitBatchLocked()
	b := s.takePendingLocked()
	txn, lastSeq = s.db.Txn(false), s.lastSeq
	s.mu.Unlock()
	if err := s.writeJournal(b); err != nil {
		return 0, nil, 0, err
	}
	next, err := openSegment(s.dir, s.journalSeq+1)
	if err != nil {
		return 0, nil, 0, err
	}
	old := s.journal
	s.journal, s.journalSeq, s.journalBytes = next, s.journalSeq+1, 0
	if err := old.Close(); err != nil {
		return 0, nil, 0, fmt.Errorf("close journal segment: %w", err)
	}
	return s.journalSeq, txn, lastSeq, nil
}

// writeSnapshot writes one checksummed JSON value per line: a header,
// every object, and a trailer with their count, so that a cut-short file is
// never taken for a whole one. It returns how many objects it wrote.
func writeSnapshot(w io.Writer, txn *memdb.Txn, lastSeq uint64) (int, error) {
	sw := snapshotWriter{w: w}
	if err := sw.record(record{Op: opSnapshot, Format: snapshotFormat, LastSeq: lastSeq}); err != nil {
		return 0, err
	}
	for _, table := range snapshotTables {
		it, err := txn.Get(table, indexID)
		if err != nil {
			return sw.count, err
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if err := sw.row(table, obj); err != nil {
				return sw.count, err
			}
		}
	}
	return sw.count, sw.record(record{Op: opEnd, Count: sw.count})
}

// snapshotWriter writes rows as records and counts them.
type snapshotWriter struct {
	w     io.Writer
	buf   []byte
	line  []byte
	count int
}

// row writes one row; a timeline as its events, one per line, in the
// journal's fast encoding (there are hundreds of thousands).
func (sw *snapshotWriter) row(table string, obj any) error {
	var rec record
	switch o := obj.(type) {
	case *images.Rule:
		rec = record{Op: opRule, Rule: o}
	case *images.Image:
		rec = record{Op: opImage, Image: o}
	case *TestDevice:
		rec = record{Op: opTestDevice, TestDevice: o}
	case *Device:
		rec = record{Op: opDevice, Device: o}
	case *ipDevice:
		rec = record{Op: opIP, IPDevice: o}
	case *Lease:
		rec = record{Op: opLease, Lease: o}
	case *timeline:
		var err error
		o.all(func(e *Event) {
			if err == nil {
				err = sw.event(e)
			}
		})
		return err
	default:
		return fmt.Errorf("table %s holds a %T", table, obj)
	}
	sw.count++
	return sw.record(rec)
}

// record writes rec as one line; only rows count.
func (sw *snapshotWriter) record(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return sw.write(b)
}

func (sw *snapshotWriter) event(e *Event) error {
	b, err := appendEventRecord(sw.buf[:0], e)
	if err != nil {
		return err
	}
	sw.buf = b
	sw.count++
	return sw.write(b)
}

func (sw *snapshotWriter) write(payload []byte) error {
	sw.line = appendSnapshotLine(sw.line[:0], payload)
	_, err := sw.w.Write(sw.line)
	return err
}

// loadNewestSnapshot loads the newest snapshot into a new write transaction
// and returns it with the snapshot's seq (0 and an empty transaction when
// there is none). A damaged newest snapshot is a *CorruptError: an older
// one would silently miss the changes made since.
func (s *Store) loadNewestSnapshot(seqs []uint64) (*memdb.Txn, uint64, error) {
	if len(seqs) == 0 {
		return s.db.Txn(true), 0, nil
	}
	seq := seqs[len(seqs)-1]
	txn := s.db.Txn(true)
	if err := s.loadSnapshot(txn, snapshotPath(s.dir, seq)); err != nil {
		txn.Abort()
		return nil, 0, err
	}
	return txn, seq, nil
}

// loadSnapshot loads a whole, undamaged snapshot.
func (s *Store) loadSnapshot(txn *memdb.Txn, path string) error {
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
func (s *Store) readSnapshot(txn *memdb.Txn, path string) (snapshotScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshotScan{}, err
	}
	defer f.Close()
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
	for _, tl := range s.view.timelines {
		if err := txn.Insert(tableEvents, tl); err != nil {
			return sc, fmt.Errorf("%s: %w", path, err)
		}
	}
	return sc, nil
}

// loadSnapshotRecord inserts devices and events as they were; everything
// else is an operator record.
func (s *Store) loadSnapshotRecord(txn *memdb.Txn, rec record) error {
	switch {
	case rec.Op == opDevice && rec.Device != nil:
		s.view.devices[rec.Device.ID] = rec.Device
		return txn.Insert(tableDevices, rec.Device)
	case rec.Op == opIP && rec.IPDevice != nil:
		s.view.ips[rec.IPDevice.IP] = rec.IPDevice.DeviceID
		return txn.Insert(tableIPs, rec.IPDevice)
	case rec.Op == opEvent && rec.Event != nil:
		// Written by device, oldest first; loadSnapshot inserts the
		// timelines once all are read.
		id := rec.Event.DeviceID
		s.view.timelines[id] = s.view.timelines[id].appended(id, rec.Event, s.opt.MaxEventsPerDevice)
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
