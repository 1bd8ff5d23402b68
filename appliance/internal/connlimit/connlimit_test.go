package connlimit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// served is a test server behind a Limiter on 127.0.0.1.
type served struct {
	addr string
	l    *Limiter
}

func serve(t *testing.T, cfg Config, h http.Handler, tune func(*http.Server)) *served {
	t.Helper()
	l, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if tune != nil {
		tune(srv)
	}
	l.Server(srv)
	done := make(chan struct{})
	go func() { srv.Serve(l.Listen(ln)); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return &served{addr: ln.Addr().String(), l: l}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one keep-alive GET on c and returns the status, or the error
// when the server answered nothing.
func get(c net.Conn, br *bufio.Reader) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net, not a measurement
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// tryGet dials addr from src and sends one GET on a connection of its
// own; a connection the server refuses fails in the dial (the reset can
// beat connect's return on loopback) or in the read.
func tryGet(src, addr string) (int, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return get(c, bufio.NewReader(c))
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// waitOpen waits until the limiter holds n connections (the server notices
// a closed client asynchronously).
func waitOpen(t *testing.T, l *Limiter, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Open != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("open connections: %d, want %d", l.Stats().Open, n)
		}
	}
}

func TestPerAddressCapRefusesTheNextOneAndServesOthers(t *testing.T) {
	s := serve(t, Config{PerAddress: 2}, okHandler, nil)
	for i := range 2 {
		c := dialFrom(t, "127.0.0.2", s.addr)
		if code, err := get(c, bufio.NewReader(c)); err != nil || code != 200 {
			t.Fatalf("connection %d from 127.0.0.2: %d %v, want 200", i+1, code, err)
		}
	}
	if code, err := tryGet("127.0.0.2", s.addr); err == nil {
		t.Fatalf("third connection from 127.0.0.2 got %d, want it closed unanswered", code)
	}
	other := dialFrom(t, "127.0.0.3", s.addr)
	if code, err := get(other, bufio.NewReader(other)); err != nil || code != 200 {
		t.Fatalf("127.0.0.3 while 127.0.0.2 is at its cap: %d %v, want 200", code, err)
	}
	st := s.l.Stats()
	if st.RefusedPerAddress != 1 || st.RefusedTotal != 0 || st.Open != 3 {
		t.Errorf("stats %+v, want 1 refused per address, 3 open", st)
	}
}

func TestTotalCapRefusesAndGivesPlacesBack(t *testing.T) {
	s := serve(t, Config{Total: 3}, okHandler, nil)
	var held []net.Conn
	for i := range 3 {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", 10+i), s.addr)
		if code, err := get(c, bufio.NewReader(c)); err != nil || code != 200 {
			t.Fatalf("connection %d: %d %v, want 200", i+1, code, err)
		}
		held = append(held, c)
	}
	if code, err := tryGet("127.0.0.20", s.addr); err == nil {
		t.Fatalf("fourth connection got %d, want it closed unanswered", code)
	}
	held[0].Close()
	waitOpen(t, s.l, 2)
	c := dialFrom(t, "127.0.0.20", s.addr)
	if code, err := get(c, bufio.NewReader(c)); err != nil || code != 200 {
		t.Fatalf("after one closed: %d %v, want 200", code, err)
	}
	if st := s.l.Stats(); st.RefusedTotal != 1 || st.RefusedPerAddress != 0 {
		t.Errorf("stats %+v, want 1 refused by the total cap", st)
	}
}

func TestCapsOffAdmitEveryone(t *testing.T) {
	s := serve(t, Config{}, okHandler, nil)
	for i := range 5 {
		c := dialFrom(t, "127.0.0.2", s.addr)
		if code, err := get(c, bufio.NewReader(c)); err != nil || code != 200 {
			t.Fatalf("connection %d: %d %v, want 200", i+1, code, err)
		}
	}
	if st := s.l.Stats(); st.RefusedPerAddress+st.RefusedTotal != 0 || st.Open != 5 {
		t.Errorf("stats %+v, want nothing refused, 5 open", st)
	}
}

// readsUntilClosed reads c until the server closes it and returns what
// came; the test's own deadline is only a safety net.
func readsUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open (read %q)", b)
	}
	return string(b)
}

func TestSlowHeadersAreCut(t *testing.T) {
	s := serve(t, Config{HeaderTimeout: 100 * time.Millisecond}, okHandler, nil)
	c := dialFrom(t, "127.0.0.2", s.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n") // and never the blank line
	if got := readsUntilClosed(t, c); got != "" {
		t.Errorf("server answered %q to a request without its end", got)
	}
	waitOpen(t, s.l, 0)
}

// bodyHandler answers 200 with the body's length, 400 when reading fails.
var bodyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprint(w, n)
})

