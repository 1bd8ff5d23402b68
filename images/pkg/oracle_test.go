package pkg

import (
	"bytes"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// TestGcabPackages imports packages made by GNOME's gcab (stored, and MSZIP
// with -z), as a .cab and wrapped in a synthetic .exe, and checks every
// delivered file against the input and against cabextract's extraction.
func TestGcabPackages(t *testing.T) {
	files := []cabtest.File{
		{Name: `updateInfo.xml`, Data: []byte(`<UpdateInfo><Update DevicePath="UCPhone/LG-Nortel/IP8540/A/ENU" Version="3.5.6907.37" File="lg/CPE.nbt"/></UpdateInfo>`)},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: cabtest.Random(200000, 1)},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.cat`, Data: cabtest.Text(5000, 2)},
		{Name: `lg\CPE.nbt`, Data: cabtest.Text(150000, 3)},
		{Name: `lg\CPE.cat`, Data: cabtest.Random(4000, 4)},
	}
	want := []got{
		{Key: "UCPhone/LG-Nortel/IP8540/A/ENU/CPE", Version: "3.5.6907.37",
			Files:  map[string]string{"CPE.nbt": "lg/CPE.nbt", "CPE.cat": "lg/CPE.cat"},
			Origin: Origin{"updateInfo.xml", "updateInfo.xml", "file name"}},
		{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
			Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt", "CPE.cat": "UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.cat"},
			Origin: Origin{"folder names", "folder names", "folder names"}},
	}
	for _, zip := range []bool{false, true} {
		raw := cabtest.Gcab(t, files, zip)
		oracle := cabtest.Cabextract(t, raw)
		for name, in := range map[string][]byte{"UCUpdates.cab": raw, "UCUpdates.exe": exe(raw)} {
			p, err := openPkg(in, name, Hints{})
			if err != nil {
				t.Fatalf("zip=%v %s: %v", zip, name, err)
			}
			g := summarize(t, p)
			if len(g) != len(want) || g[0].Key != want[0].Key || g[1].Key != want[1].Key || g[0].Origin != want[0].Origin {
				t.Errorf("zip=%v %s: updates %+v", zip, name, g)
			}
			checkContents(t, p, files)
			for path, b := range contents(t, p) {
				if !bytes.Equal(b, oracle[path]) {
					t.Errorf("zip=%v %s: %s differs from cabextract's", zip, name, path)
				}
			}
		}
	}
}

// TestLZXPackageAgainstCabextract: an LZX package (with Intel E8
// translation, every block type) lands byte-identical to cabextract's view.
func TestLZXPackageAgainstCabextract(t *testing.T) {
	files := []cabtest.File{
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: cabtest.Calls(300000, 5)},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.cat`, Data: cabtest.Text(6000, 6)},
	}
	raw, _ := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: 21, LZX: cabtest.LZXOptions{
		IntelFileSize: 12000000,
		Blocks:        []cabtest.LZXBlock{{Type: cabtest.Aligned, Size: 100000}, {Type: cabtest.Uncompressed, Size: 33333}},
	}}}, Files: files}.Build()
	oracle := cabtest.Cabextract(t, raw)
	p, err := openPkg(exe(raw), "UCUpdates.exe", Hints{})
	if err != nil {
		t.Fatal(err)
	}
	checkContents(t, p, files)
	for path, b := range contents(t, p) {
		if !bytes.Equal(b, oracle[path]) {
			t.Errorf("%s differs from cabextract's", path)
		}
	}
}
