package appliance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupRestoreIntoAFreshAppliance backs a running tanjay serve up
// while phones keep checking in, restores the archive into a fresh data
// directory, starts a fresh tanjay serve on it and finds every change:
// rules, test devices, phones, the firmware served byte for byte, the
// admin token and the dashboard password.
func TestBackupRestoreIntoAFreshAppliance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	t.Setenv("TANJAY_ADMIN_PASSWORD", "backup-Pa55word")
	data := t.TempDir()
	srv := startServe(t, data)
	fw := t.TempDir()
	interim, target, pending := randomBytes(300<<10, 11), randomBytes(500<<10, 12), randomBytes(200<<10, 13)
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", interim))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", writeFile(t, fw, "t/CPE.nbt", target))
	srv.tanjay(t, "approve", "--all")
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "4.0.7577.4066", writeFile(t, fw, "p/CPE.nbt", pending))
	srv.tanjay(t, "testdevice", "add", "00:04:9F:00:00:C1")
	srv.tanjay(t, "testdevice", "add", "SERIAL-42")
	for i := range 5 {
		checkIn(t, srv.addrs.HTTP, "CX700", fmt.Sprintf("00049F0001%02X", i), "", "1.0.199.0")
	}

	// The audit log reaches its file within a second (r2's flush): wait
	// for it, so the archive has one to carry.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(srv.data, "logs", "audit", "*")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit log file 10 s after the check-ins")
		}
	}

	// Phones keep checking in while the backups are taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var during atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Post("http://"+srv.addrs.HTTP+"/RequestHandler/ucdevice.upx", "text/xml", strings.NewReader(checkInBody(fmt.Sprintf("00049F02%04X", i%4096))))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				during.Add(1)
			}
		}
	}()
	archive := filepath.Join(t.TempDir(), "appliance.tar.gz")
	out, err := srv.tanjayErr("backup", "-o", archive)
	if err != nil || !strings.Contains(out, "verified") || !strings.Contains(out, "serve") {
		t.Fatalf("tanjay backup --server: %v\n%s", err, out)
	}
	dashboardArchive, session := downloadFromSettings(t, srv.addrs.Dashboard, "backup-Pa55word")
	noLogs := filepath.Join(t.TempDir(), "nologs.tar.gz")
	if out, err := srv.tanjayErr("backup", "--no-logs", "-o", noLogs); err != nil {
		t.Fatalf("tanjay backup --no-logs: %v\n%s", err, out)
	}
	resp, err := http.Get("http://" + srv.addrs.Dashboard + "/api/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/backup without the token: %s, want 401", resp.Status)
	}
	close(stop)
	wg.Wait()
	if during.Load() == 0 {
		t.Fatal("no check-in went through while the backups were taken")
	}
	for name, file := range map[string]string{archive: archive, "--no-logs": noLogs} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := readArchive(f, nil)
		f.Close()
		logs := false
		for _, mf := range m.Files {
			logs = logs || strings.HasPrefix(mf.Path, "logs/audit/")
		}
		if err != nil || m.Logs != (name != "--no-logs") || logs != m.Logs {
			t.Errorf("%s: %v, manifest says logs %v, audit logs in: %v", name, err, m.Logs, logs)
		}
	}
	wantRules, wantTDs, devices := srv.tanjay(t, "rules"), srv.tanjay(t, "testdevice", "ls"), srv.tanjay(t, "devices")
	token, err := os.ReadFile(tokenPath(data))
	if err != nil {
		t.Fatal(err)
	}

	// Restore into a fresh directory while the first appliance still runs
	// (one appliance is being replaced by another), and start it.
	for name, file := range map[string]string{"tanjay backup": archive, "the Settings page": dashboardArchive} {
		t.Run(name, func(t *testing.T) {
			fresh := filepath.Join(t.TempDir(), "data")
			if out, err := srv.run(t, "restore", "--data", fresh, file); err != nil {
				t.Fatalf("tanjay restore: %v\n%s", err, out)
			}
			if out, err := srv.run(t, "state", "check", "--data", fresh); err != nil || !strings.Contains(out, "clean") {
				t.Errorf("tanjay state check of the restored state: %v\n%s", err, out)
			}
			if got, _ := os.ReadFile(tokenPath(fresh)); !bytes.Equal(got, token) {
				t.Errorf("restored admin token %q, want %q", got, token)
			}
			if fi, err := os.Stat(tokenPath(fresh)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("restored admin token: %v, mode %v; want 0600", err, fi.Mode())
			}
			again := startServe(t, fresh)
			if got := again.tanjay(t, "rules"); got != wantRules {
				t.Errorf("rules after restore:\n%s\nwant:\n%s", got, wantRules)
			}
			if got := again.tanjay(t, "testdevice", "ls"); got != wantTDs {
				t.Errorf("test devices after restore:\n%s\nwant:\n%s", got, wantTDs)
			}
			got := again.tanjay(t, "devices")
			for i := range 5 {
				if mac := fmt.Sprintf("00049F0001%02X", i); !strings.Contains(got, mac) || !strings.Contains(devices, mac) {
					t.Errorf("phone %s lost: devices after restore:\n%s", mac, got)
				}
			}
			for path, want := range map[string][]byte{
				"OCInterim/ENU/1.0.522.103/CPE/CPE.nbt":                 interim,
				"UCPhone/Polycom/CX700/A/ENU/3.5.6907.0/CPE/CPE.nbt":    target,
				"UCPhone/Polycom/CX700/A/ENU/4.0.7577.4066/CPE/CPE.nbt": pending,
			} {
				if got := fetch(t, "http://"+again.addrs.HTTP+"/DeviceUpdateFiles_Int/"+path); !bytes.Equal(got, want) {
					t.Errorf("%s after restore: %d bytes, not the %d imported", path, len(got), len(want))
				}
			}
			if v, _ := checkIn(t, again.addrs.HTTP, "CX700", "00049F0000C1", "", "3.5.6907.0"); v != "4.0.7577.4066" {
				t.Errorf("test device after restore offered %q, want the pending 4.0.7577.4066", v)
			}
			// The dashboard's secrets came along: the old appliance's
			// session is good on the new one.
			if !newDashClient(t, again.addrs.Dashboard, "").loggedIn(session) {
				t.Error("the dashboard session key was not restored: a session of the old appliance is refused")
			}

			// A stopped appliance is backed up from its directory, a
			// running one is not.
			if out, err := srv.run(t, "backup", "--data", fresh, "-o", filepath.Join(t.TempDir(), "x.tar.gz")); err == nil || !strings.Contains(out, "tanjay serve is running") {
				t.Errorf("tanjay backup --data of a running appliance: %v\n%s", err, out)
			}
			if out, err := srv.run(t, "restore", "--data", fresh, "--force", file); err == nil || !strings.Contains(out, "tanjay serve is running") {
				t.Errorf("tanjay restore over a running appliance: %v\n%s", err, out)
			}
			again.interrupt(t)
			if out, err := srv.run(t, "backup", "--data", fresh, "-o", filepath.Join(t.TempDir(), "x.tar.gz")); err != nil || !strings.Contains(out, "verified") {
				t.Errorf("tanjay backup --data of a stopped appliance: %v\n%s", err, out)
			}
		})
	}
}

