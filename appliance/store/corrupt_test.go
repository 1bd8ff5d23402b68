package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tdCount test devices, SN-T0…, each added by its own journal record.
const tdCount = 6

func addTestDevices(t *testing.T, s *Store, prefix string) {
	t.Helper()
	for i := range tdCount {
		noErr(t, s.AddTestDevice(TestDevice{ID: fmt.Sprintf("%s%d", prefix, i), Kind: TestDeviceSerial, Added: t0}))
	}
}

// frameStarts is where each record of a clean segment starts.
func frameStarts(t *testing.T, b []byte) []int {
	t.Helper()
	var out []int
	for off := 0; off < len(b); {
		n, _ := frameAt(b, off)
		if n == 0 {
			t.Fatalf("no record at offset %d of a clean segment", off)
		}
		out = append(out, off)
		off += n
	}
	return out
}

// frameWith is the index of the one record whose payload holds s.
func frameWith(t *testing.T, b []byte, s string) (index, start, length int) {
	t.Helper()
	starts := frameStarts(t, b)
	for i, off := range starts {
		n, _ := frameAt(b, off)
		if bytes.Contains(b[off:off+n], []byte(s)) {
			return i, off, n
		}
	}
	t.Fatalf("no record holds %q", s)
	return 0, 0, 0
}

// readDir is every file in dir but the lock, by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	noErr(t, err)
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Name() == lockName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		noErr(t, err)
		out[e.Name()] = b
	}
	return out
}

func writeDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		noErr(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
}

// flipBit flips one bit of the byte at off.
func flipBit(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	noErr(t, err)
	b[off] ^= 0x10
	noErr(t, os.WriteFile(path, b, 0o600))
}

// expectRefused opens dir, wants a *CorruptError naming file, offset and
// the valid records after, and the files exactly as they were.
func expectRefused(t *testing.T, dir, file string, offset int64, validAfter int) *CorruptError {
	t.Helper()
	before := readDir(t, dir)
	s, err := Open(dir, lazy)
	if err == nil {
		s.Close()
		t.Fatalf("Open accepted a state with a corrupt record in %s at %d", file, offset)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Open: %v, want a *CorruptError", err)
	}
	if filepath.Base(ce.Path) != file || ce.Offset != offset || ce.ValidAfter != validAfter {
		t.Errorf("CorruptError names %s offset %d with %d valid after, want %s offset %d with %d", filepath.Base(ce.Path), ce.Offset, ce.ValidAfter, file, offset, validAfter)
	}
	msg := err.Error()
	for _, want := range []string{file, fmt.Sprintf("byte offset %d", offset), fmt.Sprintf("%d valid record", validAfter), "tanjay state check", "tanjay state repair", "Nothing on disk was changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("a refused Open changed the files (-before +after):\n%s", diff)
	}
	return ce
}

// expectCheck wants Check to report exactly one damaged stretch, in file.
func expectCheck(t *testing.T, dir, file string, d Damage) {
	t.Helper()
	before := readDir(t, dir)
	rep, err := Check(dir)
	noErr(t, err)
	damaged := rep.Damaged()
	if len(damaged) != 1 || damaged[0].Name != file || len(damaged[0].Corrupt) != 1 {
		t.Fatalf("Check found %+v, want one damaged stretch in %s", damaged, file)
	}
	got := damaged[0].Corrupt[0]
	if got.Offset != d.Offset || got.ValidAfter != d.ValidAfter || (d.Length > 0 && got.Length != d.Length) {
		t.Errorf("Check: %+v, want %+v", got, d)
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("Check changed the files (-before +after):\n%s", diff)
	}
}

// repairAndOpen repairs dir and returns the state it then opens to.
func repairAndOpen(t *testing.T, dir string) (RepairReport, state) {
	t.Helper()
	before := readDir(t, dir)
	rep, err := Repair(dir, lazy)
	noErr(t, err)
	for _, f := range rep.Changed {
		b, err := os.ReadFile(f.Backup)
		noErr(t, err)
		if !bytes.Equal(b, before[f.Name]) {
			t.Errorf("the backup %s is not the original %s", f.Backup, f.Name)
		}
	}
	if rep, err := Check(dir); err != nil || len(rep.Damaged()) > 0 {
		t.Errorf("Check after Repair: %v %+v", err, rep.Damaged())
	}
	s := openStore(t, dir, lazy)
	return rep, dump(s)
}

