package sipetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestQuoteArg(t *testing.T) {
	for in, want := range map[string]string{
		"":                       `""`,
		"alice@lab.test,LAB\\al": `alice@lab.test,LAB\\al`,
		`p w"x'y`:                `p\ w\"x\'y`,
	} {
		if got := quoteArg(in); got != want {
			t.Errorf("quoteArg(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseIRC(t *testing.T) {
	p, c, ps := parseIRC(":root!root@localhost PRIVMSG &bitlbee :sipe - Logging in: Logged in")
	if p != "root!root@localhost" || c != "PRIVMSG" || len(ps) != 2 || ps[0] != "&bitlbee" || ps[1] != "sipe - Logging in: Logged in" {
		t.Fatalf("parseIRC = %q %q %q", p, c, ps)
	}
}

func TestStripFormatting(t *testing.T) {
	for in, want := range map[string]string{
		"You can use the \x02yes\x02/\x02no\x02 commands": "You can use the yes/no commands",
		"\x0304,12red\x03 plain\x0f":                      "red plain",
		"no codes":                                        "no codes",
	} {
		if got := stripFormatting(in); got != want {
			t.Errorf("stripFormatting(%q) = %q, want %q", in, got, want)
		}
	}
}

func needSipe(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("pidgin-sipe cannot be driven here: %v", err)
	}
}

func needTLS(t *testing.T) {
	t.Helper()
	needSipe(t)
	if err := TLSAvailable(); err != nil {
		t.Skipf("TLS client cannot be started here: %v", err)
	}
}

// fakeSIP is a listener on 127.0.0.1 that records what the client sends and
// answers requests with the status status(method) returns ("" = no answer).
type fakeSIP struct {
	t      *testing.T
	ln     net.Listener
	tlsCfg *tls.Config
	status func(method string) string

	mu         sync.Mutex
	raw        bytes.Buffer
	reqs       []string // request lines
	handshakes int      // TLS handshakes completed (server side)
	hsErrs     []error
	changed    chan struct{}
}

func newFakeSIP(t *testing.T, tlsCfg *tls.Config, status func(string) string) *fakeSIP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSIP{t: t, ln: ln, tlsCfg: tlsCfg, status: status, changed: make(chan struct{})}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	return s
}

func (s *fakeSIP) addr() string { return s.ln.Addr().String() }

func (s *fakeSIP) note(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *fakeSIP) serve(c net.Conn) {
	defer c.Close()
	if s.tlsCfg != nil {
		tc := tls.Server(c, s.tlsCfg)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		err := tc.Handshake()
		c.SetDeadline(time.Time{})
		s.note(func() {
			if err != nil {
				s.hsErrs = append(s.hsErrs, err)
			} else {
				s.handshakes++
			}
		})
		if err != nil {
			return
		}
		c = tc
	}
	var buf []byte
	tmp := make([]byte, 64*1024)
	for {
		n, err := c.Read(tmp)
		if n > 0 {
			s.note(func() { s.raw.Write(tmp[:n]) })
			buf = append(buf, tmp[:n]...)
			for {
				var msg []byte
				msg, buf = nextMessage(buf)
				if msg == nil {
					break
				}
				s.handle(c, msg)
			}
		}
		if err != nil {
			return
		}
	}
}

// nextMessage cuts one SIP message (headers + Content-Length body) off buf,
// skipping CRLF keep-alives.
func nextMessage(buf []byte) (msg, rest []byte) {
	buf = bytes.TrimLeft(buf, "\r\n")
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, buf
	}
	n := 0
	for _, l := range strings.Split(string(buf[:end]), "\r\n") {
		k, v, _ := strings.Cut(l, ":")
		if k = strings.ToLower(strings.TrimSpace(k)); k == "content-length" || k == "l" {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if len(buf) < end+4+n {
		return nil, buf
	}
	return buf[:end+4+n], buf[end+4+n:]
}

func (s *fakeSIP) handle(c net.Conn, msg []byte) {
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if strings.HasPrefix(lines[0], "SIP/2.0 ") {
		return // a response from the client
	}
	s.note(func() { s.reqs = append(s.reqs, lines[0]) })
	method, _, _ := strings.Cut(lines[0], " ")
	status := s.status(method)
	if status == "" {
		return
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 " + status + "\r\n")
	for _, l := range lines[1:] {
		k, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(l + "\r\n")
		case "to":
			if !strings.Contains(l, ";tag=") {
				l += ";tag=fake1"
			}
			b.WriteString(l + "\r\n")
		case "contact":
			if method == "REGISTER" && strings.HasPrefix(status, "200") {
				ct, _, _ := strings.Cut(l, ";methods=")
				b.WriteString(ct + ";expires=3600\r\nExpires: 3600\r\n")
			}
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	c.Write([]byte(b.String()))
}

// waitRequest waits until a request with the method arrived.
func (s *fakeSIP) waitRequest(method string, d time.Duration) (string, bool) {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		for _, r := range s.reqs {
			if strings.HasPrefix(r, method+" ") {
				s.mu.Unlock()
				return r, true
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return "", false
		}
	}
}

func (s *fakeSIP) snapshot() (raw string, reqs []string, handshakes int, hsErrs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String(), append([]string(nil), s.reqs...), s.handshakes, append([]error(nil), s.hsErrs...)
}

func start(t *testing.T, acct Account) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, t.TempDir(), acct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, c) })
	return c
}

