package appliance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBetaPhoneSignsInEndToEnd runs the real `tanjay serve` with both SIP
// listeners and the DNS responder on loopback, imports and approves an
// interim and a release with the real `tanjay import`, and runs the real
// `tanjay phone` as beta phones (1.0.199.123) a technician signs in, once
// over TCP and once over TLS trusting the appliance CA. Each finds the SIP
// server by SRV through the DNS responder, is handed the update URL by
// provisioning and walks to the release; its timeline has the sign-in
// before its first check-in and no ucupdates lookup.
func TestBetaPhoneSignsInEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	const password = "e2e-Lab-pa55"
	t.Setenv("TANJAY_SIP_PASSWORD", password) // serve and phone both read it
	srv := startServe(t, t.TempDir(), "--sip-addr", "127.0.0.1:0", "--sip-tls-addr", "127.0.0.1:0")
	bound := readServeInfo(t, srv.data)
	if bound.DNS == "" || bound.SIP == "" || bound.SIPTLS == "" {
		t.Fatalf("serve.json: dns %q, sip %q, sip_tls %q; want all three on", bound.DNS, bound.SIP, bound.SIPTLS)
	}
	fw := t.TempDir()
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim",
		writeFile(t, fw, "interim/CPE.nbt", randomBytes(200<<10, 1)), writeFile(t, fw, "interim/CPE.cat", randomBytes(2000, 2)))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0",
		writeFile(t, fw, "target/CPE.nbt", randomBytes(300<<10, 3)), writeFile(t, fw, "target/CPE.cat", randomBytes(2000, 4)))
	srv.tanjay(t, "approve", "--all")

	api, err := newAPIClient(clientConfig{Server: "http://" + srv.addrs.Dashboard, Data: srv.data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mac, localIP string
		flags              []string
	}{
		{"over TCP", "00049F0052A1", "127.0.0.91", []string{"--sip-transport", "tcp"}},
		{"over TLS, trusting the appliance CA", "00049F0052A2", "127.0.0.92", []string{"--sip-ca", filepath.Join(srv.data, "tls", "ca.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"phone", "--version", "1.0.199.123", "--sign-in", "tech@lab.local", "--dns", bound.DNS,
				"--mac", tt.mac, "--local-ip", tt.localIP, "--cut-at", "0.5"}, tt.flags...)
			out, err := srv.run(t, args...)
			if err != nil {
				t.Fatalf("tanjay phone: %v\n%s", err, out)
			}
			want := tt.mac + " CX700: 1.0.199.123 → 1.0.522.103 → 3.5.6907.0 (signed in, handed http://" + srv.addrs.HTTP + "/RequestHandler/ucdevice.upx; 3 check-ins)"
			if !strings.Contains(out, want) {
				t.Errorf("tanjay phone printed:\n%s\nwant a line %q", out, want)
			}
			d, ok := api.deviceForTest(t, tt.mac)
			if !ok {
				t.Fatalf("phone %s not in the store", tt.mac)
			}
			checkSignedInTimeline(t, d, tt.localIP, `LAB\tech`)
		})
	}
	devices := srv.tanjay(t, "devices")
	for _, tt := range tests {
		line := lineWith(devices, tt.mac)
		if !strings.Contains(line, "done") {
			t.Errorf("tanjay devices: %s is not done:\n%s", tt.mac, devices)
		}
	}
	srv.interrupt(t)
}

// readServeInfo waits for serve.json, which `tanjay serve` writes once its
// listeners are bound, just after printing them.
func readServeInfo(t *testing.T, data string) Addrs {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(data, serveInfoFile))
		if err == nil {
			var a Addrs
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("%s: %v", serveInfoFile, err)
			}
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("tanjay serve wrote no %s: %v", serveInfoFile, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lineWith is the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
