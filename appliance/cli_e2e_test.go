package appliance

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIFlagsAfterArguments: `tanjay testdevice add MAC --server URL`
// talks to URL (the flags after the MAC are read, not ignored).
func TestCLIFlagsAfterArguments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	srv := startServe(t, t.TempDir())
	run := func(args ...string) string {
		cmd := exec.Command(tanjayBinary(t), args...)
		cmd.Env = append(os.Environ(), "TANJAY_TOKEN=", "TANJAY_SERVER=http://127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tanjay %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	server := "http://" + srv.addrs.Dashboard
	run("testdevice", "add", "00049F0000F1", "--server", server, "--data", srv.data)
	if out := run("testdevice", "ls", "--server", server, "--data", srv.data); !strings.Contains(out, "00049F0000F1") {
		t.Errorf("testdevice ls after add with the flags last:\n%s", out)
	}
	srv.interrupt(t)
}

// TestTestDeviceChecks: a test device naming no phone seen yet is added
// with a warning; one phone by MAC and by serial is one test device: the
// second name of a phone that is a test device already is refused.
func TestTestDeviceChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	srv := startServe(t, t.TempDir())
	checkIn(t, srv.addrs.HTTP, "CX700", "00049F0000D1", "SN-D1", "1.0.199.0")
	for _, tc := range []struct {
		args    []string
		ok      bool
		want    string
		wantNot string
	}{
		{[]string{"add", "00-04-9F-00-00-EE"}, true, "warning: no phone with MAC 00049F0000EE has been seen yet", ""},
		{[]string{"add", "00049F0000D1"}, true, "test device 00049F0000D1 (mac) added", "warning"},
		{[]string{"add", "SN-D1"}, false, "it is the serial of phone 00049F0000D1, which is a test device already (by its MAC)", ""},
		{[]string{"rm", "00049F0000D1"}, true, "", ""},
		{[]string{"add", "SN-D1"}, true, "test device SN-D1 (serial) added", "warning"},
		{[]string{"add", "00049F0000D1"}, false, "phone 00049F0000D1 is a test device already (by its serial SN-D1)", ""},
	} {
		out, err := srv.tanjayErr(append([]string{"testdevice"}, tc.args...)...)
		if (err == nil) != tc.ok || !strings.Contains(out, tc.want) || (tc.wantNot != "" && strings.Contains(out, tc.wantNot)) {
			t.Errorf("testdevice %s: %v\n%s\nwant ok=%v and %q", strings.Join(tc.args, " "), err, out, tc.ok, tc.want)
		}
	}
	srv.interrupt(t)
}