func TestTrickledBodyIsCut(t *testing.T) {
	s := serve(t, Config{HeaderTimeout: 100 * time.Millisecond, BodyMinRate: 1000}, bodyHandler, nil)
	c := dialFrom(t, "127.0.0.2", s.addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789")
	closed := make(chan string)
	go func() { closed <- readsUntilClosed(t, c) }()
	// One byte every 20 ms: 50 B/s, far under the minimum rate, yet never
	// idle long.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case got := <-closed:
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("answer %q, want a 400 then the connection closed", got)
			}
			if st := s.l.Stats(); st.SlowBodies != 1 {
				t.Errorf("slow bodies %d, want 1", st.SlowBodies)
			}
			waitOpen(t, s.l, 0)
			return
		case <-tick.C:
			c.Write([]byte("x"))
		}
	}
}

func TestStalledBodyTheHandlerNeverReadsIsCut(t *testing.T) {
	s := serve(t, Config{HeaderTimeout: 100 * time.Millisecond, BodyMinRate: 1000}, okHandler, nil)
	c := dialFrom(t, "127.0.0.2", s.addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
	if got := readsUntilClosed(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("answer %q, want the handler's 200, then the connection closed", got)
	}
	waitOpen(t, s.l, 0)
}

func TestSteadyBodyAboveTheRateCompletes(t *testing.T) {
	// 6000 bytes at about 4000 B/s take 1.5 s, past the 1 s grace; the
	// deadline grows to 1 s + 6000/250 s as they arrive, room for a noisy
	// machine.
	s := serve(t, Config{HeaderTimeout: time.Second, BodyMinRate: 250}, bodyHandler, func(srv *http.Server) {
		srv.ReadTimeout = 200 * time.Millisecond // replaced by the pacing
	})
	c := dialFrom(t, "127.0.0.2", s.addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6000\r\nConnection: close\r\n\r\n")
	for range 30 {
		c.Write(bytes.Repeat([]byte("y"), 200))
		time.Sleep(50 * time.Millisecond)
	}
	got := readsUntilClosed(t, c)
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "\r\n\r\n6000") {
		t.Errorf("answer %q, want 200 with 6000", got)
	}
	if st := s.l.Stats(); st.SlowBodies != 0 {
		t.Errorf("slow bodies %d, want 0", st.SlowBodies)
	}
}

func TestClientThatStopsReadingIsCut(t *testing.T) {
	big := bytes.Repeat([]byte("z"), 64<<20)
	s := serve(t, Config{WriteStall: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(big)
	}), nil)
	expectCutWhenNotRead(t, s)
}

// expectCutWhenNotRead asks s for / from a client that never reads: the
// server's writes fill both socket buffers and stall, and the limiter
// cuts the connection, counting one stalled write.
func expectCutWhenNotRead(t *testing.T, s *served) {
	t.Helper()
	c := dialFrom(t, "127.0.0.2", s.addr)
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
	// The count may lag the close (or the accept lag the dial): wait for it.
	for deadline := time.Now().Add(10 * time.Second); s.l.Stats().StalledWrites == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	waitOpen(t, s.l, 0)
	if st := s.l.Stats(); st.StalledWrites != 1 {
		t.Errorf("stalled writes %d, want 1", st.StalledWrites)
	}
}

func TestSlowSteadyDownloadOutlivesWriteTimeout(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	path := filepath.Join(dir, "CPE.nbt")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	s := serve(t, Config{WriteStall: 2 * time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "CPE.nbt", time.Time{}, f) // sendfile through conn.ReadFrom
	}), func(srv *http.Server) {
		srv.WriteTimeout = 300 * time.Millisecond // replaced by per-write deadlines
		srv.ConnContext = smallSendBuffer
	})
	c := dialFrom(t, "127.0.0.2", s.addr)
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Take 64 KiB every 30 ms: about 1.5 s in all, five times the old
	// whole-response WriteTimeout.
	var got bytes.Buffer
	for {
		n, err := io.CopyN(&got, resp.Body, 64<<10)
		if err != nil || n == 0 {
			break
		}
		time.Sleep(30 * time.Millisecond)
	}
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("downloaded %d bytes, want the %d of the file", got.Len(), len(content))
	}
	if st := s.l.Stats(); st.StalledWrites != 0 {
		t.Errorf("stalled writes %d, want 0", st.StalledWrites)
	}
}

// smallSendBuffer keeps the kernel from taking a whole test response at
// once, so the server's writes wait on the client.
func smallSendBuffer(ctx context.Context, c net.Conn) context.Context {
	c.(*conn).Conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
	return ctx
}

