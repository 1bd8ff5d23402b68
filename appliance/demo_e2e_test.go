package appliance

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobodyID is the unprivileged user the demo test runs as when the test
// runs as root (Debian's "nobody").
const nobodyID = 65534

var demoDashboard = regexp.MustCompile(`^\s+dashboard: (http://\S+/)`)

// TestDemoRunsUnprivileged is the README's `tanjay demo`, with no flags,
// run as a normal user: every listener is on loopback on a port anyone may
// open, the dashboard answers, a second demo at the same time runs too (on
// another dashboard port), and Ctrl-C ends each with a summary.
func TestDemoRunsUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	bin := tanjayBinary(t)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// The test binary's directory is root's alone: give nobody a copy.
		dir, err := os.MkdirTemp("", "tanjay-demo-bin-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "tanjay")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: nobodyID, Gid: nobodyID}
	}
	type demo struct {
		cmd  *exec.Cmd
		out  *strings.Builder
		dash string
		done chan error
	}
	start := func() *demo {
		cmd := exec.Command(bin, "demo")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp"}
		cmd.Dir = "/tmp"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		d := &demo{cmd: cmd, out: &strings.Builder{}, done: make(chan error, 1)}
		found := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				d.out.WriteString(sc.Text() + "\n")
				if m := demoDashboard.FindStringSubmatch(sc.Text()); m != nil {
					found <- m[1]
				}
			}
			io.Copy(io.Discard, stdout)
			d.done <- cmd.Wait()
		}()
		t.Cleanup(func() { cmd.Process.Kill() })
		select {
		case d.dash = <-found:
		case err := <-d.done:
			t.Fatalf("tanjay demo as uid %d exited before serving: %v\n%s%s", os.Geteuid(), err, d.out, stderr.String())
		case <-time.After(60 * time.Second):
			t.Fatalf("tanjay demo printed no dashboard address in 60 s:\n%s%s", d.out, stderr.String())
		}
		return d
	}
	first := start()
	second := start()
	if first.dash == second.dash {
		t.Errorf("two demos share the dashboard %s", first.dash)
	}
	for _, d := range []*demo{first, second} {
		resp, err := http.Get(d.dash)
		if err != nil {
			t.Fatalf("dashboard %s: %v", d.dash, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "simulated") && !strings.Contains(string(body), "Fleet") {
			t.Errorf("dashboard %s: %s\n%.300s", d.dash, resp.Status, body)
		}
	}
	for _, d := range []*demo{first, second} {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-d.done:
			if err != nil {
				t.Errorf("demo after Ctrl-C: %v\n%s", err, d.out)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("demo still running 30 s after Ctrl-C:\n%s", d.out)
		}
		if !strings.Contains(d.out.String(), "tanjay demo stopped after") || !strings.Contains(d.out.String(), "removed (--keep keeps it)") {
			t.Errorf("no closing summary:\n%s", d.out)
		}
	}
}
