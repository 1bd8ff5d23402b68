package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/tanjay-lab/tanjay/appliance/directory"
)

// testRecords is what `tanjay directory provision` lists (samba_dnsupdate's
// format), cut short.
const testRecords = `A tanjay.lab.local 127.0.0.1
CNAME 6a0ed7e7-e173-442e-be13-61df78666c2a._msdcs.lab.local tanjay.lab.local
SRV _ldap._tcp.dc._msdcs.lab.local tanjay.lab.local 389
SRV _kerberos._udp.lab.local tanjay.lab.local 88
`

// TestDirectoryWatch: --directory unit watches a Samba it does not run.
// Never provisioned is no error but says so; records that appear later ask
// for a restart; the LDAP port's state follows a listener that comes and
// goes.
func TestDirectoryWatch(t *testing.T) {
	dir := t.TempDir()
	cfg := directory.Config{Dir: dir, Realm: "LAB.LOCAL", Interfaces: []string{"lo"}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, recs, err := startDirectoryWatch(cfg, "127.0.0.1", log)
	if err != nil || recs != nil {
		t.Fatalf("startDirectoryWatch, never provisioned: %v, %v records; want no error, none", err, len(recs))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, w.port, _ = net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	w.check(ctx)
	if got := w.health()[2]; !strings.Contains(got, "not provisioned: run tanjay directory provision") {
		t.Errorf("health, never provisioned: %q", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "dc-records.txt"), []byte(testRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	w.check(ctx)
	if got := w.health()[2]; !strings.Contains(got, "restart tanjay") {
		t.Errorf("health, provisioned after start: %q", got)
	}

	w, recs, err = startDirectoryWatch(cfg, "127.0.0.1", log)
	if err != nil || len(recs) != 4 {
		t.Fatalf("startDirectoryWatch, provisioned: %v, %d records; want 4", err, len(recs))
	}
	_, w.port, _ = net.SplitHostPort(ln.Addr().String())
	w.check(ctx)
	row := w.health()
	if row[0] != "domain controller (Samba, its own service) for LAB.LOCAL" || row[1] != "lo" ||
		!strings.HasPrefix(row[2], "LDAP answers on "+ln.Addr().String()+" since ") {
		t.Errorf("health, answering: %q", row)
	}
	ln.Close()
	w.check(ctx)
	if got := w.health()[2]; !strings.HasPrefix(got, "LDAP does not answer on "+ln.Addr().String()) {
		t.Errorf("health, not answering: %q", got)
	}
}

// TestDirectoryUnitServe: tanjay serve --directory unit starts without a
// provisioned directory (the VM's first boot provisions it after serve's
// first start), and once the records are there its DNS answers them.
func TestDirectoryUnitServe(t *testing.T) {
	data := t.TempDir()
	srv := func() *testApp {
		return startApp(t, func(c *Config) {
			c.Data, c.SIPAddr = data, "off"
			c.Directory.Mode, c.Directory.Interfaces = directoryUnit, []string{"lo"}
		})
	}
	srvQuery := func(ta *testApp) []dns.RR {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion("_ldap._tcp.dc._msdcs.lab.local.", dns.TypeSRV)
		in, _, err := (&dns.Client{Net: "udp"}).Exchange(q, ta.DNS)
		if err != nil {
			t.Fatal(err)
		}
		return in.Answer
	}
	ta := srv()
	if ans := srvQuery(ta); len(ans) != 0 {
		t.Errorf("never provisioned: DNS answers %v", ans)
	}
	ta.stop()
	if err := os.MkdirAll(filepath.Join(data, "directory"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "directory", "dc-records.txt"), []byte(testRecords), 0o644); err != nil {
		t.Fatal(err)
	}
	ta = srv()
	ans := srvQuery(ta)
	if len(ans) != 1 {
		t.Fatalf("provisioned: DNS answers %v, want one SRV", ans)
	}
	if s, ok := ans[0].(*dns.SRV); !ok || s.Target != "tanjay.lab.local." || s.Port != 389 {
		t.Errorf("provisioned: DNS answers %v", ans[0])
	}
}