// oracle is the state of a directory holding files.
func oracle(t *testing.T, files map[string][]byte) state {
	t.Helper()
	dir := t.TempDir()
	writeDir(t, dir, files)
	s := openStore(t, dir, lazy)
	defer s.Close()
	return dump(s)
}

func without(b []byte, start, n int) []byte {
	return slices.Concat(b[:start], b[start+n:])
}

// TestBitFlipInLastSegment: one flipped bit inside the newest segment,
// with valid records after it, is corruption, not a torn tail.
func TestBitFlipInLastSegment(t *testing.T) {
	template := t.TempDir()
	s := openStore(t, template, lazy)
	populate(t, s)
	addTestDevices(t, s, "SN-T")
	noErr(t, s.Close())
	files := readDir(t, template)
	seg := files["journal-00000001.log"]
	nFrames := len(frameStarts(t, seg))

	for _, tt := range []struct {
		name   string
		record string // the record hit
		at     func(n int) int
	}{
		{"length field", `"SN-T2"`, func(int) int { return 1 }},
		{"checksum", `"SN-T2"`, func(int) int { return 6 }},
		{"payload", `"SN-T2"`, func(n int) int { return frameHeader + n/2 }},
		{"first record", `"op":"im`, func(n int) int { return frameHeader + 3 }},
		{"last but one record", `"SN-T4"`, func(n int) int { return n - 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDir(t, dir, files)
			k, start, n := frameWith(t, seg, tt.record)
			path := segmentPath(dir, 1)
			flipBit(t, path, start+tt.at(n-frameHeader))
			validAfter := nFrames - k - 1

			expectRefused(t, dir, "journal-00000001.log", int64(start), validAfter)
			expectCheck(t, dir, "journal-00000001.log", Damage{Offset: int64(start), Length: int64(n), ValidAfter: validAfter})
			rep, got := repairAndOpen(t, dir)
			if len(rep.Changed) != 1 || len(rep.Changed[0].Skipped) != 1 || rep.Changed[0].Kept != nFrames-1 {
				t.Errorf("Repair: %+v, want one segment with one stretch skipped and %d records kept", rep.Changed, nFrames-1)
			}
			want := oracle(t, map[string][]byte{"journal-00000001.log": without(seg, start, n)})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state after repair (-every valid record +got):\n%s", diff)
			}
			if tt.record == `"SN-T2"` {
				for _, id := range []string{"SN-T0", "SN-T1", "SN-T3", "SN-T4", "SN-T5", "SN-42", mac} {
					if !slices.ContainsFunc(got.TestDevices, func(d TestDevice) bool { return d.ID == id }) {
						t.Errorf("test device %s lost by the repair", id)
					}
				}
			}
		})
	}
}

// TestBitFlipInEarlierSegment: damage in a segment that is not the newest
// is never a torn tail, even at its very end.
func TestBitFlipInEarlierSegment(t *testing.T) {
	template := t.TempDir()
	s := openStore(t, template, lazy)
	populate(t, s)
	addTestDevices(t, s, "SN-T")
	_, _, _, _, err := s.rotate() // segment 2 starts without a snapshot
	noErr(t, err)
	addTestDevices(t, s, "SN-U")
	noErr(t, s.Close())
	files := readDir(t, template)
	seg := files["journal-00000001.log"]
	nFrames := len(frameStarts(t, seg))

	for _, record := range []string{`"SN-T3"`, `"SN-T5"`} {
		t.Run(record, func(t *testing.T) {
			dir := t.TempDir()
			writeDir(t, dir, files)
			k, start, n := frameWith(t, seg, record)
			flipBit(t, segmentPath(dir, 1), start+frameHeader+n/2)
			ce := expectRefused(t, dir, "journal-00000001.log", int64(start), nFrames-k-1)
			if k == nFrames-1 && !strings.Contains(ce.Reason, "not the last") {
				t.Errorf("reason %q does not say the segment is not the last", ce.Reason)
			}
			expectCheck(t, dir, "journal-00000001.log", Damage{Offset: int64(start), Length: int64(n), ValidAfter: nFrames - k - 1})
			_, got := repairAndOpen(t, dir)
			want := oracle(t, map[string][]byte{"journal-00000001.log": without(seg, start, n), "journal-00000002.log": files["journal-00000002.log"]})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state after repair (-every valid record +got):\n%s", diff)
			}
			if len(got.TestDevices) != 2+2*tdCount-1 {
				t.Errorf("%d test devices after repair, want %d", len(got.TestDevices), 2+2*tdCount-1)
			}
		})
	}
}

