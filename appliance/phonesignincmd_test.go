package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// runTanjay runs the command line in process with env as the environment
// and returns its exit code, stdout and stderr.
func runTanjay(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(context.Background(), args, env{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return environ[k] }})
	return code, stdout.String(), stderr.String()
}

// TestPhoneCommandSignsIn: `tanjay phone --sign-in` against the appliance
// in process, once over TCP and once over TLS trusting the appliance CA
// (SHA-1 signed, as the CX700 needs): each beta phone finds the SIP server
// through the DNS responder, signs in, checks in where provisioning sent it
// and walks to its target; its timeline has the sign-in before the first
// check-in and no ucupdates lookup.
func TestPhoneCommandSignsIn(t *testing.T) {
	ta := startApp(t, func(c *Config) { c.SIPTLSAddr = "127.0.0.1:0" })
	ta.importBytes(t, "OCInterim/ENU", "1.0.522.103", true, randomBytes(32<<10, 1))
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(32<<10, 2))
	for _, r := range []string{"OCInterim/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/CPE"} {
		if err := ta.ruleAction(t, "approve", r); err != nil {
			t.Fatal(err)
		}
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, ta.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mac, localIP string
		flags              []string
		transport          string // in the sign-in events' detail
		srv                string // the SRV name the phone found the SIP server by
	}{
		{"TCP", "00049F0051A1", "127.0.0.81", []string{"--sip-transport", "tcp"}, "(TCP)", "_sipinternal._tcp.lab.local"},
		{"TLS", "00049F0051A2", "127.0.0.82", []string{"--sip-ca", ca}, "(TLS)", "_sipinternaltls._tcp.lab.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"phone", "--version", "1.0.199.123", "--sign-in", "tech@lab.local", "--dns", ta.DNS,
				"--mac", tt.mac, "--local-ip", tt.localIP}, tt.flags...)
			code, out, errOut := runTanjay(t, map[string]string{"TANJAY_SIP_PASSWORD": "lab-password"}, args...)
			if code != 0 {
				t.Fatalf("tanjay phone: exit %d\n%s%s", code, out, errOut)
			}
			want := tt.mac + " CX700: 1.0.199.123 → 1.0.522.103 → 3.5.6907.0 (signed in, handed " + ta.URLs.InternalDownload + "; 3 check-ins)"
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
			d, ok := ta.api.deviceForTest(t, tt.mac)
			if !ok {
				t.Fatal("phone not in the store")
			}
			checkSignedInTimeline(t, d, tt.localIP, `LAB\tech`)
			var asked []string
			for _, ev := range d.Events {
				if ev.Kind == store.EventSIP && ev.SIPStep == store.SIPSignedIn && !strings.Contains(ev.Detail, tt.transport) {
					t.Errorf("signed in with detail %q, want it over %s", ev.Detail, tt.transport)
				}
				if ev.Kind == store.EventDNS {
					asked = append(asked, ev.Name)
				}
			}
			if diff := cmp.Diff([]string{tt.srv, "sip.lab.local"}, asked); diff != "" {
				t.Errorf("names the phone asked DNS for (-want +got):\n%s", diff)
			}
		})
	}
}

// checkSignedInTimeline checks a beta phone that signed in and walked: it
// is done, came from ip, signed in as user, its SIP sign-in and
// provisioning are on its timeline before its first check-in, and it never
// asked DNS for ucupdates.
func checkSignedInTimeline(t *testing.T, d deviceDetail, ip, user string) {
	t.Helper()
	if d.Device.Stage != store.StageDone || d.Device.IP != ip || d.Device.SIPUser != user {
		t.Errorf("device: stage %s, ip %s, SIP user %q; want done, %s, %q", d.Device.Stage, d.Device.IP, d.Device.SIPUser, ip, user)
	}
	var seen []string
	firstCheckIn := -1
	for i, ev := range d.Events {
		switch ev.Kind {
		case store.EventSIP:
			if firstCheckIn < 0 {
				seen = append(seen, ev.SIPStep)
			}
		case store.EventCheckIn:
			if firstCheckIn < 0 {
				firstCheckIn = i
			}
		case store.EventDNS:
			if strings.Contains(strings.ToLower(ev.Name+" "+ev.Detail), "ucupdates") {
				t.Errorf("the beta phone asked DNS for ucupdates: %+v", ev)
			}
		}
	}
	if firstCheckIn < 0 {
		t.Fatalf("no check-in on the timeline: %+v", d.Events)
	}
	signedIn, provisioned := -1, -1
	for i, step := range seen {
		switch step {
		case store.SIPSignedIn:
			signedIn = i
		case store.SIPProvisioned:
			provisioned = i
		}
	}
	if signedIn < 0 || provisioned < signedIn {
		t.Errorf("SIP steps before the first check-in = %v, want signed-in, then provisioned", seen)
	}
}

func TestPhoneCommandSignInUsage(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{"TANJAY_SIP_PASSWORD": "pw"}
	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		want    string
	}{
		{"no DNS", pw, []string{"--sign-in", "tech@lab.local"},
			"--sign-in needs --dns (or --dhcp-interface): the phone finds the SIP server by DNS SRV records"},
		{"no password", nil, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53"},
			"--sign-in needs the lab sign-in password: set TANJAY_SIP_PASSWORD"},
		{"server too", pw, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53", "--server", "http://127.0.0.1:8080"},
			"--sign-in and --server: a phone that signs in checks in where provisioning sends it"},
		{"TLS without a CA", pw, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53", "--sip-transport", "tls"},
			"--sip-transport tls needs --sip-ca FILE"},
		{"not a CA", pw, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53", "--sip-ca", ca},
			"--sip-ca " + ca + ": no certificate (want PEM or DER)"},
		{"unknown transport", pw, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53", "--sip-transport", "udp"},
			`sign-in transport "udp": want tls, tcp or auto`},
		{"not an address", pw, []string{"--sign-in", "tech", "--dns", "127.0.0.1:53"},
			`sign-in address "tech": want user@sip-domain`},
		{"bad user", pw, []string{"--sign-in", "tech@lab.local", "--dns", "127.0.0.1:53", "--sip-user", "tech"},
			`sign-in user "tech": want DOMAIN\user`},
		{"bad local IP", nil, []string{"--local-ip", "127.0.0.300"},
			"--local-ip: "},
		{"too many local IPs", nil, []string{"--local-ip", "255.255.255.254", "--count", "3"},
			"--local-ip 255.255.255.254: not enough addresses after it for --count 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runTanjay(t, tt.environ, append([]string{"phone"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want 2 and %q (stdout %q)", code, errOut, tt.want, out)
			}
		})
	}
}
