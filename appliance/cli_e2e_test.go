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