// lineStarts is where each line of a format 1 or 2 snapshot starts.
func lineStarts(b []byte) []int {
	starts := []int{0}
	for i, c := range b[:len(b)-1] {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// recordStarts is where each record of a format 3 snapshot starts, its
// header first.
func recordStarts(b []byte) []int {
	var starts []int
	for off := len(snapshotMagic); off+frameHeader <= len(b); {
		starts = append(starts, off)
		off += frameHeader + int(binary.LittleEndian.Uint32(b[off:]))
	}
	return starts
}

// rewriteFormat2 rewrites the snapshot seq in dir (a closed store's) in
// format 2, as appliances before format 3 wrote it.
func rewriteFormat2(t testing.TB, dir string, seq uint64) {
	t.Helper()
	st, err := scratchStore(dir, Options{MaxEventsPerDevice: 1 << 20, Logger: lazy.Logger})
	noErr(t, err)
	txn := st.beginLoad()
	noErr(t, st.loadSnapshot(txn, snapshotPath(dir, seq)))
	noErr(t, st.commitLoad(txn))
	var buf bytes.Buffer
	_, err = writeSnapshot2(&buf, st.db.Txn(false), st.view.ips, st.lastSeq)
	noErr(t, err)
	noErr(t, os.WriteFile(snapshotPath(dir, seq), buf.Bytes(), 0o600))
}

// TestBitFlipInSnapshot: a flipped bit anywhere in a snapshot is found
// (every record has its checksum); start-up refuses; repair rewrites the
// snapshot from its valid records, or rebuilds it whole when the segments
// it was made from are still there. It holds for the format written now
// and for format 2's lines.
func TestBitFlipInSnapshot(t *testing.T) {
	for _, format := range []int{3, 2} {
		t.Run(fmt.Sprintf("format %d", format), func(t *testing.T) { testBitFlipInSnapshot(t, format) })
	}
}

func testBitFlipInSnapshot(t *testing.T, format int) {
	template := t.TempDir()
	s := openStore(t, template, lazy)
	populate(t, s)
	addTestDevices(t, s, "SN-T")
	seg1 := must[[]byte](t)(os.ReadFile(segmentPath(template, 1)))
	noErr(t, s.Snapshot())
	noErr(t, s.AddTestDevice(TestDevice{ID: "SN-after", Kind: TestDeviceSerial, Added: t0}))
	full := dump(s)
	noErr(t, s.Close())
	if format == 2 {
		rewriteFormat2(t, template, 2)
	}
	files := readDir(t, template)
	snap := files["snapshot-00000002.json"]
	lines, event, header := lineStarts(snap), `"kind":"download"`, 12
	if format == 3 {
		lines, event, header = recordStarts(snap), "download", 9
		if !bytes.HasPrefix(snap, []byte(snapshotMagic)) {
			t.Fatalf("the snapshot is not in format 3: %q", snap[:min(len(snap), 40)])
		}
	}
	lineWith := func(s string) int {
		for i, start := range lines {
			end := len(snap)
			if i+1 < len(lines) {
				end = lines[i+1]
			}
			if bytes.Contains(snap[start:end], []byte(s)) {
				return i
			}
		}
		t.Fatalf("no snapshot record holds %q", s)
		return 0
	}

	for _, tt := range []struct {
		name    string
		line    int
		at      int // bytes into the line
		rebuild bool
		lost    string // the test device lost, when salvaged
	}{
		{name: "header", line: 0, at: header},
		{name: "test device", line: lineWith(`"SN-T2"`), at: 30, lost: "SN-T2"},
		{name: "checksum of a test device", line: lineWith(`"SN-T4"`), at: 5, lost: "SN-T4"},
		{name: "event", line: lineWith(event), at: 40},
		{name: "trailer", line: len(lines) - 1, at: 9},
		{name: "test device, older state kept", line: lineWith(`"SN-T2"`), at: 30, rebuild: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDir(t, dir, files)
			if tt.rebuild {
				// As if a crash came between writing the snapshot and
				// removing the segment it supersedes.
				writeDir(t, dir, map[string][]byte{"journal-00000001.log": seg1})
			}
			off := lines[tt.line]
			flipBit(t, snapshotPath(dir, 2), off+tt.at)
			validAfter := len(lines) - tt.line - 1
			expectRefused(t, dir, "snapshot-00000002.json", int64(off), validAfter)
			expectCheck(t, dir, "snapshot-00000002.json", Damage{Offset: int64(off), ValidAfter: validAfter})

			rep, got := repairAndOpen(t, dir)
			if len(rep.Changed) != 1 || !rep.Changed[0].Snapshot {
				t.Fatalf("Repair changed %+v, want the snapshot", rep.Changed)
			}
			rf := rep.Changed[0]
			if tt.rebuild != (rf.RebuiltFrom != nil) {
				t.Errorf("RebuiltFrom = %q, want a rebuild: %v", rf.RebuiltFrom, tt.rebuild)
			}
			want := full
			if tt.name == "event" {
				// A salvaged snapshot loses the one event (format 3: the
				// phone's record); the rest of the state must be whole.
				got.Events, want.Events, got.Devices, want.Devices = nil, nil, nil, nil
				got.Addresses, want.Addresses = nil, nil
			}
			if tt.lost != "" {
				want.TestDevices = slices.DeleteFunc(slices.Clone(want.TestDevices), func(d TestDevice) bool { return d.ID == tt.lost })
				if len(rf.Skipped) != 1 || rf.Skipped[0].Op != "testdevice" || !strings.Contains(rf.Skipped[0].Excerpt, tt.lost) {
					t.Errorf("Repair reported the loss as %+v, want the %s test device", rf.Skipped, tt.lost)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state after repair (-want +got):\n%s", diff)
			}
			after := must[[]byte](t)(os.ReadFile(snapshotPath(dir, 2)))
			if !bytes.HasPrefix(after, []byte(snapshotMagic)) {
				t.Errorf("the repaired snapshot is not in format 3: %q", after[:min(len(after), 40)])
			}
		})
	}
}

// TestFormat1SnapshotStillLoads: snapshots written before lines carried
// checksums load as they did.
func TestFormat1SnapshotStillLoads(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	noErr(t, s.Snapshot())
	want := dump(s)
	noErr(t, s.Close())
	rewriteFormat2(t, dir, 2)
	path := snapshotPath(dir, 2)
	b := must[[]byte](t)(os.ReadFile(path))
	var v1 []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > crcPrefix {
			v1 = append(v1, line[crcPrefix:]...)
		}
	}
	v1 = bytes.Replace(v1, []byte(`"format":2`), []byte(`"format":1`), 1)
	noErr(t, os.WriteFile(path, v1, 0o600))
	if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
		t.Errorf("format 1 snapshot (-want +got):\n%s", diff)
	}
}

