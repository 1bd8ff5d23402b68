package appliance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRestoreCanBeUndone: after a Restore, the Restore confirmation having
// said how many phones it downgrades, the version restored away from is
// made Pending again — from the command line and from the Firmware page —
// and approved, without importing its files again.
func TestRestoreCanBeUndone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	t.Setenv("TANJAY_ADMIN_PASSWORD", "undo-Pa55word")
	srv := startServe(t, t.TempDir())
	fw := t.TempDir()
	const cx700, rule = "UCPhone/Polycom/CX700/A/ENU", "UCPhone/Polycom/CX700/A/ENU/CPE"
	srv.tanjay(t, "import", "--device-path", cx700, "--version", "3.5.6907.0",
		writeFile(t, fw, "a/CPE.nbt", randomBytes(50<<10, 1)), writeFile(t, fw, "a/CPE.cat", randomBytes(500, 2)))
	srv.tanjay(t, "approve", "--all")
	srv.tanjay(t, "import", "--device-path", cx700, "--version", "4.0.7577.4066",
		writeFile(t, fw, "b/CPE.nbt", randomBytes(50<<10, 3)), writeFile(t, fw, "b/CPE.cat", randomBytes(500, 4)))
	srv.tanjay(t, "approve", "--all")
	// Two phones on the release, one below it.
	checkIn(t, srv.addrs.HTTP, "CX700", "0004F2000C01", "SN-C01", "4.0.7577.4066")
	checkIn(t, srv.addrs.HTTP, "CX700", "0004F2000C02", "SN-C02", "4.0.7577.4066")
	checkIn(t, srv.addrs.HTTP, "CX700", "0004F2000C03", "SN-C03", "3.5.6907.0")

	c := newDashClient(t, srv.addrs.Dashboard, "")
	cookie, csrf := c.login("undo-Pa55word")
	_, confirm := c.do("GET", "/firmware/confirm?action=restore&rule="+url.QueryEscape(rule), cookie, nil)
	if !strings.Contains(confirm, "3 phone(s) on the path: 2 of them run a higher version and will be downgraded to 3.5.6907.0") {
		t.Errorf("Restore confirmation does not count the downgrades:\n%.3000s", confirm)
	}
	srv.tanjay(t, "restore", rule)
	if got := offeredTo(t, srv, "0004F2000C01", "4.0.7577.4066"); got != "3.5.6907.0" {
		t.Errorf("after the Restore a phone on 4.0.7577.4066 is offered %q, want the downgrade to 3.5.6907.0", got)
	}

	// From the command line: make it Pending again, approve: no import.
	out := srv.tanjay(t, "pending", rule, "4.0.7577.4066")
	if !strings.Contains(out, "pending 4.0.7577.4066") {
		t.Errorf("tanjay pending printed:\n%s", out)
	}
	srv.tanjay(t, "approve", rule)
	if got := offeredTo(t, srv, "0004F2000C03", "3.5.6907.0"); got != "4.0.7577.4066" {
		t.Errorf("after undoing the Restore a phone on 3.5.6907.0 is offered %q, want 4.0.7577.4066", got)
	}
	if out, err := srv.tanjayErr("pending", rule, "9.9.9.9"); err == nil || !strings.Contains(out, "no image of version 9.9.9.9") {
		t.Errorf("pending of a version never imported: %v\n%s", err, out)
	}

	// From the Firmware page: restore again, then the Images column's button.
	srv.tanjay(t, "restore", rule)
	_, page := c.do("GET", "/firmware", cookie, nil)
	if !strings.Contains(page, `name="version" value="4.0.7577.4066"`) {
		t.Fatalf("the Firmware page offers no way to make 4.0.7577.4066 Pending again:\n%.3000s", page)
	}
	resp, _ := c.do("POST", "/firmware/pending", cookie, url.Values{"csrf": {csrf}, "rule": {rule}, "version": {"4.0.7577.4066"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("make pending from the page: %s", resp.Status)
	}
	if rules := srv.tanjay(t, "rules"); !strings.Contains(lineWith(rules, rule), "4.0.7577.4066") {
		t.Errorf("rules after make pending from the page:\n%s", rules)
	}
	if imgs := strings.Count(srv.tanjay(t, "rules"), "4.0.7577.4066"); imgs == 0 {
		t.Error("4.0.7577.4066 is not Pending")
	}
	srv.interrupt(t)
}

// offeredTo checks mac in on version and returns the version offered.
func offeredTo(t *testing.T, srv *serveProcess, mac, version string) string {
	t.Helper()
	got, _ := checkIn(t, srv.addrs.HTTP, "CX700", mac, "SN-"+mac[8:], version)
	return got
}
