package appliance

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTinyTmpfs mounts a tmpfs of size bytes in a temp directory for the
// test, or skips it with the reason.
func mountTinyTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs small enough to fill")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tanjay-diskfull", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (a container without CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the file system has no room left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			break
		}
	}
	// What a partial page still takes.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
}

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func metricValue(metrics, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

var diskLogs = []string{"journal", "audit log", "access log"}

// TestDiskFullHeals runs tanjay serve with its data directory on a tiny
// tmpfs, fills it, and checks that phones are answered throughout, that an
// operator change fails with the disk's error, that /healthz, /metrics and
// the dashboard say which logs fail, and that once the filler is deleted
// the journal, the audit log and the access log heal by themselves: the
// check-ins made while the disk was full are in all three after a
// restart, and the state checks clean.
func TestDiskFullHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	tanjayBinary(t)
	mnt := mountTinyTmpfs(t, 24<<20)
	data := filepath.Join(mnt, "data")
	// The free-space floor for phone uploads is off: it would stop
	// uploads, not the logs under test.
	srv := startServe(t, data, "--disk-floor-mib", "0", "--disk-floor-percent", "0")
	fw := t.TempDir()
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", randomBytes(64<<10, 1)))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", writeFile(t, fw, "t/CPE.nbt", randomBytes(64<<10, 2)))
	srv.tanjay(t, "approve", "--all")
	dash := "http://" + srv.addrs.Dashboard
	phone := func(i int) string { return fmt.Sprintf("0004F2D0%04X", i) }
	answered := 0
	checkInPhone := func(i int) {
		if v, _ := checkIn(t, srv.addrs.HTTP, "CX700", phone(i), fmt.Sprintf("SN%04d", i), "1.0.199.0"); v != "1.0.522.103" {
			t.Fatalf("phone %d offered %q, want the interim", i, v)
		}
		answered++
	}
	checkInPhone(0)
	if code, body := getText(t, dash+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz before the disk fills: %d %q", code, body)
	}

	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	// Check in until every log has met the full disk: a log file's last
	// page takes a few more bytes first.
	next := 1
	var health string
	deadline := time.Now().Add(60 * time.Second)
	for {
		for range 20 {
			checkInPhone(next)
			next++
		}
		code, body := getText(t, dash+"/healthz")
		health = body
		if code == http.StatusServiceUnavailable && strings.Count(body, "cannot be written since") == len(diskLogs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after %d check-ins on a full disk: %d %q, want every log failing", next, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	full := next
	t.Logf("/healthz on a full disk:\n%s", health)
	for _, name := range diskLogs {
		if !strings.Contains(health, name+" cannot be written since ") || !strings.Contains(health, "no space left on device") {
			t.Errorf("/healthz does not say %s fails on a full disk:\n%s", name, health)
		}
	}
	out, err := srv.tanjayErr("testdevice", "add", phone(1))
	if err == nil || !strings.Contains(out, "no space left on device") {
		t.Errorf("testdevice add on a full disk: %v, %q; want it refused with the disk's error", err, out)
	}
	t.Logf("tanjay testdevice add on a full disk: %s", strings.TrimSpace(out))
	_, metrics := getText(t, dash+"/metrics")
	for _, log := range []string{"journal", "audit", "access"} {
		if v, _ := metricValue(metrics, `tanjay_log_write_errors_total{log="`+log+`"}`); v < 1 {
			t.Errorf("metrics count %v write errors of the %s", v, log)
		}
		if v, _ := metricValue(metrics, `tanjay_log_write_failing{log="`+log+`"}`); v != 1 {
			t.Errorf("tanjay_log_write_failing{log=%q} = %v, want 1", log, v)
		}
	}
	if v, _ := metricValue(metrics, `tanjay_log_held{log="journal"}`); v < 1 {
		t.Errorf("tanjay_log_held{log=journal} = %v, want the observations held", v)
	}
	for _, page := range []string{"/settings", "/logs", "/kiosk"} {
		if _, body := getText(t, dash+page); !strings.Contains(body, `id="write-failure"`) || !strings.Contains(body, "journal cannot be written since") {
			t.Errorf("%s shows no banner about the full disk", page)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(90 * time.Second)
	for {
		checkInPhone(next)
		next++
		code, body := getText(t, dash+"/healthz")
		if code == http.StatusOK && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz %d %q a while after the disk has room again", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	srv.tanjay(t, "testdevice", "add", phone(1))
	if _, body := getText(t, dash+"/settings"); strings.Contains(body, `id="write-failure"`) {
		t.Error("the banner stays after the disk has room again")
	}
	srv.interrupt(t)
	logged := srv.stderr.String()
	for _, name := range diskLogs {
		if n := strings.Count(logged, "cannot write "+name+";"); n != 1 {
			t.Errorf("the failure of the %s was logged %d times, want once:\n%s", name, n, logged)
		}
		if n := strings.Count(logged, name+" is written again"); n != 1 {
			t.Errorf("the recovery of the %s was logged %d times, want once:\n%s", name, n, logged)
		}
	}

	// Every check-in made while the disk was full is in the audit and
	// access logs, whole, and in the journal.
	audit := readDir(t, filepath.Join(data, "logs", "audit"))
	access := readDir(t, filepath.Join(data, "logs", "access"))
	for i := 1; i < full; i++ {
		if !strings.Contains(audit, `"`+phone(i)+`"`) {
			t.Errorf("audit log lacks phone %s, checked in while the disk was full", phone(i))
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(audit, "\r\n"), "\r\n") {
		if !strings.HasPrefix(line, "Logging DateTime,") && !regexp.MustCompile(`^\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d,.*\d$|,$`).MatchString(line) {
			t.Errorf("audit log line is not a whole row: %q", line)
		}
	}
	if n := strings.Count(access, "POST /RequestHandler/ucdevice.upx"); n != answered {
		t.Errorf("access log has %d check-in lines, want %d", n, answered)
	}
	if out, err := srv.run(t, "state", "check", "--data", data); err != nil || !strings.Contains(out, "clean:") || strings.Contains(out, "torn") {
		t.Errorf("tanjay state check after the disk filled: %v\n%s", err, out)
	}
	again := startServe(t, data, "--disk-floor-mib", "0", "--disk-floor-percent", "0")
	devices := again.tanjay(t, "devices")
	for i := range next {
		if !strings.Contains(devices, phone(i)) {
			t.Errorf("phone %s (checked in %s) is gone after the restart", phone(i), map[bool]string{true: "while the disk was full", false: "with room on the disk"}[i >= 1 && i < full])
		}
	}
	if tds := again.tanjay(t, "testdevice", "ls"); !strings.Contains(tds, phone(1)) {
		t.Errorf("the test device added after recovery is gone:\n%s", tds)
	}
	t.Logf("%d check-ins answered, %d while the disk was full", answered, full-1)
}

// readDir is the files of dir, concatenated in name order.
func readDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
