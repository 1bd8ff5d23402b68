package appliance

// The directory end-to-end test runs the real binaries on a veth pair
// between two network namespaces it creates (root only, and Samba's and
// the clients' Debian packages: samba, winbind, ldb-tools, smbclient,
// ldap-utils, krb5-user). `tanjay directory provision` and `tanjay serve
// --directory samba` run in the appliance's namespace on its veth end; the
// clients (net ads lookup, ldapsearch, kinit, DNS queries) in the other,
// as a phone on the lab switch.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tanjay-lab/tanjay/appliance/internal/proctest"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

const (
	dcServerIP = "10.78.0.1"
	dcPassword = "abcd-efgh-jkmn"
)

// TestDirectoryEndToEnd: a phone's-eye view of the lab's domain controller.
func TestDirectoryEndToEnd(t *testing.T) {
	for _, p := range []string{"samba", "samba-tool", "samba_dnsupdate", "ldbmodify", "net", "ldapsearch", "kinit", "kvno", "curl", "openssl"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (apt-get install samba winbind ldb-tools smbclient ldap-utils krb5-user curl openssl)", p)
		}
	}
	srvNS, cliNS := directoryLink(t)
	data := t.TempDir()

	bin := tanjayBinary(t)
	start := time.Now()
	out := nsRun(t, srvNS, []string{"TANJAY_SIP_PASSWORD=" + dcPassword}, bin, "directory", "provision",
		"--data", data, "--domain", "lab.local", "--host", "tanjay", "--directory-interfaces", "tjdcs", "--advertise", dcServerIP)
	t.Logf("tanjay directory provision: %s\n%s", time.Since(start).Round(100*time.Millisecond), out)

	srv := startDirectoryServe(t, srvNS, data, dcPassword)
	master := srv.waitSambaReady(t, 0)

	// The DC locator: CLDAP netlogon ping.
	out = nsRun(t, cliNS, nil, "net", "ads", "lookup", "-S", dcServerIP, "--realm", "LAB.LOCAL")
	for _, want := range []string{"Response Type: LOGON_SAM_LOGON_RESPONSE_EX", "Domain Controller: tanjay.lab.local", "Pre-Win2k Domain: LAB", "Is running a KDC:                           yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("net ads lookup lacks %q:\n%s", want, out)
		}
	}

	// The CA, read as the lab account over plain LDAP with a simple bind.
	caCer := nsHTTPGet(t, cliNS, "http://"+dcServerIP+"/ca.cer")
	out = nsRun(t, cliNS, nil, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", "ldap://"+dcServerIP, "-D", "tech@lab.local", "-w", dcPassword,
		"-b", "CN=Configuration,DC=lab,DC=local", "(objectClass=certificationAuthority)", "cACertificate")
	if der := ldifBinary(out, "cACertificate"); !bytes.Equal(der, caCer) {
		t.Errorf("cACertificate (%d bytes) is not /ca.cer (%d bytes):\n%s", len(der), len(caCer), out)
	}
	out = nsRun(t, cliNS, nil, "ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H", "ldap://"+dcServerIP, "-D", "tech@lab.local", "-w", dcPassword,
		"-b", "CN=Configuration,DC=lab,DC=local", "(objectClass=pKIEnrollmentService)", "dNSHostName", "cACertificate")
	if !strings.Contains(out, "dNSHostName: tanjay.lab.local") || !bytes.Equal(ldifBinary(out, "cACertificate"), caCer) {
		t.Errorf("pKIEnrollmentService:\n%s", out)
	}

	// Kerberos with the lab sign-in password, and a refused simple bind.
	krbEnv, err := kinitEnv(t, cliNS, dcPassword)
	if err != nil {
		t.Error(err)
	}
	if out, err := nsRunErr(cliNS, nil, "ldapsearch", "-x", "-H", "ldap://"+dcServerIP, "-D", "tech@lab.local", "-w", "not-the-password",
		"-b", "", "-s", "base", "dnsHostName"); err == nil {
		t.Errorf("a simple bind with a wrong password succeeded:\n%s", out)
	}

	// certnew.p7b, as a phone that looks for an enterprise CA fetches it
	// from the enrollment service's dNSHostName: with SPNEGO (a ticket
	// from the KDC above) and without. The appliance never asks for
	// authentication, so curl --negotiate never needs its ticket; it
	// must simply not be refused.
	checkCertnewP7B(t, cliNS, krbEnv, caCer)

	// The phone's steps at the DC are on its timeline, matched by the
	// phone's address: the DC locator pings the appliance relayed (net
	// ads lookup), Samba's audit (binds, the ticket) and its searches.
	checkDirectoryTimeline(t, srvNS, data, "10.78.0.2",
		"dc locator ping  ok", "ldap bind tech@lab.local ok", "ldap bind tech@lab.local wrong password",
		"kerberos tech@LAB.LOCAL ok", "ldap search  ok")

	// Every DC locator name Samba listed points at the appliance.
	records, err := os.ReadFile(filepath.Join(data, "directory", "dc-records.txt"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for line := range strings.Lines(string(records)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		checked++
		checkDCName(t, cliNS, f)
	}
	t.Logf("%d DC locator names answered with the appliance", checked)

	// At rest: Samba's memory.
	time.Sleep(5 * time.Second)
	pids := pidNamespaceMembers(t, master)
	rss, pss := proctest.Memory(pids)
	t.Logf("samba at rest: %d processes, RSS summed %d MiB, PSS summed %d MiB", len(pids), rss>>10, pss>>10)

	// kill -9 of the Samba master: restarted within seconds, and logged.
	killed := time.Now()
	syscall.Kill(master, syscall.SIGKILL)
	master2 := srv.waitSambaReady(t, master)
	t.Logf("samba master killed: answering again after %s", time.Since(killed).Round(100*time.Millisecond))
	if !strings.Contains(srv.log(), "samba stopped; restarting") || !strings.Contains(srv.log(), "killed by signal 9") {
		t.Errorf("the restart is not logged:\n%s", srv.log())
	}
	// And the phone that was signing in is told, on its timeline.
	checkDirectoryTimeline(t, srvNS, data, "10.78.0.2", "samba  samba was killed by signal 9 (killed); restarting in 1s", "samba  ok")
	for _, p := range pids {
		if proctest.Alive(p) {
			t.Errorf("process %d of the killed samba is alive", p)
		}
	}

	// kill -9 of tanjay serve: no Samba process is left behind.
	pids = pidNamespaceMembers(t, master2)
	srv.kill()
	waitFor(t, "samba to follow tanjay serve", func() bool {
		for _, p := range pids {
			if proctest.Alive(p) {
				return false
			}
		}
		return true
	})
	if left := strings.TrimSpace(nsRun(t, "", nil, "ip", "netns", "pids", srvNS)); left != "" {
		t.Errorf("processes left in the appliance's namespace after kill -9: %s", left)
	}

	// And the next start works, with a changed lab password: the
	// account follows it.
	const newPassword = "pqrs-tuvw-xyz2"
	srv = startDirectoryServe(t, srvNS, data, newPassword)
	srv.waitSambaReady(t, 0)
	if err := kinit(t, cliNS, dcPassword); err == nil {
		t.Error("kinit with the old lab password still works")
	}
	if err := kinit(t, cliNS, newPassword); err != nil {
		t.Errorf("with the new lab password: %v", err)
	}
	if out := nsRun(t, cliNS, nil, "net", "ads", "lookup", "-S", dcServerIP, "--realm", "LAB.LOCAL"); !strings.Contains(out, "LOGON_SAM_LOGON_RESPONSE_EX") {
		t.Errorf("after a restart of tanjay serve: %s", out)
	}
	srv.interrupt(t)
	if left := strings.TrimSpace(nsRun(t, "", nil, "ip", "netns", "pids", srvNS)); left != "" {
		t.Errorf("processes left in the appliance's namespace after SIGINT: %s", left)
	}
}

// kinit gets a ticket for tech@LAB.LOCAL from the appliance's KDC, from
// namespace ns.
func kinit(t *testing.T, ns, password string) error {
	t.Helper()
	_, err := kinitEnv(t, ns, password)
	return err
}

// kinitEnv is kinit, returning the environment (KRB5_CONFIG, KRB5CCNAME
// in a temporary directory) that holds the ticket.
func kinitEnv(t *testing.T, ns, password string) ([]string, error) {
	t.Helper()
	dir := t.TempDir()
	krb5 := filepath.Join(dir, "krb5.conf")
	os.WriteFile(krb5, []byte("[libdefaults]\n\tdefault_realm = LAB.LOCAL\n\tdns_lookup_kdc = false\n[realms]\n\tLAB.LOCAL = {\n\t\tkdc = "+dcServerIP+"\n\t}\n"), 0o644)
	env := []string{"KRB5_CONFIG=" + krb5, "KRB5CCNAME=FILE:" + filepath.Join(dir, "ccache")}
	cmd := exec.Command("ip", "netns", "exec", ns, "kinit", "tech@LAB.LOCAL")
	cmd.Env, cmd.Stdin = append(os.Environ(), env...), strings.NewReader(password+"\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kinit: %v\n%s", err, b)
	}
	if out := nsRun(t, ns, env, "klist"); !strings.Contains(out, "krbtgt/LAB.LOCAL@LAB.LOCAL") {
		return nil, fmt.Errorf("klist:\n%s", out)
	}
	return env, nil
}

