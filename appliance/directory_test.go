package appliance

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tanjay-lab/tanjay/appliance/directory"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// TestDirectoryObserver: Samba's audit events land on the timeline of the
// phone at the client address, as DNS and SIP events do; an immediate
// repeat is not; the appliance's own addresses are not phones.
func TestDirectoryObserver(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &app{log: slog.New(slog.NewTextHandler(io.Discard, nil)), store: st}
	o := newDirectoryObserver(a)
	o.local[netip.MustParseAddr("10.78.0.1")] = true
	at := time.Date(2026, 12, 6, 5, 4, 26, 0, time.UTC)
	phone := netip.MustParseAddr("10.78.0.2")
	st.Observe(store.Event{Time: at, Kind: store.EventDNS, IP: "10.78.0.2", Name: "_ldap._tcp.dc._msdcs.lab.local"})
	for _, e := range []directory.AuditEvent{
		{At: at.Add(time.Second), ClientIP: phone, Kind: directory.AuditLDAPBind, Service: "LDAP", Method: "simple bind, Plaintext", User: "tech@lab.local", Status: "NT_STATUS_WRONG_PASSWORD"},
		{At: at.Add(2 * time.Second), ClientIP: phone, Kind: directory.AuditKerberos, Service: "Kerberos KDC", Method: "ENC-TS Pre-authentication", User: "tech@LAB.LOCAL", Status: "NT_STATUS_OK"},
		// kinit's retry over TCP
		{At: at.Add(2*time.Second + 40*time.Millisecond), ClientIP: phone, Kind: directory.AuditKerberos, Service: "Kerberos KDC", Method: "ENC-TS Pre-authentication", User: "tech@LAB.LOCAL", Status: "NT_STATUS_OK"},
		{At: at.Add(3 * time.Second), ClientIP: phone, Kind: directory.AuditNTLM, Service: "SMB2", Method: "NTLMSSP, NTLMv2", User: `LAB\tech`, Status: "NT_STATUS_OK"},
		{At: at.Add(4 * time.Second), ClientIP: phone, Kind: directory.AuditLDAPSearch, Service: "LDAP", Method: "SUB", Detail: "(objectClass=certificationAuthority) in CN=Configuration,DC=lab,DC=local", Status: "NT_STATUS_OK"},
		// Samba stops and answers again: the phone was just there.
		{At: at.Add(5 * time.Second), Kind: directory.AuditSamba, Method: directory.SambaExited, Detail: "samba was killed by signal 9 (killed); restarting in 1s", Status: "NT_STATUS_UNSUCCESSFUL"},
		{At: at.Add(7 * time.Second), Kind: directory.AuditSamba, Method: directory.SambaReady, Detail: "2.0 s after it stopped", Status: "NT_STATUS_OK"},
		// A first start is no news.
		{At: at.Add(8 * time.Second), Kind: directory.AuditSamba, Method: directory.SambaReady, Status: "NT_STATUS_OK"},
		{At: at, ClientIP: netip.MustParseAddr("127.0.0.1"), Kind: directory.AuditKerberos, Status: "NT_STATUS_OK"},
		{At: at, ClientIP: netip.MustParseAddr("10.78.0.1"), Kind: directory.AuditNTLM, User: `LAB\TANJAY$`, Status: "NT_STATUS_OK"},
	} {
		o.DirectoryAudit(e)
	}
	// The relay's pings: answered, and one Samba did not answer.
	o.Ping(directory.Ping{At: at.Add(-time.Second), Client: netip.AddrPortFrom(phone, 50000), Domain: "lab.local", Host: "CX700-01", NtVer: 0x16, Reply: "LOGON_SAM_LOGON_RESPONSE_EX"})
	o.Ping(directory.Ping{At: at.Add(6 * time.Second), Client: netip.AddrPortFrom(phone, 50001), Domain: "lab.local", NtVer: 0x16, Err: "no answer from Samba (CLDAP port 1389)"})
	o.Ping(directory.Ping{At: at, Client: netip.MustParseAddrPort("10.78.0.1:5000"), NtVer: 6, Reply: "LOGON_SAM_LOGON_RESPONSE_EX"})
	// A phone that was there long before hears nothing of the restart.
	old := netip.MustParseAddr("10.78.0.3")
	o.DirectoryAudit(directory.AuditEvent{At: at.Add(-time.Hour), ClientIP: old, Kind: directory.AuditLDAPBind, Status: "NT_STATUS_OK"})
	o.DirectoryAudit(directory.AuditEvent{At: at.Add(9 * time.Second), Kind: directory.AuditSamba, Method: directory.SambaExited, Detail: "samba exited with status 1; restarting in 2s", Status: "NT_STATUS_UNSUCCESSFUL"})
	if d, ok := st.DeviceByIP("10.78.0.3"); !ok || len(st.Events(nil, d.ID)) != 1 {
		t.Errorf("the phone that was at the DC an hour ago: %+v, %d events", d, len(st.Events(nil, d.ID)))
	}
	d, ok := st.DeviceByIP("10.78.0.2")
	if !ok || d.Stage != store.StageDiscovered {
		t.Fatalf("device %+v (%v), want a discovered phone", d, ok)
	}
	var got []store.Event
	for _, ev := range st.Events(nil, d.ID) {
		if ev.Kind == store.EventDirectory {
			got = append(got, ev)
		}
	}
	want := []store.Event{ // in the order observed
		{Time: at.Add(time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryLDAPBind, User: "tech@lab.local", DirectoryError: "wrong password", Detail: "simple bind, Plaintext"},
		{Time: at.Add(2 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryKerberos, User: "tech@LAB.LOCAL", Detail: "ENC-TS Pre-authentication"},
		{Time: at.Add(3 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryNTLM, User: `LAB\tech`, Detail: "SMB2, NTLMSSP, NTLMv2"},
		{Time: at.Add(4 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryLDAPSearch, Detail: "(objectClass=certificationAuthority) in CN=Configuration,DC=lab,DC=local"},
		{Time: at.Add(5 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectorySamba, DirectoryError: "samba was killed by signal 9 (killed); restarting in 1s"},
		{Time: at.Add(7 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectorySamba, Detail: "2.0 s after it stopped"},
		{Time: at.Add(-time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryPing, Detail: "lab.local, host CX700-01, NtVer 0x16: LOGON_SAM_LOGON_RESPONSE_EX"},
		{Time: at.Add(6 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryPing, DirectoryError: "no answer from Samba (CLDAP port 1389)", Detail: "lab.local, NtVer 0x16"},
		{Time: at.Add(9 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectorySamba, DirectoryError: "samba exited with status 1; restarting in 2s"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Event{}, "Seq", "DeviceID")); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if _, ok := st.DeviceByIP("10.78.0.1"); ok {
		t.Error("the appliance's own address became a phone")
	}
	if _, ok := st.DeviceByIP("127.0.0.1"); ok {
		t.Error("loopback became a phone")
	}
}

// TestDirectoryRunRefuses: `tanjay directory run` names what is wrong
// before it touches Samba: a malformed --samba-option, a stray argument,
// an unknown subcommand; and, as root, a data directory whose lab
// password serve never made, or a directory never provisioned.
func TestDirectoryRunRefuses(t *testing.T) {
	data := t.TempDir()
	type refusal struct {
		args     []string
		password string
		want     string
	}
	run1 := []string{"directory", "run", "--data", data, "--directory-interfaces", "lo"}
	tests := []refusal{
		{[]string{"directory", "run", "--samba-option", "no equals sign"}, "", `--samba-option "no equals sign": want "name = value"`},
		{[]string{"directory", "run", "extra"}, "", "directory run takes no arguments"},
		{[]string{"directory", "frobnicate"}, "", "want a subcommand: directory provision|run"},
	}
	if os.Geteuid() == 0 {
		tests = append(tests,
			refusal{run1, "", "no lab sign-in password in " + filepath.Join(data, "sip-password.txt")},
			refusal{run1, "lab-password", "tanjay directory provision"})
	} else {
		tests = append(tests, refusal{run1, "", "run as root"})
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == "TANJAY_SIP_PASSWORD" {
				return tt.password
			}
			return ""
		}
		code := run(context.Background(), tt.args, env{stdout: &stdout, stderr: &stderr, getenv: getenv})
		if code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("tanjay %s: exit %d, stderr %q; want an error with %q", strings.Join(tt.args, " "), code, stderr.String(), tt.want)
		}
	}
}
