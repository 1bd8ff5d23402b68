package cab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// TestOpenRefuses breaks one thing at a time in a good cabinet and checks
// that Open refuses it with a message that says what, and the right kind.
func TestOpenRefuses(t *testing.T) {
	le := binary.LittleEndian
	text := cabtest.Text(70000, 1)
	base := cabtest.Cabinet{
		Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}, {}},
		Files:   []cabtest.File{{Name: "a.nbt", Data: text, Folder: 0}, {Name: "b.cat", Data: text[:5000], Folder: 1}},
	}
	tests := []struct {
		name   string
		cab    *cabtest.Cabinet // nil: base
		break_ func(raw []byte, lay cabtest.Layout) []byte
		kind   error
		msg    string
	}{
		{"not a cabinet", nil, func(raw []byte, _ cabtest.Layout) []byte { raw[0] = 'X'; return raw }, ErrInvalid, "no MSCF signature"},
		{"too short", nil, func(raw []byte, _ cabtest.Layout) []byte { return raw[:20] }, ErrInvalid, "too short for a cabinet header"},
		{"version 1.2", nil, func(raw []byte, _ cabtest.Layout) []byte { raw[24] = 2; return raw }, ErrInvalid, "version 1.2, want 1.3"},
		{"reserved field set", nil, func(raw []byte, _ cabtest.Layout) []byte { raw[4] = 1; return raw }, ErrInvalid, "reserved header fields are not zero"},
		{"unknown flag", nil, func(raw []byte, _ cabtest.Layout) []byte { raw[30] = 0x10; return raw }, ErrInvalid, "unknown header flags"},
		{"truncated", nil, func(raw []byte, _ cabtest.Layout) []byte { return raw[:len(raw)-1] }, ErrInvalid, "only"},
		{"cbCabinet below the header", nil, func(raw []byte, _ cabtest.Layout) []byte { le.PutUint32(raw[8:], 20); return raw }, ErrInvalid, "smaller than the header"},
		{"coffFiles outside", nil, func(raw []byte, _ cabtest.Layout) []byte { le.PutUint32(raw[16:], uint32(len(raw)+1)); return raw }, ErrInvalid, "coffFiles"},
		{"files but no folder", nil, func(raw []byte, _ cabtest.Layout) []byte { le.PutUint16(raw[26:], 0); return raw }, ErrInvalid, "but no folder"},
		{"too many files for the bytes", nil, func(raw []byte, _ cabtest.Layout) []byte { le.PutUint16(raw[28:], 60000); return raw }, ErrInvalid, "cannot fit"},
		{"spanning set", nil, func(raw []byte, _ cabtest.Layout) []byte { raw[30] = 2; return raw }, ErrUnsupported, "spanning several files"},
		{"Quantum", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.FolderTable+6:], 2); return raw }, ErrUnsupported, "Quantum"},
		{"unknown compression", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.FolderTable+6:], 7); return raw }, ErrInvalid, "unknown compression type"},
		{"LZX window 2^22", nil, func(raw []byte, lay cabtest.Layout) []byte {
			le.PutUint16(raw[lay.FolderTable+6:], 3|22<<8)
			return raw
		}, ErrInvalid, "LZX window of 2^22"},
		{"LZX window 2^14", nil, func(raw []byte, lay cabtest.Layout) []byte {
			le.PutUint16(raw[lay.FolderTable+6:], 3|14<<8)
			return raw
		}, ErrInvalid, "LZX window of 2^14"},
		{"folder data outside", nil, func(raw []byte, lay cabtest.Layout) []byte {
			le.PutUint32(raw[lay.FolderTable:], uint32(len(raw)+5))
			return raw
		}, ErrInvalid, "outside the cabinet"},
		{"folders share data", nil, func(raw []byte, lay cabtest.Layout) []byte {
			copy(raw[lay.FolderTable+8:lay.FolderTable+16], raw[lay.FolderTable:lay.FolderTable+8])
			return raw
		}, ErrInvalid, "overlaps"},
		{"more blocks than data", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.FolderTable+8+4:], 500); return raw }, ErrInvalid, "past the end of the cabinet"},
		{"block larger than 32 KiB", nil, func(raw []byte, lay cabtest.Layout) []byte {
			le.PutUint16(raw[lay.Blocks[0].Header+6:], 40000)
			return raw
		}, ErrInvalid, "more than 32768"},
		{"continued block", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.Blocks[0].Header+6:], 0); return raw }, ErrUnsupported, "continues into another cabinet"},
		{"stored block sizes disagree", nil, func(raw []byte, lay cabtest.Layout) []byte {
			b := lay.Blocks[len(lay.Blocks)-1]
			le.PutUint16(raw[b.Header+6:], uint16(b.CbUncomp-1))
			return raw
		}, ErrInvalid, "stored data block"},
		{"file in a missing folder", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.Files[1]+8:], 5); return raw }, ErrInvalid, "in folder 5, but there are 2"},
		{"file continued from another cabinet", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint16(raw[lay.Files[1]+8:], 0xfffd); return raw }, ErrUnsupported, "continues from or into another cabinet"},
		{"file past its folder", nil, func(raw []byte, lay cabtest.Layout) []byte { le.PutUint32(raw[lay.Files[1]:], 5001); return raw }, ErrInvalid, "runs past the end of folder 1"},
		{"file name not terminated", nil, func(raw []byte, lay cabtest.Layout) []byte { return raw[:lay.Files[1]+16+2] }, ErrInvalid, "only"},
		{"UTF-8 flag on Latin-1", &cabtest.Cabinet{Files: []cabtest.File{{Name: "\xff.txt", Data: []byte("x"), Attrs: AttrNameUTF8}}}, nil, ErrInvalid, "marked UTF-8 but is not"},
		{"empty name", &cabtest.Cabinet{Files: []cabtest.File{{Name: "", Data: []byte("x")}}}, nil, ErrInvalid, "empty name"},
		{"name longer than 256 bytes", &cabtest.Cabinet{Files: []cabtest.File{{Name: strings.Repeat("n", 257), Data: []byte("x")}}}, nil, ErrInvalid, "longer than 256 bytes"},
		{"LZX block of the wrong size", &cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.LZX}}, Files: []cabtest.File{{Name: "a", Data: text}}},
			func(raw []byte, lay cabtest.Layout) []byte {
				le.PutUint16(raw[lay.Blocks[0].Header+6:], 30000)
				return raw
			}, ErrInvalid, "every block but the last must hold 32768"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			if tt.cab != nil {
				c = *tt.cab
			}
			raw, lay := c.Build()
			if tt.break_ != nil {
				raw = tt.break_(raw, lay)
			}
			_, err := openBytes(raw, Limits{})
			if err == nil {
				t.Fatal("opened")
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

// TestReadRefuses breaks data blocks: Open succeeds (it reads no data), the
// file's reader fails before returning io.EOF.
func TestReadRefuses(t *testing.T) {
	le := binary.LittleEndian
	text := cabtest.Text(70000, 1)
	mszip := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}}, Files: []cabtest.File{{Name: "a.nbt", Data: text}}}
	stored := cabtest.Cabinet{Files: []cabtest.File{{Name: "a.nbt", Data: text}}}
	tests := []struct {
		name   string
		cab    cabtest.Cabinet
		break_ func(raw []byte, lay cabtest.Layout) []byte
		kind   error
		msg    string
	}{
		{"wrong checksum", stored, func(raw []byte, lay cabtest.Layout) []byte { raw[lay.Blocks[1].Header] ^= 1; return raw }, ErrChecksum, "folder 0, data block 1: checksum"},
		{"corrupt stored data", stored, func(raw []byte, lay cabtest.Layout) []byte { raw[lay.Blocks[2].Data+9] ^= 0x40; return raw }, ErrChecksum, "data block 2: checksum"},
		{"corrupt last block", stored, func(raw []byte, lay cabtest.Layout) []byte { raw[len(raw)-1] ^= 0x40; return raw }, ErrChecksum, "checksum"},
		{"corrupt MSZIP data", mszip, func(raw []byte, lay cabtest.Layout) []byte { raw[lay.Blocks[0].Data+20] ^= 0x40; return raw }, ErrChecksum, "checksum"},
		{"MSZIP without CK", mszip, func(raw []byte, lay cabtest.Layout) []byte {
			raw[lay.Blocks[1].Data] = 'X'
			fixChecksum(raw, lay.Blocks[1], 0)
			return raw
		}, ErrInvalid, "does not start with CK"},
		{"MSZIP gives less than declared", mszip, func(raw []byte, lay cabtest.Layout) []byte {
			b := lay.Blocks[2] // the last, 4464 bytes
			le.PutUint16(raw[b.Header+6:], uint16(b.CbUncomp+100))
			le.PutUint32(raw[lay.Files[0]:], uint32(len(text)+100))
			fixChecksum(raw, b, 0)
			return raw
		}, ErrInvalid, "MSZIP data gives 4464 of its 4564 bytes"},
		{"MSZIP holds more than declared", mszip, func(raw []byte, lay cabtest.Layout) []byte {
			b := lay.Blocks[2]
			le.PutUint16(raw[b.Header+6:], uint16(b.CbUncomp-100))
			le.PutUint32(raw[lay.Files[0]:], uint32(len(text)-100))
			fixChecksum(raw, b, 0)
			return raw
		}, ErrInvalid, "holds more than its declared 4364 bytes"},
		{"MSZIP garbage", mszip, func(raw []byte, lay cabtest.Layout) []byte {
			for i := 2; i < 40; i++ {
				raw[lay.Blocks[0].Data+i] = 0xff
			}
			fixChecksum(raw, lay.Blocks[0], 0)
			return raw
		}, ErrInvalid, "MSZIP data gives 0 of its 32768 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, lay := tt.cab.Build()
			raw = tt.break_(raw, lay)
			c, err := openBytes(raw, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.Files[0].Open()
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err == nil {
				t.Fatal("read to the end")
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), `file "a.nbt"`) {
				t.Errorf("error %q does not say %q and name the file", err, tt.msg)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	text := cabtest.Text(100000, 1)
	files := []cabtest.File{{Name: "a", Data: text}, {Name: "b", Data: text[:1000]}, {Name: "c", Data: text[:10]}}
	raw, _ := cabtest.Cabinet{Files: files}.Build()
	zeros, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}},
		Files: []cabtest.File{{Name: "z", Data: make([]byte, 10<<20)}}}.Build()
	tests := []struct {
		name string
		raw  []byte
		lim  Limits
		msg  string
	}{
		{"file count", raw, Limits{MaxFiles: 2}, "3 files, more than the limit of 2"},
		{"file size", raw, Limits{MaxFileSize: 99999}, `file "a" is 100000 bytes`},
		{"total of the folders", raw, Limits{MaxTotalSize: 100500}, "folders expand to more than 100500 bytes"},
		{"ratio (default 200)", zeros, Limits{}, "more than 200 times (a decompression bomb?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(tt.raw, tt.lim)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %v, want ErrTooLarge saying %q", err, tt.msg)
			}
		})
	}
	if _, err := openBytes(raw, Limits{MaxFiles: 3, MaxFileSize: 100000, MaxTotalSize: 101010}); err != nil {
		t.Errorf("at the limits exactly: %v", err)
	}
}

// TestBombStreamsInBoundedMemory lets a 64 MiB MSZIP bomb through the
// limits on purpose and checks that reading it allocates a small, fixed
// amount: nothing is sized from its headers, nothing is buffered whole.
func TestBombStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB of decompression")
	}
	const size = 64 << 20
	raw, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}},
		Files: []cabtest.File{{Name: "z", Data: make([]byte, size)}}}.Build()
	t.Logf("%d MiB from a %d KiB cabinet: ratio %.0f", size>>20, len(raw)>>10, float64(size)/float64(len(raw)))
	c, err := openBytes(raw, Limits{MaxRatio: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := c.Files[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("reading %d MiB allocated %d KiB", size>>20, alloc>>10)
	} else {
		t.Logf("reading %d MiB allocated %d KiB in total", size>>20, alloc>>10)
	}
	if !bytes.Equal(raw[:4], []byte("MSCF")) {
		t.Fatal("not a cabinet")
	}
}
