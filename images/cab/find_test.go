package cab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// fakeExe is an MZ/PE-shaped prefix, with decoy "MSCF" strings that are not
// cabinet headers, as a stub's code and strings may hold.
func fakeExe(n int) []byte {
	b := cabtest.Random(n, 11)
	copy(b, "MZ\x90\x00")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	copy(b[0x200:], "MSCF")                                 // decoy: reserved fields are noise
	copy(b[0x300:], "MSCF\x00\x00\x00\x00\xff\xff\xff\xff") // decoy: cbCabinet too large
	return b
}

func TestFindEmbeddedCabinet(t *testing.T) {
	files := []cabtest.File{{Name: "updateInfo.xml", Data: []byte("<x/>")}, {Name: "CPE.nbt", Data: cabtest.Random(100000, 1)}}
	cab, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}}, Files: files}.Build()
	for _, tt := range []struct {
		name          string
		prefix, trail int
	}{
		{"overlay after the image", 70000, 0},
		{"resource with bytes after it", 5000, 30000},
		{"across the scan's chunk boundary", 1<<20 - 2, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exe := append(fakeExe(tt.prefix), cab...)
			exe = append(exe, cabtest.Random(tt.trail, 5)...)
			found, err := Find(bytes.NewReader(exe), int64(len(exe)), Limits{})
			if err != nil || len(found) != 1 {
				t.Fatalf("found %d, %v", len(found), err)
			}
			if found[0].Offset != int64(tt.prefix) || found[0].Cabinet.Size != int64(len(cab)) {
				t.Errorf("offset %d size %d, want %d and %d", found[0].Offset, found[0].Cabinet.Size, tt.prefix, len(cab))
			}
			got, err := readFiles(found[0].Cabinet)
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, "embedded", got, wantFiles(files))
		})
	}
}

func TestFindTwoCabinets(t *testing.T) {
	a, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "a", Data: []byte("first")}}}.Build()
	b, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "b", Data: []byte("second")}}}.Build()
	exe := append(append(append(fakeExe(4000), a...), 0, 0, 0), b...)
	found, err := Find(bytes.NewReader(exe), int64(len(exe)), Limits{})
	if err != nil || len(found) != 2 || found[0].Offset != 4000 || found[1].Offset != int64(4000+len(a)+3) {
		t.Fatalf("found %+v, %v", found, err)
	}
}

func TestFindNothing(t *testing.T) {
	exe := fakeExe(300000)
	found, err := Find(bytes.NewReader(exe), int64(len(exe)), Limits{})
	if err != nil || len(found) != 0 {
		t.Errorf("found %d, %v", len(found), err)
	}
}

// TestFindReportsWhyACandidateFailed: a consistent header whose tables do
// not open is not a cabinet, and the error says why.
func TestFindReportsWhyACandidateFailed(t *testing.T) {
	cab, lay := cabtest.Cabinet{Files: []cabtest.File{{Name: "a", Data: []byte("x")}}}.Build()
	binary.LittleEndian.PutUint16(cab[lay.Files[0]+8:], 3) // a missing folder
	exe := append(fakeExe(1000), cab...)
	found, err := Find(bytes.NewReader(exe), int64(len(exe)), Limits{})
	if len(found) != 0 || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "offset 1000") || !strings.Contains(err.Error(), "in folder 3") {
		t.Errorf("found %d, %v", len(found), err)
	}
}

func TestFindReportsATruncatedCabinet(t *testing.T) {
	cab, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "a", Data: []byte("xyz")}}}.Build()
	exe := append(fakeExe(1000), cab[:len(cab)-2]...)
	found, err := Find(bytes.NewReader(exe), int64(len(exe)), Limits{})
	if len(found) != 0 || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("found %d, %v", len(found), err)
	}
}
