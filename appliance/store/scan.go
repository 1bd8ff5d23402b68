package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strconv"
)

// Damage is one stretch of a state file that holds no valid record: the
// bytes from Offset up to the next valid record, or to the end of the file.
type Damage struct {
	Offset int64 // byte offset where the damage starts
	Length int64 // bytes skipped to the next valid record; 0 for a structural fault
	// ValidAfter is how many valid records follow the damage in the same
	// file.
	ValidAfter int
	// Reason says what is wrong, for a person.
	Reason string
}

// CorruptError is why Open refuses a state directory: a damaged record that
// is not a torn tail. Open changes nothing on disk when it returns one.
type CorruptError struct {
	Path string // the segment or snapshot
	Damage
	// Files is how many damaged files the whole directory holds (at least
	// 1); Check lists them all.
	Files int
}

func (e *CorruptError) Error() string {
	data := ""
	if dir := filepath.Dir(e.Path); filepath.Base(dir) == "state" {
		data = " --data " + filepath.Dir(dir)
	}
	more := ""
	if e.Files > 1 {
		more = fmt.Sprintf(" (%d files are damaged)", e.Files)
	}
	return fmt.Sprintf("%s is corrupt at byte offset %d: %s, and %d valid %s follow it, so it is not a torn tail%s. "+
		"Nothing on disk was changed: run 'tanjay state check%s' to see every damaged record, then, with tanjay serve stopped, "+
		"'tanjay state repair%s' to keep every valid record (it keeps a copy of each file it changes)",
		e.Path, e.Offset, e.Reason, e.ValidAfter, plural(e.ValidAfter, "record", "records"), more, data, data)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// frameAt is the length of the whole, checksummed journal frame at b[off:]
// whose payload decodes as a record, or 0 when there is none.
func frameAt(b []byte, off int) (int, record) {
	var rec record
	if len(b)-off < frameHeader {
		return 0, rec
	}
	length := binary.LittleEndian.Uint32(b[off:])
	if length == 0 || length > maxPayload || int64(length) > int64(len(b)-off-frameHeader) {
		return 0, rec
	}
	payload := b[off+frameHeader : off+frameHeader+int(length)]
	if payload[0] != '{' || crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[off+4:]) {
		return 0, rec
	}
	var dec recordDecoder
	rec, err := dec.decode(payload)
	if err != nil {
		return 0, rec
	}
	return frameHeader + int(length), rec
}

// scanFrames walks a segment's bytes. After a bad frame it re-synchronises
// on the framing: it tries each following offset for a frame whose length
// and checksum verify and whose payload decodes. fn, when set, gets each
// valid frame's offset and length. It returns the count of valid frames
// and the damaged stretches between them.
func scanFrames(b []byte, fn func(off, n int)) (records int, damage []Damage) {
	var before []int // valid frames before each damage
	for off := 0; off < len(b); {
		if n, _ := frameAt(b, off); n > 0 {
			if fn != nil {
				fn(off, n)
			}
			records++
			off += n
			continue
		}
		start := off
		for off++; off < len(b); off++ {
			if n, _ := frameAt(b, off); n > 0 {
				break
			}
		}
		damage = append(damage, Damage{Offset: int64(start), Length: int64(off - start),
			Reason: fmt.Sprintf("%d %s hold no valid record", off-start, plural(off-start, "byte", "bytes"))})
		before = append(before, records)
	}
	for i := range damage {
		damage[i].ValidAfter = records - before[i]
	}
	return records, damage
}

// isTornTail reports whether damage is a torn tail: one damaged stretch
// that runs to the end of a file of size bytes with nothing valid after it.
func isTornTail(damage []Damage, size int64) bool {
	return len(damage) == 1 && damage[0].ValidAfter == 0 && damage[0].Offset+damage[0].Length == size
}

// snapshotScan is what one pass over a snapshot found.
type snapshotScan struct {
	format  int    // from the header; 0 when the header is unreadable
	lastSeq uint64 // from the header
	records int    // valid lines, header and trailer included
	objects int    // valid lines between header and trailer
	size    int64
	damage  []Damage
	before  []int // valid lines before each damage
}

// Snapshot lines of format 2 carry their checksum: "%08x " (CRC-32C of the
// JSON, lowercase hex), the JSON, "\n". Format 1 lines are the bare JSON.
const crcPrefix = 9

// snapshotLine is the JSON of one line (without its newline), or false when
// its checksum fails. format is what the header said (0: not known yet, in
// which case the line's shape decides).
func snapshotLine(line []byte, format int) ([]byte, bool) {
	if len(line) > crcPrefix && line[crcPrefix-1] == ' ' {
		sum, err := strconv.ParseUint(string(line[:crcPrefix-1]), 16, 32)
		if err != nil || format == 1 {
			return nil, false
		}
		payload := line[crcPrefix:]
		return payload, crc32.Checksum(payload, castagnoli) == uint32(sum)
	}
	return line, format != snapshotFormat
}

