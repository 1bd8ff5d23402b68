package directory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// cldapSamples are the pings Samba's `net ads lookup` sent and the answers
// Samba 4.17 gave (testdata/cldap-net-ads-lookup.txt).
func cldapSamples(t testing.TB) (reqs, reps [][]byte) {
	t.Helper()
	b, err := os.ReadFile("testdata/cldap-net-ads-lookup.txt")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		kind, h, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(kind, "#") {
			continue
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "REQ" {
			reqs = append(reqs, raw)
		} else {
			reps = append(reps, raw)
		}
	}
	if len(reqs) == 0 || len(reqs) != len(reps) {
		t.Fatalf("%d requests, %d answers in the samples", len(reqs), len(reps))
	}
	return reqs, reps
}

// windowsPing is a ping as Windows' LDAP client writes it: every length in
// the four-byte long form.
func windowsPing() []byte {
	el := func(tag byte, parts ...[]byte) []byte {
		c := bytes.Join(parts, nil)
		n := len(c)
		return append([]byte{tag, 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, c...)
	}
	str := func(s string) []byte { return el(0x04, []byte(s)) }
	eq := func(a string, v []byte) []byte { return el(tagFilterEqual, str(a), el(0x04, v)) }
	filter := el(tagFilterAnd,
		eq("DnsDomain", []byte("lab.local")), eq("Host", []byte("CX700-01")),
		eq("User", []byte("tech")), eq("NtVer", []byte{0x16, 0, 0, 0}))
	search := el(tagSearchReq, str(""), el(0x0a, []byte{0}), el(0x0a, []byte{0}),
		el(0x02, []byte{0}), el(0x02, []byte{0}), el(0x01, []byte{0}), filter,
		el(0x30, str("Netlogon")))
	return el(tagSequence, el(0x02, []byte{7}), search)
}

func TestParsePing(t *testing.T) {
	reqs, reps := cldapSamples(t)
	for i, req := range reqs {
		if p := ParsePing(req); p.NtVer != 6 || p.Domain != "" || p.Host != "" {
			t.Errorf("net ads lookup ping %d: %+v", i, p)
		}
		if got := ReplyOpcode(reps[i]); got != "LOGON_SAM_LOGON_RESPONSE_EX" {
			t.Errorf("answer %d: %q", i, got)
		}
	}
	p := ParsePing(windowsPing())
	if p.Domain != "lab.local" || p.Host != "CX700-01" || p.User != "tech" || p.NtVer != 0x16 {
		t.Errorf("Windows-style ping: %+v", p)
	}
	for _, junk := range [][]byte{nil, {0x30}, {0x30, 0x85, 1, 2, 3, 4, 5}, {0x30, 0x80}, bytes.Repeat([]byte{0xa0, 0x02}, 40)} {
		if p := ParsePing(junk); p != (Ping{}) {
			t.Errorf("ParsePing(% x) = %+v", junk, p)
		}
		if got := ReplyOpcode(junk); got != "answered" {
			t.Errorf("ReplyOpcode(% x) = %q", junk, got)
		}
	}
}

// fakeCLDAP answers each datagram with answer (nil: stays silent) and
// returns its port.
func fakeCLDAP(t *testing.T, answer []byte) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			_, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if answer != nil {
				c.WriteToUDP(answer, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// freeUDPPort is a port nothing listens on at 127.0.0.1 now.
func freeUDPPort(t *testing.T) int {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestCLDAPRelay: the client gets Samba's answer byte for byte, and each
// ping is reported: answered, or why not.
func TestCLDAPRelay(t *testing.T) {
	reqs, reps := cldapSamples(t)
	for _, tt := range []struct {
		name   string
		answer []byte
		reply  string
		err    string
	}{
		{"Samba answers", reps[0], "LOGON_SAM_LOGON_RESPONSE_EX", ""},
		{"Samba silent", nil, "", "no answer from Samba"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var pings []Ping
			r := &CLDAPRelay{
				Addrs: func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} }, Port: freeUDPPort(t),
				SambaPort: fakeCLDAP(t, tt.answer), Timeout: 300 * time.Millisecond,
				Report: func(p Ping) { mu.Lock(); pings = append(pings, p); mu.Unlock() },
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Port})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			reported := func() int { mu.Lock(); defer mu.Unlock(); return len(pings) }
			var got []byte
			// The relay may not listen yet: ask until it answers or reports
			// ("connection refused" comes back at once meanwhile).
			for deadline := time.Now().Add(10 * time.Second); got == nil && reported() == 0 && time.Now().Before(deadline); {
				c.Write(reqs[0])
				c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				buf := make([]byte, 64<<10)
				if n, err := c.Read(buf); err == nil {
					got = buf[:n]
				} else if !isTimeout(err) {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if tt.answer != nil && !bytes.Equal(got, tt.answer) {
				t.Errorf("client got % x, want Samba's answer", got)
			}
			if tt.answer == nil && got != nil {
				t.Errorf("client got % x from a silent Samba", got)
			}
			for deadline := time.Now().Add(5 * time.Second); reported() == 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(pings) == 0 {
				t.Fatal("no ping reported")
			}
			p := pings[len(pings)-1]
			if p.Reply != tt.reply || !strings.HasPrefix(p.Err, tt.err) || p.NtVer != 6 ||
				p.Client.Addr() != netip.MustParseAddr("127.0.0.1") || p.At.IsZero() {
				t.Errorf("reported %+v, want reply %q, error %q", p, tt.reply, tt.err)
			}
		})
	}
}

// TestCLDAPRelayWaitsForAddress: an interface without an address yet is
// tried again, and pings are relayed once it has one.
func TestCLDAPRelayWaitsForAddress(t *testing.T) {
	reqs, reps := cldapSamples(t)
	var mu sync.Mutex
	calls := 0
	r := &CLDAPRelay{
		Addrs: func() []netip.Addr {
			mu.Lock()
			defer mu.Unlock()
			if calls++; calls < 3 {
				return nil
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		},
		Port: freeUDPPort(t), SambaPort: fakeCLDAP(t, reps[0]), Retry: 20 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.Port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for try := 0; ; try++ {
		c.Write(reqs[0])
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			if !bytes.Equal(buf[:n], reps[0]) {
				t.Errorf("got % x", buf[:n])
			}
			break
		}
		if try == 100 {
			t.Fatal("no answer once the address appeared")
		}
		time.Sleep(20 * time.Millisecond) // "connection refused" comes at once
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 3 {
		t.Errorf("Addrs asked %d times", calls)
	}
}

// FuzzParsePing: no datagram panics the relay's reading of a ping or of
// an answer, and what it reads is printable.
func FuzzParsePing(f *testing.F) {
	reqs, reps := cldapSamples(f)
	for _, b := range append(reqs, reps...) {
		f.Add(b)
	}
	f.Add(windowsPing())
	f.Fuzz(func(t *testing.T, b []byte) {
		p := ParsePing(b)
		for _, s := range []string{p.Domain, p.Host, p.User} {
			if len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
				t.Errorf("unprintable %q", s)
			}
		}
		ReplyOpcode(b)
	})
}