// tcpPair is a connected pair of TCP connections on 127.0.0.1, the
// server side wrapped by l.
func tcpPair(t *testing.T, l *Limiter) (server *conn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wl := l.Listen(ln)
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := wl.Accept(); accepted <- c }()
	client = dialFrom(t, "127.0.0.1", ln.Addr().String())
	sc := (<-accepted).(*conn)
	t.Cleanup(func() { sc.Close() })
	return sc, client
}

func TestReadFromCopiesExactlyWhatIsLimited(t *testing.T) {
	l, _ := New(Config{WriteStall: time.Minute}, nil)
	content := bytes.Repeat([]byte("abcdefgh"), (3*writeChunk+100)/8)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, content, 0o644)
	for _, tc := range []struct {
		name  string
		limit int64 // -1: the whole file, not limited
	}{
		{"whole file", -1},
		{"limited below a chunk", 1000},
		{"limited across chunks", 2*writeChunk + 7},
		{"limited beyond the file", int64(len(content)) + 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, client := tcpPair(t, l)
			f, _ := os.Open(path)
			defer f.Close()
			want := content
			var src io.Reader = f
			var lr *io.LimitedReader
			if tc.limit >= 0 {
				lr = &io.LimitedReader{R: f, N: tc.limit}
				src = lr
				want = content[:min(int64(len(content)), tc.limit)]
			}
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(client); got <- b }()
			n, err := sc.ReadFrom(src)
			sc.Close()
			if err != nil || n != int64(len(want)) {
				t.Fatalf("ReadFrom: %d, %v; want %d", n, err, len(want))
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("client read %d bytes, want %d", len(b), len(want))
			}
			if lr != nil && lr.N != tc.limit-n {
				t.Errorf("LimitedReader left with N=%d, want %d", lr.N, tc.limit-n)
			}
		})
	}
}

func TestCallersEarlierWriteDeadlineWins(t *testing.T) {
	l, _ := New(Config{WriteStall: time.Minute}, nil)
	sc, _ := tcpPair(t, l)
	sc.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := sc.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after a past deadline: %v, want a deadline error", err)
	}
	sc.SetWriteDeadline(time.Time{})
	if _, err := sc.Write([]byte("x")); err != nil {
		t.Fatalf("write once the deadline is cleared: %v", err)
	}
}

func TestCloseGivesThePlaceBackOnce(t *testing.T) {
	l, _ := New(Config{PerAddress: 1}, nil)
	sc, _ := tcpPair(t, l)
	sc.Close()
	sc.Close()
	if st := l.Stats(); st.Open != 0 {
		t.Fatalf("open %d after a double Close, want 0", st.Open)
	}
	if r := l.admit(netip.MustParseAddr("127.0.0.1")); r != "" {
		t.Fatalf("127.0.0.1 refused (%s) after its only connection closed", r)
	}
}

func TestRefusalsAreLoggedOncePerAddressPerMinute(t *testing.T) {
	var buf bytes.Buffer
	l, _ := New(Config{PerAddress: 1}, slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	for range 5 {
		l.refused(a, ReasonPerAddress)
	}
	l.refused(b, ReasonPerAddress)
	now = now.Add(59 * time.Second)
	l.refused(a, ReasonPerAddress)
	if got := strings.Count(buf.String(), "connection refused"); got != 2 {
		t.Fatalf("%d lines within the minute, want one per address:\n%s", got, buf.String())
	}
	now = now.Add(time.Second)
	l.refused(a, ReasonPerAddress)
	if got := strings.Count(buf.String(), "connection refused"); got != 3 {
		t.Fatalf("%d lines, want a third one a minute later:\n%s", got, buf.String())
	}
	if st := l.Stats(); st.RefusedPerAddress != 8 {
		t.Errorf("refused %d, want every refusal counted (8)", st.RefusedPerAddress)
	}
}

func TestRefusalsFromManyAddressesAreSummedUp(t *testing.T) {
	var buf bytes.Buffer
	l, _ := New(Config{Total: 1}, slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range maxLogged + 500 {
		l.refused(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), ReasonTotal)
	}
	if got := strings.Count(buf.String(), "connection refused"); got != maxLogged {
		t.Errorf("%d per-address lines, want %d (the table's size)", got, maxLogged)
	}
	if got := strings.Count(buf.String(), "many addresses"); got != 1 {
		t.Errorf("%d summary lines within the minute, want 1", got)
	}
	if n := l.rate.Remembered(); n > maxLogged {
		t.Errorf("logged table holds %d addresses, over its bound %d", n, maxLogged)
	}
	now = now.Add(time.Minute)
	l.refused(netip.MustParseAddr("10.200.0.1"), ReasonTotal)
	if got := strings.Count(buf.String(), "connection refused"); got != maxLogged+1 {
		t.Errorf("a minute later a new address is logged again: %d lines, want %d", got, maxLogged+1)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"per address", Config{PerAddress: -1}, "--phone-conns-per-address: -1 is negative"},
		{"total", Config{Total: -2}, "--phone-conns-total: -2 is negative"},
		{"header timeout", Config{HeaderTimeout: -time.Second}, "--phone-header-timeout: -1s is negative"},
		{"body rate", Config{BodyMinRate: -5}, "--phone-body-min-rate: -5 is negative"},
		{"write stall", Config{WriteStall: -time.Minute}, "--phone-write-stall: -1m0s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("all off: %v", err)
	}
}

// net/http half-closes before closing a connection whose request body it
// left unread, so its last answer is not lost to a reset; it looks for
// CloseWrite on the connection.
func TestCloseWriteHalfCloses(t *testing.T) {
	l, _ := New(DefaultConfig(), nil)
	sc, client := tcpPair(t, l)
	var cw interface{ CloseWrite() error } = sc
	io.WriteString(sc, "answer")
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	client.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net
	if b, err := io.ReadAll(client); err != nil || string(b) != "answer" {
		t.Fatalf("client read %q, %v; want the answer, then EOF", b, err)
	}
	io.WriteString(client, "still open")
	buf := make([]byte, 10)
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sc, buf); err != nil || string(buf) != "still open" {
		t.Fatalf("server read %q, %v after its half-close; want the client's bytes", buf, err)
	}
}