// TestTornTailIsLogged: a cut is never silent.
func TestTornTailIsLogged(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	noErr(t, s.Close())
	path := segmentPath(dir, 1)
	size := fileSize(t, path)
	appendBytes(t, path, []byte("\x40\x00\x00\x00torn"))
	var log bytes.Buffer
	opt := lazy
	opt.Logger = slog.New(slog.NewTextHandler(&log, nil))
	s2 := openStore(t, dir, opt)
	if s2.RecoveredTail() != 8 || fileSize(t, path) != size {
		t.Errorf("cut %d bytes, file %d bytes; want 8 cut back to %d", s2.RecoveredTail(), fileSize(t, path), size)
	}
	for _, want := range []string{"torn tail", "segment=journal-00000001.log", "bytes=8", fmt.Sprintf("offset=%d", size)} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestRepairRefusesWhileOpen: the store's lock keeps repair off a
// directory an appliance is using.
func TestRepairRefusesWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	before := readDir(t, dir)
	if _, err := Repair(dir, lazy); !errors.Is(err, ErrLocked) {
		t.Errorf("Repair on an open store: %v, want ErrLocked", err)
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("a refused Repair changed the files:\n%s", diff)
	}
}

// TestRepairCleanChangesNothing: nothing damaged, nothing rewritten.
func TestRepairCleanChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	want := dump(s)
	noErr(t, s.Close())
	before := readDir(t, dir)
	rep, got := repairAndOpen(t, dir)
	if len(rep.Changed) != 0 {
		t.Errorf("Repair changed %+v in a clean directory", rep.Changed)
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("files (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-before +after):\n%s", diff)
	}
}

