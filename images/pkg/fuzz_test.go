package pkg

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// fuzzLimits keep each input's work small: at most 4 MiB decompressed.
var fuzzLimits = Limits{MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20, MaxRatio: 200, MaxFiles: 100}

// FuzzOpen feeds raw bytes to Open and reads every file of every update
// under the limits. Whatever the input: no panic, no hang, every failure
// is a refusal (the input is in memory, so nothing else can fail), and a
// file that reads to io.EOF has exactly its declared size.
func FuzzOpen(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Open(bytes.NewReader(data), int64(len(data)), "fuzz.cab", fuzzLimits, Hints{})
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("not a refusal: %v", err)
			}
			return
		}
		if len(p.Updates) == 0 {
			t.Fatal("a package without updates")
		}
		for _, u := range p.Updates {
			for _, pf := range u.Files {
				if err := images.CheckFileName(pf.Name); err != nil {
					t.Fatalf("served name: %v", err)
				}
				rc, err := pf.Open()
				if err != nil {
					if !errors.Is(err, ErrRefused) {
						t.Fatalf("open %s: not a refusal: %v", pf.Path, err)
					}
					continue
				}
				n, err := io.Copy(io.Discard, io.LimitReader(rc, pf.Size+1))
				rc.Close()
				switch {
				case err != nil && !errors.Is(err, ErrRefused):
					t.Fatalf("read %s: not a refusal: %v", pf.Path, err)
				case err == nil && n != pf.Size:
					t.Fatalf("read %s: %d bytes, declared %d", pf.Path, n, pf.Size)
				}
			}
		}
	})
}

// fuzzSeeds are small valid packages of every kind the reader knows.
func fuzzSeeds() [][]byte {
	nbt, txt := cabtest.Calls(2000, 1), cabtest.Text(600, 2)
	info := []byte(`<UpdateInfo Locale="ENU"><Device Type="UCPhone" Vendor="Polycom" Model="CX700" Revision="A"><Update Version="3.5.6907.37" File="a/CPE.nbt"/></Device></UpdateInfo>`)
	layout := []cabtest.File{
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: nbt, Folder: 0},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.cat`, Data: txt, Folder: 0},
	}
	meta := []cabtest.File{
		{Name: `updateInfo.xml`, Data: info},
		{Name: `a\CPE.nbt`, Data: txt},
		{Name: `a\CPE.cat`, Data: txt[:100]},
		{Name: `OCInterim_ENU_1.0.522.103_CPE.nbt`, Data: nbt[:500]},
		{Name: `b\CPE.nbt`, Data: txt[:300]},
		{Name: `b\CPE.xml`, Data: []byte(`<u><DevicePath>UCPhone/LG-Nortel/IP8540/A/DEU</DevicePath><Version>4.0.1.2</Version></u>`)},
	}
	var seeds [][]byte
	for _, c := range []cabtest.Cabinet{
		{Files: layout},
		{Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}}, Files: layout},
		{Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: 15, LZX: cabtest.LZXOptions{IntelFileSize: 1 << 20,
			Blocks: []cabtest.LZXBlock{{Type: cabtest.Aligned, Size: 1000}, {Type: cabtest.Uncompressed, Size: 99}}}}}, Files: layout},
		{Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: 16}}, Files: []cabtest.File{ // two frames
			{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: cabtest.Text(33000, 5)}}},
		{Folders: []cabtest.Folder{{}, {Compression: cabtest.MSZIP}, {Compression: cabtest.LZX}}, Files: []cabtest.File{
			{Name: meta[0].Name, Data: meta[0].Data, Folder: 0}, {Name: meta[1].Name, Data: meta[1].Data, Folder: 1},
			{Name: meta[2].Name, Data: meta[2].Data, Folder: 1}, {Name: meta[3].Name, Data: meta[3].Data, Folder: 2},
			{Name: meta[4].Name, Data: meta[4].Data, Folder: 2}, {Name: meta[5].Name, Data: meta[5].Data, Folder: 0}}},
		{ReserveHeader: 4, ReserveFolder: 2, ReserveData: 1, Folders: []cabtest.Folder{{Compression: cabtest.MSZIP}}, Files: meta},
	} {
		raw, _ := c.Build()
		seeds = append(seeds, raw)
	}
	sfx := append([]byte("MZ\x90\x00 stub MSCF decoy "), cabtest.Random(100, 3)...)
	sfx = append(append(sfx, seeds[1]...), cabtest.Random(50, 4)...)
	seeds = append(seeds, sfx)
	stored2, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{BlockSize: 300}}, Files: layout}.Build()
	return append(seeds, stored2)
}

// TestFuzzSeedsOpen keeps the seeds useful: each is a package that opens.
func TestFuzzSeedsOpen(t *testing.T) {
	for i, seed := range fuzzSeeds() {
		t.Logf("seed %d: %d bytes", i, len(seed))
		p, err := Open(bytes.NewReader(seed), int64(len(seed)), "seed", fuzzLimits, Hints{})
		if err != nil {
			t.Errorf("seed %d: %v", i, err)
			continue
		}
		contents(t, p)
	}
}
