package appliance

// The DHCP end-to-end test runs on a veth pair between two network
// namespaces it creates (root only). The appliance runs in this process
// with its sockets made inside the server namespace: Run is called on a
// goroutine locked to an OS thread that setns(2)ed into it (sockets keep
// their namespace whatever thread uses them later). The phone runs as a
// helper process (this test binary, -test.run=TestDHCPPhoneHelper) under
// ip netns exec, so that all of its sockets are in the phone's namespace.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/r2/phone"
	"golang.org/x/sys/unix"
)

// TestPhoneGetsEverythingFromDHCP: a phone with no address configured by
// hand gets a lease from appliance/dhcp, resolves ucupdates-r2.<domain>
// (option 15) through the appliance's DNS (option 6), checks in and
// downloads its way from beta to the release.
func TestPhoneGetsEverythingFromDHCP(t *testing.T) {
	srvNS, cliNS := dhcpE2ELink(t)
	const mac = "00049F0000E1"
	dhcpRun(t, "ip", "-n", cliNS, "link", "set", "tje2ec", "address", "00:04:9f:00:00:e1")

	ta := startAppInNS(t, srvNS, func(c *Config) {
		c.HTTPAddr = "10.79.0.1:0"
		c.DNS.Addr = "10.79.0.1:53"
		c.DNS.Domains = []string{"lab.test"}
	})
	ta.importBytes(t, "OCInterim/ENU", "1.0.522.103", true, randomBytes(64<<10, 1))
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(64<<10, 2))
	for _, r := range []string{"OCInterim/ENU/CPE", "UCPhone/Polycom/CX700/A/ENU/CPE"} {
		if err := ta.ruleAction(t, "approve", r); err != nil {
			t.Fatal(err)
		}
	}

	leases, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer leases.Close()
	var mu sync.Mutex
	var seen []string
	obs := dhcp.ObserverFunc(func(ev dhcp.Event) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.Type+" "+ev.MAC+" "+ev.VendorClass)
	})
	ds, err := dhcp.New(dhcp.Config{Interface: "tje2es", Domain: "lab.test", GuardWait: 300 * time.Millisecond}, leases, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := inNetNS(t, srvNS, func() error { return ds.Listen() }); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ds.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("dhcp Serve: %v", err)
		}
	}()

	_, port, _ := net.SplitHostPort(ta.HTTP)
	cmd := exec.Command("ip", "netns", "exec", cliNS, os.Args[0], "-test.run=^TestDHCPPhoneHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "TANJAY_DHCP_PHONE=tje2ec,"+port+","+mac)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("phone: %v\n%s", err, out)
	}
	for _, want := range []string{
		"LEASE 10.79.0.2/24 domain lab.test dns 10.79.0.1 ntp 10.79.0.1",
		"WALK 0.0.0.0 1.0.522.103 3.5.6907.0",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("phone output lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	// A client under load may send its DISCOVER or REQUEST again before the
	// answer arrives (nclient4 retries after a timeout): a retry is the same
	// step, not a wrong one.
	got := strings.Join(slices.Compact(slices.Clone(seen)), "; ")
	mu.Unlock()
	if want := "DISCOVER " + mac + " CPE-OCPHONE; REQUEST " + mac + " CPE-OCPHONE"; got != want {
		t.Errorf("DHCP events %q, want %q", got, want)
	}
	if l, ok := leases.LeaseOf(mac); !ok || l.IP != "10.79.0.2" {
		t.Errorf("stored lease %+v, %v", l, ok)
	}
	d, ok := ta.api.deviceForTest(t, mac)
	if !ok {
		t.Fatal("phone not in the store")
	}
	if d.Device.IP != "10.79.0.2" || d.Device.Stage != store.StageDone {
		t.Errorf("device: ip %s stage %s", d.Device.IP, d.Device.Stage)
	}
	// The admin API finds it by its address too.
	if byIP, ok := ta.api.deviceForTest(t, "10.79.0.2"); !ok || byIP.Device.ID != d.Device.ID {
		t.Errorf("GET /api/v1/devices/10.79.0.2: %q (%v), want %q", byIP.Device.ID, ok, d.Device.ID)
	}
}

// TestDHCPPhoneHelper is the phone of TestPhoneGetsEverythingFromDHCP, run
// in the phone's namespace; alone it skips.
func TestDHCPPhoneHelper(t *testing.T) {
	spec := os.Getenv("TANJAY_DHCP_PHONE")
	if spec == "" {
		t.Skip("helper process of TestPhoneGetsEverythingFromDHCP")
	}
	parts := strings.Split(spec, ",")
	iface, port, mac := parts[0], parts[1], parts[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := phone.AcquireLease(ctx, iface, dhcp.VendorTanjay)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LEASE %s domain %s dns %s ntp %s\n", lease.Addr, lease.Domain, lease.DNS, lease.NTP)
	w := phone.Run(ctx, phone.Config{
		Server:   "http://ucupdates-r2." + lease.Domain + ":" + port,
		DNS:      lease.DNSAddr(),
		Identity: phone.Identity{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU", MAC: mac},
	})
	if w.Err != nil {
		t.Fatalf("walk: %v\n%s", w.Err, w)
	}
	fmt.Printf("WALK %s\n", versions(w.Path))
}

// startAppInNS is startApp with every listener in namespace ns: Run is
// called on a thread that entered ns and never leaves it (the runtime
// drops the thread when Run returns). The admin API is reached through a
// proxy on 127.0.0.1 here that dials the dashboard from inside ns.
func startAppInNS(t *testing.T, ns string, mut func(*Config)) *testApp {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data, cfg.DashboardAddr, cfg.Host = t.TempDir(), "127.0.0.1:0", "testhost"
	cfg.SIPAddr, cfg.SIPTLSAddr = "off", "off"
	mut(&cfg)
	enter := func() error {
		runtime.LockOSThread() // never unlocked: see above
		return setNetNS(ns)
	}
	return runApp(t, cfg, enter, func(dashboard string) string { return nsProxy(t, ns, dashboard) })
}

// nsProxy forwards connections to a 127.0.0.1 listener of its own to
// target inside namespace ns and returns the listener's address.
func nsProxy(t *testing.T, ns, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var up net.Conn
			err = inNetNS(t, ns, func() (err error) {
				up, err = net.Dial("tcp", target) // an IP literal: dialled on this thread
				return err
			})
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// dhcpE2ELink creates two namespaces joined by a veth pair: tje2es with
// 10.79.0.1/24 in the first, tje2ec without an address in the second. It
// skips the test, naming the reason, when namespaces cannot be made.
func dhcpE2ELink(t *testing.T) (srv, cli string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates network namespaces (ip netns add)")
	}
	srv, cli = fmt.Sprintf("tje2e-%d-s", os.Getpid()), fmt.Sprintf("tje2e-%d-c", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	dhcpRun(t, "ip", "netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	dhcpRun(t, "ip", "-n", srv, "link", "add", "tje2es", "type", "veth", "peer", "name", "tje2ec", "netns", cli)
	dhcpRun(t, "ip", "-n", srv, "addr", "add", "10.79.0.1/24", "dev", "tje2es")
	for _, c := range [][2]string{{srv, "tje2es"}, {srv, "lo"}, {cli, "tje2ec"}, {cli, "lo"}} {
		dhcpRun(t, "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	return srv, cli
}

func dhcpRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// setNetNS moves the calling thread (locked by the caller) into ns.
func setNetNS(ns string) error {
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// inNetNS runs fn on a thread inside ns and moves the thread back.
func inNetNS(t *testing.T, ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := setNetNS(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns back (thread left locked): %w", err) // the runtime drops the thread with the goroutine
	}
	runtime.UnlockOSThread()
	return ferr
}
