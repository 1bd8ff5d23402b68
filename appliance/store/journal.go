package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// Record ops. Operator records carry the resulting objects, so replay never
// re-runs a transition; an event record carries the event with its Seq, Time
// and DeviceID assigned, and replay re-derives the device from it exactly as
// Observe did (merges and the event bound included).
const (
	opRule             = "rule"              // Rule
	opImage            = "image"             // Image, and Rule when it changed with it
	opImport           = "import"            // Images and the Rules they changed: one import, whole
	opTestDevice       = "testdevice"        // TestDevice, put
	opTestDeviceDelete = "testdevice-delete" // ID
	opEvent            = "event"             // Event
	opLease            = "lease"             // Lease, put

	// Snapshots only.
	opSnapshot = "snapshot" // header: Format, LastSeq
	opDevice   = "device"   // Device
	opIP       = "ip"       // IPDevice
	opEnd      = "end"      // trailer: Count of the records between
)

// record is one journal payload or snapshot line.
type record struct {
	Op         string         `json:"op"`
	Rule       *images.Rule   `json:"rule,omitempty"`
	Image      *images.Image  `json:"image,omitempty"`
	Images     []images.Image `json:"images,omitempty"`
	Rules      []images.Rule  `json:"rules,omitempty"`
	TestDevice *TestDevice    `json:"testdevice,omitempty"`
	ID         string         `json:"id,omitempty"`
	Event      *Event         `json:"event,omitempty"`
	Lease      *Lease         `json:"lease,omitempty"`
	Device     *Device        `json:"device,omitempty"`
	IPDevice   *ipDevice      `json:"ip_device,omitempty"`
	Format     int            `json:"format,omitempty"`
	LastSeq    uint64         `json:"last_seq,omitempty"`
	Count      int            `json:"count,omitempty"`
}

// Framing: [payload length u32 LE][CRC-32C of payload u32 LE][payload].
const (
	frameHeader = 8
	maxPayload  = 16 << 20 // a longer length is corruption, not a record
	maxSpare    = 1 << 14  // records: longer pending lists are not kept for reuse
	maxFrames   = 1 << 20  // bytes encoded before they are written out
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// appendRecordFrame encodes rec straight into a frame at the end of dst.
func appendRecordFrame(dst []byte, rec record) ([]byte, error) {
	if rec.Op != opEvent || rec.Event == nil {
		payload, err := json.Marshal(rec)
		return appendFrame(dst, payload), err
	}
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	dst, err := appendEventRecord(dst, rec.Event)
	payload := dst[start+frameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst, err
}

func segmentPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("journal-%08d.log", seq))
}

func snapshotPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("snapshot-%08d.json", seq))
}

// stateFiles are the sequence numbers of the segments and snapshots in a
// state directory, ascending.
type stateFiles struct{ journals, snapshots []uint64 }

// listState reads dir.
func listState(dir string) (stateFiles, error) {
	var st stateFiles
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, err
	}
	for _, e := range entries {
		name := e.Name()
		if seq, ok := parseSeq(name, "journal-", ".log"); ok {
			st.journals = append(st.journals, seq)
		} else if seq, ok := parseSeq(name, "snapshot-", ".json"); ok {
			st.snapshots = append(st.snapshots, seq)
		}
	}
	slices.Sort(st.journals)
	slices.Sort(st.snapshots)
	return st, nil
}

// removeTemps removes the temp files a crash left behind. Only Open calls
// it: at any other time a temp file may be a snapshot being written.
func removeTemps(dir string) error {
	temps, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if err != nil {
		return err
	}
	var errs []error
	for _, path := range temps {
		errs = append(errs, os.Remove(path))
	}
	return errors.Join(errs...)
}

func parseSeq(name, prefix, suffix string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, suffix); !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// segmentsFrom is the segments to replay on top of snapshot base (0: no
// snapshot). They must follow on without a gap, or state would be missing.
func segmentsFrom(journals []uint64, base uint64) ([]uint64, error) {
	want := max(base, 1)
	var out []uint64
	for _, seq := range journals {
		if seq < base {
			continue
		}
		if seq != want {
			return nil, fmt.Errorf("journal segment %d is missing (found %d after snapshot %d)", want, seq, base)
		}
		out = append(out, seq)
		want++
	}
	return out, nil
}

