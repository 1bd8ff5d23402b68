package appliance

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/r2/phone"
)

// TestEndToEnd runs the real `tanjay serve` on loopback, imports an interim
// and a target with the real `tanjay import`, approves both, and walks
// simulated phones through the chain (issue acceptance).
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	srv := startServe(t, t.TempDir(), "--https-addr", "127.0.0.1:0")
	fw := t.TempDir()
	interimNBT := writeFile(t, fw, "interim/CPE.nbt", randomBytes(300<<10, 1))
	interimCAT := writeFile(t, fw, "interim/CPE.cat", randomBytes(2000, 2))
	targetNBT := writeFile(t, fw, "target/CPE.nbt", randomBytes(500<<10, 3))
	targetCAT := writeFile(t, fw, "target/CPE.cat", randomBytes(2000, 4))

	out := srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", interimNBT, interimCAT)
	if !strings.Contains(out, "OCInterim/ENU/CPE") || !strings.Contains(out, "1.0.522.103 (interim)") {
		t.Errorf("import output: %s", out)
	}
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", targetNBT, targetCAT)
	srv.tanjay(t, "approve", "--all")
	rules := srv.tanjay(t, "rules")
	for _, want := range []string{"OCInterim/ENU/CPE", "1.0.522.103", "UCPhone/Polycom/CX700/A/ENU/CPE", "3.5.6907.0"} {
		if !strings.Contains(rules, want) {
			t.Errorf("tanjay rules lacks %q:\n%s", want, rules)
		}
	}

	cx700 := phone.Identity{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	walk := func(mac, start string, cutAt float64) []string {
		t.Helper()
		id := cx700
		id.MAC, id.Serial = mac, "SN"+mac
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		w := phone.Run(ctx, phone.Config{Server: "http://" + srv.addrs.HTTP, Identity: id, Version: images.MustParseVersion(start), CutAt: cutAt})
		if w.Err != nil {
			t.Fatalf("phone %s from %s: %v\n%s", mac, start, w.Err, w)
		}
		var path []string
		for _, v := range w.Path {
			path = append(path, v.String())
		}
		return path
	}
	tests := []struct {
		name, mac, start string
		cutAt            float64
		want             []string
	}{
		{"beta phone walks interim then target", "00049F0000B1", "0.0.0.0", 0.5, []string{"0.0.0.0", "1.0.522.103", "3.5.6907.0"}},
		{"interim phone goes straight to target", "00049F0000B2", "1.0.522.103", 0, []string{"1.0.522.103", "3.5.6907.0"}},
		{"phone at target gets nothing", "00049F0000B3", "3.5.6907.0", 0, []string{"3.5.6907.0"}},
		{"phone above target gets nothing", "00049F0000B4", "4.0.7577.4066", 0, []string{"4.0.7577.4066"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, walk(tt.mac, tt.start, tt.cutAt)); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
	// The beta phone's last check-in got NumOfFiles 0: its walk ended.
	devices := srv.tanjay(t, "devices")
	for _, want := range []string{"00049F0000B1", "done"} {
		if !strings.Contains(devices, want) {
			t.Errorf("tanjay devices lacks %q:\n%s", want, devices)
		}
	}
	srv.interrupt(t)
	checkAuditLog(t, srv.data)
}

// checkAuditLog finds the day's audit file with the exact OCS header and a
// row naming the interim the beta phone was offered.
func checkAuditLog(t *testing.T, data string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(data, "logs", "audit", "RequestHandlerAuditLog_e2e_*.csv"))
	if len(files) != 1 {
		t.Fatalf("audit files: %v", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	const header = "Logging DateTime,User Name,User Host Address,Device Type,Request DateTime,Mac Address,Serial Number,Vendor,Model,Revision,Locale,Requested<FileName;Version;TimeStamp>[# Seperated for Multiple],Response<FileName;Version;TimeStamp>[# Seperated for Multiple]"
	if got := strings.TrimSuffix(sc.Text(), "\r"); got != header {
		t.Errorf("audit header:\n got %q\nwant %q", got, header)
	}
	var found bool
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"00049F0000B1"`) && strings.Contains(sc.Text(), "cpe.nbt;0.0.0.0;01.01.1601 00:00:00,http://") &&
			strings.Contains(sc.Text(), "/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE/CPE.nbt;1.0.522.103;") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit row offers the beta phone the interim")
	}
}

// TestKill9KeepsOperatorChanges kills the server with SIGKILL right after
// imports, approvals and test devices, restarts it on the same data
// directory, and finds everything the operator did.
func TestKill9KeepsOperatorChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	srv := startServe(t, data)
	fw := t.TempDir()
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", randomBytes(100<<10, 1)))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", writeFile(t, fw, "t/CPE.nbt", randomBytes(100<<10, 2)))
	srv.tanjay(t, "approve", "--all")
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "4.0.7577.4066", writeFile(t, fw, "p/CPE.nbt", randomBytes(100<<10, 3)))
	srv.tanjay(t, "testdevice", "add", "00:04:9F:00:00:C1")
	srv.tanjay(t, "testdevice", "add", "SERIAL-42")
	srv.tanjay(t, "testdevice", "rm", "SERIAL-42")
	srv.tanjay(t, "testdevice", "add", "SERIAL-43")
	wantRules, wantTDs := srv.tanjay(t, "rules"), srv.tanjay(t, "testdevice", "ls")
	srv.kill()

	again := startServe(t, data)
	if got := again.tanjay(t, "rules"); got != wantRules {
		t.Errorf("rules after kill -9:\n%s\nwant:\n%s", got, wantRules)
	}
	if got := again.tanjay(t, "testdevice", "ls"); got != wantTDs {
		t.Errorf("test devices after kill -9:\n%s\nwant:\n%s", got, wantTDs)
	}
	for _, want := range []string{"4.0.7577.4066", "3.5.6907.0", "1.0.522.103"} {
		if !strings.Contains(wantRules, want) {
			t.Errorf("rules lack %s:\n%s", want, wantRules)
		}
	}
	if !strings.Contains(wantTDs, "00049F0000C1") || !strings.Contains(wantTDs, "SERIAL-43") || strings.Contains(wantTDs, "SERIAL-42") {
		t.Errorf("test devices:\n%s", wantTDs)
	}
	// The files are still served after the restart.
	if v, _ := checkIn(t, again.addrs.HTTP, "CX700", "00049F0000C1", "", "3.5.6907.0"); v != "4.0.7577.4066" {
		t.Errorf("test device after restart offered %q, want the pending 4.0.7577.4066", v)
	}
}

// TestSecondServerRefusesTheDataDirectory checks the lock.
func TestSecondServerRefusesTheDataDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	startServe(t, data)
	out, err := (&serveProcess{}).run(t, "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--dns-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off")
	if err == nil || !strings.Contains(out, "another tanjay is already using") {
		t.Errorf("second serve: %v\n%s", err, out)
	}
}
