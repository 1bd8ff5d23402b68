package appliance

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// testApp is an appliance run in process on 127.0.0.1.
type testApp struct {
	Addrs
	data string
	api  *apiClient
	stop func()
}

func startApp(t testing.TB, mut func(*Config)) *testApp {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTPAddr, cfg.DashboardAddr, cfg.Host = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "testhost"
	// HTTPS costs three RSA keys per start: only the tests that need it
	// turn it on.
	cfg.DNS.Addr, cfg.HTTPSAddr = "127.0.0.1:0", "off"
	cfg.SIPAddr, cfg.SIPTLSAddr, cfg.SIPPassword = "127.0.0.1:0", "off", "lab-password"
	if mut != nil {
		mut(&cfg)
	}
	return runApp(t, cfg, nil, nil)
}

// runApp runs the appliance in process until the test ends. enter, when
// set, runs first on Run's goroutine (to enter a network namespace);
// apiAddr, when set, maps the dashboard's address to the one the admin
// client dials.
func runApp(t testing.TB, cfg Config, enter func() error, apiAddr func(string) string) *testApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		if enter != nil {
			if err := enter(); err != nil {
				done <- err
				return
			}
		}
		done <- Run(ctx, cfg, log, io.Discard, func(a Addrs) { ready <- a })
	}()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	dashboard := a.Dashboard
	if apiAddr != nil {
		dashboard = apiAddr(dashboard)
	}
	api, err := newAPIClient(clientConfig{Server: "http://" + dashboard, Data: cfg.Data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{Addrs: a, data: cfg.Data, api: api, stop: stop}
}

// importBytes imports an image through the admin API.
func (ta *testApp) importBytes(t testing.TB, devicePath, version string, interim bool, content []byte) importResult {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fields := map[string]string{"device_path": devicePath, "version": version, "update_type": "CPE", "interim": fmt.Sprint(interim)}
	files := []uploadFile{memoryFile("CPE.nbt", content), memoryFile("CPE.cat", []byte("catalog of "+version))}
	if err := writeImportBody(mw, fields, files, newProgress(io.Discard, 0)); err != nil {
		t.Fatal(err)
	}
	var res importResult
	if err := ta.api.do(context.Background(), "POST", "/api/v1/images", mw.FormDataContentType(), &body, &res); err != nil {
		t.Fatalf("import %s %s: %v", devicePath, version, err)
	}
	return res
}

func (ta *testApp) ruleAction(t testing.TB, action, rule string) error {
	t.Helper()
	return ta.api.postJSON(context.Background(), "/api/v1/rules/"+action, ruleRequest{Rule: rule}, nil)
}

// checkIn posts one check-in in the shape the simulator sends and returns
// the offered version ("" when nothing) and the whole response.
func checkIn(t *testing.T, httpAddr, model, mac, serial, version string) (string, string) {
	t.Helper()
	vendor := map[string]string{"CX700": "Polycom", "IP8540": "LG-Nortel"}[model]
	body := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Request><DeviceType>UCPhone</DeviceType><MacAddress>%s</MacAddress><SerialNumber>%s</SerialNumber><Vendor>%s</Vendor><Model>%s</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>%s</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`,
		mac, serial, vendor, model, version)
	resp, err := http.Post("http://"+httpAddr+"/RequestHandler/ucdevice.upx", "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("check-in: %s: %s", resp.Status, b)
	}
	return offeredVersion(string(b)), string(b)
}

var topVersion = regexp.MustCompile(`(?s)<NumOfFiles>(\d+)</NumOfFiles>.*?<Version>([0-9.]+)</Version>`)

func offeredVersion(resp string) string {
	m := topVersion.FindStringSubmatch(resp)
	if m == nil || m[1] == "0" {
		return ""
	}
	return m[2]
}

// binary is the tanjay command built once for the tests that run real
// processes.
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

func tanjayBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tanjay-test-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "tanjay")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/tanjay-lab/tanjay/cmd/tanjay").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// serveProcess is `tanjay serve` running as a real process.
type serveProcess struct {
	cmd    *exec.Cmd
	data   string
	addrs  Addrs
	stderr *bytes.Buffer
	waited chan error
}

var servingLine = regexp.MustCompile(`^\s+(phones|dashboard):\s+http://(\S+)`)

// startServe starts `tanjay serve` on loopback ports and waits until it
// prints where it listens.
func startServe(t *testing.T, data string, extra ...string) *serveProcess {
	t.Helper()
	args := append([]string{tanjayBinary(t), "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--https-addr", "off", "--sip-addr", "127.0.0.1:0", "--sip-tls-addr", "off", "--host", "e2e"}, extra...)
	return startServeCommand(t, data, args)
}

// startServeCommand runs argv (tanjay serve on data, or a wrapper around
// it) and waits until it prints where it listens.
func startServeCommand(t *testing.T, data string, argv []string) *serveProcess {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{cmd: cmd, data: data, stderr: &bytes.Buffer{}, waited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (p.addrs.HTTP == "" || p.addrs.Dashboard == "") {
		if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
			if m[1] == "phones" {
				p.addrs.HTTP = m[2]
			} else {
				p.addrs.Dashboard = m[2]
			}
		}
	}
	go io.Copy(io.Discard, stdout)
	go func() { p.waited <- cmd.Wait() }()
	if p.addrs.Dashboard == "" {
		<-p.waited
		t.Fatalf("tanjay serve did not start:\n%s", p.stderr)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// kill stops the process with SIGKILL: no graceful shutdown, no flush.
func (p *serveProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		<-p.waited
	}
}

// interrupt stops the process with SIGINT and waits for its exit.
func (p *serveProcess) interrupt(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.waited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("tanjay serve exited with %v:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tanjay serve did not stop on SIGINT")
	}
}

// tanjay runs an admin command against the process and returns its stdout.
func (p *serveProcess) tanjay(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.tanjayErr(args...)
	if err != nil {
		t.Fatalf("tanjay %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *serveProcess) tanjayErr(args ...string) (string, error) {
	full := append([]string{args[0], "--server", "http://" + p.addrs.Dashboard, "--data", p.data}, args[1:]...)
	cmd := exec.Command(binaryPath, full...)
	cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// run runs the tanjay binary with args and returns its combined output.
func (*serveProcess) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tanjayBinary(t), args...)
	cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *apiClient) deviceForTest(t *testing.T, id string) (deviceDetail, bool) {
	t.Helper()
	var d deviceDetail
	if err := c.do(context.Background(), "GET", "/api/v1/devices/"+id, "", nil, &d); err != nil {
		return d, false
	}
	return d, true
}

func versions(vs []images.Version) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, " ")
}
