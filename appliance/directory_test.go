package appliance

import (
	"io"
	"log/slog"
	"net/netip"
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
		{At: at, ClientIP: netip.MustParseAddr("127.0.0.1"), Kind: directory.AuditKerberos, Status: "NT_STATUS_OK"},
		{At: at, ClientIP: netip.MustParseAddr("10.78.0.1"), Kind: directory.AuditNTLM, User: `LAB\TANJAY$`, Status: "NT_STATUS_OK"},
	} {
		o.DirectoryAudit(e)
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
	want := []store.Event{
		{Time: at.Add(time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryLDAPBind, User: "tech@lab.local", DirectoryError: "wrong password", Detail: "simple bind, Plaintext"},
		{Time: at.Add(2 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryKerberos, User: "tech@LAB.LOCAL", Detail: "ENC-TS Pre-authentication"},
		{Time: at.Add(3 * time.Second), Kind: store.EventDirectory, IP: "10.78.0.2", DirectoryStep: store.DirectoryNTLM, User: `LAB\tech`, Detail: "SMB2, NTLMSSP, NTLMv2"},
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