// replaySegment applies every good record of the segment at path. When a
// bad record (short header, zero or oversized length, short payload, bad
// CRC, a payload that does not decode) stops the replay, the rest of the
// file is scanned for valid records: if none follows and this is the last
// segment, the bad bytes are a torn tail, cut off the file and logged;
// otherwise the segment is corrupt and a *CorruptError says where, with
// nothing changed on disk. It returns the bytes kept and cut. A record
// that decodes but does not apply is an error too.
func (s *Store) replaySegment(txn *fleetLoad, path string, last bool) (kept, cut int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size := info.Size()
	r := bufio.NewReaderSize(f, 1<<16)
	readErr, applyErr := pipelined(func(emit func(decodedRecord) error) error {
		var hdr [frameHeader]byte
		var payload []byte
		var dec recordDecoder
		for off := int64(0); ; {
			n, ok, err := readFrame(r, hdr[:], &payload, size-off)
			if err != nil {
				return fmt.Errorf("%s at offset %d: %w", path, off, err)
			}
			if !ok {
				return nil
			}
			rec, err := dec.decode(payload)
			if err != nil {
				return nil // checksum good, payload not a record: damage like any other
			}
			if err := emit(decodedRecord{off: off, n: n, rec: rec}); err != nil {
				return err
			}
			off += n
		}
	}, func(r decodedRecord) error {
		if err := s.applyRecord(txn, r.rec); err != nil {
			return fmt.Errorf("%s at offset %d: %w", path, r.off, err)
		}
		kept += r.n
		return nil
	})
	if err := errors.Join(applyErr, readErr); err != nil {
		return kept, 0, err
	}
	if kept == size {
		return kept, 0, nil
	}
	rest := make([]byte, size-kept)
	if _, err := f.ReadAt(rest, kept); err != nil {
		return kept, 0, fmt.Errorf("%s at offset %d: %w", path, kept, err)
	}
	_, damage := scanFrames(rest, nil)
	if !last || !isTornTail(damage, int64(len(rest))) {
		d := damage[0]
		d.Offset += kept
		if !last && d.ValidAfter == 0 {
			d.Reason += " at the end of a segment that is not the last one"
		}
		return kept, 0, &CorruptError{Path: path, Damage: d, Files: 1}
	}
	if err := f.Truncate(kept); err != nil {
		return kept, 0, fmt.Errorf("cut torn tail of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return kept, 0, fmt.Errorf("cut torn tail of %s: %w", path, err)
	}
	s.opt.Logger.Warn("cut a torn tail off the journal: nothing valid follows it (a write a crash interrupted)",
		"segment", filepath.Base(path), "offset", kept, "bytes", size-kept)
	return kept, size - kept, nil
}

// readFrame reads one journal record (JSON) into *payload. ok is false at
// the first bad or missing record; err is set only for a failing read.
func readFrame(r io.Reader, hdr []byte, payload *[]byte, left int64) (n int64, ok bool, err error) {
	n, ok, err = readFrameAny(r, hdr, payload, left)
	if ok && (*payload)[0] != '{' {
		return 0, false, nil
	}
	return n, ok, err
}

// readFrameAny reads one record framed as the journal's and format 3's
// are (length, CRC-32C, payload) into *payload, whatever the payload.
func readFrameAny(r io.Reader, hdr []byte, payload *[]byte, left int64) (n int64, ok bool, err error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, false, tailOrError(err)
	}
	length := binary.LittleEndian.Uint32(hdr[:4])
	if length == 0 || length > maxPayload || int64(length) > left-frameHeader {
		return 0, false, nil
	}
	*payload = slices.Grow((*payload)[:0], int(length))[:length]
	if _, err := io.ReadFull(r, *payload); err != nil {
		return 0, false, tailOrError(err)
	}
	if crc32.Checksum(*payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return 0, false, nil
	}
	return frameHeader + int64(length), true, nil
}

