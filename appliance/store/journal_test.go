package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-memdb"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	noErr(t, err)
	return info.Size()
}

// TestTornTail damages the end of the journal the ways a crash or a bad disk
// does; Open keeps every record before the damage, cuts the rest, and the
// store goes on appending after the cut.
func TestTornTail(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string, lastStart int64) // lastStart: where the last record begins
		keepLast bool
	}{
		{
			name: "garbage appended",
			damage: func(t *testing.T, path string, _ int64) {
				appendBytes(t, path, []byte("\x07\x00\x00\x00garbage, not a record"))
			},
			keepLast: true,
		},
		{
			name: "cut mid-payload",
			damage: func(t *testing.T, path string, lastStart int64) {
				noErr(t, os.Truncate(path, lastStart+frameHeader+3))
			},
		},
		{
			name: "cut mid-header",
			damage: func(t *testing.T, path string, lastStart int64) {
				noErr(t, os.Truncate(path, lastStart+5))
			},
		},
		{
			name: "bad CRC",
			damage: func(t *testing.T, path string, lastStart int64) {
				flipByte(t, path, lastStart+frameHeader+10)
			},
		},
		{
			name: "length beyond the file",
			damage: func(t *testing.T, path string, lastStart int64) {
				var hdr [4]byte
				binary.LittleEndian.PutUint32(hdr[:], 1<<20)
				writeAt(t, path, lastStart, hdr[:])
			},
		},
		{
			name: "zeroed tail",
			damage: func(t *testing.T, path string, _ int64) {
				appendBytes(t, path, make([]byte, 4096))
			},
			keepLast: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := segmentPath(dir, 1)
			s := openStore(t, dir, lazy)
			populate(t, s)
			noErr(t, s.AddTestDevice(TestDevice{ID: "SN-1", Kind: TestDeviceSerial, Added: t0}))
			withoutLast := dump(s)
			lastStart := fileSize(t, path)
			noErr(t, s.AddTestDevice(TestDevice{ID: "SN-2", Kind: TestDeviceSerial, Added: t0}))
			withLast := dump(s)
			noErr(t, s.Close())
			sizeBefore := fileSize(t, path)

			tt.damage(t, path, lastStart)
			damaged := fileSize(t, path)
			s2 := openStore(t, dir, lazy)
			want, wantSize := withoutLast, lastStart
			if tt.keepLast {
				want, wantSize = withLast, sizeBefore
			}
			if diff := cmp.Diff(want, dump(s2)); diff != "" {
				t.Errorf("state after cut (-want +got):\n%s", diff)
			}
			if got := s2.RecoveredTail(); got != damaged-wantSize {
				t.Errorf("RecoveredTail = %d, want %d", got, damaged-wantSize)
			}
			if got := fileSize(t, path); got != wantSize {
				t.Errorf("journal is %d bytes after the cut, want %d", got, wantSize)
			}

			noErr(t, s2.AddTestDevice(TestDevice{ID: "SN-3", Kind: TestDeviceSerial, Added: t0}))
			want = dump(s2)
			noErr(t, s2.Close())
			s3 := openStore(t, dir, lazy)
			if diff := cmp.Diff(want, dump(s3)); diff != "" {
				t.Errorf("writes after the cut did not replay (-want +got):\n%s", diff)
			}
			if s3.RecoveredTail() != 0 {
				t.Errorf("second reopen cut %d more bytes", s3.RecoveredTail())
			}
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	noErr(t, err)
	_, err = f.Write(b)
	noErr(t, err)
	noErr(t, f.Close())
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	noErr(t, err)
	_, err = f.WriteAt(b, off)
	noErr(t, err)
	noErr(t, f.Close())
}

func flipByte(t *testing.T, path string, off int64) {
	b, err := os.ReadFile(path)
	noErr(t, err)
	b[off] ^= 0xff
	noErr(t, os.WriteFile(path, b, 0o600))
}

// TestCorruptRecordWithGoodCRCFails: a record that passes its checksum but
// does not decode is not a torn tail; cutting it would silently drop every
// operator change after it.
func TestCorruptRecordWithGoodCRCFails(t *testing.T) {
	dir := t.TempDir()
	noErr(t, os.WriteFile(segmentPath(dir, 1), appendFrame(nil, []byte(`{"op":"bogus"}`)), 0o600))
	if _, err := Open(dir, lazy); err == nil {
		t.Fatal("Open accepted an unknown record")
	}
}

func TestMissingSegmentFails(t *testing.T) {
	dir := t.TempDir()
	noErr(t, os.WriteFile(segmentPath(dir, 2), nil, 0o600))
	if _, err := Open(dir, lazy); err == nil {
		t.Fatal("Open replayed segment 2 without segment 1 or a snapshot")
	}
}

// FuzzReplaySegment: whatever the bytes, replay keeps a prefix of whole
// records and cuts only a torn tail; a segment it calls corrupt is left
// byte for byte as it was. It never panics.
func FuzzReplaySegment(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendFrame(nil, []byte(`{"op":"testdevice","testdevice":{"id":"SN-1","kind":"serial"}}`)))
	f.Add(appendFrame(appendFrame(nil, []byte(`{"op":"event","event":{"seq":1,"device_id":"IP:1","kind":"dns","ip":"1"}}`)), []byte("{")))
	f.Add(bytes.Repeat([]byte{0xff}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := segmentPath(dir, 1)
		noErr(t, os.WriteFile(path, data, 0o600))
		db, err := memdb.NewMemDB(newDBSchema())
		noErr(t, err)
		s := &Store{db: db, opt: Options{}.withDefaults(), view: newView()}
		txn := s.beginLoad()
		defer txn.abort()
		kept, cut, err := s.replaySegment(txn, path, true)
		if errors.As(err, new(*CorruptError)) {
			if got, rerr := os.ReadFile(path); rerr != nil || !bytes.Equal(got, data) {
				t.Fatalf("a corrupt segment was changed: %v", rerr)
			}
			return
		}
		if err != nil {
			return // a well-framed record that does not apply
		}
		if _, damage := scanFrames(data[:kept], nil); len(damage) > 0 {
			t.Fatalf("kept %d bytes with damage %+v", kept, damage)
		}
		if kept+cut != int64(len(data)) || fileSize(t, path) != kept {
			t.Fatalf("kept %d + cut %d of %d bytes; file now %d", kept, cut, len(data), fileSize(t, path))
		}
	})
}

// TestJournalFailureRefusesChanges: while the journal cannot be written
// (here: a dead file), every operator change fails and says why, and so
// does Close. A journal that heals is diskfull_test.go's.
func TestJournalFailureRefusesChanges(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.journalMu.Lock()
	s.journal.Close() // the next write fails, as on a dying disk
	s.journalMu.Unlock()
	if err := s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}); err == nil {
		t.Fatal("AddTestDevice succeeded on a closed journal")
	}
	if s.IsTestDevice(mac, "") {
		t.Error("a change that was not journaled became visible")
	}
	if s.Err() == nil {
		t.Error("Err() = nil after a failed journal write")
	}
	if _, err := s.ImportImage(testImage(cx700Key, vRelease)); err == nil {
		t.Error("a later operator change succeeded")
	}
	if err := s.Close(); err == nil {
		t.Error("Close hid the journal failure")
	}
}
