package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/appliance/web"
	"github.com/tanjay-lab/tanjay/legacy/sip"
	"github.com/tanjay-lab/tanjay/legacy/sip/sipetest"
)

// TestSIPSignInThroughTheAppliance signs a phone in over TLS, found as a
// phone finds it (the SRV record of the DNS responder), trusting only the
// appliance CA, and checks what provisioning handed it and what its
// timeline and Settings & health say.
func TestSIPSignInThroughTheAppliance(t *testing.T) {
	ta := startApp(t, func(c *Config) {
		c.SIPTLSAddr = "127.0.0.1:0"
		// Go's verifier refuses SHA-1 signatures; the CX700 needs them,
		// this client does not.
		c.TLS.PhoneSigAlg = web.SigSHA256
	})
	ctx := context.Background()

	for _, srv := range []struct{ name, addr string }{
		{"_sipinternaltls._tcp.lab.local.", ta.SIPTLS},
		{"_sip._tls.lab.local.", ta.SIPTLS},
		{"_sipinternal._tcp.lab.local.", ta.SIP},
	} {
		target, port := lookupSRV(t, ta.DNS, srv.name)
		_, wantPort, _ := net.SplitHostPort(srv.addr)
		if target != "sip.lab.local." || strconv.Itoa(int(port)) != wantPort {
			t.Errorf("SRV %s = %s:%d, want sip.lab.local.:%s", srv.name, target, port, wantPort)
		}
	}

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ta.CAPEM) {
		t.Fatal("Addrs.CAPEM holds no certificate")
	}
	nc, err := tls.Dial("tcp", ta.SIPTLS, &tls.Config{RootCAs: roots, ServerName: "sip.lab.local"})
	if err != nil {
		t.Fatalf("TLS to the SIP listener, trusting the appliance CA for sip.lab.local: %v", err)
	}
	c := sip.NewClient(nc, sip.ClientConfig{SignIn: "tech@lab.local", Password: "lab-password", Piggyback: true})
	defer c.Close()
	if _, err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	urls, err := c.Provisioning(ctx, "ServerConfiguration")
	if err != nil {
		t.Fatal(err)
	}
	if urls.Internal != ta.URLs.InternalDownload || urls.External != ta.URLs.ExternalDownload {
		t.Errorf("handed %+v, want the InternalUpdatesDownloadURL %s and ExternalUpdatesDownloadURL %s", urls, ta.URLs.InternalDownload, ta.URLs.ExternalDownload)
	}

	var detail deviceDetail
	var steps []string
	waitFor(t, "the sign-in on the phone's timeline", func() bool {
		detail, steps = deviceDetail{}, nil
		if err := ta.api.do(ctx, "GET", "/api/v1/devices/IP:127.0.0.1", "", nil, &detail); err != nil {
			return false
		}
		for _, ev := range detail.Events {
			if ev.Kind == store.EventSIP {
				steps = append(steps, ev.SIPStep)
			}
		}
		return slices.Contains(steps, store.SIPProvisioned)
	})
	if !slices.Contains(steps, store.SIPSignedIn) || !slices.Contains(steps, store.SIPAttempt) {
		t.Errorf("SIP steps on the timeline = %v, want attempt, signed-in, provisioned", steps)
	}
	d := detail.Device
	if d.Stage != store.StageSignedIn || d.SIPUser != `LAB\tech` || !strings.Contains(d.Handed, ta.URLs.InternalDownload) {
		t.Errorf("device = stage %s, user %q, handed %q", d.Stage, d.SIPUser, d.Handed)
	}
}

// TestSIPPasswordGeneratedOnce checks the password a lab gets when
// TANJAY_SIP_PASSWORD is unset: generated, kept 0600, the same at the next
// start.
func TestSIPPasswordGeneratedOnce(t *testing.T) {
	data := t.TempDir()
	cfg := DefaultConfig()
	cfg.Data = data
	var out strings.Builder
	pw, err := loadOrCreateSIPPassword(cfg, &out, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 14 || !strings.Contains(out.String(), pw) {
		t.Errorf("generated %q, printed %q", pw, out.String())
	}
	info, err := os.Stat(filepath.Join(data, sipPasswordFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v", err, info.Mode())
	}
	out.Reset()
	again, err := loadOrCreateSIPPassword(cfg, &out, slog.New(slog.DiscardHandler))
	if err != nil || again != pw || out.Len() != 0 {
		t.Errorf("second start: %q (%v), printed %q; want %q, silently", again, err, out.String(), pw)
	}
	cfg.SIPPassword = "from-env"
	if got, _ := loadOrCreateSIPPassword(cfg, &out, slog.New(slog.DiscardHandler)); got != "from-env" {
		t.Errorf("TANJAY_SIP_PASSWORD ignored: %q", got)
	}
}

func lookupSRV(t *testing.T, server, name string) (string, uint16) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSRV)
	r, err := dns.Exchange(q, server)
	if err != nil {
		t.Fatalf("SRV %s: %v", name, err)
	}
	for _, rr := range r.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			return srv.Target, srv.Port
		}
	}
	t.Fatalf("SRV %s: no answer (%s)", name, dns.RcodeToString[r.Rcode])
	return "", 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPidginSipeSignsInToTheAppliance signs pidgin-sipe, an independent
// OCS client, in to the running appliance over TLS with the certificate
// phones get (SHA-1-signed by the appliance CA, by default), trusting only
// that CA, as a phone does once it installed it.
func TestPidginSipeSignsInToTheAppliance(t *testing.T) {
	if err := sipetest.Available(); err != nil {
		t.Skipf("pidgin-sipe cannot be driven here (apt-get install pidgin-sipe bitlbee-libpurple): %v", err)
	}
	if err := sipetest.TLSAvailable(); err != nil {
		t.Skipf("pidgin-sipe's trust cannot be limited to the appliance CA here: %v", err)
	}
	ta := startApp(t, func(c *Config) { c.SIPTLSAddr = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := sipetest.Start(ctx, "", sipetest.Account{
		SignIn: "tech@lab.local", Login: `LAB\tech`, Password: "lab-password",
		Server: ta.SIPTLS, Transport: "tls", CAPEM: ta.CAPEM,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitLoggedIn(ctx); err != nil {
		t.Fatalf("pidgin-sipe did not sign in: %v\n%s", err, c.Transcript())
	}
	var detail deviceDetail
	waitFor(t, "pidgin-sipe provisioned on its timeline", func() bool {
		detail = deviceDetail{}
		ta.api.do(ctx, "GET", "/api/v1/devices/IP:127.0.0.1", "", nil, &detail)
		return detail.Device.Stage == store.StageSignedIn && strings.Contains(detail.Device.Handed, ta.URLs.InternalDownload)
	})
	if !strings.Contains(detail.Device.UserAgent, "Sipe/") {
		t.Errorf("user agent %q, want pidgin-sipe's", detail.Device.UserAgent)
	}
}