// tailOrError is nil for a short read (the file ends: a torn tail or none)
// and err for a real read failure.
func tailOrError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// applyRecord applies one journal or snapshot record inside txn. Replay and
// operator changes both use it, so what is live is what a restart rebuilds.
func (s *Store) applyRecord(txn rows, rec record) error {
	switch {
	case rec.Op == opRule && rec.Rule != nil:
		return txn.Insert(tableRules, rec.Rule)
	case rec.Op == opImage && rec.Image != nil:
		if rec.Rule != nil {
			if err := txn.Insert(tableRules, rec.Rule); err != nil {
				return err
			}
		}
		return txn.Insert(tableImages, rec.Image)
	case rec.Op == opImport && len(rec.Images) > 0:
		for i := range rec.Rules {
			if err := txn.Insert(tableRules, &rec.Rules[i]); err != nil {
				return err
			}
		}
		for i := range rec.Images {
			if err := txn.Insert(tableImages, &rec.Images[i]); err != nil {
				return err
			}
		}
		return nil
	case rec.Op == opTestDevice && rec.TestDevice != nil:
		return txn.Insert(tableTestDevices, rec.TestDevice)
	case rec.Op == opTestDeviceDelete:
		_, err := txn.DeleteAll(tableTestDevices, indexID, rec.ID)
		return err
	case rec.Op == opLease && rec.Lease != nil:
		return txn.Insert(tableLeases, rec.Lease)
	case rec.Op == opEvent && rec.Event != nil:
		s.lastSeq = max(s.lastSeq, rec.Event.Seq)
		_, _, err := s.observeTxn(txn, rec.Event)
		return err
	}
	return fmt.Errorf("unknown or incomplete %q record", rec.Op)
}

// changes is what an operator record changes, for the feed.
func (rec record) changes() []Change {
	switch rec.Op {
	case opRule:
		return []Change{{Table: tableRules, ID: rec.Rule.Key.ID()}}
	case opImage:
		c := []Change{{Table: tableImages, ID: rec.Image.ID()}}
		if rec.Rule != nil {
			c = append([]Change{{Table: tableRules, ID: rec.Rule.Key.ID()}}, c...)
		}
		return c
	case opImport:
		var c []Change
		for _, r := range rec.Rules {
			c = append(c, Change{Table: tableRules, ID: r.Key.ID()})
		}
		for _, im := range rec.Images {
			c = append(c, Change{Table: tableImages, ID: im.ID()})
		}
		return c
	case opTestDevice:
		return []Change{{Table: tableTestDevices, ID: rec.TestDevice.ID}}
	case opTestDeviceDelete:
		return []Change{{Table: tableTestDevices, ID: rec.ID}}
	case opLease:
		return []Change{{Table: tableLeases, ID: rec.Lease.MAC}}
	}
	return nil
}

// takePendingLocked hands the records not yet written to a journal
// writer. Called with journalMu and mu held.
func (s *Store) takePendingLocked() []record {
	recs := s.pending
	s.pending, s.spare = s.spare, nil
	return recs
}

// flush writes and fsyncs pending observations, and makes them visible in
// memdb if no reader has; it returns the journal's size since the newest
// snapshot. While the journal cannot be written, a flush that is not
// forced only retries once the backoff has passed (writefail), and keeps
// the observations meanwhile in memory, at most MaxHeldObservations.
func (s *Store) flush(force bool) (int64, error) {
	s.journalMu.Lock()
	defer s.journalMu.Unlock()
	s.mu.Lock()
	s.commitBatchLocked()
	if !force && !s.writes.Due() {
		s.trimHeldLocked()
		s.mu.Unlock()
		return s.journalBytes, s.writes.Status().Err
	}
	recs := s.takePendingLocked()
	s.mu.Unlock()
	err := s.writeJournal(recs)
	return s.journalBytes, err
}

