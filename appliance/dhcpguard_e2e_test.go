package appliance

// The rogue-server guard against the real `tanjay serve`: the process runs
// under ip netns exec in a namespace joined to a second one by a veth
// pair, and BusyBox udhcpd, an independent DHCP server that answers 2s
// late (it ARP-probes an address before offering it), runs on the other
// end. The test reaches the appliance's loopback listeners through
// nsProxy, and asks for leases with BusyBox udhcpc beside udhcpd (which
// does not hear a client on its own interface: only the appliance could
// answer it).

import (
	"bufio"
	"fmt"
	"html"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// guardLink is two namespaces joined by a veth pair: tjgs0 with
// 10.81.0.1/24 for the appliance, tjgc0 with 10.81.0.9/24 for udhcpd and
// udhcpc. It skips the test without root, ip or busybox.
func guardLink(t *testing.T) (srv, cli string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces (ip netns add)")
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (Debian package busybox-static): udhcpd is the other DHCP server")
	}
	srv, cli = fmt.Sprintf("tjg-%d-s", os.Getpid()), fmt.Sprintf("tjg-%d-c", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	dhcpRun(t, "ip", "netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	dhcpRun(t, "ip", "-n", srv, "link", "add", "tjgs0", "type", "veth", "peer", "name", "tjgc0", "netns", cli)
	dhcpRun(t, "ip", "-n", srv, "addr", "add", "10.81.0.1/24", "dev", "tjgs0")
	dhcpRun(t, "ip", "-n", cli, "addr", "add", "10.81.0.9/24", "dev", "tjgc0")
	for _, c := range [][2]string{{srv, "tjgs0"}, {srv, "lo"}, {cli, "tjgc0"}, {cli, "lo"}} {
		dhcpRun(t, "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	return srv, cli
}

// startUdhcpd runs udhcpd on tjgc0 in ns until stop (or the test's end)
// and waits until it listens.
func startUdhcpd(t *testing.T, ns string) (stop func()) {
	t.Helper()
	dir := t.TempDir()
	conf, leases := filepath.Join(dir, "udhcpd.conf"), filepath.Join(dir, "udhcpd.leases")
	if err := os.WriteFile(leases, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	body := "start 10.81.0.200\nend 10.81.0.220\ninterface tjgc0\nlease_file " + leases + "\npidfile " + filepath.Join(dir, "pid") + "\noption subnet 255.255.255.0\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "busybox", "udhcpd", "-f", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = sync.OnceFunc(func() { cmd.Process.Kill(); <-done })
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Hlun", "sport = :67").Output()
		if strings.TrimSpace(string(b)) != "" {
			return stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("udhcpd not listening after 10s:\n%s", out.String())
		}
	}
}

// leaseFrom runs udhcpc on tjgc0 and returns the server identifier of the
// lease it got, "" when nobody answered within about 3s.
func leaseFrom(t *testing.T, ns string) string {
	t.Helper()
	dir := t.TempDir()
	script, out := filepath.Join(dir, "script"), filepath.Join(dir, "bound.env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$serverid\" > "+out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	exec.Command("ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "tjgc0", "-f", "-q", "-n", "-t", "3", "-T", "1", "-s", script).Run()
	b, err := os.ReadFile(out)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// nsServe is `tanjay serve` running in a namespace.
type nsServe struct {
	cmd                  *exec.Cmd
	http, dashboard, dns string // in the namespace
	lines                chan string
	seen                 []string
}

var dnsLine = regexp.MustCompile(`^\s+dns:\s+(\S+)`)

// startServeInNS starts the tanjay binary's serve in ns on loopback ports
// with extra flags, and waits until it printed where it listens.
func startServeInNS(t *testing.T, ns string, extra ...string) *nsServe {
	t.Helper()
	args := append([]string{"netns", "exec", ns, tanjayBinary(t), "serve", "--data", t.TempDir(),
		"--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0",
		"--https-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off", "--host", "e2e", "--domain", "lab.test"}, extra...)
	p := &nsServe{cmd: exec.Command("ip", args...), lines: make(chan string, 100)}
	p.cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	var stderr strings.Builder
	p.cmd.Stderr = &stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("tanjay serve stdout:\n%s\nstderr:\n%s", strings.Join(p.seen, "\n"), stderr.String())
		}
	})
	for p.http == "" || p.dashboard == "" || p.dns == "" {
		line, ok := p.next(t, time.Minute)
		if !ok {
			t.Fatalf("tanjay serve stopped before serving:\n%s\n%s", strings.Join(p.seen, "\n"), stderr.String())
		}
		if m := servingLine.FindStringSubmatch(line); m != nil && m[1] == "phones" {
			p.http = m[2]
		} else if m != nil {
			p.dashboard = m[2]
		} else if m := dnsLine.FindStringSubmatch(line); m != nil {
			p.dns = m[1]
		}
	}
	return p
}

// next is the next line of stdout; false when stdout ended or nothing came
// within wait.
func (p *nsServe) next(t *testing.T, wait time.Duration) (string, bool) {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if ok {
			p.seen = append(p.seen, line)
		}
		return line, ok
	case <-time.After(wait):
		return "", false
	}
}

// waitLine reads stdout until a line starts with prefix (a minute at most).
func (p *nsServe) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		line, ok := p.next(t, time.Until(deadline))
		if !ok {
			break
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("tanjay serve never printed %q; stdout so far:\n%s", prefix, strings.Join(p.seen, "\n"))
	return ""
}

// TestServeKeepsRunningWhileAnotherDHCPServerAnswers: with udhcpd on the
// lab link, `tanjay serve` keeps DHCP off and says which server answered
// on the console, /healthz (200, degraded) and Settings & health, while
// check-ins, the dashboard and DNS answer; once udhcpd stops, DHCP serves;
// when udhcpd comes back, DHCP stops again and says so.
func TestServeKeepsRunningWhileAnotherDHCPServerAnswers(t *testing.T) {
	srv, cli := guardLink(t)
	stopUdhcpd := startUdhcpd(t, cli)
	p := startServeInNS(t, srv, "--dhcp-interface", "tjgs0", "--dhcp-guard-wait", "3s", "--dhcp-guard-probes", "3", "--dhcp-guard-interval", "1s")
	refusal := p.waitLine(t, "dhcp: refused: another DHCP server 10.81.0.9 (server identifier 10.81.0.9) answered on tjgs0")
	t.Logf("console: %s", refusal)
	dash, phones := "http://"+nsProxy(t, srv, p.dashboard), nsProxy(t, srv, p.http)

	code, body := getText(t, dash+"/healthz")
	if code != http.StatusOK || !strings.HasPrefix(body, "degraded: dhcp: refused: another DHCP server 10.81.0.9 (server identifier 10.81.0.9) answered") {
		t.Errorf("/healthz while refused: %d %q", code, body)
	}
	if code, body := getText(t, dash+"/settings"); code != http.StatusOK || !strings.Contains(html.UnescapeString(body), "refused: another DHCP server 10.81.0.9 (server identifier 10.81.0.9)") {
		t.Errorf("Settings & health while refused: %d, no refusal in:\n%s", code, body)
	}
	checkIn(t, phones, "CX700", "00049F0000F1", "SN-GUARD-1", "1.0.199.0") // fails the test unless 200
	var answer *dns.Msg
	err := inNetNS(t, srv, func() (err error) {
		m := new(dns.Msg)
		m.SetQuestion("ucupdates-r2.lab.test.", dns.TypeA)
		answer, _, err = new(dns.Client).Exchange(m, p.dns)
		return err
	})
	if err != nil || answer.Rcode != dns.RcodeSuccess || len(answer.Answer) == 0 {
		t.Errorf("DNS while DHCP is refused: %v %v", err, answer)
	}
	if sid := leaseFrom(t, cli); sid != "" {
		t.Errorf("a client got a lease from %s while the guard refuses", sid)
	}

	stopUdhcpd()
	t.Logf("console: %s", p.waitLine(t, "dhcp: serving on tjgs0"))
	if code, body := getText(t, dash+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz once DHCP serves: %d %q", code, body)
	}
	if sid := leaseFrom(t, cli); sid != "10.81.0.1" {
		t.Errorf("lease once udhcpd stopped from %q, want the appliance 10.81.0.1", sid)
	}

	startUdhcpd(t, cli)
	t.Logf("console: %s", p.waitLine(t, "dhcp: refused: another DHCP server 10.81.0.9 (server identifier 10.81.0.9) answered on tjgs0"))
	if line := p.seen[len(p.seen)-1]; !strings.Contains(line, "DHCP stopped and stays off") {
		t.Errorf("console line when DHCP stopped: %q", line)
	}
	if sid := leaseFrom(t, cli); sid != "" {
		t.Errorf("a client got a lease from %s after the guard stopped DHCP", sid)
	}
	checkIn(t, phones, "CX700", "00049F0000F1", "SN-GUARD-1", "1.0.199.0")
	// Each change is on the operator log, which the Logs page shows.
	if code, body := getText(t, dash+"/logs?op=dhcp"); code != http.StatusOK ||
		strings.Count(body, "dhcp-refused") != 2 || strings.Count(body, "dhcp-serving") != 1 || !strings.Contains(body, "10.81.0.9") {
		t.Errorf("Logs page, operator actions filtered to dhcp: %d; want two refusals naming 10.81.0.9 and one serving:\n%s", code, body)
	}
}

// TestServeDHCPForceServesBesideAnotherServer: --dhcp-force serves with
// udhcpd on the link and says so on the console.
func TestServeDHCPForceServesBesideAnotherServer(t *testing.T) {
	srv, cli := guardLink(t)
	startUdhcpd(t, cli)
	p := startServeInNS(t, srv, "--dhcp-interface", "tjgs0", "--dhcp-guard-wait", "3s", "--dhcp-guard-probes", "3", "--dhcp-guard-interval", "1s", "--dhcp-force")
	t.Logf("console: %s", p.waitLine(t, "dhcp: serving on tjgs0 despite another DHCP server 10.81.0.9 (server identifier 10.81.0.9)"))
	if sid := leaseFrom(t, cli); sid != "10.81.0.1" {
		t.Errorf("lease with --dhcp-force from %q, want the appliance 10.81.0.1", sid)
	}
}
