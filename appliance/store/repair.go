package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/hashicorp/go-memdb"
	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
)

// RepairedFile is one file Repair rewrote.
type RepairedFile struct {
	Name     string // base name in the state directory
	Snapshot bool
	// Backup is the copy of the original, beside it:
	// <name>.corrupt-<UTC time>.
	Backup string
	// Kept is how many valid records the new file holds (in a snapshot:
	// objects, its header and trailer aside).
	Kept int
	// Skipped is the damage left out, with what each stretch looked like.
	Skipped []SkippedDamage
	// TornTail is the size of a torn tail left out (never data anyone
	// was told was saved).
	TornTail int64
	// RebuiltFrom, for a snapshot, names the older state it was rebuilt
	// from (a snapshot and the journal segments after it, or segments
	// alone); then nothing was lost. Empty when it was salvaged from its
	// own valid lines.
	RebuiltFrom []string
}

// SkippedDamage is a damaged stretch Repair left out.
type SkippedDamage struct {
	Damage
	// Op is the kind of record the bytes seem to have held ("testdevice",
	// "rule", "event", …), "" when nothing readable is left.
	Op string
	// Excerpt is the start of the bytes, quoted.
	Excerpt string
}

// RepairReport is what Repair did.
type RepairReport struct {
	Dir     string
	Changed []RepairedFile
}

// Repair salvages a damaged state directory so that Open works again: in
// each damaged journal segment it skips the bad records and keeps every
// valid one, before and after them; a damaged newest snapshot is rebuilt
// from the previous snapshot (or none) and the segments since, when they
// are all still there, and otherwise rewritten from its valid lines. Each
// file it changes is kept beside it as <name>.corrupt-<UTC time>. It takes
// the directory's lock, so it refuses to run while an appliance has it
// open (ErrLocked), and it opens the store at the end to prove it loads.
func Repair(dir string, opt Options) (RepairReport, error) {
	opt = opt.withDefaults()
	rep := RepairReport{Dir: dir}
	lock, err := lockDir(dir)
	if err != nil {
		return rep, err
	}
	stamp := opt.Now().UTC().Format("20060102T150405Z")
	if err := repairFiles(dir, opt, stamp, &rep); err != nil {
		lock.Close()
		return rep, err
	}
	s, err := openLocked(dir, opt, lock)
	if err != nil {
		return rep, fmt.Errorf("the state still does not open after the repair: %w", err)
	}
	return rep, s.Close()
}

func repairFiles(dir string, opt Options, stamp string, rep *RepairReport) error {
	if err := removeTemps(dir); err != nil {
		return err
	}
	st, err := listState(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	for i, seq := range st.journals {
		rf, err := repairSegment(segmentPath(dir, seq), i == len(st.journals)-1, stamp)
		if err != nil {
			return err
		}
		if rf != nil {
			rep.Changed = append(rep.Changed, *rf)
		}
	}
	if len(st.snapshots) == 0 {
		return nil
	}
	rf, err := repairSnapshot(dir, st, opt, stamp)
	if err != nil || rf == nil {
		return err
	}
	rep.Changed = append(rep.Changed, *rf)
	return nil
}

// repairSegment rewrites the segment at path with only its valid records,
// if it has any damage (a torn tail included); nil when it had none.
func repairSegment(path string, last bool, stamp string) (*RepairedFile, error) {
	fr, b, err := checkSegment(path, last)
	if err != nil {
		return nil, err
	}
	if len(fr.Corrupt) == 0 && fr.TornTail == 0 {
		return nil, nil
	}
	var kept []byte
	scanFrames(b, func(off, n int) { kept = append(kept, b[off:off+n]...) })
	rf := &RepairedFile{Name: fr.Name, Kept: fr.Records, TornTail: fr.TornTail, Skipped: describe(b, fr.Corrupt)}
	if rf.Backup, err = backup(path, stamp); err != nil {
		return nil, err
	}
	return rf, atomicfile.Write(path, 0o600, kept)
}

// repairSnapshot repairs the newest snapshot, the only one Open reads;
// nil when it has no damage.
func repairSnapshot(dir string, st stateFiles, opt Options, stamp string) (*RepairedFile, error) {
	seq := st.snapshots[len(st.snapshots)-1]
	path := snapshotPath(dir, seq)
	fr, err := checkSnapshot(path)
	if err != nil {
		return nil, err
	}
	if len(fr.Corrupt) == 0 {
		return nil, nil
	}
	rf := &RepairedFile{Name: fr.Name, Snapshot: true}
	s, err := scratchStore(dir, opt)
	if err != nil {
		return nil, err
	}
	txn := s.beginLoad()
	defer func() { txn.abort() }()
	if rf.RebuiltFrom, err = s.rebuild(txn, st, seq); err != nil {
		return nil, err
	}
	if rf.RebuiltFrom == nil {
		// Nothing older to rebuild from: keep what verifies.
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		s, err = scratchStore(dir, opt)
		if err != nil {
			return nil, err
		}
		txn.abort()
		txn = s.beginLoad()
		sc, err := s.readSnapshot(txn, path)
		if err != nil {
			return nil, err
		}
		rf.Skipped = describe(b, sc.damage)
	}
	if err := s.commitLoad(txn); err != nil {
		return nil, err
	}
	if rf.Backup, err = backup(path, stamp); err != nil {
		return nil, err
	}
	var rows int
	err = atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		var err error
		rows, err = writeSnapshot(w, s.db.Txn(false), s.view.ips, s.lastSeq)
		return err
	})
	rf.Kept = rows
	return rf, err
}

