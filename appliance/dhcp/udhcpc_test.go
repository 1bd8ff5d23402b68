package dhcp

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBusyBoxClientGetsEveryOption: BusyBox udhcpc, a DHCP client written
// by other people, gets a lease and every option. udhcpc hands the options
// to its script decoded (ip, subnet, sipsrv: option 120 read as RFC 3361
// domain names, ...), and the ones it has no name for as hex (opt43): the script writes them out and the test compares them.
func TestBusyBoxClientGetsEveryOption(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (Debian package busybox-static)")
	}
	l := newLink(t, "10.77.0.1/24")
	s, err := New(labConfig(), &memLeases{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, l.srv, s)
	for _, tc := range []struct {
		name, mac, vendor string
		want              map[string]string
	}{
		{"tanjay reserved", "00:04:f2:00:00:01", VendorTanjay, map[string]string{
			"ip": "10.77.0.50", "hostname": "cx700-lobby", "opt43": "0a020064"}},
		{"lync", "00:04:f2:00:00:07", VendorLync, map[string]string{
			"ip": "10.77.0.2", "opt43": hexOf(lyncOption43), "sipsrv": "tanjay.lab.test"}}, // udhcpc decodes RFC 3361 encoding 0 itself,
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, "ip", "-n", l.cli, "link", "set", l.cliIf, "address", tc.mac)
			dir := t.TempDir()
			script := filepath.Join(dir, "script")
			out := filepath.Join(dir, "bound.env")
			if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+out+"\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("ip", "netns", "exec", l.cli, busybox, "udhcpc", "-i", l.cliIf, "-f", "-q", "-n",
				"-t", "5", "-T", "1", "-s", script, "-V", tc.vendor,
				"-O", "ntpsrv", "-O", "hostname", "-O", "43", "-O", "120")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("udhcpc: %v\n%s", err, b)
			}
			env := readEnv(t, out)
			want := map[string]string{
				"subnet": "255.255.255.0", "mask": "24", "router": "10.77.0.254", "dns": "10.77.0.1",
				"domain": "lab.test", "ntpsrv": "10.77.0.1", "serverid": "10.77.0.1", "lease": "3600",
			}
			for k, v := range tc.want {
				want[k] = v
			}
			got := map[string]string{}
			for k := range want {
				got[k] = env[k]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("udhcpc saw (-want +got):\n%s", diff)
			}
			for _, k := range []string{"hostname", "sipsrv", "opt43"} {
				if _, expected := tc.want[k]; !expected && env[k] != "" {
					t.Errorf("udhcpc got %s=%q, want none", k, env[k])
				}
			}
		})
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("udhcpc never ran its script for a bound lease: %v", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}
