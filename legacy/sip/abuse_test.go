package sip

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log sink tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// abuseConfig has short timeouts and small limits, and logs to buf.
func abuseConfig(buf *syncBuffer) Config {
	return Config{
		Limits:         Limits{MaxHeaderBytes: 4096, MaxBodyBytes: 8192},
		SignInTimeout:  300 * time.Millisecond,
		MessageTimeout: 300 * time.Millisecond,
		MaxConnsPerIP:  16,
		Log:            slog.New(slog.NewTextHandler(buf, nil)),
	}
}

// readAll reads what the server sends until it closes the connection (or
// 5 s pass) and reports whether it closed.
func readUntilClosed(t *testing.T, nc net.Conn) (string, bool) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	// A reset is a cut too: the server closed with our bytes unread.
	return string(b), !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestBadInputIsCut sends what a broken or hostile client could and checks
// each connection is answered or cut with a log line that says why, and
// that a phone still signs in afterwards.
func TestBadInputIsCut(t *testing.T) {
	const register = "REGISTER sip:lab.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5\r\nFrom: <sip:a@lab.test>;tag=1\r\nTo: <sip:a@lab.test>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n"
	tests := []struct {
		name     string
		send     func(net.Conn)
		wantLog  string
		wantResp string
	}{
		{"garbage", func(nc net.Conn) { nc.Write([]byte("\x16\x03\x01\x02\x00 hello there\r\n\r\n")) }, "unreadable message", ""},
		{"headers over the limit", func(nc net.Conn) {
			nc.Write([]byte(register + "X-Filler: " + strings.Repeat("a", 8000) + "\r\n\r\n"))
		}, "headers over the limit", ""},
		{"too many header lines", func(nc net.Conn) {
			nc.Write([]byte(register + strings.Repeat("X: y\r\n", 200) + "\r\n"))
		}, "more than 128 header lines", ""},
		{"body over the limit", func(nc net.Conn) {
			nc.Write([]byte(register + "Content-Length: 100000\r\n\r\n"))
		}, "over the limit of 8192 bytes", "SIP/2.0 413 "},
		{"Content-Length beyond the body", func(nc net.Conn) {
			nc.Write([]byte(register + "Content-Length: 5000\r\n\r\nshort"))
		}, "did not arrive in time", ""},
		{"slow sender", func(nc net.Conn) {
			for _, c := range []byte(register) {
				if _, err := nc.Write([]byte{c}); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}, "did not arrive in time", ""},
		{"silent client", func(net.Conn) {}, "silent too long", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			s, addr, _ := startServer(t, abuseConfig(&logs))
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			go tt.send(nc)
			got, closed := readUntilClosed(t, nc)
			if !closed {
				t.Fatalf("the connection was not cut; the server sent %q", got)
			}
			if tt.wantResp != "" && !strings.HasPrefix(got, tt.wantResp) {
				t.Errorf("answer %q, want it to start %q", got, tt.wantResp)
			}
			waitLog(t, &logs, tt.wantLog)
			if s.Stats().Cut == 0 {
				t.Error("Stats().Cut is 0")
			}
			signIn(t, addr)
		})
	}
}

// TestConnectionLimits opens far more idle connections than the limits
// allow, from one address and from many, and checks the excess is refused
// with a log line, the idle ones are cut, and a phone then signs in.
func TestConnectionLimits(t *testing.T) {
	var logs syncBuffer
	cfg := abuseConfig(&logs)
	cfg.MaxConns = 200
	cfg.SignInTimeout = 3 * time.Second // all held while the test dials
	s, addr, _ := startServer(t, cfg)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(local string) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		if nc, err := d.Dial("tcp", addr); err == nil {
			conns = append(conns, nc)
		}
	}
	for range 100 {
		dial("127.0.0.1")
	}
	for i := range 1900 {
		dial(fmt.Sprintf("127.3.%d.%d", i/200, 1+i%200))
	}
	waitLog(t, &logs, "the per-address limit")
	waitLog(t, &logs, "SIP connections (the limit)")
	want := uint64(len(conns) - cfg.MaxConns)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Refused < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := s.Stats()
	if st.Conns > cfg.MaxConns {
		t.Errorf("%d connections open, over the limit of %d", st.Conns, cfg.MaxConns)
	}
	if st.Refused < want || len(conns) < 1900 {
		t.Errorf("refused %d of %d connections, want at least %d", st.Refused, len(conns), want)
	}
	deadline = time.Now().Add(10 * time.Second)
	for s.Stats().Conns > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.Stats().Conns; n != 0 {
		t.Fatalf("%d idle connections still open after the sign-in timeout", n)
	}
	signIn(t, addr)
}