func fetch(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", u, resp.Status, err)
	}
	return b
}

// downloadFromSettings logs in and presses the Settings page's Download
// backup button; a visitor who is not logged in is refused. It returns the
// archive saved to a file and the session cookie.
func downloadFromSettings(t *testing.T, dashAddr, password string) (string, string) {
	t.Helper()
	c := newDashClient(t, dashAddr, "")
	if resp, _ := c.do("POST", "/settings/backup", "", url.Values{"csrf": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("backup download without a login: %s, want 403", resp.Status)
	}
	cookie, csrf := c.login(password)
	if resp, _ := c.do("POST", "/settings/backup", cookie, url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("backup download with a wrong CSRF token: %s, want 403", resp.Status)
	}
	_, page := c.do("GET", "/settings", cookie, nil)
	if !strings.Contains(page, `action="/settings/backup"`) || !strings.Contains(page, "Download backup") {
		t.Errorf("the Settings page has no Download backup button:\n%s", page)
	}
	resp, body := c.do("POST", "/settings/backup", cookie, url.Values{"csrf": {csrf}, "logs": {"on"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "tanjay-backup-e2e-") {
		t.Fatalf("backup download: %s %v", resp.Status, resp.Header)
	}
	m, err := readArchive(strings.NewReader(body), nil)
	if err != nil || !m.Logs || m.Source != "serve" {
		t.Fatalf("the downloaded archive: %v (%+v)", err, m)
	}
	p := filepath.Join(t.TempDir(), "settings.tar.gz")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, cookie
}