// appendSnapshotLine appends payload as one format 2 line.
func appendSnapshotLine(dst, payload []byte) []byte {
	const digits = "0123456789abcdef"
	sum := crc32.Checksum(payload, castagnoli)
	for i := 28; i >= 0; i -= 4 {
		dst = append(dst, digits[sum>>i&0xf])
	}
	dst = append(dst, ' ')
	dst = append(dst, payload...)
	return append(dst, '\n')
}

// scanSnapshot reads a snapshot line by line: a header, objects, a trailer
// with their count. fn, when set, gets every valid object record, damaged
// lines skipped (Open refuses a snapshot with damage; repair salvages).
// Only a failing read or fn is an error; damage is in the result.
func scanSnapshot(r io.Reader, fn func(off int64, rec record) error) (snapshotScan, error) {
	sc := snapshotScan{}
	lines := snapshotLines{br: bufio.NewReaderSize(r, 1<<16)}
	st := snapshotState{trailerOff: -1}
	for {
		line, readErr := lines.next()
		off := sc.size
		sc.size += int64(len(line))
		if len(line) > 0 {
			if err := sc.line(&st, off, line, fn); err != nil {
				return sc, err
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
		if readErr != nil {
			return sc, readErr
		}
	}
	lastEnd := int64(-1)
	if k := len(sc.damage) - 1; k >= 0 {
		lastEnd = sc.damage[k].Offset + sc.damage[k].Length
	}
	switch {
	case !st.trailer && lastEnd != sc.size: // else the damaged last line may be it
		sc.bad(sc.size, 0, "the file ends before the trailer (cut short)")
	case len(sc.damage) == 0 && st.trailerCount != sc.objects:
		sc.bad(st.trailerOff, 0, fmt.Sprintf("the trailer counts %d records but %d were read", st.trailerCount, sc.objects))
	}
	for i := range sc.damage {
		sc.damage[i].ValidAfter = sc.records - sc.before[i]
	}
	return sc, nil
}

// snapshotState is what scanSnapshot carries from line to line.
type snapshotState struct {
	dec          recordDecoder
	trailer      bool // the trailer was read
	trailerCount int
	trailerOff   int64
}

// line takes the snapshot line at off (its newline included, unless the
// file ends without one): damage, the header, the trailer, or an object
// for fn.
func (sc *snapshotScan) line(st *snapshotState, off int64, line []byte, fn func(off int64, rec record) error) error {
	n := int64(len(line))
	if line[n-1] != '\n' {
		sc.bad(off, n, fmt.Sprintf("the file ends in the middle of a %d-byte line", n))
		return nil
	}
	payload, ok := snapshotLine(line[:n-1], sc.format)
	if !ok || len(payload) == 0 || payload[0] != '{' {
		sc.bad(off, n, fmt.Sprintf("a %d-byte line fails its checksum or does not decode", n))
		return nil
	}
	rec, err := st.dec.decode(payload)
	if err != nil {
		if syntax := (*json.SyntaxError)(nil); errors.As(err, &syntax) {
			sc.bad(off, n, fmt.Sprintf("a %d-byte line fails its checksum or does not decode", n))
		} else {
			sc.bad(off, n, fmt.Sprintf("a %d-byte line does not decode as a record", n))
		}
		return nil
	}
	switch {
	case off == 0 && rec.Op == opSnapshot && (rec.Format == 1 || rec.Format == snapshotFormat):
		sc.format, sc.lastSeq = rec.Format, rec.LastSeq
	case off == 0:
		sc.bad(off, n, "the first line is not a snapshot header of a known format")
		return nil
	case st.trailer:
		sc.bad(off, n, "a line follows the trailer")
		return nil
	case rec.Op == opEnd:
		st.trailer, st.trailerCount, st.trailerOff = true, rec.Count, off
	case rec.Op == opSnapshot:
		sc.bad(off, n, "a second snapshot header")
		return nil
	default:
		sc.objects++
		if fn != nil {
			if err := fn(off, rec); err != nil {
				return err
			}
		}
	}
	sc.records++
	return nil
}

// bad records damage at off, n bytes long; a damaged line right after
// another, with no valid line between, extends it.
func (sc *snapshotScan) bad(off, n int64, reason string) {
	if k := len(sc.damage) - 1; k >= 0 && sc.before[k] == sc.records && sc.damage[k].Offset+sc.damage[k].Length == off && sc.damage[k].Length > 0 && n > 0 {
		sc.damage[k].Length += n
		sc.damage[k].Reason = fmt.Sprintf("%d bytes of lines fail their checksum or do not decode", sc.damage[k].Length)
		return
	}
	sc.damage = append(sc.damage, Damage{Offset: off, Length: n, Reason: reason})
	sc.before = append(sc.before, sc.records)
}

// snapshotLines reads a snapshot's lines, whatever their length.
type snapshotLines struct {
	br   *bufio.Reader
	long []byte
}

// next is the next line with its newline (without one at the end of the
// file), valid until the next call, and the read's error (io.EOF at the
// end), which may come with a last line.
func (l *snapshotLines) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	l.long = append(l.long[:0], line...) // a line longer than the buffer
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = l.br.ReadSlice('\n')
		l.long = append(l.long, line...)
	}
	return l.long, err
}