// TestForgedOpaque sends signed-looking requests naming security
// associations the connection never made: each gets a fresh 401 offer,
// never a dispatched answer.
func TestForgedOpaque(t *testing.T) {
	_, addr, _ := startServer(t, Config{})
	ctx := context.Background()
	victim := dialClient(t, addr, ClientConfig{SignIn: "alice@lab.test", Password: testPassword})
	if _, err := victim.Register(ctx); err != nil {
		t.Fatal(err)
	}
	for _, opaque := range []string{"DEADBEEF", victim.opaque} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		req := fmt.Sprintf("SUBSCRIBE sip:alice@lab.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5\r\nFrom: <sip:alice@lab.test>;tag=1\r\nTo: <sip:alice@lab.test>\r\nCall-ID: y\r\nCSeq: 9 SUBSCRIBE\r\nEvent: vnd-microsoft-provisioning-v2\r\n"+
			"Authorization: NTLM qop=\"auth\", opaque=\"%s\", realm=\"SIP Communications Service\", targetname=\"sip.lab.test\", crand=\"1\", cnum=\"1\", response=\"01000000000000000000000064000000\"\r\nContent-Length: 0\r\n\r\n", opaque)
		nc.Write([]byte(req))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, _, err := NewReader(bufio.NewReader(nc), Limits{}).Next()
		nc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 || !strings.Contains(resp.Get("WWW-Authenticate"), `realm="SIP Communications Service"`) || len(resp.Body) > 0 {
			t.Errorf("opaque %s: answered %d %q with %d body bytes, want a bare 401 offer", opaque, resp.StatusCode, resp.Get("WWW-Authenticate"), len(resp.Body))
		}
	}
	// The victim's own session is untouched.
	if _, err := victim.Provisioning(ctx); err != nil {
		t.Errorf("the signed-in phone after the forgeries: %v", err)
	}
}

func signIn(t *testing.T, addr string) {
	t.Helper()
	c := dialClient(t, addr, ClientConfig{SignIn: "after@lab.test", Password: testPassword, Piggyback: true})
	ctx := context.Background()
	if _, err := c.Register(ctx); err != nil {
		t.Fatalf("a phone signing in afterwards: %v", err)
	}
	if _, err := c.Provisioning(ctx); err != nil {
		t.Fatalf("a phone signing in afterwards: %v", err)
	}
}

func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line says %q; the log:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyListener fails its first Accepts with EMFILE, as a listener does
// when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsDoNotStopTheServer: running out of file descriptors is
// logged and waited out; the listener goes on and a phone signs in.
func TestAcceptErrorsDoNotStopTheServer(t *testing.T) {
	var logs syncBuffer
	s, err := New(Config{
		Password: func() string { return testPassword },
		URLs:     func() UpdateURLs { return testURLs },
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, &flakyListener{Listener: ln, fails: 5}, "tcp") }()
	signIn(t, ln.Addr().String())
	waitLog(t, &logs, "too many open files")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after the accept errors: %v", err)
	}
}

// TestCapturesAreBounded: a signed-in phone that sends hundreds of
// requests the front end does not know gets each one answered, but only
// the first few are kept.
func TestCapturesAreBounded(t *testing.T) {
	_, addr, rec := startServer(t, Config{})
	c := dialClient(t, addr, ClientConfig{SignIn: "flood@lab.test", Password: testPassword})
	ctx := context.Background()
	if _, err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		resp, err := c.Do(ctx, c.NewRequest("FROBNICATE"))
		if err != nil || resp.StatusCode != 501 {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.captures) != maxCapturesPerConn {
		t.Errorf("%d captures kept from 200 unknown requests, want %d", len(rec.captures), maxCapturesPerConn)
	}
}