// rebuild loads into txn the state snapshot seq was taken of: the newest
// older snapshot without damage (or none at all) and every segment from it
// up to seq. It returns the files it used, or nil when no such chain is on
// disk any more (Snapshot removes what a new snapshot supersedes).
func (s *Store) rebuild(txn *fleetLoad, st stateFiles, seq uint64) ([]string, error) {
	bases := []uint64{0}
	for _, sn := range st.snapshots {
		if sn < seq {
			bases = append(bases, sn)
		}
	}
	for i := len(bases) - 1; i >= 0; i-- {
		base := bases[i]
		segs, ok := segmentsBetween(st.journals, base, seq)
		if !ok {
			continue
		}
		used := []string{"the empty state before the first segment"}
		if base > 0 {
			fr, err := checkSnapshot(snapshotPath(s.dir, base))
			if err != nil {
				return nil, err
			}
			if len(fr.Corrupt) > 0 {
				continue
			}
			if err := s.loadSnapshot(txn, snapshotPath(s.dir, base)); err != nil {
				return nil, err
			}
			used = []string{fr.Name}
		}
		for _, j := range segs {
			path := segmentPath(s.dir, j)
			if _, _, err := s.replaySegment(txn, path, false); err != nil {
				return nil, err
			}
			used = append(used, filepath.Base(path))
		}
		return used, nil
	}
	return nil, nil
}

// segmentsBetween is the segments from base (or 1) up to before seq, false
// when one is missing.
func segmentsBetween(journals []uint64, base, seq uint64) ([]uint64, bool) {
	var out []uint64
	for j := max(base, 1); j < seq; j++ {
		if !slices.Contains(journals, j) {
			return nil, false
		}
		out = append(out, j)
	}
	return out, true
}

// scratchStore is an empty Store that only loads and replays: no lock, no
// journal, no background work.
func scratchStore(dir string, opt Options) (*Store, error) {
	db, err := memdb.NewMemDB(newDBSchema())
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &Store{dir: dir, opt: opt.withDefaults(), db: db, view: newView()}, nil
}

// backup keeps the file at path as it is, beside it, under
// <path>.corrupt-<stamp> (a hard link, as the repaired file is renamed
// over path; a copy where links do not work), and returns that path.
func backup(path, stamp string) (string, error) {
	name := path + ".corrupt-" + stamp
	for n := 1; ; n++ {
		err := os.Link(path, name)
		if err == nil {
			return name, syncDir(filepath.Dir(path))
		}
		if errors.Is(err, fs.ErrExist) {
			name = fmt.Sprintf("%s.corrupt-%s.%d", path, stamp, n)
			continue
		}
		return name, copyFile(path, name)
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("back up %s: %w", from, err)
	}
	defer src.Close()
	if err := atomicfile.WriteFunc(to, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	}); err != nil {
		return fmt.Errorf("back up %s: %w", from, err)
	}
	return nil
}

var opPattern = regexp.MustCompile(`"op":"([a-z-]+)"`)

// describe says what each damaged stretch of b looked like.
func describe(b []byte, damage []Damage) []SkippedDamage {
	const excerpt = 120
	out := make([]SkippedDamage, 0, len(damage))
	for _, d := range damage {
		end := min(d.Offset+d.Length, int64(len(b)))
		bad := b[min(d.Offset, end):end]
		sd := SkippedDamage{Damage: d}
		if m := opPattern.FindSubmatch(bad); m != nil {
			sd.Op = string(m[1])
		}
		if len(bad) > excerpt {
			sd.Excerpt = strconv.Quote(string(bad[:excerpt])) + "…"
		} else if len(bad) > 0 {
			sd.Excerpt = strconv.Quote(string(bad))
		}
		out = append(out, sd)
	}
	return out
}
