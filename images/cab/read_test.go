package cab

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	gocab "github.com/secDre4mer/go-cab"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

func TestReadCabinetsFromTheWriter(t *testing.T) {
	text, noise := cabtest.Text(150000, 1), cabtest.Random(70000, 2)
	lzx := func(bits int, opt cabtest.LZXOptions) cabtest.Folder {
		return cabtest.Folder{Compression: cabtest.LZX, LZXWindow: bits, LZX: opt}
	}
	tests := []struct {
		name string
		cab  cabtest.Cabinet
	}{
		{"stored, one file", cabtest.Cabinet{Files: []cabtest.File{{Name: "CPE.nbt", Data: noise}}}},
		{"stored, empty and tiny files", cabtest.Cabinet{Files: []cabtest.File{
			{Name: "empty.txt"}, {Name: "one", Data: []byte{1}}, {Name: "CPE.nbt", Data: text}}}},
		{"stored, odd block size", cabtest.Cabinet{
			Folders: []cabtest.Folder{{BlockSize: 10001}},
			Files:   []cabtest.File{{Name: `a\CPE.nbt`, Data: text}, {Name: `a\CPE.cat`, Data: noise}}}},
		{"LZX window 2^15", cabtest.Cabinet{Folders: []cabtest.Folder{lzx(15, cabtest.LZXOptions{})},
			Files: []cabtest.File{{Name: "CPE.nbt", Data: text}}}},
		{"three folders: stored, MSZIP, LZX", cabtest.Cabinet{
			Folders: []cabtest.Folder{{}, {Compression: cabtest.MSZIP}, lzx(21, cabtest.LZXOptions{})},
			Files: []cabtest.File{
				{Name: "updateInfo.xml", Data: []byte("<UpdateInfo/>"), Folder: 0},
				{Name: `x\CPE.nbt`, Data: text, Folder: 1},
				{Name: `x\CPE.cat`, Data: noise[:5000], Folder: 1},
				{Name: `y\CPE.nbt`, Data: noise, Folder: 2},
				{Name: `y\CPE.cat`, Data: text[:777], Folder: 2},
			}}},
		{"reserve areas everywhere, checksums as libmspack", cabtest.Cabinet{ReserveHeader: 20, ReserveFolder: 3, ReserveData: 5,
			ChecksumSkipsReserve: true,
			Folders:              []cabtest.Folder{{Compression: cabtest.MSZIP}, lzx(16, cabtest.LZXOptions{})},
			Files:                []cabtest.File{{Name: "a", Data: text, Folder: 0}, {Name: "b", Data: text, Folder: 1}}}},
		{"reserve areas everywhere, checksums as the specification", cabtest.Cabinet{ReserveHeader: 20, ReserveFolder: 3, ReserveData: 5,
			Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}},
			Files:   []cabtest.File{{Name: "a", Data: text}}}},
		{"MSZIP, blocks smaller than 32 KiB (not what cabextract reads)", cabtest.Cabinet{
			Folders: []cabtest.Folder{{Compression: cabtest.MSZIP, BlockSize: 10000}},
			Files:   []cabtest.File{{Name: "a", Data: text}}}},
		{"no checksums", cabtest.Cabinet{NoChecksums: true, Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}},
			Files: []cabtest.File{{Name: "a", Data: text}}}},
		{"UTF-8 name", cabtest.Cabinet{Files: []cabtest.File{{Name: "Größe.txt", Data: text[:100], Attrs: AttrNameUTF8}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := tt.cab.Build()
			c, err := openBytes(raw, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readFiles(c)
			if err != nil {
				t.Fatal(err)
			}
			want := wantFiles(tt.cab.Files)
			sameFiles(t, "reader", got, want)
			if oracle := !strings.Contains(tt.name, "cabextract") && !strings.Contains(tt.name, "specification"); oracle {
				sameFiles(t, "cabextract", cabextract(t, raw), want)
			}
		})
	}
}

func TestLatin1Name(t *testing.T) {
	raw, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "Gr\xf6\xdfe.txt", Data: []byte("x")}}}.Build()
	c, err := openBytes(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Files[0].Name; got != "Größe.txt" {
		t.Errorf("name %q, want Größe.txt", got)
	}
}