// writeJournal encodes recs, appends them to the current segment and
// fsyncs it. Called with journalMu held. Encoding here rather than in
// Observe keeps JSON off the check-in path.
//
// A failed write or fsync (a full disk) cuts the segment back to its last
// good offset, so that replay never meets a partial record followed by
// whole ones (which it would take for corruption), and puts the
// observations among recs back in front of the pending ones, to be written
// by the next attempt; an operator record is dropped (its caller fails
// with the error and changes nothing). If the cut itself fails it is
// retried before the next write. The failure is tracked by s.writes: the
// store goes on and heals by itself once a write works again. Only an
// encoding failure (a bug) stops the journal for good.
func (s *Store) writeJournal(recs []record) error {
	if err := s.failure(); err != nil {
		s.recycle(recs)
		return err
	}
	if s.journal == nil {
		s.recycle(recs)
		return errClosed
	}
	if len(recs) == 0 {
		s.recycle(recs)
		return nil
	}
	if err := s.cutTail(); err != nil {
		return s.writeFailed(recs, err)
	}
	end, err := s.journal.Seek(0, io.SeekEnd)
	if err != nil {
		return s.writeFailed(recs, fmt.Errorf("write journal: %w", err))
	}
	s.goodEnd = end
	b := s.frames[:0]
	var written int64
	for i, rec := range recs {
		var err error
		if b, err = appendRecordFrame(b, rec); err != nil {
			s.recycle(recs)
			return s.fail(fmt.Errorf("encode %s record: %w", rec.Op, err))
		}
		if len(b) >= maxFrames || i == len(recs)-1 {
			if _, err := s.journal.Write(b); err != nil {
				s.keepFrames(b)
				s.tailDirty = true
				return s.writeFailed(recs, fmt.Errorf("write journal: %w", err))
			}
			written += int64(len(b))
			b = b[:0]
		}
	}
	s.keepFrames(b)
	if err := s.journal.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the pages:
		// what the file holds is unknown, so it is cut and written again.
		s.tailDirty = true
		return s.writeFailed(recs, fmt.Errorf("fsync journal: %w", err))
	}
	s.journalBytes += written
	if s.writes.Status().Failing {
		s.droppedLogged.Store(false)
		s.writes.Succeeded()
	}
	s.recycle(recs)
	return nil
}

// keepFrames keeps the encoding buffer for the next write unless it grew
// too large.
func (s *Store) keepFrames(b []byte) {
	if cap(b) <= 2*maxFrames {
		s.frames = b[:0]
	}
}

// recycle lets recs' events go and keeps the slice for reuse.
func (s *Store) recycle(recs []record) {
	clear(recs)
	if cap(recs) <= maxSpare {
		s.spare = recs[:0]
	}
}

// cutTail cuts what a failed write left after the segment's last good
// record, if anything. Called with journalMu held.
func (s *Store) cutTail() error {
	if !s.tailDirty {
		return nil
	}
	if err := s.journal.Truncate(s.goodEnd); err != nil {
		return fmt.Errorf("cut journal back to offset %d after a failed write: %w", s.goodEnd, err)
	}
	if err := s.journal.Sync(); err != nil {
		return fmt.Errorf("cut journal back to offset %d after a failed write: %w", s.goodEnd, err)
	}
	s.tailDirty = false
	return nil
}

// writeFailed handles a failed journal write of recs: the segment is cut
// back at once if it can be, the observations are held for the next
// attempt, and the failure is counted. It returns err. Called with
// journalMu held.
func (s *Store) writeFailed(recs []record, err error) error {
	s.writes.Failed(err)
	s.cutTail() // a failure here is retried by the next write
	held := recs[:0]
	for _, rec := range recs {
		if rec.Op == opEvent {
			held = append(held, rec)
		}
	}
	clear(recs[len(held):])
	s.mu.Lock()
	if !s.closed {
		s.pending = append(held, s.pending...)
		s.trimHeldLocked()
	}
	s.mu.Unlock()
	return err
}

// trimHeldLocked drops the oldest pending observations beyond
// MaxHeldObservations. They stay in memdb but will not survive a restart.
// Called with mu held.
func (s *Store) trimHeldLocked() {
	over := len(s.pending) - s.opt.MaxHeldObservations
	if over <= 0 {
		return
	}
	clear(s.pending[:over])
	s.pending = append(s.pending[:0], s.pending[over:]...)
	if s.droppedLogged.CompareAndSwap(false, true) {
		s.opt.Logger.Warn("the journal cannot be written and the observations kept for it reached the bound: dropping the oldest (they are lost at the next restart)",
			"bound", s.opt.MaxHeldObservations)
	}
	s.dropped += uint64(over)
}

// segmentFile is the journal segment being appended to: an *os.File
// opened O_APPEND, or in tests one that fails like a full disk.
type segmentFile interface {
	io.Writer
	io.Seeker
	Sync() error
	Truncate(size int64) error
	Close() error
}

// openSegment opens segment seq for appending, creating it if needed.
func openSegment(dir string, seq uint64) (*os.File, error) {
	path := segmentPath(dir, seq)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// syncDir fsyncs a directory so that creations, renames and removals in it
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