// closeAndCheck closes the client and checks that bitlbee and its process
// group are gone.
func closeAndCheck(t *testing.T, c *Client) {
	t.Helper()
	pid := c.cmd.Process.Pid
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("bitlbee (pid %d) still there after Close: kill 0 = %v", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("bitlbee's process group %d still has members after Close: kill 0 = %v", pid, err)
	}
}

func TestTCPRegister(t *testing.T) {
	needSipe(t)
	t.Parallel()
	srv := newFakeSIP(t, nil, func(string) string { return "" })
	c := start(t, Account{
		SignIn: "alice@lab.test", Login: `LAB\alice`, Password: `pa ss"w\rd`,
		Server: srv.addr(), Transport: "tcp",
	})
	line, ok := srv.waitRequest("REGISTER", time.Minute)
	if !ok {
		raw, _, _, _ := srv.snapshot()
		t.Fatalf("no REGISTER arrived; server got %q\n%s", raw, c.Transcript())
	}
	if line != "REGISTER sip:lab.test SIP/2.0" {
		t.Errorf("request line %q, want REGISTER sip:lab.test SIP/2.0", line)
	}
	raw, _, _, _ := srv.snapshot()
	for _, h := range []string{"Via: SIP/2.0/tcp 127.0.0.1:", "From: <sip:alice@lab.test>", "ms-keep-alive: UAC;hop-hop=yes"} {
		if !strings.Contains(raw, h) {
			t.Errorf("REGISTER lacks %q:\n%s", h, raw)
		}
	}
	if tr := c.Transcript(); strings.Contains(tr, "pa ss") || strings.Contains(tr, `pa\ ss`) {
		t.Errorf("transcript shows the password:\n%s", tr)
	}
}

