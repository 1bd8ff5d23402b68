package appliance

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// upload imports file through the Firmware page's form, as a bare image
// with devicePath and version, ticking "Import anyway" when force is set,
// and returns what the page says after it.
func (ba *browserApp) upload(devicePath, version, file string, force bool) string {
	ba.t.Helper()
	ba.open("/firmware", "#upload")
	ba.b.Do("open the bare-image fields", chromedp.Click(chromedp.CSS("#upload details.bare summary")),
		chromedp.WaitVisible(chromedp.CSS(`#upload input[name="device_path"]`)))
	ba.b.Do("fill in the form",
		chromedp.SendKeys(chromedp.CSS(`#upload input[name="device_path"]`), devicePath),
		chromedp.SendKeys(chromedp.CSS(`#upload input[name="version"]`), version),
		chromedp.SetUploadFiles(chromedp.CSS(`#upload input[type="file"]`), []string{file}))
	if force {
		ba.b.Do("tick Import anyway", chromedp.Click(chromedp.CSS(`#upload input[name="force"]`)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#upload input[name="force"]').checked`))
	}
	ba.b.Navigate("upload", chromedp.Click(chromedp.CSS(`#upload button`)))
	return ba.flash()
}

// TestBrowserImportWarnings: on the Firmware page, an upload that looks
// like a mistake — a model no phone has reported and no rule serves, a
// version below the approved one, a second Pending replacing another —
// is refused with the reason and the way on ("Import anyway"), and lands
// nothing (the admin API's rules and images are as before); the same
// upload with "Import anyway" ticked lands, and says what it warned of.
func TestBrowserImportWarnings(t *testing.T) {
	ba := startBrowserApp(t)
	const cx700 = "UCPhone/Polycom/CX700/A/ENU"
	fw := t.TempDir()
	ba.srv.tanjay(t, "import", "--device-path", cx700, "--version", "3.5.6907.0", writeFile(t, fw, "a/CPE.nbt", randomBytes(40<<10, 1)))
	ba.srv.tanjay(t, "approve", "--all")

	for i, tc := range []struct {
		name, path, version, warning string
		// pending is the rule's Pending version once it is imported anyway.
		rule, pending string
	}{
		{name: "a model nobody has", path: "UCPhone/Polycom/CX-750/A/ENU", version: "4.0.7577.4100",
			warning: "no phone has reported UCPhone/Polycom/CX-750/A/ENU and no rule serves it (check the device path)",
			rule:    "UCPhone/Polycom/CX-750/A/ENU/CPE", pending: "4.0.7577.4100"},
		{name: "lower than the approved", path: cx700, version: "3.5.6000.0",
			warning: cx700 + "/CPE 3.5.6000.0 is lower than the approved 3.5.6907.0",
			rule:    cx700 + "/CPE", pending: "3.5.6000.0"},
		{name: "a second Pending", path: cx700, version: "4.0.7577.4066",
			warning: cx700 + "/CPE 4.0.7577.4066 would replace the Pending 3.5.6000.0, which test devices take now",
			rule:    cx700 + "/CPE", pending: "4.0.7577.4066"},
	} {
		file := writeBare(t, "CPE.nbt", byte(10+i))
		before := ba.store()
		refused := ba.upload(tc.path, tc.version, file, false)
		if !strings.HasPrefix(refused, "error: ") || !strings.Contains(refused, "nothing imported, because it looks like a mistake: ") || !strings.Contains(refused, tc.warning) || !strings.Contains(refused, "Import anyway") {
			t.Errorf("%s: the page says\n  %s\nwant the refusal, %q and the way on (Import anyway)", tc.name, refused, tc.warning)
		}
		if diff := cmp.Diff(before, ba.store()); diff != "" {
			t.Errorf("%s: refused, yet the store changed (-before +after):\n%s", tc.name, diff)
		}
		ba.shot("import-refused-" + strings.ReplaceAll(tc.name, " ", "-") + ".png")

		landed := ba.upload(tc.path, tc.version, file, true)
		if want := "imported 1 image(s): " + tc.rule + " " + tc.version + " — warnings: " + tc.warning; landed != want {
			t.Errorf("%s, Import anyway: the page says\n  %s\nwant\n  %s", tc.name, landed, want)
		}
		ba.shot("import-anyway-" + strings.ReplaceAll(tc.name, " ", "-") + ".png")
		if r := ba.rule(tc.rule); r.Pending.String() != tc.pending {
			t.Errorf("%s, Import anyway: the rule is %+v, want %s Pending", tc.name, r, tc.pending)
		}
		if after := ba.store(); len(after.Images) != len(before.Images)+1 {
			t.Errorf("%s, Import anyway: images %v, before %v", tc.name, after.Images, before.Images)
		}
	}
}
