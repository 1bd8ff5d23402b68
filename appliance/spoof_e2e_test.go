package appliance

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"github.com/tanjay-lab/tanjay/appliance/store"
)

// spoofSources is how many source addresses the spoofing tests forge.
const spoofSources = 20_000

// spoofAddr is the i-th forged source: 127.10.b.c. Linux routes all of
// 127.0.0.0/8 to lo, so a socket may bind any of them without root.
func spoofAddr(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 10+i/62500, 1+i/250%250, 1+i%250)
}

// startServeWithDNS is startServe in the lab.test domain, with the DNS
// responder's address from serve.json.
func startServeWithDNS(t *testing.T, data string) (*serveProcess, string) {
	t.Helper()
	srv := startServe(t, data, "--domain", "lab.test", "--sip-addr", "off")
	return srv, readServeInfo(t, data).DNS
}

// queryFrom asks the DNS responder at server for name from the source
// address src and returns the answer's rcode.
func queryFrom(src, server, name string) (int, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		return 0, fmt.Errorf("bind %s: %w", src, err)
	}
	defer conn.Close()
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return 0, err
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	b, err := q.Pack()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for try := 0; try < 3; try++ { // UDP: a datagram may be dropped under load
		if _, err := conn.WriteToUDP(b, raddr); err != nil {
			return 0, err
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			return 0, fmt.Errorf("answer to %s: %w", src, err)
		}
		return r.Rcode, nil
	}
	return 0, fmt.Errorf("no answer to %s after 3 tries", src)
}

// spoofDNS sends one query from each of spoofAddr(from…to-1), a few at
// once, and fails the test unless every one is answered.
func spoofDNS(t *testing.T, server string, from, to int) {
	t.Helper()
	next := make(chan int)
	errs := make(chan error, to-from)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if _, err := queryFrom(spoofAddr(i), server, "ucupdates-r2.lab.test"); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// devicesOf lists the devices of a running serve through the admin API.
func devicesOf(t *testing.T, srv *serveProcess) []store.Device {
	t.Helper()
	api, err := newAPIClient(clientConfig{Server: "http://" + srv.addrs.Dashboard, Data: srv.data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var ds []store.Device
	if err := api.do(context.Background(), "GET", "/api/v1/devices", "", nil, &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

func deviceIDSet(ds []store.Device) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func unconfirmedCount(ds []store.Device) int {
	n := 0
	for _, d := range ds {
		if d.CheckIns == 0 && d.SignedInAt.IsZero() {
			n++
		}
	}
	return n
}

// TestSpoofedDNSCannotMintDevices: DNS queries from 20,000 forged
// loopback sources against the real `tanjay serve` leave at most the
// bound of unconfirmed devices; every query is answered; a phone that
// then checks in from one of the recent sources keeps its DNS event; and
// after a restart no evicted device comes back.
func TestSpoofedDNSCannotMintDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 DNS queries: not in -short")
	}
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(spoofAddr(0))})
	if err != nil {
		t.Skipf("cannot bind %s (this test needs Linux's 127.0.0.0/8 on lo): %v", spoofAddr(0), err)
	}
	probe.Close()

	const bound = 4096 // the default of --unconfirmed-devices
	data := t.TempDir()
	srv, dnsAddr := startServeWithDNS(t, data)
	spoofDNS(t, dnsAddr, 0, spoofSources)

	t.Logf("tanjay serve after %d forged sources: %s", spoofSources, vmRSS(srv))
	ds := devicesOf(t, srv)
	if n := unconfirmedCount(ds); n != bound || len(ds) != bound {
		t.Fatalf("after %d forged sources: %d devices, %d unconfirmed; want the bound, %d", spoofSources, len(ds), n, bound)
	}
	first, last := "IP:"+spoofAddr(0), "IP:"+spoofAddr(spoofSources-1)
	if _, ok := srv.device(t, first); ok {
		t.Errorf("%s, the least recently seen, is still there", first)
	}
	// The dashboard (read-only pages public by default) shows what the
	// store holds: the evicted device's page is gone, a kept one's is not.
	for id, want := range map[string]int{first: http.StatusNotFound, "IP:" + spoofAddr(spoofSources-2): http.StatusOK} {
		resp, err := http.Get("http://" + srv.addrs.Dashboard + "/phone/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("dashboard page of %s: %d, want %d", id, resp.StatusCode, want)
		}
	}

	// The last source is a real phone: it checks in and keeps its query.
	const phoneMAC = "00049F5F0001"
	checkInFrom(t, srv.addrs.HTTP, spoofAddr(spoofSources-1), phoneMAC)
	checkPhone := func(when string) {
		t.Helper()
		d, ok := srv.device(t, phoneMAC)
		if !ok {
			t.Fatalf("%s: the phone is not in the store", when)
		}
		if len(d.Events) != 2 || d.Events[0].Kind != store.EventDNS || d.Events[1].Kind != store.EventCheckIn {
			t.Errorf("%s: the phone's timeline is %+v, want its DNS query and its check-in", when, d.Events)
		}
		if _, ok := srv.device(t, last); ok {
			t.Errorf("%s: the placeholder %s is still there", when, last)
		}
	}
	checkPhone("after the check-in")
	// One more source (a new device: the bound evicts another).
	if rcode, err := queryFrom("127.0.0.1", dnsAddr, "ucupdates-r2.lab.test"); err != nil || rcode != dns.RcodeSuccess {
		t.Errorf("a query after the flood: rcode %d, %v", rcode, err)
	}

	// A restart replays the journal: the evicted stay gone.
	before := devicesOf(t, srv)
	srv.interrupt(t)
	srv, _ = startServeWithDNS(t, data)
	after := devicesOf(t, srv)
	if len(after) != len(before) || unconfirmedCount(after) != bound {
		t.Errorf("after a restart: %d devices, %d unconfirmed; before it %d, %d; want the bound, %d", len(after), unconfirmedCount(after), len(before), unconfirmedCount(before), bound)
	}
	if diff := cmp.Diff(deviceIDSet(before), deviceIDSet(after)); diff != "" {
		t.Errorf("devices after a restart (-before +after):\n%s", diff)
	}
	if _, ok := srv.device(t, first); ok {
		t.Errorf("after a restart %s is back", first)
	}
	checkPhone("after a restart")
}

// device is the phone id with its timeline, through the admin API.
func (p *serveProcess) device(t *testing.T, id string) (deviceDetail, bool) {
	t.Helper()
	api, err := newAPIClient(clientConfig{Server: "http://" + p.addrs.Dashboard, Data: p.data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return api.deviceForTest(t, id)
}

// vmRSS is the resident set of the serve process, as /proc tells it
// (for the log only: memory is asserted by benchmarks, never by tests).
func vmRSS(p *serveProcess) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "RSS unknown: " + err.Error()
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return "RSS " + strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return "RSS unknown"
}
