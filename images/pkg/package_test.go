package pkg

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

const cx700 = `UCPhone\Polycom\CX700\A\ENU`

// TestLayouts: each way a package can say what its images are lands as the
// right Updates, with byte-identical files.
func TestLayouts(t *testing.T) {
	nbt, cat := cabtest.Random(80000, 1), cabtest.Text(3000, 2)
	nbt2, cat2 := cabtest.Calls(70000, 3), cabtest.Text(2500, 4)
	folders := []cabtest.Folder{{}, {Compression: cabtest.MSZIP}, {Compression: cabtest.LZX, LZXWindow: 21}}
	tests := []struct {
		name    string
		folders []cabtest.Folder
		files   []cabtest.File
		hints   Hints
		want    []got
		ignored []string
	}{
		{
			name: "OCS folder layout, no metadata",
			files: []cabtest.File{
				{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: nbt},
				{Name: cx700 + `\3.5.6907.37\CPE\CPE.cat`, Data: cat},
			},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
				Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt", "CPE.cat": "UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.cat"},
				Origin: Origin{"folder names", "folder names", "folder names"}}},
		},
		{
			name:    "two models and the interim, three folders (stored, MSZIP, LZX), a prefix folder",
			folders: folders,
			files: []cabtest.File{
				{Name: `DeviceUpdateFiles_Int\UCPhone\LG-Nortel\IP8540\A\ENU\3.5.6907.37\CPE\CPE.nbt`, Data: nbt, Folder: 1},
				{Name: `DeviceUpdateFiles_Int\UCPhone\LG-Nortel\IP8540\A\ENU\3.5.6907.37\CPE\CPE.cat`, Data: cat, Folder: 1},
				{Name: `DeviceUpdateFiles_Int\OCInterim\ENU\1.0.522.103\CPE\CPE.nbt`, Data: nbt2, Folder: 2},
				{Name: `DeviceUpdateFiles_Int\OCInterim\ENU\1.0.522.103\CPE\CPE.cat`, Data: cat2, Folder: 2},
				{Name: `readme.txt`, Data: []byte("hello"), Folder: 0},
			},
			want: []got{
				{Key: "OCInterim/ENU/CPE", Version: "1.0.522.103", Interim: true,
					Files:  map[string]string{"CPE.nbt": "DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE/CPE.nbt", "CPE.cat": "DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE/CPE.cat"},
					Origin: Origin{"folder names", "folder names", "folder names"}},
				{Key: "UCPhone/LG-Nortel/IP8540/A/ENU/CPE", Version: "3.5.6907.37",
					Files:  map[string]string{"CPE.nbt": "DeviceUpdateFiles_Int/UCPhone/LG-Nortel/IP8540/A/ENU/3.5.6907.37/CPE/CPE.nbt", "CPE.cat": "DeviceUpdateFiles_Int/UCPhone/LG-Nortel/IP8540/A/ENU/3.5.6907.37/CPE/CPE.cat"},
					Origin: Origin{"folder names", "folder names", "folder names"}},
			},
			ignored: []string{"readme.txt"},
		},
		{
			name:  "short layout: no version folder, version from --version",
			files: []cabtest.File{{Name: cx700 + `\CPE.nbt`, Data: nbt}},
			hints: Hints{Version: ver("3.5.6907.9")},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.9",
				Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/ENU/CPE.nbt"},
				Origin: Origin{"folder names", "--version", "file name"}}},
		},
		{
			name: "short layout: no update type folder",
			files: []cabtest.File{
				{Name: `UCPhone\Polycom\CX700\A\DEU\3.5.6907.37\CPE.nbt`, Data: nbt2},
				{Name: `UCPhone\Polycom\CX700\A\DEU\3.5.6907.37\CPE.cat`, Data: cat2},
			},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/DEU/CPE", Version: "3.5.6907.37",
				Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/DEU/3.5.6907.37/CPE.nbt", "CPE.cat": "UCPhone/Polycom/CX700/A/DEU/3.5.6907.37/CPE.cat"},
				Origin: Origin{"folder names", "folder names", "file name"}}},
		},
		{
			name: "parts in the file name, served as CPE.nbt and CPE.cat",
			files: []cabtest.File{
				{Name: `UCPhone_Polycom_CX700_A_ENU_3.5.6907.37_CPE.nbt`, Data: nbt},
				{Name: `UCPhone_Polycom_CX700_A_ENU_3.5.6907.37_CPE.cat`, Data: cat},
				{Name: `OCInterim_ENU_1.0.522.101_CPE.nbt`, Data: nbt2},
			},
			want: []got{
				{Key: "OCInterim/ENU/CPE", Version: "1.0.522.101", Interim: true,
					Files:  map[string]string{"CPE.nbt": "OCInterim_ENU_1.0.522.101_CPE.nbt"},
					Origin: Origin{"file name", "file name", "file name"}},
				{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
					Files:  map[string]string{"CPE.nbt": "UCPhone_Polycom_CX700_A_ENU_3.5.6907.37_CPE.nbt", "CPE.cat": "UCPhone_Polycom_CX700_A_ENU_3.5.6907.37_CPE.cat"},
					Origin: Origin{"file name", "file name", "file name"}},
			},
		},
		{
			name: "flat files described by a per-update .xml",
			files: []cabtest.File{
				{Name: `updateInfo.xml`, Data: []byte(`<UpdateInfo><Package>tanjay</Package></UpdateInfo>`)},
				{Name: `CPE.nbt`, Data: nbt},
				{Name: `CPE.cat`, Data: cat},
				{Name: `CPE.xml`, Data: []byte(`<?xml version="1.0"?>
<Update xmlns="urn:vendor:update">
  <Device><Type>UCPhone</Type><Brand>Polycom</Brand><Model>CX700</Model><HardwareRevision>A</HardwareRevision></Device>
  <Language>ENU</Language>
  <UpdateType>CPE</UpdateType>
  <FirmwareVersion>3.5.6907.37</FirmwareVersion>
</Update>`)},
			},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37", Desc: "CPE.xml",
				Files:  map[string]string{"CPE.nbt": "CPE.nbt", "CPE.cat": "CPE.cat"},
				Origin: Origin{"CPE.xml", "CPE.xml", "CPE.xml"}}},
			ignored: []string{"CPE.xml", "updateInfo.xml"},
		},
		{
			name: "updateInfo.xml naming each image's folder, attributes, namespaces, odd case",
			files: []cabtest.File{
				{Name: `updateInfo.xml`, Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<u:UPDATEINFO xmlns:u="urn:x" Locale="ENU">
  <u:device u:deviceType="UCPhone" VENDOR="Polycom" model="CX700" Revision="A">
    <u:update version="3.5.6907.37" updateType="CPE" path="images\cx"/>
  </u:device>
  <u:device devicetype="UCPhone" vendor="LG-Nortel" model="IP8540" revision="A">
    <u:update><u:version>3.5.6907.38</u:version><u:files><u:file>images\lg\CPE.nbt</u:file></u:files></u:update>
  </u:device>
  <u:device><u:devicepath>OCInterim/ENU</u:devicepath><u:update isInterim="yes" Version="1.0.522.103" path="images/int/CPE.nbt"/></u:device>
</u:UPDATEINFO>`)},
				{Name: `images\cx\CPE.nbt`, Data: nbt},
				{Name: `images\cx\CPE.cat`, Data: cat},
				{Name: `images\lg\CPE.nbt`, Data: nbt2},
				{Name: `images\int\CPE.nbt`, Data: cat2},
			},
			want: []got{
				{Key: "OCInterim/ENU/CPE", Version: "1.0.522.103", Interim: true,
					Files:  map[string]string{"CPE.nbt": "images/int/CPE.nbt"},
					Origin: Origin{"updateInfo.xml", "updateInfo.xml", "file name"}},
				{Key: "UCPhone/LG-Nortel/IP8540/A/ENU/CPE", Version: "3.5.6907.38",
					Files:  map[string]string{"CPE.nbt": "images/lg/CPE.nbt"},
					Origin: Origin{"updateInfo.xml", "updateInfo.xml", "file name"}},
				{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
					Files:  map[string]string{"CPE.nbt": "images/cx/CPE.nbt", "CPE.cat": "images/cx/CPE.cat"},
					Origin: Origin{"updateInfo.xml", "updateInfo.xml", "updateInfo.xml"}},
			},
			ignored: []string{"updateInfo.xml"},
		},
		{
			name: "UTF-16 description; version from it, device path from the folders",
			files: []cabtest.File{
				{Name: cx700 + `\CPE\CPE.nbt`, Data: nbt},
				{Name: cx700 + `\CPE\CPE.xml`, Data: utf16le(`<?xml version="1.0" encoding="utf-16"?><Image ImageVersion="3.5.6907.40" Interim="false"/>`)},
			},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.40", Desc: "UCPhone/Polycom/CX700/A/ENU/CPE/CPE.xml",
				Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/ENU/CPE/CPE.nbt"},
				Origin: Origin{"folder names", "UCPhone/Polycom/CX700/A/ENU/CPE/CPE.xml", "folder names"}}},
			ignored: []string{"UCPhone/Polycom/CX700/A/ENU/CPE/CPE.xml"},
		},
		{
			name:  "nothing in the package: the operator's hints",
			files: []cabtest.File{{Name: `image.nbt`, Data: nbt}, {Name: `image.cat`, Data: cat}},
			hints: Hints{DevicePath: dp("UCPhone/Polycom/CX700/A/ENU"), Version: ver("3.5.6907.37"), UpdateType: "CPE"},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
				Files:  map[string]string{"image.nbt": "image.nbt", "image.cat": "image.cat"},
				Origin: Origin{"--device-path", "--version", "--update-type"}}},
		},
		{
			name:  "hints that agree with the package",
			files: []cabtest.File{{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: nbt}},
			hints: Hints{DevicePath: dp("ucphone/polycom/cx700/a/enu"), Version: ver("3.5.6907.37")},
			want: []got{{Key: "UCPhone/Polycom/CX700/A/ENU/CPE", Version: "3.5.6907.37",
				Files:  map[string]string{"CPE.nbt": "UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt"},
				Origin: Origin{"folder names", "folder names", "folder names"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := cabtest.Cabinet{Folders: tt.folders, Files: tt.files}.Build()
			for _, wrap := range []string{"UCUpdates.cab", "UCUpdates.exe"} {
				in := raw
				if wrap == "UCUpdates.exe" {
					in = exe(raw)
				}
				p, err := openPkg(in, wrap, tt.hints)
				if err != nil {
					t.Fatalf("%s: %v", wrap, err)
				}
				if diff := cmp.Diff(tt.want, summarize(t, p)); diff != "" {
					t.Errorf("%s: updates (-want +got):\n%s", wrap, diff)
				}
				if diff := cmp.Diff(tt.ignored, p.Ignored); diff != "" {
					t.Errorf("%s: ignored (-want +got):\n%s", wrap, diff)
				}
				checkContents(t, p, tt.files)
				sum := sha256.Sum256(in)
				if p.SourceSHA256 != hex.EncodeToString(sum[:]) || p.Source != wrap {
					t.Errorf("%s: provenance %s %s", wrap, p.Source, p.SourceSHA256)
				}
				if wrap == "UCUpdates.exe" && (p.Kind != "self-extracting executable" || p.CabinetOffset != 50000) {
					t.Errorf("exe: kind %q offset %d", p.Kind, p.CabinetOffset)
				}
			}
		})
	}
}

func utf16le(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}