func TestTCPForbidden(t *testing.T) {
	needSipe(t)
	t.Parallel()
	srv := newFakeSIP(t, nil, func(string) string { return "403 Forbidden" })
	c := start(t, Account{SignIn: "alice@lab.test", Password: "pw", Server: srv.addr(), Transport: "tcp"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.WaitLoggedIn(ctx)
	var se *SignInError
	if !errors.As(err, &se) {
		t.Fatalf("WaitLoggedIn = %v, want a *SignInError", err)
	}
	if want := "You have been rejected by the server"; !strings.Contains(se.Reason, want) {
		t.Errorf("reason %q, want it to contain %q", se.Reason, want)
	}
	t.Logf("sign-in failure as reported: %v", se.Reason)
}

func TestTCPLoggedIn(t *testing.T) {
	needSipe(t)
	t.Parallel()
	// Answering 200 OK to the unauthenticated REGISTER is enough for sipe to
	// call itself logged in (it only insists on signatures once an NTLM
	// security association exists).
	srv := newFakeSIP(t, nil, func(string) string { return "200 OK" })
	c := start(t, Account{SignIn: "alice@lab.test", Password: "pw", Server: srv.addr(), Transport: "tcp"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitLoggedIn(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTCPConnectionRefused(t *testing.T) {
	needSipe(t)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := start(t, Account{SignIn: "alice@lab.test", Password: "pw", Server: addr, Transport: "tcp"})
	err = c.WaitLoggedIn(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "Could not connect") {
		t.Fatalf("WaitLoggedIn = %v, want a *SignInError with Could not connect", err)
	}
}

var (
	pkiOnce             sync.Once
	pkiServer, pkiOther PKI
)

// testPKIs returns a CA with a server certificate for 127.0.0.1, and a
// second, unrelated CA (RSA key generation is slow on a busy machine: do it
// once).
func testPKIs(t *testing.T) (server, other PKI) {
	pkiOnce.Do(func() {
		pkiServer = newPKI(t, "Server")
		pkiOther = newPKI(t, "Other")
	})
	if pkiServer.CAPEM == nil || pkiOther.CAPEM == nil {
		t.Fatal("test PKI generation failed")
	}
	return pkiServer, pkiOther
}

func newPKI(t *testing.T, name string) PKI {
	t.Helper()
	p, err := NewPKI(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLSTrustedCA(t *testing.T) {
	needTLS(t)
	t.Parallel()
	p, _ := testPKIs(t)
	srv := newFakeSIP(t, &tls.Config{Certificates: []tls.Certificate{p.Server}}, func(string) string { return "" })
	c := start(t, Account{SignIn: "alice@lab.test", Password: "pw", Server: srv.addr(), Transport: "tls", CAPEM: p.CAPEM})
	line, ok := srv.waitRequest("REGISTER", time.Minute)
	raw, _, hs, hsErrs := srv.snapshot()
	if !ok {
		t.Fatalf("no REGISTER over TLS (handshakes %d, errors %v); server got %q\n%s", hs, hsErrs, raw, c.Transcript())
	}
	if hs == 0 {
		t.Errorf("REGISTER without a completed handshake?")
	}
	if line != "REGISTER sip:lab.test SIP/2.0" || !strings.Contains(raw, "Via: SIP/2.0/tls 127.0.0.1:") {
		t.Errorf("unexpected REGISTER over TLS:\n%s", raw)
	}
	if strings.Contains(c.Transcript(), "Certificate Verification") {
		t.Errorf("libpurple asked about a certificate signed by the pinned CA:\n%s", c.Transcript())
	}
}

func TestTLSOtherCA(t *testing.T) {
	needTLS(t)
	t.Parallel()
	p, other := testPKIs(t)
	srv := newFakeSIP(t, &tls.Config{Certificates: []tls.Certificate{p.Server}}, func(string) string { return "" })
	c := start(t, Account{SignIn: "alice@lab.test", Password: "pw", Server: srv.addr(), Transport: "tls", CAPEM: other.CAPEM})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.WaitLoggedIn(ctx)
	var se *SignInError
	if !errors.As(err, &se) {
		t.Fatalf("WaitLoggedIn = %v, want a *SignInError", err)
	}
	if !strings.Contains(se.Reason, "invalid certificate") || !strings.Contains(se.Reason, "refused certificate") {
		t.Errorf("reason %q, want the refused certificate", se.Reason)
	}
	// Give a client that (wrongly) went on a moment to send its REGISTER.
	time.Sleep(300 * time.Millisecond)
	raw, reqs, hs, hsErrs := srv.snapshot()
	if len(reqs) > 0 || raw != "" {
		t.Errorf("client sent %q to a server whose certificate it must refuse", raw)
	}
	t.Logf("handshakes seen by the server: %d completed, errors %v; reason: %s", hs, hsErrs, se.Reason)
}

func TestStartRejectsBadAccounts(t *testing.T) {
	needSipe(t)
	p, _ := testPKIs(t)
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Server.Certificate[0]})
	for _, a := range []Account{
		{SignIn: "alice@lab.test", Password: "pw", Server: "127.0.0.1:1", Transport: "tls", CAPEM: leaf},
		{SignIn: "alice", Password: "pw", Server: "127.0.0.1:1", Transport: "tcp"},
		{SignIn: "alice@lab.test", Server: "127.0.0.1:1", Transport: "tcp"},
		{SignIn: "alice@lab.test", Password: "pw", Server: "127.0.0.1", Transport: "tcp"},
		{SignIn: "alice@lab.test", Password: "pw", Server: "127.0.0.1:1", Transport: "udp"},
		{SignIn: "alice@lab.test", Password: "pw", Server: "127.0.0.1:1", Transport: "tls"},
		{SignIn: "alice@lab.test", Password: "pw", Server: "127.0.0.1:1", Transport: "tls", CAPEM: []byte("junk")},
		{SignIn: "alice@lab.test", Password: "a\nb", Server: "127.0.0.1:1", Transport: "tcp"},
	} {
		if c, err := Start(context.Background(), t.TempDir(), a); err == nil {
			c.Close()
			t.Errorf("Start(%+v) succeeded", a)
		}
	}
}