// TestSendfileClientThatStopsReadingIsCut: a download sent from a file
// (one sendfile, its deadline kept by the watch) to a client that never
// reads ends at WriteStall and is counted, as a stalled Write is.
func TestSendfileClientThatStopsReadingIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CPE.nbt")
	if err := os.WriteFile(path, bytes.Repeat([]byte("z"), 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s := serve(t, Config{WriteStall: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "CPE.nbt", time.Time{}, f) // sendfile through conn.ReadFrom
	}), func(srv *http.Server) { srv.ConnContext = smallSendBuffer })
	expectCutWhenNotRead(t, s)
}

// TestReadFromCopiesWhatIsNotAFile: a source the kernel cannot send is
// copied writeChunk by writeChunk, exactly as far as its limit.
func TestReadFromCopiesWhatIsNotAFile(t *testing.T) {
	l, _ := New(Config{WriteStall: time.Minute}, nil)
	content := bytes.Repeat([]byte("abcdefgh"), (3*writeChunk+100)/8)
	for _, limit := range []int64{-1, 1000, 2*writeChunk + 7, int64(len(content)) + 50} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			sc, client := tcpPair(t, l)
			var src io.Reader = bytes.NewReader(content)
			want := content
			var lr *io.LimitedReader
			if limit >= 0 {
				lr = &io.LimitedReader{R: src, N: limit}
				src, want = lr, content[:min(int64(len(content)), limit)]
			}
			got := make(chan []byte)
			go func() { b, _ := io.ReadAll(client); got <- b }()
			n, err := sc.ReadFrom(src)
			sc.Close()
			if err != nil || n != int64(len(want)) {
				t.Fatalf("ReadFrom: %d, %v; want %d", n, err, len(want))
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("client read %d bytes, want %d", len(b), len(want))
			}
			if lr != nil && lr.N != limit-n {
				t.Errorf("LimitedReader left with N=%d, want %d", lr.N, limit-n)
			}
		})
	}
}

// TestSendfileSteadyDownloadOutlivesWriteStall: a download sent from a
// file to a client that keeps taking bytes, well above writeChunk per
// WriteStall, runs for longer than WriteStall: the watch moves the
// deadline on.
func TestSendfileSteadyDownloadOutlivesWriteStall(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	path := filepath.Join(t.TempDir(), "CPE.nbt")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	const stall = time.Second
	s := serve(t, Config{WriteStall: stall}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "CPE.nbt", time.Time{}, f)
	}), func(srv *http.Server) { srv.ConnContext = smallSendBuffer })
	c := dialFrom(t, "127.0.0.2", s.addr)
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 64 KiB every 40 ms: about 2 s in all, 1.6 MiB/s, twelve times the
	// 128 KiB/s the rule asks for.
	var got bytes.Buffer
	for {
		n, err := io.CopyN(&got, resp.Body, 64<<10)
		if err != nil || n == 0 {
			break
		}
		time.Sleep(40 * time.Millisecond)
	}
	if took := time.Since(start); took < stall {
		t.Fatalf("the download took %s, under WriteStall %s: it proves nothing", took, stall)
	}
	if !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("downloaded %d bytes, want the %d of the file", got.Len(), len(content))
	}
	if st := s.l.Stats(); st.StalledWrites != 0 {
		t.Errorf("stalled writes %d, want 0", st.StalledWrites)
	}
}
