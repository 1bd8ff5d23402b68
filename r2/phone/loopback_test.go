package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

func TestLoopbackAddrs(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		first   netip.Addr
		n       int
		avoid   []netip.Addr
		want    []netip.Addr
		wantErr string
	}{
		{name: "from 127.0.0.2", n: 3, want: []netip.Addr{a("127.0.0.2"), a("127.0.0.3"), a("127.0.0.4")}},
		{name: "skips the server", n: 3, avoid: []netip.Addr{a("127.0.0.3")}, want: []netip.Addr{a("127.0.0.2"), a("127.0.0.4"), a("127.0.0.5")}},
		{name: "given first", first: a("127.1.0.255"), n: 2, want: []netip.Addr{a("127.1.0.255"), a("127.1.1.0")}},
		{name: "last two", first: a("127.255.255.253"), n: 2, want: []netip.Addr{a("127.255.255.253"), a("127.255.255.254")}},
		{name: "never the broadcast", first: a("127.255.255.253"), n: 3, wantErr: "127.0.0.0/8 holds only 2 more addresses"},
		{name: "not loopback", first: a("10.0.0.1"), n: 1, wantErr: "want an address in 127.0.0.0/8"},
		{name: "IPv6", first: a("::1"), n: 1, wantErr: "want an address in 127.0.0.0/8"},
		{name: "none", n: 0, want: []netip.Addr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoopbackAddrs(tc.first, tc.n, tc.avoid...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoopbackAddrsHundredThousand(t *testing.T) {
	got, err := LoopbackAddrs(netip.Addr{}, 100_000, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if got[len(got)-1] != netip.MustParseAddr("127.1.134.161") {
		t.Errorf("last address %s, want 127.1.134.161 (127.0.0.2 + 99,999)", got[len(got)-1])
	}
	if !slices.IsSortedFunc(got, netip.Addr.Compare) || len(slices.Compact(got)) != 100_000 {
		t.Error("addresses not distinct and in order")
	}
}

func TestLoopbackServer(t *testing.T) {
	var askers sync.Map // names asked → the address that asked
	dnsAddr := testDNS(t, map[string]string{"ucupdates-r2.lab.test.": "127.0.0.9", "far.lab.test.": "192.0.2.7"}, &askers)
	for _, tc := range []struct {
		name, server, dns string
		want              string
		loopback          bool
		wantErr           string
	}{
		{name: "127.0.0.1", server: "http://127.0.0.1:8080", want: "127.0.0.1", loopback: true},
		{name: "elsewhere in 127/8", server: "http://127.44.0.1", want: "127.44.0.1", loopback: true},
		{name: "localhost", server: "http://localhost:80/", want: "127.0.0.1", loopback: true},
		{name: "LAN", server: "http://192.0.2.1", want: "192.0.2.1"},
		{name: "IPv6 loopback", server: "http://[::1]:80", want: "::1"},
		{name: "name through the lab DNS", server: "http://ucupdates-r2.lab.test:8080", dns: dnsAddr, want: "127.0.0.9", loopback: true},
		{name: "name off loopback", server: "http://far.lab.test", dns: dnsAddr, want: "192.0.2.7"},
		{name: "unknown name", server: "http://nowhere.lab.test", dns: dnsAddr, wantErr: "NXDOMAIN"},
		{name: "not a URL", server: "127.0.0.1:80", wantErr: "want a base URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, loopback, err := LoopbackServer(t.Context(), tc.server, tc.dns)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ip.String() != tc.want || loopback != tc.loopback {
				t.Errorf("LoopbackServer(%q) = %s, %v; want %s, %v", tc.server, ip, loopback, tc.want, tc.loopback)
			}
			// The question comes from the first phone's address, never from
			// 127.0.0.1: the appliance would record a phone there.
			u, _ := url.Parse(tc.server)
			if from, ok := askers.Load(u.Hostname() + "."); tc.dns != "" && (!ok || from != "127.0.0.2") {
				t.Errorf("%s asked from %v, want 127.0.0.2", u.Hostname(), from)
			}
		})
	}
}

func TestLoopbackDNS(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:53": true, "127.9.0.1:5353": true, "192.0.2.1:53": false, "[::1]:53": false, "lab.local:53": false, "": false} {
		if got := LoopbackDNS(addr); got != want {
			t.Errorf("LoopbackDNS(%q) = %v, want %v", addr, got, want)
		}
	}
}

// testDNS answers A queries for names (FQDN → IPv4) on 127.0.0.1 over UDP
// and NXDOMAIN for every other name; askers gets each name asked → the
// address that asked.
func testDNS(t *testing.T, names map[string]string, askers *sync.Map) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		host, _, _ := net.SplitHostPort(w.RemoteAddr().String())
		askers.Store(strings.ToLower(q.Question[0].Name), host)
		m := new(dns.Msg)
		m.SetReply(q)
		ip, ok := names[strings.ToLower(q.Question[0].Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A %s", q.Question[0].Name, ip))
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.ShutdownContext(context.Background()) })
	return pc.LocalAddr().String()
}