// FuzzScanFrames: whatever the bytes, the scan accounts for every byte
// once, each damaged stretch counts the valid records after it, and the
// records it keeps scan clean again.
func FuzzScanFrames(f *testing.F) {
	rec := appendFrame(nil, []byte(`{"op":"testdevice","testdevice":{"id":"SN-1","kind":"serial"}}`))
	f.Add([]byte{})
	f.Add(rec)
	f.Add(slices.Concat(rec, []byte("garbage"), rec))
	f.Add(slices.Concat(rec[:5], rec, rec[3:]))
	f.Add(slices.Concat(make([]byte, 100), rec))
	f.Fuzz(func(t *testing.T, b []byte) {
		covered, kept := 0, []byte{}
		records, damage := scanFrames(b, func(off, n int) {
			if off < covered {
				t.Fatalf("record at %d overlaps the one ending at %d", off, covered)
			}
			covered = off + n
			kept = append(kept, b[off:off+n]...)
		})
		total := int64(len(kept))
		for i, d := range damage {
			total += d.Length
			if d.Length <= 0 || d.ValidAfter < 0 || d.ValidAfter > records {
				t.Fatalf("damage %d: %+v of %d records", i, d, records)
			}
			if i > 0 && (d.Offset < damage[i-1].Offset+damage[i-1].Length || d.ValidAfter > damage[i-1].ValidAfter) {
				t.Fatalf("damage out of order: %+v after %+v", d, damage[i-1])
			}
		}
		if total != int64(len(b)) {
			t.Fatalf("records and damage cover %d of %d bytes", total, len(b))
		}
		again, damage2 := scanFrames(kept, nil)
		if again != records || len(damage2) != 0 {
			t.Fatalf("the kept records rescan to %d records and %+v, want %d and none", again, damage2, records)
		}
	})
}

// FuzzScanSnapshot: no input panics, damage lies inside the file, and a
// snapshot whose scan finds no damage loads.
func FuzzScanSnapshot(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, lazy)
	if err != nil {
		f.Fatal(err)
	}
	noErr(f, s.AddTestDevice(TestDevice{ID: "SN-1", Kind: TestDeviceSerial, Added: t0}))
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.9", Time: t0})
	noErr(f, s.Snapshot())
	noErr(f, s.Close())
	good, err := os.ReadFile(snapshotPath(dir, 2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("{\"op\":\"snapshot\",\"format\":1}\n{\"op\":\"end\"}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scanSnapshot(bytes.NewReader(b), nil)
		noErr(t, err)
		checkScan(t, b, sc)
	})
}

