package cab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Embedded is a cabinet found inside another file.
type Embedded struct {
	Offset  int64 // where the cabinet starts in the outer file
	Cabinet *Cabinet
}

// maxCandidates caps how many consistent-looking headers Find opens fully.
const maxCandidates = 32

// Find looks for cabinets inside r (a self-extracting executable keeps its
// cabinet in a resource or in the overlay after the PE image): every
// "MSCF" whose header passes the consistency checks (version 1.3, reserved
// fields zero, cbCabinet within the remaining bytes, coffFiles inside) and
// whose tables then open. Cabinets do not overlap: the scan resumes after
// each one found.
//
// With no cabinet found, the error says why the last consistent-looking
// candidate failed to open (a content error), or is nil if there was none.
func Find(r io.ReaderAt, size int64, lim Limits) ([]Embedded, error) {
	const chunk = 1 << 20
	buf := make([]byte, min(chunk, max(size, 0)))
	var found []Embedded
	var rejected error
	tried := 0
	for base := int64(0); base+int64(len(Signature)) <= size && tried < maxCandidates; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("cabinet: scanning at %d: %w", base, err)
		}
		next := base + int64(n) - int64(len(Signature)) + 1 // see a signature across chunks
		if base+int64(n) >= size {
			next = size
		}
		for i := 0; tried < maxCandidates; {
			j := bytes.Index(buf[i:n], []byte(Signature))
			if j < 0 {
				break
			}
			off := base + int64(i+j)
			i += j + 1
			c, err := tryCandidate(r, off, size, lim, &tried)
			if err != nil && !errors.Is(err, ErrInvalid) {
				return nil, err // the reader failed, not the candidate
			}
			if err != nil {
				rejected = fmt.Errorf("the cabinet signature at offset %d: %w", off, err)
			}
			if c != nil {
				found = append(found, Embedded{Offset: off, Cabinet: c})
				next = off + c.Size
				break
			}
		}
		base = next
	}
	if len(found) > 0 {
		return found, nil
	}
	return nil, rejected
}

// tryCandidate checks the header at off and, if it is consistent, opens the
// cabinet. (nil, nil) means "not a cabinet header".
func tryCandidate(r io.ReaderAt, off, size int64, lim Limits, tried *int) (*Cabinet, error) {
	var hb [headerSize]byte
	if off+headerSize > size {
		return nil, nil
	}
	if _, err := r.ReadAt(hb[:], off); err != nil {
		return nil, nil
	}
	h := parseHeader(&hb)
	if h.check(&hb, 1<<32) != nil {
		return nil, nil
	}
	*tried++
	if err := h.check(&hb, size-off); err != nil {
		return nil, err // consistent but cut short: a truncated download
	}
	sub := io.NewSectionReader(r, off, size-off)
	return Open(sub, size-off, lim)
}