// TestOpenFilesInAnyOrder reads the files of one folder backwards, then
// interleaved, then forwards: the parked folder reader must never hand a
// file the wrong bytes.
func TestOpenFilesInAnyOrder(t *testing.T) {
	var files []cabtest.File
	for i := range 6 {
		files = append(files, cabtest.File{Name: string(rune('a' + i)), Data: cabtest.Text(20000+i*7000, uint64(i))})
	}
	raw, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: 16}}, Files: files}.Build()
	c, err := openBytes(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	order := []int{5, 4, 3, 2, 1, 0, 0, 2, 1, 3, 5, 4, 0, 1, 2, 3, 4, 5}
	for _, i := range order {
		r, err := c.Files[i].Open()
		if err != nil {
			t.Fatal(err)
		}
		half := make([]byte, len(files[i].Data)/2)
		if _, err := io.ReadFull(r, half); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(append(half, rest...), files[i].Data) {
			t.Fatalf("file %d: err %v or content differs", i, err)
		}
	}
}

func TestReadAfterClose(t *testing.T) {
	raw, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "a", Data: []byte("hello")}}}.Build()
	c, _ := openBytes(raw, Limits{})
	r, _ := c.Files[0].Open()
	r.Close()
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Error("read after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestGcabCabinets reads cabinets made by GNOME's gcab, stored and MSZIP,
// with several blocks and files, and checks them against the inputs,
// cabextract and github.com/secDre4mer/go-cab.
func TestGcabCabinets(t *testing.T) {
	if _, err := exec.LookPath("gcab"); err != nil {
		t.Skip("gcab is not installed (apt-get install gcab); gcab-made fixtures are skipped")
	}
	files := []cabtest.File{
		{Name: `UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.nbt`, Data: cabtest.Random(300000, 3)},
		{Name: `UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.cat`, Data: cabtest.Text(9000, 4)},
		{Name: `updateInfo.xml`, Data: cabtest.Text(1234, 5)},
		{Name: `empty.txt`},
	}
	for _, zip := range []bool{false, true} {
		raw := cabtest.Gcab(t, files, zip)
		c, err := openBytes(raw, Limits{})
		if err != nil {
			t.Fatalf("zip=%v: %v", zip, err)
		}
		got, err := readFiles(c)
		if err != nil {
			t.Fatalf("zip=%v: %v", zip, err)
		}
		want := wantFiles(files)
		sameFiles(t, "reader", got, want)
		sameFiles(t, "cabextract", cabextract(t, raw), want)
		sameFiles(t, "go-cab", goCabFiles(t, raw), want)
	}
}

// goCabFiles reads raw with github.com/secDre4mer/go-cab, the independent
// second reader, for stored and MSZIP cabinets (its LZX decoder is not
// trusted; see the package doc).
func goCabFiles(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	c, err := gocab.Open(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("go-cab: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range c.Files {
		r, err := f.Open()
		if err != nil {
			t.Fatalf("go-cab: %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("go-cab: %s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out
}

// TestConcurrentReads reads every file of a multi-folder cabinet from
// several goroutines at once (run with -race): parked folder readers are
// handed to one reader at a time.
func TestConcurrentReads(t *testing.T) {
	var files []cabtest.File
	for i := range 8 {
		files = append(files, cabtest.File{Name: string(rune('a' + i)), Data: cabtest.Text(30000+i*1000, uint64(i)), Folder: i % 3})
	}
	raw, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{}, {Compression: cabtest.MSZIP}, {Compression: cabtest.LZX}}, Files: files}.Build()
	c, err := openBytes(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4*len(files))
	for g := range 4 {
		go func() {
			for k := range files {
				i := (k + g*3) % len(files)
				r, err := c.Files[i].Open()
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(r)
				r.Close()
				if err == nil && !bytes.Equal(b, files[i].Data) {
					err = fmt.Errorf("file %d differs", i)
				}
				errs <- err
			}
		}()
	}
	for range 4 * len(files) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
