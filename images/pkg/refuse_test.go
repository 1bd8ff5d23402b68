package pkg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cab"
	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// TestOpenRefuses: each refusal names the package file, says what is wrong,
// and matches ErrRefused (and the cabinet error kind where there is one).
func TestOpenRefuses(t *testing.T) {
	nbt := cabtest.Random(5000, 1)
	good := func(name string) cabtest.File { return cabtest.File{Name: name, Data: nbt} }
	build := func(files ...cabtest.File) []byte {
		raw, _ := cabtest.Cabinet{Files: files}.Build()
		return raw
	}
	zeros, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}},
		Files: []cabtest.File{{Name: cx700 + `\1.0.0.1\CPE\CPE.nbt`, Data: make([]byte, 8<<20)}}}.Build()
	ok := build(good(cx700 + `\3.5.6907.37\CPE\CPE.nbt`))
	tests := []struct {
		name  string
		raw   []byte
		file  string
		hints Hints
		lim   Limits
		kind  error // besides ErrRefused
		msg   string
	}{
		{name: "path traversal", raw: build(good(`..\..\CPE.nbt`)), msg: `x.cab: file name "..\\..\\CPE.nbt" climbs out of the package (path traversal)`},
		{name: "traversal in the middle", raw: build(good(`UCPhone\..\..\CPE.nbt`)), msg: "path traversal"},
		{name: "absolute with a backslash", raw: build(good(`\Windows\CPE.nbt`)), msg: `file name "\\Windows\\CPE.nbt" is absolute`},
		{name: "absolute with a slash", raw: build(good(`/etc/CPE.nbt`)), msg: "is absolute"},
		{name: "drive letter", raw: build(good(`C:\CPE.nbt`)), msg: "names a drive or a stream"},
		{name: "drive-relative", raw: build(good(`C:CPE.nbt`)), msg: "names a drive or a stream"},
		{name: "empty element", raw: build(good(`UCPhone\\CPE.nbt`)), msg: "empty or \".\" element"},
		{name: "control character", raw: build(good("CPE\x01.nbt")), msg: "control character"},
		{name: "duplicate names but for case", raw: build(good(`a\CPE.nbt`), good(`A\cpe.NBT`)), msg: `the cabinet holds "A/cpe.NBT" twice`},
		{name: "exact duplicate", raw: build(good(`CPE.nbt`), good(`CPE.nbt`)), msg: "twice"},
		{name: "executable without a cabinet", raw: exe(nil), file: "UCUpdates.exe", msg: "UCUpdates.exe is an executable but contains no cabinet"},
		{name: "executable with a broken cabinet", raw: append(exe(nil)[:50000], ok[:len(ok)-10]...), file: "UCUpdates.exe", kind: cab.ErrInvalid,
			msg: "UCUpdates.exe is an executable but contains no valid cabinet: the cabinet signature at offset 50000: cabinet: header says"},
		{name: "neither cabinet nor executable", raw: []byte("PK\x03\x04 a zip file"), file: "fw.zip", msg: "fw.zip is neither a cabinet"},
		{name: "empty file", raw: nil, msg: "is neither a cabinet"},
		{name: "truncated cabinet", raw: ok[:len(ok)-1], kind: cab.ErrInvalid, msg: "x.cab: cabinet: header says"},
		{name: "trailing data", raw: append(bytes.Clone(ok), 0), msg: "x.cab: the cabinet header says"},
		{name: "no image", raw: build(cabtest.File{Name: "readme.txt", Data: []byte("hi")}), msg: "x.cab: the cabinet holds no firmware image (.nbt); it holds readme.txt"},
		{name: "empty cabinet", raw: build(), msg: "x.cab: the cabinet is empty"},
		{name: "nobody says what it is", raw: build(good(`firmware\CPE.nbt`)),
			msg: "x.cab: firmware/CPE.nbt: neither updateInfo.xml, a description .xml nor the folder names say its device path (give --device-path, e.g. UCPhone/Polycom/CX700/A/ENU or OCInterim/ENU), nor its version (give --version, e.g. 3.5.6907.37)"},
		{name: "only the version is missing", raw: build(good(cx700 + `\CPE.nbt`)), msg: "say its version (give --version"},
		{name: "hint contradicts the folders", raw: ok, hints: Hints{Version: ver("3.5.6907.38")},
			msg: "x.cab: UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt: folder names says version 3.5.6907.37, but --version says 3.5.6907.38"},
		{name: "device path hint contradicts", raw: ok, hints: Hints{DevicePath: dp("UCPhone/Polycom/CX600/A/ENU")}, msg: `folder names says model "CX700", but --device-path UCPhone/Polycom/CX600/A/ENU says "CX600"`},
		{name: "update type hint contradicts", raw: ok, hints: Hints{UpdateType: "BOOT"}, msg: `folder names says update type "CPE", but --update-type says "BOOT"`},
		{name: "the same image twice", raw: build(good(cx700+`\3.5.6907.37\CPE\CPE.nbt`), good(`UCPhone_Polycom_CX700_A_ENU_3.5.6907.37_CPE.nbt`)),
			msg: "are both UCPhone/Polycom/CX700/A/ENU/CPE version 3.5.6907.37"},
		{name: "oversized metadata", raw: build(good(`CPE.nbt`), cabtest.File{Name: "CPE.xml", Data: make([]byte, 1<<20+1)}), msg: "x.cab: CPE.xml is 1048577 bytes; metadata files may have at most 1048576"},
		{name: "decompression bomb", raw: zeros, kind: cab.ErrTooLarge, msg: "x.cab: cabinet: folders expand to at least"},
		{name: "file over the size limit", raw: ok, lim: Limits{MaxFileSize: 4999}, kind: cab.ErrTooLarge, msg: `x.cab: cabinet: file "UCPhone\\Polycom\\CX700\\A\\ENU\\3.5.6907.37\\CPE\\CPE.nbt" is 5000 bytes`},
		{name: "total over the limit", raw: build(good("a.nbt"), good("b.nbt")), lim: Limits{MaxTotalSize: 9999}, kind: cab.ErrTooLarge, msg: "expand to more than 9999 bytes"},
		{name: "too many files", raw: build(good("a.nbt"), good("b.nbt")), lim: Limits{MaxFiles: 1}, kind: cab.ErrTooLarge, msg: "2 files, more than the limit of 1"},
		{name: "Quantum", raw: func() []byte {
			raw, lay := cabtest.Cabinet{Files: []cabtest.File{good("a.nbt")}}.Build()
			binary.LittleEndian.PutUint16(raw[lay.FolderTable+6:], 2)
			return raw
		}(), kind: cab.ErrUnsupported, msg: "Quantum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "x.cab"
			}
			_, err := Open(bytes.NewReader(tt.raw), int64(len(tt.raw)), file, tt.lim, tt.hints)
			if err == nil {
				t.Fatal("opened")
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("%v is not ErrRefused", err)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("%v is not %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), file) {
				t.Errorf("error %q\ndoes not start with %q and say %q", err, file, tt.msg)
			}
		})
	}
}

