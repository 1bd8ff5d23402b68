package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/images"
)

// snapshotFormat is the header's Format; Open refuses any other.
const snapshotFormat = 1

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
	if err := atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error { return writeSnapshot(w, txn, lastSeq) }); err != nil {
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

// writeSnapshot writes one JSON value per line: a header, every object, and
// a trailer with their count, so that a cut-short file is never taken for a
// whole one.
func writeSnapshot(w io.Writer, txn *memdb.Txn, lastSeq uint64) error {
	sw := snapshotWriter{w: w, enc: json.NewEncoder(w)}
	if err := sw.enc.Encode(record{Op: opSnapshot, Format: snapshotFormat, LastSeq: lastSeq}); err != nil {
		return err
	}
	for _, table := range snapshotTables {
		it, err := txn.Get(table, indexID)
		if err != nil {
			return err
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			if err := sw.row(table, obj); err != nil {
				return err
			}
		}
	}
	return sw.enc.Encode(record{Op: opEnd, Count: sw.count})
}

// snapshotWriter writes rows as records and counts them.
type snapshotWriter struct {
	w     io.Writer
	enc   *json.Encoder
	buf   []byte
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
	return sw.enc.Encode(rec)
}

func (sw *snapshotWriter) event(e *Event) error {
	b, err := appendEventRecord(sw.buf[:0], e)
	if err != nil {
		return err
	}
	sw.buf = append(b, '\n')
	sw.count++
	_, err = sw.w.Write(sw.buf)
	return err
}

// loadNewestSnapshot loads the newest snapshot that reads completely into a
// new write transaction and returns it with the snapshot's seq (0 and an
// empty transaction when there is none).
func (s *Store) loadNewestSnapshot(seqs []uint64) (*memdb.Txn, uint64, error) {
	var errs []error
	for i := len(seqs) - 1; i >= 0; i-- {
		txn := s.db.Txn(true)
		err := s.loadSnapshot(txn, snapshotPath(s.dir, seqs[i]))
		if err == nil {
			return txn, seqs[i], nil
		}
		txn.Abort()
		s.lastSeq, s.view = 0, newView()
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, 0, fmt.Errorf("no readable snapshot: %w", errors.Join(errs...))
	}
	return s.db.Txn(true), 0, nil
}

func (s *Store) loadSnapshot(txn *memdb.Txn, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<16))
	var head record
	if err := dec.Decode(&head); err != nil {
		return fmt.Errorf("%s: header: %w", path, err)
	}
	if head.Op != opSnapshot || head.Format != snapshotFormat {
		return fmt.Errorf("%s: not a format %d snapshot", path, snapshotFormat)
	}
	s.lastSeq = head.LastSeq
	for count := 0; ; count++ {
		var rec record
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("%s: record %d: %w", path, count+1, err)
		}
		if rec.Op == opEnd {
			if rec.Count != count {
				return fmt.Errorf("%s: trailer counts %d records, read %d", path, rec.Count, count)
			}
			for _, tl := range s.view.timelines {
				if err := txn.Insert(tableEvents, tl); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			return nil
		}
		if err := s.loadSnapshotRecord(txn, rec); err != nil {
			return fmt.Errorf("%s: record %d: %w", path, count+1, err)
		}
	}
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
