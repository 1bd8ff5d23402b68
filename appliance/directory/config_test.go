package directory

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"realm only", Config{Realm: "lab.local"},
			Config{Realm: "LAB.LOCAL", NetBIOS: "LAB", Host: "tanjay", Account: "tech", DNSHostName: "tanjay.lab.local"}},
		{"long first label cut to 15", Config{Realm: "averyveryverylongdomain.example.", Host: "E2E"},
			Config{Realm: "AVERYVERYVERYLONGDOMAIN.EXAMPLE", NetBIOS: "AVERYVERYVERYLO", Host: "e2e", Account: "tech", DNSHostName: "e2e.averyveryverylongdomain.example"}},
		{"given", Config{Realm: "LAB.TEST", NetBIOS: "lab2", Host: "dc", Account: "phone", DNSHostName: "ca.lab.test"},
			Config{Realm: "LAB.TEST", NetBIOS: "LAB2", Host: "dc", Account: "phone", DNSHostName: "ca.lab.test"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.in.withDefaults()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if got := (Config{Realm: "LAB.LOCAL"}).BaseDN(); got != "DC=lab,DC=local" {
		t.Errorf("BaseDN %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Dir: "/x", Realm: "LAB.LOCAL", Interfaces: []string{"lo"}, Password: "pw", CADER: []byte{1}}
	tests := []struct {
		name string
		mut  func(*Config)
		want string // substring of the error; "" for none
	}{
		{"ok", func(*Config) {}, ""},
		{"single-label realm", func(c *Config) { c.Realm = "LAB" }, "--realm"},
		{"no interfaces", func(c *Config) { c.Interfaces = nil }, "--directory-interfaces"},
		{"unknown interface", func(c *Config) { c.Interfaces = []string{"nosuch0"} }, `--directory-interfaces "nosuch0"`},
		{"host too long for NetBIOS", func(c *Config) { c.Host = "averylonghostname" }, "--host"},
		{"netbios equals host", func(c *Config) { c.NetBIOS = "TANJAY" }, "must differ"},
		{"no password", func(c *Config) { c.Password = "" }, "password is empty"},
		{"no CA", func(c *Config) { c.CADER = nil }, "no appliance CA"},
		{"bad account", func(c *Config) { c.Account = "te ch" }, "--directory-account"},
	}
	for _, tt := range tests {
		c := ok
		tt.mut(&c)
		err := c.Validate(true)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one with %q", tt.name, err, tt.want)
		}
	}
}

func TestSMBConf(t *testing.T) {
	conf := smbConf(Config{Dir: "/var/lib/tanjay/directory", Realm: "LAB.LOCAL", Interfaces: []string{"eth1", "lo"}}.withDefaults())
	for _, want := range []string{
		"\tnetbios name = TANJAY\n", "\trealm = LAB.LOCAL\n", "\tworkgroup = LAB\n",
		"\tinterfaces = eth1 lo\n", "\tbind interfaces only = yes\n",
		"\tserver services = -dns -dnsupdate\n", "\tldap server require strong auth = no\n",
		"\tprivate dir = /var/lib/tanjay/directory/private\n",
		"\tlog level = 0 auth_json_audit:5@/var/lib/tanjay/directory/log/auth-audit.json\n",
		"[netlogon]\n\tpath = /var/lib/tanjay/directory/state/sysvol/lab.local/scripts\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("smb.conf lacks %q:\n%s", want, conf)
		}
	}
	for _, share := range []string{"[homes]", "[printers]", "[print$]"} {
		if strings.Contains(conf, share) {
			t.Errorf("smb.conf has %s", share)
		}
	}
}

func TestParseRecords(t *testing.T) {
	in := `A tanjay.lab.local 127.0.0.1
CNAME f47fa00b-f6aa-4ad2-ac69-ab173662b9d4._msdcs.lab.local tanjay.lab.local
A lab.local 127.0.0.1
AAAA lab.local ::1
SRV _ldap._tcp.dc._msdcs.lab.local tanjay.lab.local 389
SRV _kerberos._udp.lab.local tanjay.lab.local 88
`
	got, err := parseRecords([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Name: "tanjay.lab.local", Type: "A"},
		{Name: "f47fa00b-f6aa-4ad2-ac69-ab173662b9d4._msdcs.lab.local", Type: "CNAME", Target: "tanjay.lab.local"},
		{Name: "lab.local", Type: "A"},
		{Name: "_ldap._tcp.dc._msdcs.lab.local", Type: "SRV", Target: "tanjay.lab.local", Port: 389},
		{Name: "_kerberos._udp.lab.local", Type: "SRV", Target: "tanjay.lab.local", Port: 88},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"SRV _ldap._tcp.lab.local tanjay.lab.local x", "MX lab.local tanjay.lab.local", "SRV a b"} {
		if _, err := parseRecords([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCAObjects(t *testing.T) {
	cfg := Config{Realm: "LAB.LOCAL", CADER: testCA(t, "Tanjay, Lab CA")}.withDefaults()
	added, err := caObjects(cfg, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	replaced, err := caObjects(cfg, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dn: CN=Tanjay\\, Lab CA,CN=Certification Authorities,CN=Public Key Services,CN=Services,CN=Configuration,DC=lab,DC=local\nchangetype: add\nobjectClass: certificationAuthority\ncACertificate:: ",
		"authorityRevocationList:: AA==\ncertificateRevocationList:: AA==\n",
		"dn: CN=Tanjay\\, Lab CA,CN=Enrollment Services,CN=Public Key Services,CN=Services,CN=Configuration,DC=lab,DC=local\nchangetype: add\nobjectClass: pKIEnrollmentService\n",
		"dNSHostName: tanjay.lab.local\n",
	} {
		if !strings.Contains(string(added), want) {
			t.Errorf("LDIF lacks %q:\n%s", want, added)
		}
	}
	for _, want := range []string{"changetype: modify\nreplace: cACertificate\ncACertificate:: ", "replace: dNSHostName\ndNSHostName: tanjay.lab.local\n-\n"} {
		if !strings.Contains(string(replaced), want) {
			t.Errorf("LDIF lacks %q:\n%s", want, replaced)
		}
	}
}

// TestSupervisorBackoff runs a "samba" that dies at once: it is restarted
// after 1 s, then 2 s, each death reported, until the context ends.
func TestSupervisorBackoff(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the child runs in a PID namespace of its own")
	}
	var mu sync.Mutex
	var events []Event
	dir := t.TempDir()
	s := &Supervisor{
		cfg: Config{Dir: dir}, log: discardLog(), audit: &auditWriter{path: filepath.Join(dir, "audit.json")},
		reporter: ReporterFunc(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }),
		ready:    func(context.Context) bool { return false },
		command:  []string{"/bin/sh", "-c", "echo starting; exit 3"},
		state:    State{Phase: PhaseStopped},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind+" "+e.Detail)
	}
	want := []string{
		"started ", "exited samba exited with status 3; restarting in 1s",
		"started ", "exited samba exited with status 3; restarting in 2s",
		"stopped ",
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := s.State(); st.Phase != PhaseStopped || st.Restarts != 2 || st.LastError != "samba exited with status 3" {
		t.Errorf("state %+v", st)
	}
	// Each exit is in the audit file too, where serve reads it.
	b, err := os.ReadFile(s.audit.path)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, ok := ParseAuditLine([]byte(line))
		if !ok || e.Kind != AuditSamba || e.At.IsZero() {
			t.Errorf("audit line %q: %+v, %v", line, e, ok)
			continue
		}
		recorded = append(recorded, e.Method+" "+e.Detail+" "+e.Failure())
	}
	wantRec := []string{
		"exited samba exited with status 3; restarting in 1s unsuccessful",
		"exited samba exited with status 3; restarting in 2s unsuccessful",
	}
	if diff := cmp.Diff(wantRec, recorded); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
}

// TestSupervisorNotInstalled: a Samba that is not there stops Run.
func TestSupervisorNotInstalled(t *testing.T) {
	s := &Supervisor{cfg: Config{Dir: t.TempDir()}, log: discardLog(), reporter: ReporterFunc(func(Event) {}),
		ready: func(context.Context) bool { return false }, command: []string{"/nonexistent/samba"}}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "/nonexistent/samba") {
		t.Errorf("Run: %v", err)
	}
}

// TestNewSupervisorNotProvisioned names the command to run.
func TestNewSupervisorNotProvisioned(t *testing.T) {
	_, err := NewSupervisor(Config{Dir: t.TempDir(), Realm: "LAB.LOCAL", Interfaces: []string{"lo"}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "tanjay directory provision") {
		t.Errorf("NewSupervisor: %v", err)
	}
}

// TestSMBConfKeepsSambaInDir: every directory Samba's own defaults would
// put elsewhere (testparm prints them all) is under Dir, so nothing
// depends on what Debian's masked units create at boot (/run/samba: smbd
// exits when it cannot make its ncalrpc dir there).
func TestSMBConfKeepsSambaInDir(t *testing.T) {
	testparm, err := exec.LookPath("testparm")
	if err != nil {
		t.Skip("testparm not installed (apt-get install samba-common-bin)")
	}
	dir := t.TempDir()
	cfg := Config{Dir: dir, Realm: "LAB.LOCAL", Interfaces: []string{"lo"}}.withDefaults()
	if err := writeSMBConf(cfg); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testparm, "-sv", cfg.smbConf()).Output()
	if err != nil {
		t.Fatalf("testparm: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if !ok || !(strings.HasSuffix(name, " dir") || strings.HasSuffix(name, " directory")) || val == "" {
			continue
		}
		checked++
		if !strings.HasPrefix(val, dir+"/") && val != dir {
			t.Errorf("%s = %s, outside %s", name, val, dir)
		}
	}
	if checked < 8 {
		t.Errorf("only %d directory parameters in testparm's output:\n%s", checked, out)
	}
}
