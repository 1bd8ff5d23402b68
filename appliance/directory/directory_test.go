package directory

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/internal/proctest"
)

// testCA is a throw-away CA certificate, DER.
func testCA(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// needSamba skips a test that runs the real Samba, naming what is missing.
func needSamba(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: Samba's tools work on sam.ldb as root and samba runs in a PID namespace")
	}
	for _, p := range []string{"samba", "samba-tool", "samba_dnsupdate", "ldbmodify", "ldbsearch"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (Debian: samba, winbind, ldb-tools)", p)
		}
	}
	if _, err := exec.LookPath("samba"); err != nil {
		t.Skip("samba not installed")
	}
}

// TestProvisionAndSupervise provisions a domain on loopback, runs Samba
// under the Supervisor, kills its master and checks it comes back, then
// stops it and checks that no Samba process is left.
func TestProvisionAndSupervise(t *testing.T) {
	needSamba(t)
	if out, err := exec.Command("ss", "-ltn", "sport = :389").Output(); err == nil && strings.Contains(string(out), ":389") {
		t.Skip("something already listens on port 389 here")
	}
	ctx := context.Background()
	cfg := Config{Dir: filepath.Join(t.TempDir(), "directory"), Realm: "lab.test", Host: "tanjay", Interfaces: []string{"lo"},
		Password: "abcd-efgh-jkmn", CADER: testCA(t, "Tanjay Test CA")}
	res, err := Provision(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("provisioned in %s", res.Elapsed.Round(time.Millisecond))
	want := Result{Created: true, Realm: "LAB.TEST", NetBIOS: "LAB", DC: "tanjay.lab.test", Account: "tech", DNSHostName: "tanjay.lab.test"}
	got := res
	got.CASHA1, got.CASHA256, got.Records, got.Elapsed = "", "", 0, 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	records, err := LoadRecords(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != res.Records || !hasRecord(records, Record{Name: "_ldap._tcp.dc._msdcs.lab.test", Type: "SRV", Target: "tanjay.lab.test", Port: 389}) {
		t.Errorf("records %v", records)
	}

	// Again, with another password and CA, over an smb.conf of an
	// older appliance (no audit log): brought up to date in place.
	conf := cfg.withDefaults().smbConf()
	if b, err := os.ReadFile(conf); err == nil {
		os.WriteFile(conf, []byte(strings.Replace(string(b), "\tlog level = ", "\t# log level = ", 1)), 0o644)
	}
	cfg.Password, cfg.CADER = "second-password", testCA(t, "Tanjay Test CA")
	res2, err := Provision(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Created || res2.CASHA256 == res.CASHA256 {
		t.Errorf("second provision: created %v, CA %s (first %s)", res2.Created, res2.CASHA256, res.CASHA256)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "\n\tlog level = 0 auth_json_audit:5@"+cfg.withDefaults().AuditLogPath()+"\n") {
		t.Errorf("smb.conf not brought up to date:\n%s", b)
	}
	out, err := exec.Command("ldbsearch", "-H", cfg.withDefaults().samLDB(), "-b", "CN=Configuration,DC=lab,DC=test",
		"(|(objectClass=certificationAuthority)(objectClass=pKIEnrollmentService))", "cACertificate", "dNSHostName").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "cACertificate::"); n != 2 {
		t.Errorf("%d cACertificate values, want 2:\n%s", n, out)
	}
	if !strings.Contains(string(out), "dNSHostName: tanjay.lab.test") {
		t.Errorf("no dNSHostName:\n%s", out)
	}
	out, err = exec.Command("ldbsearch", "-H", cfg.withDefaults().samLDB(), "(sAMAccountName=TANJAY$)", "servicePrincipalName").Output()
	if err != nil || !strings.Contains(string(out), "servicePrincipalName: ldap/tanjay.lab.test\n") {
		t.Errorf("the DC has no ldap/ SPN (%v):\n%s", err, out)
	}
	// Another realm on the same directory is refused.
	other := cfg
	other.Realm = "other.test"
	if _, err := Provision(ctx, other); err == nil || !strings.Contains(err.Error(), "provisioned with realm LAB.TEST") {
		t.Errorf("provision of another realm: %v", err)
	}

	var mu sync.Mutex
	var events []string
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sup, err := NewSupervisor(cfg, log, ReporterFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e.Kind)
	}))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sup.Run(runCtx) }()
	first := waitPhase(t, sup, PhaseRunning, 0)
	pids := namespacePIDs(t, first.PID)
	rss, pss := proctest.Memory(pids)
	t.Logf("samba ready: %d processes, resident %d KiB summed, %d KiB proportional", len(pids), rss, pss)
	if len(pids) < 5 {
		t.Errorf("samba runs %d processes in its namespace", len(pids))
	}
	syscall.Kill(first.PID, syscall.SIGKILL)
	second := waitPhase(t, sup, PhaseRunning, first.PID)
	if second.Restarts != first.Restarts+1 || !strings.Contains(second.LastError, "killed") {
		t.Errorf("after kill -9: %+v", second)
	}
	for _, p := range pids {
		if proctest.Alive(p) {
			t.Errorf("process %d of the killed samba is still alive", p)
		}
	}
	pids = namespacePIDs(t, second.PID)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range pids {
		if proctest.Alive(p) {
			t.Errorf("process %d outlived the stop", p)
		}
	}
	if st := sup.State(); st.Phase != PhaseStopped {
		t.Errorf("state after stop %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	// A start that failed before the first ready (a port held by another
	// program) is restarted too: only the tail is fixed.
	if len(events) < 6 {
		t.Fatalf("events %v", events)
	}
	if diff := cmp.Diff([]string{"ready", "exited", "started", "ready", "stopped"}, events[len(events)-5:]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func hasRecord(records []Record, r Record) bool {
	for _, x := range records {
		if strings.EqualFold(x.Name, r.Name) && x.Type == r.Type && x.Target == r.Target && x.Port == r.Port {
			return true
		}
	}
	return false
}

// waitPhase waits until the supervised Samba is in phase with a master
// other than notPID.
func waitPhase(t *testing.T, s *Supervisor, phase string, notPID int) State {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if st := s.State(); st.Phase == phase && st.PID != notPID {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("samba not %s after 2 minutes: %+v", phase, s.State())
	return State{}
}

// namespacePIDs are the processes in the PID namespace of master.
func namespacePIDs(t *testing.T, master int) []int {
	t.Helper()
	pids, err := proctest.NamespacePIDs(master)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// testWriter puts log lines into the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
