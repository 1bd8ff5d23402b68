package appliance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/images"
)

// TestBrowserUndoRestore: on the Firmware page, the Restore confirmation
// says how many phones it downgrades; after the Restore, the build
// restored away is made Pending again with its "make pending" button (no
// new import) and approved, and the admin API shows the rule after each
// click; phones are offered what the rule says.
func TestBrowserUndoRestore(t *testing.T) {
	ba := startBrowserApp(t)
	const cx700, rule = "UCPhone/Polycom/CX700/A/ENU", "UCPhone/Polycom/CX700/A/ENU/CPE"
	fw := t.TempDir()
	for i, v := range []string{"3.5.6907.0", "4.0.7577.4066"} {
		ba.srv.tanjay(t, "import", "--device-path", cx700, "--version", v, writeFile(t, fw, v+"/CPE.nbt", randomBytes(40<<10, byte(i))))
		ba.srv.tanjay(t, "approve", rule)
	}
	// Two phones on the release, one below it.
	for _, p := range []struct{ mac, version string }{{"0004F2000D01", "4.0.7577.4066"}, {"0004F2000D02", "4.0.7577.4066"}, {"0004F2000D03", "3.5.6907.0"}} {
		ba.offer(cx700Phone, p.mac, p.version)
	}
	imgs := ba.store().Images
	checkRule := func(step string, want images.Rule) {
		t.Helper()
		want.Key = images.RuleKey{}
		got := ba.rule(rule)
		got.Key = images.RuleKey{}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the rule (-want +got):\n%s", step, diff)
		}
		if now := ba.store().Images; !cmp.Equal(now, imgs) {
			t.Errorf("%s: the images changed: %v, were %v", step, now, imgs)
		}
	}
	v := images.MustParseVersion
	checkRule("approved twice", images.Rule{Approved: v("4.0.7577.4066"), Restore: v("3.5.6907.0")})

	// The Restore confirmation counts the downgrades.
	what := ba.ruleAction("restore", rule, false)
	if want := "3.5.6907.0 becomes the approved version again for 3 phone(s) on the path: 2 of them run a higher version and will be downgraded to 3.5.6907.0 at their next check-in."; !strings.HasPrefix(what, want) {
		t.Errorf("the Restore confirmation says\n  %s\nwant it to start\n  %s", what, want)
	}
	ba.shot("restore-confirm.png")
	ba.b.Navigate("confirm the restore", chromedp.Click(chromedp.ID("confirm")))
	if flash := ba.flash(); !strings.HasPrefix(flash, "restore "+rule+": approved 3.5.6907.0") {
		t.Errorf("after the Restore the page says %q", flash)
	}
	checkRule("restored", images.Rule{Approved: v("3.5.6907.0"), Restored: true})
	if got := ba.offer(cx700Phone, "0004F2000D01", "4.0.7577.4066"); got != "3.5.6907.0" {
		t.Errorf("after the Restore a phone on 4.0.7577.4066 is offered %q, want the downgrade to 3.5.6907.0", got)
	}

	// Undo: the Images column's button makes 4.0.7577.4066 Pending again.
	button := fmt.Sprintf(`tr[data-rule=%q] form[action="/firmware/pending"]:has(input[name="version"][value="4.0.7577.4066"]) button`, rule)
	ba.open("/firmware", "#rules")
	ba.clickLive("make 4.0.7577.4066 pending", button)
	if flash := ba.flash(); flash != rule+": 4.0.7577.4066 is Pending again — test devices take it now; Approve gives it to every phone" {
		t.Errorf("after make pending the page says %q", flash)
	}
	checkRule("pending again", images.Rule{Approved: v("3.5.6907.0"), Pending: v("4.0.7577.4066"), Restored: true})

	// And approve it, through its confirmation.
	if flash := ba.ruleAction("approve", rule, true); !strings.HasPrefix(flash, "approve "+rule+": approved 4.0.7577.4066, pending –") {
		t.Errorf("after approve the page says %q", flash)
	}
	checkRule("approved again", images.Rule{Approved: v("4.0.7577.4066"), Restore: v("3.5.6907.0")})
	if got := ba.offer(cx700Phone, "0004F2000D03", "3.5.6907.0"); got != "4.0.7577.4066" {
		t.Errorf("after undoing the Restore a phone on 3.5.6907.0 is offered %q, want 4.0.7577.4066", got)
	}
	if got := ba.offer(cx700Phone, "0004F2000D02", "4.0.7577.4066"); got != "" {
		t.Errorf("after undoing the Restore a phone on 4.0.7577.4066 is offered %q, want nothing", got)
	}
	ba.open("/firmware", "#rules")
	ba.shot("restore-undone.png")
}