// TestReadRefuses: data problems show while a file is read; the error names
// the package and the file, and matches ErrRefused and cab.ErrChecksum.
func TestReadRefuses(t *testing.T) {
	files := []cabtest.File{{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: cabtest.Random(100000, 1)}}
	raw, lay := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}}, Files: files}.Build()
	raw[lay.Blocks[2].Data+100] ^= 0x10
	p, err := openPkg(raw, "UCUpdates.cab", Hints{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := p.Updates[0].Files[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrRefused) || !errors.Is(err, cab.ErrChecksum) {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	if n > 65536 {
		t.Errorf("%d bytes delivered; block 2 starts at 65536", n)
	}
	for _, s := range []string{"UCUpdates.cab: cabinet: ", `CPE.nbt"`, "data block 2: checksum"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// TestWarnings: XML that does not parse is ignored, with a warning, when
// the folders say enough.
func TestWarnings(t *testing.T) {
	raw, _ := cabtest.Cabinet{Files: []cabtest.File{
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: []byte("img")},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.xml`, Data: []byte("<Update><Version>1.2.3.4</Update")},
	}}.Build()
	p, err := openPkg(raw, "x.cab", Hints{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "CPE.xml is not well-formed XML") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if p.Updates[0].Version.String() != "3.5.6907.37" {
		t.Errorf("version %s", p.Updates[0].Version)
	}
}