// nsRunErr runs a command in namespace ns and returns its output and
// error.
func nsRunErr(ns string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkCertnewP7B fetches certnew.p7b (Enc=b64) from namespace ns with
// curl --negotiate holding the ticket of krbEnv, and with a plain curl,
// by the enrollment service's name: both answer base64 armoured as
// CERTIFICATE, of a PKCS#7 whose certificate is the appliance CA, byte
// for byte.
func checkCertnewP7B(t *testing.T, ns string, krbEnv []string, caCer []byte) {
	t.Helper()
	const url = "http://tanjay.lab.local/certsrv/certnew.p7b?ReqID=CACert&Renewal=-1&Enc=b64"
	resolve := "tanjay.lab.local:80:" + dcServerIP
	// A phone that authenticates with SPNEGO first asks the KDC for a
	// ticket to the enrollment host: the DC's SPNs make that work.
	if out, err := nsRunErr(ns, krbEnv, "kvno", "HTTP/tanjay.lab.local@LAB.LOCAL", "ldap/tanjay.lab.local@LAB.LOCAL"); err != nil {
		t.Errorf("service tickets: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"curl --negotiate", krbEnv, []string{"--negotiate", "-u", ":"}},
		{"curl", nil, nil},
	} {
		body := filepath.Join(t.TempDir(), "certnew.p7b")
		args := append([]string{"-fsS", "--resolve", resolve, "-o", body}, c.args...)
		if out, err := nsRunErr(ns, c.env, "curl", append(args, url)...); err != nil {
			t.Errorf("%s: %v\n%s", c.name, err, out)
			continue
		}
		b, _ := os.ReadFile(body)
		block, _ := pem.Decode(b)
		if block == nil || block.Type != "CERTIFICATE" {
			t.Errorf("%s: the body is not base64 armoured as CERTIFICATE:\n%s", c.name, b)
			continue
		}
		p7 := filepath.Join(t.TempDir(), "p7.der")
		os.WriteFile(p7, block.Bytes, 0o644)
		out, err := nsRunErr(ns, nil, "openssl", "pkcs7", "-inform", "DER", "-in", p7, "-print_certs")
		if err != nil {
			t.Errorf("%s: not a PKCS#7: %v\n%s", c.name, err, out)
			continue
		}
		var certs [][]byte
		for rest := []byte(out); ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			certs = append(certs, blk.Bytes)
		}
		if len(certs) != 1 || !bytes.Equal(certs[0], caCer) {
			t.Errorf("%s: the PKCS#7 holds %d certificates, not /ca.cer:\n%s", c.name, len(certs), out)
		}
	}
}

// checkDirectoryTimeline reads, through the admin API of the appliance
// in namespace ns, the timeline of the phone at ip: it holds the directory
// events want ("step user error-or-ok").
func checkDirectoryTimeline(t *testing.T, ns, data, ip string, want ...string) {
	t.Helper()
	addrs := readServeInfo(t, data)
	token, err := os.ReadFile(tokenPath(data))
	if err != nil {
		t.Fatal(err)
	}
	c := &apiClient{base: "http://" + addrs.Dashboard, token: strings.TrimSpace(string(token)), http: nsHTTPClient(t, ns), agent: cliUserAgent}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var d deviceDetail
		if err := c.do(context.Background(), "GET", "/api/v1/devices/"+ip, "", nil, &d); err == nil {
			got = got[:0]
			for _, ev := range d.Events {
				if ev.Kind == store.EventDirectory {
					got = append(got, strings.Join([]string{ev.DirectoryStep, ev.User, cmp.Or(ev.DirectoryError, "ok")}, " "))
				}
			}
			if containsAll(got, want) {
				t.Logf("the phone's timeline (stage %s), its directory events:\n\t%s", d.Device.Stage, strings.Join(got, "\n\t"))
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("directory events on the timeline of IP:%s: %q, want at least %q (err %v)", ip, got, want, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// nsHTTPClient is an HTTP client whose connections are made in
// namespace ns.
func nsHTTPClient(t *testing.T, ns string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = inNetNS(t, ns, func() (err error) { c, err = net.Dial(network, addr); return err })
			return c, err
		},
	}}
}

// directoryLink creates two namespaces joined by a veth pair: tjdcs with
// 10.78.0.1/24 for the appliance, tjdcc with 10.78.0.2/24 for the phone.
func directoryLink(t *testing.T) (srv, cli string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces and Samba runs as root")
	}
	srv, cli = fmt.Sprintf("tjdc-%d-s", os.Getpid()), fmt.Sprintf("tjdc-%d-c", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	dhcpRun(t, "ip", "netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	dhcpRun(t, "ip", "-n", srv, "link", "add", "tjdcs", "type", "veth", "peer", "name", "tjdcc", "netns", cli)
	dhcpRun(t, "ip", "-n", srv, "addr", "add", dcServerIP+"/24", "dev", "tjdcs")
	dhcpRun(t, "ip", "-n", cli, "addr", "add", "10.78.0.2/24", "dev", "tjdcc")
	for _, c := range [][2]string{{srv, "tjdcs"}, {srv, "lo"}, {cli, "tjdcc"}, {cli, "lo"}} {
		dhcpRun(t, "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	return srv, cli
}

// nsRun runs a command in namespace ns ("" for this one) and returns its
// output; a failure fails the test.
func nsRun(t *testing.T, ns string, env []string, name string, args ...string) string {
	t.Helper()
	if ns != "" {
		args = append([]string{"netns", "exec", ns, name}, args...)
		name = "ip"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// directoryServe is `tanjay serve --directory samba` in the appliance's
// namespace.
type directoryServe struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	waited chan error
}

func startDirectoryServe(t *testing.T, ns, data, password string) *directoryServe {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, tanjayBinary(t), "serve", "--data", data, "--host", "tanjay", "--domain", "lab.local",
		"--directory", "samba", "--directory-interfaces", "tjdcs",
		"--http-addr", dcServerIP+":80", "--dns-addr", dcServerIP+":53", "--dashboard-addr", "127.0.0.1:0",
		"--https-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off")
	cmd.Env = append(os.Environ(), "TANJAY_SIP_PASSWORD="+password, "TANJAY_TOKEN=")
	s := &directoryServe{cmd: cmd, waited: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		s.waited <- cmd.Wait()
	}()
	t.Cleanup(s.kill)
	return s
}

func (s *directoryServe) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

var sambaReady = regexp.MustCompile(`msg="samba is ready" pid=(\d+)`)

// waitSambaReady waits until the log says a Samba master other than
// notPID is ready, and returns its pid.
func (s *directoryServe) waitSambaReady(t *testing.T, notPID int) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		for _, m := range sambaReady.FindAllStringSubmatch(s.log(), -1) {
			if pid, _ := strconv.Atoi(m[1]); pid != notPID {
				return pid
			}
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("samba not ready:\n%s", s.log())
	return 0
}

// kill stops tanjay serve with SIGKILL (ip netns exec execs it: the
// process is tanjay's).
func (s *directoryServe) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		<-s.waited
	}
}

func (s *directoryServe) interrupt(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.waited:
		if err != nil {
			t.Errorf("tanjay serve: %v\n%s", err, s.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tanjay serve did not stop on SIGINT")
	}
}

// nsHTTPGet fetches url from inside namespace ns.
func nsHTTPGet(t *testing.T, ns, url string) []byte {
	t.Helper()
	resp, err := nsHTTPClient(t, ns).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}

// ldifBinary is the first value of attr (attr:: base64) in LDIF text.
func ldifBinary(ldif, attr string) []byte {
	for line := range strings.Lines(ldif) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), attr+":: "); ok {
			b, _ := base64.StdEncoding.DecodeString(v)
			return b
		}
	}
	return nil
}

// checkDCName asks the appliance's DNS, from the phone's namespace, the
// name of one line of samba_dnsupdate's list and checks that it points at
// the appliance.
func checkDCName(t *testing.T, ns string, f []string) {
	t.Helper()
	typ, name := f[0], dns.Fqdn(f[1])
	qtype := map[string]uint16{"A": dns.TypeA, "AAAA": dns.TypeA, "CNAME": dns.TypeA, "SRV": dns.TypeSRV}[typ]
	var conn net.Conn
	if err := inNetNS(t, ns, func() (err error) { conn, err = net.Dial("udp", dcServerIP+":53"); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Conn{Conn: conn}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadMsg()
	if err != nil {
		t.Fatalf("%s %s: %v", typ, name, err)
	}
	var got []string
	for _, rr := range append(r.Answer, r.Extra...) {
		got = append(got, strings.Join(strings.Fields(rr.String()), " "))
	}
	all := strings.Join(got, "; ")
	want := []string{"IN A " + dcServerIP}
	switch typ {
	case "SRV":
		want = append(want, "IN SRV 0 0 "+f[3]+" "+dns.Fqdn(f[2]))
	case "CNAME":
		want = append(want, "IN CNAME "+dns.Fqdn(f[2]))
	}
	for _, w := range want {
		if !r.Authoritative || !strings.Contains(all, w) {
			t.Errorf("%s %s: answer %q (aa %v), want %q", typ, name, all, r.Authoritative, w)
		}
	}
}

// pidNamespaceMembers are the processes in the PID namespace of pid.
func pidNamespaceMembers(t *testing.T, pid int) []int {
	t.Helper()
	pids, err := proctest.NamespacePIDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}
