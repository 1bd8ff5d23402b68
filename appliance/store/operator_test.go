package store

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

func TestRuleTransitions(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	v2 := images.MustParseVersion("3.5.6907.83")
	steps := []struct {
		name    string
		do      func() (images.Rule, error)
		want    images.Rule
		wantErr error
	}{
		{"import creates the rule", func() (images.Rule, error) { return s.ImportImage(testImage(cx700Key, vRelease)) },
			images.Rule{Key: cx700Key, Pending: vRelease}, nil},
		{"approve", func() (images.Rule, error) { return s.Approve(cx700Key) },
			images.Rule{Key: cx700Key, Approved: vRelease}, nil},
		{"reject without pending changes nothing", func() (images.Rule, error) { return s.Reject(cx700Key) },
			images.Rule{Key: cx700Key, Approved: vRelease}, images.ErrNoPending},
		{"import of the approved version changes nothing", func() (images.Rule, error) { return s.ImportImage(testImage(cx700Key, vRelease)) },
			images.Rule{Key: cx700Key, Approved: vRelease}, images.ErrAlreadyCurrent},
		{"import a newer one", func() (images.Rule, error) { return s.ImportImage(testImage(cx700Key, v2)) },
			images.Rule{Key: cx700Key, Approved: vRelease, Pending: v2}, nil},
		{"reject it", func() (images.Rule, error) { return s.Reject(cx700Key) },
			images.Rule{Key: cx700Key, Approved: vRelease}, nil},
		{"import and approve it", func() (images.Rule, error) {
			if _, err := s.ImportImage(testImage(cx700Key, v2)); err != nil {
				return images.Rule{}, err
			}
			return s.Approve(cx700Key)
		}, images.Rule{Key: cx700Key, Approved: v2, Restore: vRelease}, nil},
		{"restore", func() (images.Rule, error) { return s.Restore(cx700Key) },
			images.Rule{Key: cx700Key, Approved: vRelease, Restored: true}, nil},
		{"unknown rule", func() (images.Rule, error) { return s.Approve(interimKey) },
			images.Rule{Key: cx700Key, Approved: vRelease, Restored: true}, ErrNotFound},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, err := st.do()
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("err = %v, want %v", err, st.wantErr)
			}
			got, _ := s.Rule(cx700Key)
			if diff := cmp.Diff(st.want, got); diff != "" {
				t.Errorf("rule (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.Approve(interimKey); err == nil || err.Error() != "rule OCInterim/ENU/CPE: not found" {
		t.Errorf("unknown rule error = %v, want it to name the rule", err)
	}
	if got := len(s.Images(nil)); got != 2 {
		t.Errorf("%d images stored, want 2 (a refused import stores nothing)", got)
	}
}

func TestRuleLookupIgnoresCase(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	must[images.Rule](t)(s.ImportImage(testImage(cx700Key, vRelease)))
	k, err := images.ParseRuleKey("ucphone/POLYCOM/cx700/a/enu/cpe")
	noErr(t, err)
	if r, ok := s.Rule(k); !ok || r.Key != cx700Key {
		t.Errorf("Rule(%s) = %v, %v; want the rule as imported", k, r.Key, ok)
	}
	if _, ok := s.Image(k, vRelease); !ok {
		t.Errorf("Image(%s, %s) not found", k, vRelease)
	}
}

func TestImportImageRefusesBadKey(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	img := testImage(images.RuleKey{DevicePath: images.DevicePath{DeviceType: "UCPhone", Locale: "ENU"}, UpdateType: "CPE"}, vRelease)
	if _, err := s.ImportImage(img); err == nil {
		t.Error("ImportImage accepted a rule key without vendor, model and revision")
	}
}

func TestImageByDir(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	must[images.Rule](t)(s.ImportImage(testImage(interimKey, vInterim)))
	must[images.Rule](t)(s.ImportImage(testImage(cx700Key, vRelease)))
	tests := []struct {
		dir  string
		want string // image ID, "" for none
	}{
		{"OCInterim/ENU/1.0.522.103/CPE", "ocinterim/enu/cpe@1.0.522.103"},
		{"ocinterim/enu/1.0.522.103/cpe", "ocinterim/enu/cpe@1.0.522.103"},
		{"/UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/", "ucphone/polycom/cx700/a/enu/cpe@3.5.6907.37"},
		{"OCInterim/ENU/1.0.522.103", ""},
		{"OCInterim/ENU/1.0.522.10/CPE", ""},
		{"", ""},
	}
	for _, tt := range tests {
		img, ok := s.ImageByDir(tt.dir)
		if got := map[bool]string{true: img.ID()}[ok]; got != tt.want {
			t.Errorf("ImageByDir(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestListsAreSorted(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	lower := images.RuleKey{DevicePath: images.DevicePath{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}, UpdateType: "CPE"}
	for _, img := range []images.Image{
		testImage(cx700Key, vRelease), testImage(lower, vRelease), testImage(interimKey, vInterim),
	} {
		must[images.Rule](t)(s.ImportImage(img))
	}
	must[images.Rule](t)(s.Approve(cx700Key))
	must[images.Rule](t)(s.ImportImage(testImage(cx700Key, images.MustParseVersion("3.5.6907.200"))))
	var rules, imgs []string
	for _, r := range s.Rules(nil) {
		rules = append(rules, r.Key.String())
	}
	for _, im := range s.Images(nil) {
		imgs = append(imgs, fmt.Sprintf("%s@%s", im.Key, im.Version))
	}
	wantRules := []string{"OCInterim/ENU/CPE", "UCPhone/LG-Nortel/IP8540/A/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/CPE"}
	wantImages := []string{"OCInterim/ENU/CPE@1.0.522.103", "UCPhone/LG-Nortel/IP8540/A/ENU/CPE@3.5.6907.37",
		"UCPhone/Polycom/CX700/A/ENU/CPE@3.5.6907.37", "UCPhone/Polycom/CX700/A/ENU/CPE@3.5.6907.200"}
	if diff := cmp.Diff(wantRules, rules); diff != "" {
		t.Errorf("Rules order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantImages, imgs); diff != "" {
		t.Errorf("Images order (-want +got):\n%s", diff)
	}
}

func TestTestDevices(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	noErr(t, s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}))
	noErr(t, s.AddTestDevice(TestDevice{ID: " SN-42 ", Kind: TestDeviceSerial}))
	tests := []struct {
		name, mac, serial string
		want              bool
	}{
		{"by MAC", mac, "", true},
		{"by serial", "", "SN-42", true},
		{"serial trimmed", "", " SN-42\t", true},
		{"serial compared exactly", "", "sn-42", false},
		{"other phone", "0004F2000001", "SN-43", false},
		{"empty never matches", "", "", false},
	}
	for _, tt := range tests {
		if got := s.IsTestDevice(tt.mac, tt.serial); got != tt.want {
			t.Errorf("%s: IsTestDevice(%q, %q) = %v, want %v", tt.name, tt.mac, tt.serial, got, tt.want)
		}
	}
	if err := s.AddTestDevice(TestDevice{ID: "x", Kind: "imei"}); err == nil {
		t.Error("AddTestDevice accepted kind imei")
	}
	if err := s.AddTestDevice(TestDevice{ID: "  ", Kind: TestDeviceSerial}); err == nil {
		t.Error("AddTestDevice accepted an empty ID")
	}
	noErr(t, s.RemoveTestDevice("SN-42"))
	if err := s.RemoveTestDevice("SN-42"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveTestDevice of an absent device = %v, want ErrNotFound", err)
	}
	if got := s.TestDevices(nil); len(got) != 1 || got[0].ID != mac || got[0].Added.IsZero() {
		t.Errorf("TestDevices = %+v, want only %s with Added set", got, mac)
	}
}

func BenchmarkImageByDir(b *testing.B) {
	s := openStore(b, b.TempDir(), lazy)
	for i := range 50 {
		must[images.Rule](b)(s.ImportImage(testImage(cx700Key, images.Version{3, 5, 6907, uint32(i)})))
		must[images.Rule](b)(s.Approve(cx700Key))
	}
	must[images.Rule](b)(s.ImportImage(testImage(interimKey, vInterim)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.ImageByDir("OCInterim/ENU/1.0.522.103/CPE"); !ok {
			b.Fatal("not found")
		}
	}
}

// TestImportImagesLandsWhole: the images of one package are one journal
// record, so a journal cut inside it loses all of them, never some.
func TestImportImagesLandsWhole(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	before := dump(s)
	lastStart := fileSize(t, segmentPath(dir, 1))
	release2 := images.MustParseVersion("3.5.6907.83")
	rules, err := s.ImportImages([]images.Image{testImage(cx700Key, release2), testImage(interimKey, vInterim), testImage(cx700Key, vRelease)})
	noErr(t, err)
	if rules[0].Pending != release2 || rules[2].Pending != release2 || rules[1].Pending != vInterim {
		t.Errorf("rules after import: %+v (a rule given two versions ends Pending on the higher)", rules)
	}
	if got := len(s.Images(nil)); got != 3 {
		t.Fatalf("%d images after the import, want 3", got)
	}
	after := dump(s)
	noErr(t, s.Close())

	// Reopened whole: everything is there.
	s2 := openStore(t, dir, lazy)
	if diff := cmp.Diff(after, dump(s2)); diff != "" {
		t.Errorf("reopened (-want +got):\n%s", diff)
	}
	noErr(t, s2.Close())
	// Cut inside the record: nothing of the import is there.
	noErr(t, os.Truncate(segmentPath(dir, 1), lastStart+frameHeader+40))
	s3 := openStore(t, dir, lazy)
	if diff := cmp.Diff(before, dump(s3)); diff != "" {
		t.Errorf("after a cut inside the import (-want +got):\n%s", diff)
	}
}

func TestImportImagesRefusesWhole(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	must[images.Rule](t)(s.ImportImage(testImage(cx700Key, vRelease)))
	must[images.Rule](t)(s.Approve(cx700Key))
	before := dump(s)
	_, err := s.ImportImages([]images.Image{testImage(interimKey, vInterim), testImage(cx700Key, vRelease)})
	if !errors.Is(err, images.ErrAlreadyCurrent) {
		t.Fatalf("err = %v, want ErrAlreadyCurrent", err)
	}
	if diff := cmp.Diff(before, dump(s)); diff != "" {
		t.Errorf("a refused import changed the store (-want +got):\n%s", diff)
	}
}

// TestIsTestDeviceFollowsChanges: IsTestDevice reads a cached set of IDs
// that follows every add and remove, and asks no transaction per call.
func TestIsTestDeviceFollowsChanges(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	const mac = "00049F000001"
	if s.IsTestDevice(mac, "") {
		t.Fatal("a test device before any was added")
	}
	for i, step := range []struct {
		do   func() error
		want bool
	}{
		{func() error { return s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}) }, true},
		{func() error { return s.RemoveTestDevice(mac) }, false},
		{func() error { return s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}) }, true},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if got := s.IsTestDevice(mac, ""); got != step.want {
			t.Errorf("step %d: IsTestDevice = %v, want %v", i, got, step.want)
		}
	}
	if err := s.AddTestDevice(TestDevice{ID: "SN-7", Kind: TestDeviceSerial}); err != nil {
		t.Fatal(err)
	}
	if !s.IsTestDevice("", " SN-7 ") {
		t.Error("a serial with spaces around is not found")
	}
	if n := testing.AllocsPerRun(100, func() { s.IsTestDevice(mac, "SN-8") }); n != 0 {
		t.Errorf("IsTestDevice: %v allocations per call, want 0", n)
	}
}
