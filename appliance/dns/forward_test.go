package dns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// TestTruncation: an answer larger than the client's UDP buffer comes back
// truncated with TC set, in full within a larger EDNS buffer, and in full
// over TCP. The large answer is a forwarded one (the upstream itself
// truncates over UDP, so this also covers the TCP retry upstream); local
// answers are a record or two and always fit.
func TestTruncation(t *testing.T) {
	srv := startServer(t, Config{Mode: ModeForward, Upstream: startUpstream(t)}, nil)
	full := make([]string, bigRecords)
	for i := range full {
		full[i] = rrString(bigRecord(i))
	}
	tests := []struct {
		name     string
		network  string
		edns     uint16 // 0: no OPT record
		wantTC   bool
		wantEDNS string
	}{
		{"udp without EDNS: 512 bytes", "udp", 0, true, ""},
		{"udp with a 1232 byte buffer", "udp", 1232, true, "v0 4096"},
		{"udp with a buffer below 512 means 512", "udp", 100, true, "v0 4096"},
		{"udp with a 4096 byte buffer", "udp", 4096, false, "v0 4096"},
		{"tcp", "tcp", 0, false, ""},
		{"tcp with EDNS", "tcp", 1232, false, "v0 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := query("big.test.", dns.TypeTXT)
			if tt.edns != 0 {
				m.SetEdns0(tt.edns, false)
			}
			addr := map[string]string{"udp": srv.udp, "tcp": srv.tcp}[tt.network]
			r := exchange(t, tt.network, addr, m)
			got := summarise(r)
			if got.TC != tt.wantTC || got.EDNS != tt.wantEDNS || got.Rcode != "NOERROR" {
				t.Errorf("TC %v, EDNS %q, rcode %s; want TC %v, EDNS %q, NOERROR", got.TC, got.EDNS, got.Rcode, tt.wantTC, tt.wantEDNS)
			}
			if tt.wantTC {
				if len(got.Answer) >= bigRecords {
					t.Errorf("truncated answer has all %d records", len(got.Answer))
				}
				limit := max(int(tt.edns), dns.MinMsgSize)
				r.Compress = true // as it came over the wire
				if n := r.Len(); n > limit {
					t.Errorf("truncated answer is %d bytes, over %d", n, limit)
				}
				return
			}
			if diff := cmp.Diff(full, got.Answer); diff != "" {
				t.Errorf("full answer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestForwardTimeout: an upstream that never answers turns into SERVFAIL
// within the timeout, over UDP and TCP, and is counted.
func TestForwardTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := startServer(t, Config{Mode: ModeForward, Upstream: startSilentUpstream(t), Timeout: timeout}, nil)
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": srv.udp, "tcp": srv.tcp}[network]
		start := time.Now()
		r := exchange(t, network, addr, query("pool01.ocs.contoso.com.", dns.TypeA))
		elapsed := time.Since(start)
		if diff := cmp.Diff(summary{Rcode: "SERVFAIL"}, summarise(r)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", network, diff)
		}
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("%s: SERVFAIL after %s, want just after %s", network, elapsed, timeout)
		}
	}
	// Own names never wait for the upstream.
	r := exchange(t, "udp", srv.udp, query("ucupdates-r2.lab.local.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("own name in forward mode with a dead upstream: %v", r)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"other/SERVFAIL": 2, "appliance/NOERROR": 1}
	if diff := cmp.Diff(want, srv.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// TestForwardUnreachableUpstream: an upstream port nobody listens on
// (ICMP port unreachable, TCP connection refused) is SERVFAIL long before
// the timeout.
func TestForwardUnreachableUpstream(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upstream := pc.LocalAddr().String()
	pc.Close()
	const timeout = 3 * time.Second
	srv := startServer(t, Config{Mode: ModeForward, Upstream: upstream, Timeout: timeout}, nil)
	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": srv.udp, "tcp": srv.tcp}[network]
		start := time.Now()
		r := exchange(t, network, addr, query("pool01.ocs.contoso.com.", dns.TypeA))
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", network, rcodeName(r.Rcode))
		}
		if elapsed := time.Since(start); elapsed >= timeout {
			t.Errorf("%s: SERVFAIL after %s, want before the %s timeout", network, elapsed, timeout)
		}
	}
}

// TestForwardLoopRefused: an upstream that is the responder itself is an
// error from Listen, not an endless chain of queries.
func TestForwardLoopRefused(t *testing.T) {
	pc, ln := listenPair(t) // a port free for both
	addr := pc.LocalAddr().String()
	pc.Close()
	ln.Close()
	s, err := New(Config{Addr: addr, Mode: ModeForward, Upstream: addr}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "--dns-upstream") {
		t.Fatalf("Listen = %v, want a forwarding loop error", err)
	}
	if u, _ := s.Addr(); u != nil {
		t.Errorf("still bound to %s", u)
	}

	machine := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("192.168.7.81"), Mask: net.CIDRMask(24, 32)}}, nil
	}
	tests := []struct {
		upstream, bound string
		want            bool
	}{
		{"127.0.0.1:53", "127.0.0.1:53", true},
		{"127.0.0.1:53", "127.0.0.1:5353", false},
		{"127.0.0.2:53", "127.0.0.1:53", false},
		{"127.0.0.2:53", "0.0.0.0:53", true},
		{"192.168.7.81:53", "[::]:53", true},
		{"192.168.7.1:53", "[::]:53", false},
		{"resolver.corp.example:53", "[::]:53", false},
	}
	for _, tt := range tests {
		if got := forwardsToItself(tt.upstream, netip.MustParseAddrPort(tt.bound), machine); got != tt.want {
			t.Errorf("forwardsToItself(%s, %s) = %v, want %v", tt.upstream, tt.bound, got, tt.want)
		}
	}
}
