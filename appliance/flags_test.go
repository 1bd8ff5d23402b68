package appliance

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/appliance/directory"
	dnsresp "github.com/tanjay-lab/tanjay/appliance/dns"
	"github.com/tanjay-lab/tanjay/legacy"
)

func TestServeFlagsAndEnvironment(t *testing.T) {
	environ := map[string]string{
		"TANJAY_DATA":               "/srv/tanjay",
		"TANJAY_HTTP_ADDR":          "10.0.0.1:80", // the command line below wins
		"TANJAY_EXTERNAL_STORE_URL": "https://updates.example.com/DeviceUpdateFiles_Ext",
		"TANJAY_CAPTURE_ALL":        "true",
		"TANJAY_SIP_TLS_ADDR":       "off",
		"TANJAY_DIRECTORY_ACCOUNT":  "phone",
	}
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	err := parseFlags(fs, []string{"--http-addr", "127.0.0.1:8081", "--advertise", "192.0.2.7", "--host", "lab1",
		"--domain", "lab.example", "--domain", "corp.example,other.example", "--dns-mode", "strict", "--advertise6", "2001:db8::7",
		"--sip-addr", "10.0.0.1:5060", "--sip-provisioning", "property-list", "--sip-auth-version", "4", "--sip-password-file", "/etc/tanjay/sip-password",
		"--directory", "samba", "--realm", "LAB.EXAMPLE", "--netbios", "LABX", "--directory-interfaces", "eth1,eth2"},
		func(k string) string { return environ[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Data = "/srv/tanjay"
	want.HTTPAddr = "127.0.0.1:8081"
	want.Advertise = "192.0.2.7"
	want.Host = "lab1"
	want.CaptureAll = true
	want.URLs = legacy.URLs{ExternalStore: "https://updates.example.com/DeviceUpdateFiles_Ext"}
	want.DNS.Domains = []string{"lab.example", "corp.example", "other.example"}
	want.DNS.Mode = dnsresp.ModeStrict
	want.DNS.Advertise6 = netip.MustParseAddr("2001:db8::7")
	want.SIPAddr, want.SIPTLSAddr = "10.0.0.1:5060", "off"
	want.SIPProvisioning, want.SIPAuthVersion, want.SIPPasswordFile = "property-list", 4, "/etc/tanjay/sip-password"
	want.Directory = DirectoryConfig{Mode: "samba", Realm: "LAB.EXAMPLE", NetBIOS: "LABX", Interfaces: []string{"eth1", "eth2"}, Account: "phone"}
	if diff := cmp.Diff(want, cfg, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("parsed config (-want +got):\n%s", diff)
	}
}

func TestDNSModeFlagRefusesUnknownModes(t *testing.T) {
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	if err := parseFlags(fs, []string{"--dns-mode", "recursive"}, func(string) string { return "" }); err == nil {
		t.Fatal("--dns-mode recursive accepted")
	}
}

func TestDNSHostLabel(t *testing.T) {
	for in, want := range map[string]string{"Lab1.corp.example": "lab1", "tanjay": "tanjay", "bad_name": "tanjay", "": "tanjay", "-x": "tanjay"} {
		if got := dnsHostLabel(in); got != want {
			t.Errorf("dnsHostLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadEnvironmentNamesTheVariable(t *testing.T) {
	cfg := DefaultConfig()
	fs := newFlagSet("serve", "", "", &bytes.Buffer{})
	serveFlags(fs, &cfg)
	err := parseFlags(fs, nil, func(k string) string {
		if k == "TANJAY_CAPTURE_ALL" {
			return "maybe"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "TANJAY_CAPTURE_ALL") {
		t.Fatalf("err = %v, want it to name TANJAY_CAPTURE_ALL", err)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"relative store URL", func(c *Config) { c.URLs.InternalStore = "/DeviceUpdateFiles_Int" }, "--internal-store-url"},
		{"ftp download URL", func(c *Config) { c.URLs.ExternalDownload = "ftp://x/ucdevice.upx" }, "--external-download-url"},
		{"URL without host", func(c *Config) { c.URLs.InternalDownload = "http:///x" }, "--internal-download-url"},
		{"bad listener", func(c *Config) { c.HTTPAddr = "80" }, "--http-addr"},
		{"bad advertise", func(c *Config) { c.Advertise = "http://x/" }, "--advertise"},
		{"no data", func(c *Config) { c.Data = "" }, "--data"},
		{"forward without upstream", func(c *Config) { c.DNS.Mode = dnsresp.ModeForward }, "--dns-upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{name, "--help"}, env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }})
		if code != 0 || !strings.Contains(errb.String(), "usage: tanjay "+name) {
			t.Errorf("tanjay %s --help: exit %d, output %q", name, code, errb.String())
		}
	}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, env{stdout: &errb, stderr: &errb, getenv: func(string) string { return "" }}); code != 2 {
		t.Errorf("unknown command exit code %d, want 2", code)
	}
}

// TestDirectoryNeedsProvisioning: --directory samba on a data directory
// that was never provisioned stops start-up, naming the command to run;
// an unknown mode names the flag.
func TestDirectoryNeedsProvisioning(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTPAddr, cfg.DashboardAddr, cfg.DNS.Addr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTPSAddr, cfg.SIPAddr, cfg.SIPTLSAddr, cfg.SIPPassword = "off", "off", "off", "pw"
	cfg.Directory.Mode, cfg.Directory.Interfaces = "samba", []string{"lo"}
	err := Run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "tanjay directory provision") {
		t.Errorf("Run: %v, want an error naming tanjay directory provision", err)
	}
	cfg.Directory.Mode = "ad"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--directory") {
		t.Errorf("Validate: %v", err)
	}
}

func TestDirectoryHealthRow(t *testing.T) {
	cfg := directory.Config{Realm: "LAB.LOCAL", Interfaces: []string{"eth1"}}
	at := time.Date(2026, 12, 6, 4, 53, 44, 0, time.UTC)
	tests := []struct {
		st   directory.State
		want string
	}{
		{directory.State{Phase: directory.PhaseRunning, Since: at, PID: 7380}, "running since 04:53:44 (pid 7380)"},
		{directory.State{Phase: directory.PhaseRestarting, NextStart: at, Restarts: 2, LastError: "samba was killed by signal 9 (killed)"},
			"restarting at 04:53:44; 2 restarts, last: samba was killed by signal 9 (killed)"},
		{directory.State{Phase: directory.PhaseStopped}, "stopped"},
	}
	for _, tt := range tests {
		want := [3]string{"domain controller (Samba) for LAB.LOCAL", "eth1", tt.want}
		if diff := cmp.Diff(want, directoryHealth(cfg, tt.st)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

// TestFlagsAfterArguments: flags are read wherever they are among the
// arguments; "--" ends them.
func TestFlagsAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		server string
		quiet  bool
		rest   []string
	}{
		{[]string{"add", "00049F000001", "--server", "http://lab:8080"}, "http://lab:8080", false, []string{"add", "00049F000001"}},
		{[]string{"--server=http://a", "add", "-quiet", "SN1", "SN2"}, "http://a", true, []string{"add", "SN1", "SN2"}},
		{[]string{"add", "--", "--server", "x"}, "", false, []string{"add", "--server", "x"}},
		{[]string{"ls"}, "", false, []string{"ls"}},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		server := fs.String("server", "", "")
		quiet := fs.Bool("quiet", false, "")
		if err := parseFlags(fs, tc.args, func(string) string { return "" }); err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if *server != tc.server || *quiet != tc.quiet || !slices.Equal(fs.Args(), tc.rest) {
			t.Errorf("%q: server %q quiet %v args %q; want %q %v %q", tc.args, *server, *quiet, fs.Args(), tc.server, tc.quiet, tc.rest)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parseFlags(fs, []string{"add", "MAC", "--no-such-flag"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("an unknown flag after the arguments: %v, want it refused by name", err)
	}
}