// checkScan checks the scan sc of the snapshot bytes b: its damage lies
// within b, and a snapshot without damage loads without being refused as
// corrupt.
func checkScan(t *testing.T, b []byte, sc snapshotScan) {
	t.Helper()
	for _, d := range sc.damage {
		if d.Offset < 0 || d.Offset+d.Length > int64(len(b)) || d.ValidAfter > sc.records {
			t.Fatalf("damage %+v in %d bytes with %d records", d, len(b), sc.records)
		}
	}
	if len(sc.damage) > 0 {
		return
	}
	st, err := scratchStore(t.TempDir(), lazy)
	noErr(t, err)
	path := filepath.Join(t.TempDir(), "snapshot-00000002.json")
	noErr(t, os.WriteFile(path, b, 0o600))
	txn := st.beginLoad()
	defer txn.abort()
	err = st.loadSnapshot(txn, path)
	if err == nil {
		err = st.commitLoad(txn)
	}
	if err != nil && isCorrupt(err) {
		t.Fatalf("a snapshot with no damage is refused as corrupt: %v", err)
	}
}

// TestCheckMissingAndSuperseded: a gap in the segments is reported (Open
// refuses it); damage in a file the newest snapshot superseded is listed
// but does not count, as Open removes that file unread.
func TestCheckMissingAndSuperseded(t *testing.T) {
	dir := t.TempDir()
	noErr(t, os.WriteFile(segmentPath(dir, 2), nil, 0o600))
	rep, err := Check(dir)
	noErr(t, err)
	if !strings.Contains(rep.Missing, "segment 1 is missing") {
		t.Errorf("Missing = %q", rep.Missing)
	}

	dir = t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	seg1 := must[[]byte](t)(os.ReadFile(segmentPath(dir, 1)))
	noErr(t, s.Snapshot())
	want := dump(s)
	noErr(t, s.Close())
	seg1[len(seg1)/2] ^= 1
	noErr(t, os.WriteFile(segmentPath(dir, 1), seg1, 0o600))
	rep, err = Check(dir)
	noErr(t, err)
	if len(rep.Damaged()) != 0 || rep.Missing != "" || len(rep.Files) != 3 || !rep.Files[1].Superseded || len(rep.Files[1].Corrupt) != 1 {
		t.Errorf("Check: %+v, want the superseded segment 1 listed with its damage, nothing counted", rep)
	}
	if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
}

// TestSnapshotLongLine: a record (format 2: a line) longer than the
// reader's buffer loads.
func TestSnapshotLongLine(t *testing.T) {
	for _, tt := range []struct {
		format  int
		records int
	}{
		{3, 4}, // header, phone, addresses, trailer
		{2, 5}, // header, device, ip, event, trailer
	} {
		t.Run(fmt.Sprintf("format %d", tt.format), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, lazy)
			s.Observe(Event{Kind: EventDNS, IP: "10.0.0.1", Time: t0, Detail: strings.Repeat("x", 200<<10)})
			noErr(t, s.Snapshot())
			want := dump(s)
			noErr(t, s.Close())
			if tt.format == 2 {
				rewriteFormat2(t, dir, 2)
			}
			if diff := cmp.Diff(want, dump(openStore(t, dir, lazy))); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
			rep, err := Check(dir)
			noErr(t, err)
			if len(rep.Damaged()) != 0 || rep.Files[0].Records != tt.records {
				t.Errorf("Check: %+v", rep)
			}
		})
	}
}

// TestScanSnapshotGoesOnAfterABadRecord: a line that is JSON but not a
// record is damage, and the lines after it still decode.
func TestScanSnapshotGoesOnAfterABadRecord(t *testing.T) {
	head := "{\"op\":\"snapshot\",\"format\":1}\n"
	bad := "{\"op\":5}\n"
	in := head + bad + "{\"op\":\"testdevice\",\"testdevice\":{\"id\":\"X\",\"kind\":\"serial\"}}\n{\"op\":\"end\",\"count\":2}\n"
	var got []string
	sc, err := scanSnapshot(strings.NewReader(in), func(_ int64, rec record) error {
		got = append(got, rec.Op)
		return nil
	})
	noErr(t, err)
	want := []Damage{{Offset: int64(len(head)), Length: int64(len(bad)), ValidAfter: 2, Reason: "a 9-byte line does not decode as a record"}}
	if diff := cmp.Diff(want, sc.damage); diff != "" || !slices.Equal(got, []string{"testdevice"}) || sc.records != 3 {
		t.Errorf("records %d %q, damage (-want +got):\n%s", sc.records, got, diff)
	}
}
