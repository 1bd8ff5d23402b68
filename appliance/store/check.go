package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileReport is what Check found in one snapshot or journal segment.
type FileReport struct {
	Name     string // base name in the state directory
	Snapshot bool   // a snapshot, not a journal segment
	Size     int64
	// Records is how many valid records the file holds (a snapshot's
	// header and trailer included).
	Records int
	// TornTail is the size of a torn tail at the end of the last segment
	// (a write a crash interrupted): Open cuts it, it is not corruption.
	TornTail int64
	// Corrupt is every other damaged stretch, in file order.
	Corrupt []Damage
	// Superseded marks a file older than the newest snapshot, left by a
	// crash while that snapshot was written: Open removes it unread, so
	// its damage does not count.
	Superseded bool
}

// Report is what Check found in a state directory, snapshots first, each
// kind in sequence order.
type Report struct {
	Dir   string
	Files []FileReport
	// Missing says which journal segment is missing between the newest
	// snapshot and the newest segment ("" when none is): Open refuses such
	// a directory and Repair cannot make the segment up.
	Missing string
}

// Damaged is the files with corrupt records (a torn tail alone is not).
func (r Report) Damaged() []FileReport {
	var out []FileReport
	for _, f := range r.Files {
		if len(f.Corrupt) > 0 && !f.Superseded {
			out = append(out, f)
		}
	}
	return out
}

// Check reads every snapshot and journal segment in dir and reports what
// it finds, changing nothing. It needs no lock: run while an appliance
// writes, the newest segment may show a torn tail that is a write in
// progress.
func Check(dir string) (Report, error) {
	rep := Report{Dir: dir}
	st, err := listState(dir)
	if err != nil {
		return rep, fmt.Errorf("state directory: %w", err)
	}
	var base uint64
	if len(st.snapshots) > 0 {
		base = st.snapshots[len(st.snapshots)-1]
	}
	for _, seq := range st.snapshots {
		fr, err := checkSnapshot(snapshotPath(dir, seq))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a running appliance removed it since
		}
		if err != nil {
			return rep, err
		}
		fr.Superseded = seq < base
		rep.Files = append(rep.Files, fr)
	}
	for i, seq := range st.journals {
		fr, _, err := checkSegment(segmentPath(dir, seq), i == len(st.journals)-1)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return rep, err
		}
		fr.Superseded = seq < base
		rep.Files = append(rep.Files, fr)
	}
	if _, err := segmentsFrom(st.journals, base); err != nil {
		rep.Missing = err.Error()
	}
	return rep, nil
}

// checkSnapshot reads one snapshot.
func checkSnapshot(path string) (FileReport, error) {
	fr := FileReport{Name: filepath.Base(path), Snapshot: true}
	f, err := os.Open(path)
	if err != nil {
		return fr, err
	}
	defer f.Close()
	var sc snapshotScan
	v3, err := isSnapshot3(f)
	switch {
	case err != nil:
	case v3:
		var info os.FileInfo
		if info, err = f.Stat(); err == nil {
			sc, err = scanSnapshot3File(f, info.Size(), 0, nil)
		}
	default:
		sc, err = scanSnapshot(f, nil)
	}
	if err != nil {
		return fr, fmt.Errorf("read %s: %w", path, err)
	}
	fr.Size, fr.Records, fr.Corrupt = sc.size, sc.records, sc.damage
	return fr, nil
}

// checkSegment reads one segment and returns its bytes too. last says
// whether it is the newest segment, the only one that may have a torn
// tail.
func checkSegment(path string, last bool) (FileReport, []byte, error) {
	fr := FileReport{Name: filepath.Base(path)}
	b, err := os.ReadFile(path)
	if err != nil {
		return fr, nil, err
	}
	fr.Size = int64(len(b))
	fr.Records, fr.Corrupt = scanFrames(b, nil)
	if last && isTornTail(fr.Corrupt, fr.Size) {
		fr.TornTail, fr.Corrupt = fr.Corrupt[0].Length, nil
	}
	if !last && len(fr.Corrupt) > 0 {
		d := &fr.Corrupt[len(fr.Corrupt)-1]
		if d.ValidAfter == 0 && d.Offset+d.Length == fr.Size {
			d.Reason += " at the end of a segment that is not the last one"
		}
	}
	return fr, b, nil
}
