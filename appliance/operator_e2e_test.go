package appliance

import (
	"net/http"
	"net/url"
	"os/user"
	"strings"
	"testing"
	"time"
)

// TestOperatorLogRecordsWhoChangedWhat: each operator action — imports,
// approve, reject and restore, test devices — from the command line (the
// admin token, naming its user) and from the dashboard (the login, from
// its address) is in the operator log with who, from where and what
// changed, failures too; it survives kill -9, and the Logs page, its CSV
// export and the admin API show it.
func TestOperatorLogRecordsWhoChangedWhat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	t.Setenv("TANJAY_ADMIN_PASSWORD", "op-Log-pa55")
	srv := startServe(t, data)
	fw := t.TempDir()
	const cx700 = "UCPhone/Polycom/CX700/A/ENU"
	srv.tanjay(t, "import", "--device-path", cx700, "--version", "3.5.6907.0",
		writeFile(t, fw, "a/CPE.nbt", randomBytes(100<<10, 1)), writeFile(t, fw, "a/CPE.cat", randomBytes(1000, 2)))
	srv.tanjay(t, "approve", "--all")
	srv.tanjay(t, "testdevice", "add", "00049F0000A1")
	srv.tanjay(t, "import", "--device-path", cx700, "--version", "4.0.7577.4066",
		writeFile(t, fw, "b/CPE.nbt", randomBytes(100<<10, 3)), writeFile(t, fw, "b/CPE.cat", randomBytes(1000, 4)))

	c := newDashClient(t, srv.addrs.Dashboard, "127.0.0.77")
	cookie, csrf := c.login("op-Log-pa55")
	rule := cx700 + "/CPE"
	for _, action := range []string{"approve", "restore", "reject"} {
		resp, _ := c.do("POST", "/firmware/"+action, cookie, url.Values{"csrf": {csrf}, "rule": {rule}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("dashboard %s: %s", action, resp.Status)
		}
	}
	if code := c.addTestDevice(cookie, csrf, "SN-FROM-DASH"); code != http.StatusSeeOther {
		t.Fatalf("dashboard test device: %d", code)
	}

	srv.kill() // the record is synced before the action is answered
	srv = startServe(t, data)

	u, _ := user.Current()
	cli := "admin token (tanjay cli "
	type row struct{ who, from, action, target, change string }
	want := []row{
		{cli, "127.0.0.1", "import", "", "imported 3.5.6907.0 as " + rule},
		{cli, "127.0.0.1", "approve", rule, "approved 3.5.6907.0, pending none"},
		{cli, "127.0.0.1", "testdevice-add", "00049F0000A1", "added (mac)"},
		{cli, "127.0.0.1", "import", "", "imported 4.0.7577.4066 as " + rule},
		{"dashboard login", "127.0.0.77", "approve", rule, "approved 4.0.7577.4066, pending none, restore 3.5.6907.0"},
		{"dashboard login", "127.0.0.77", "restore", rule, "approved 3.5.6907.0"},
		{"dashboard login", "127.0.0.77", "reject", rule, ""}, // nothing Pending: refused, and recorded as such
		{"dashboard login", "127.0.0.77", "testdevice-add", "SN-FROM-DASH", "added (serial)"},
	}
	api, err := newAPIClient(clientConfig{Server: "http://" + srv.addrs.Dashboard, Data: data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Who, From, Action, Target, Change, Error string
	}
	if err := api.do(t.Context(), "GET", "/api/v1/operator-log?limit=100", "", nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("operator log has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[len(got)-1-i] // newest first
		if !strings.HasPrefix(g.Who, w.who) || g.From != w.from || g.Action != w.action || !strings.Contains(g.Target, w.target) || !strings.Contains(g.Change, w.change) {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
		if strings.HasPrefix(w.who, cli) && !strings.Contains(g.Who, u.Username+"@") {
			t.Errorf("entry %d: who %q does not name the user %s", i, g.Who, u.Username)
		}
	}
	if rej := got[1]; rej.Error == "" {
		t.Errorf("the refused reject has no error: %+v", rej)
	}

	page := newDashClient(t, srv.addrs.Dashboard, "")
	if _, body := page.do("GET", "/logs?op=SN-FROM-DASH", "", nil); !strings.Contains(body, "SN-FROM-DASH") || strings.Contains(body, "00049F0000A1") {
		t.Errorf("Logs page filtered to SN-FROM-DASH:\n%.2000s", body)
	}
	resp, csv := page.do("GET", "/export/operator.csv", "", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(csv, "\n") != len(want)+1 || !strings.HasPrefix(csv, "time,who,from,action,target,change,error\n") {
		t.Errorf("operator.csv: %s\n%s", resp.Status, csv)
	}
	srv.interrupt(t)
}
