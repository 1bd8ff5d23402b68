package dhcp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// udhcpd is BusyBox udhcpd, an independent DHCP server, serving the client
// end of a link from 10.77.0.9. Before it offers an address it ARP-probes
// it for 2s (its -a default): the late answerer the guard must not miss.
type udhcpd struct {
	cmd  *exec.Cmd
	done chan error
	out  *strings.Builder
}

// startUdhcpd runs udhcpd in l's client namespace on l.cliIf, which gets
// 10.77.0.9/24 (once). It skips the test without busybox.
func startUdhcpd(t *testing.T, l *vethLink) *udhcpd {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (Debian package busybox-static): udhcpd is the other DHCP server")
	}
	if !strings.Contains(run(t, "ip", "-n", l.cli, "addr", "show", "dev", l.cliIf), "10.77.0.9/24") {
		run(t, "ip", "-n", l.cli, "addr", "add", "10.77.0.9/24", "dev", l.cliIf)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "udhcpd.conf")
	leases := filepath.Join(dir, "udhcpd.leases")
	if err := os.WriteFile(leases, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("start 10.77.0.200\nend 10.77.0.220\ninterface %s\nlease_file %s\npidfile %s\noption subnet 255.255.255.0\n",
		l.cliIf, leases, filepath.Join(dir, "udhcpd.pid"))
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	u := &udhcpd{done: make(chan error, 1), out: &strings.Builder{}}
	u.cmd = exec.Command("ip", "netns", "exec", l.cli, busybox, "udhcpd", "-f", conf)
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { u.done <- u.cmd.Wait() }()
	t.Cleanup(u.stop)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.TrimSpace(run(t, "ip", "netns", "exec", l.cli, "ss", "-Hlun", "sport = :67")) != "" {
			return u // bound: it hears DISCOVERs from now on
		}
		if time.Now().After(deadline) {
			t.Fatalf("udhcpd not listening on port 67 after 10s:\n%s", u.out)
		}
	}
}

// stop kills udhcpd and waits for it.
func (u *udhcpd) stop() {
	if u.cmd.ProcessState != nil {
		return
	}
	u.cmd.Process.Kill()
	<-u.done
}

// udhcpcGets runs BusyBox udhcpc on the client end and returns the server
// identifier of the lease it got, "" when none answered within about 3s.
func udhcpcGets(t *testing.T, l *vethLink) string {
	t.Helper()
	dir := t.TempDir()
	script, out := filepath.Join(dir, "script"), filepath.Join(dir, "bound.env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exec.Command("ip", "netns", "exec", l.cli, "busybox", "udhcpc", "-i", l.cliIf, "-f", "-q", "-n",
		"-t", "3", "-T", "1", "-s", script).Run() // fails when nobody answers
	if _, err := os.Stat(out); err != nil {
		return ""
	}
	return readEnv(t, out)["serverid"]
}

// TestGuardAgainstBusyBoxUdhcpd: with udhcpd (answering 2s late) on the
// link, the guard refuses and names it, and DHCP answers nobody; once
// udhcpd stops, DHCP serves; when udhcpd comes back while DHCP serves,
// DHCP stops and says so. udhcpc runs beside udhcpd on the client end:
// udhcpd does not hear a client on its own interface, so only the
// appliance could answer it.
func TestGuardAgainstBusyBoxUdhcpd(t *testing.T) {
	l := newLink(t, "10.77.0.1/24")
	u := startUdhcpd(t, l)
	cfg := Config{Interface: l.srvIf, GuardWait: 3 * time.Second, GuardProbes: 3, GuardInterval: time.Second}
	s, err := New(cfg, &memLeases{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	serveInNS(t, l.srv, s)
	st := waitGuard(t, s, "past probing", func(st GuardStatus) bool { return st.State != GuardProbing && st.State != "" })
	if st.State != GuardRefused || st.Other.ServerID != mustAddr("10.77.0.9") || st.Other.From != mustAddr("10.77.0.9") || st.Stopped {
		t.Fatalf("with udhcpd on the link: %s\nudhcpd: %s", st, u.out)
	}
	t.Logf("refused: %s", st)
	if sid := udhcpcGets(t, l); sid != "" {
		t.Errorf("udhcpc got a lease from %s while the guard refuses", sid)
	}

	u.stop()
	waitGuard(t, s, "serving after udhcpd stopped", func(st GuardStatus) bool { return st.State == GuardServing })
	if sid := udhcpcGets(t, l); sid != "10.77.0.1" {
		t.Errorf("udhcpc after udhcpd stopped: lease from %q, want 10.77.0.1", sid)
	}

	u = startUdhcpd(t, l)
	st = waitGuard(t, s, "refused once udhcpd is back", func(st GuardStatus) bool { return st.State == GuardRefused })
	if !st.Stopped || st.Other.ServerID != mustAddr("10.77.0.9") || !strings.Contains(st.String(), "DHCP stopped and stays off") {
		t.Errorf("after udhcpd came back: %s", st)
	}
	t.Logf("stopped: %s", st)
	if sid := udhcpcGets(t, l); sid != "" {
		t.Errorf("udhcpc got a lease from %s after the guard stopped DHCP", sid)
	}
}

// TestGuardForceServesBesideUdhcpd: --dhcp-force serves with udhcpd on the
// link, and says it does.
func TestGuardForceServesBesideUdhcpd(t *testing.T) {
	l := newLink(t, "10.77.0.1/24")
	startUdhcpd(t, l)
	cfg := Config{Interface: l.srvIf, GuardWait: 3 * time.Second, GuardProbes: 3, GuardInterval: time.Second, Force: true}
	s, err := New(cfg, &memLeases{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	serveInNS(t, l.srv, s)
	st := waitGuard(t, s, "forced", func(st GuardStatus) bool { return st.State == GuardForced })
	if !strings.Contains(st.String(), "despite another DHCP server 10.77.0.9") {
		t.Errorf("forced: %s", st)
	}
	if sid := udhcpcGets(t, l); sid != "10.77.0.1" {
		t.Errorf("udhcpc with --dhcp-force: lease from %q, want 10.77.0.1", sid)
	}
}
