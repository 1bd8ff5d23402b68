package web

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
)

// AccessFields is the #Fields line: the W3C extended format with the field
// names IIS uses, as PROTOCOL.md §5 lists them.
const AccessFields = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status sc-substatus sc-win32-status time-taken"

// AccessLog writes one W3C extended line per request into u_ex<yymmdd>.log
// (the IIS file name, one file per UTC day; W3C times are UTC). Lines are
// buffered and flushed every second and on Close.
//
// A full disk neither loses lines nor breaks the log: a failed write is cut
// back out of the file, its lines stay buffered (at most
// writefail.DefaultMaxPending bytes; lines past it are dropped and counted)
// and the next flush the backoff allows (1 s doubling to 30 s) writes them.
// Requests are served throughout; Health says what is failing.
type AccessLog struct {
	dir      string
	software string
	// local is the server address last logged, formatted: every request
	// on a listener has the same one.
	local atomic.Pointer[localAddr]

	mu   sync.Mutex
	day  string
	date civilDate // of day, compared without formatting per line
	out  writefail.Appender
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

// civilDate is a UTC calendar day.
type civilDate struct {
	year  int
	month time.Month
	day   int
}

// localAddr is a server address and its s-ip and s-port fields.
type localAddr struct {
	addr     netip.AddrPort
	ip, port string
}

// AccessHealth is the access log's writes: writefail.Status, plus the
// lines waiting and dropped.
type AccessHealth struct {
	writefail.Status
	PendingBytes int
	Dropped      uint64
}

// OpenAccessLog starts an access log in dir; software names the writer in
// the #Software header. Failures and recoveries are logged to
// slog.Default() until SetLogger.
func OpenAccessLog(dir, software string) (*AccessLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	l := &AccessLog{dir: dir, software: software, stop: make(chan struct{}), done: make(chan struct{})}
	l.out.Tracker = writefail.New("access log", nil, nil)
	go l.flushLoop()
	return l, nil
}

// SetLogger names where the log's write failures and recoveries are
// logged, once each.
func (l *AccessLog) SetLogger(log *slog.Logger) { l.out.Tracker.SetLogger(log) }

// Health reports whether the access log can be written.
func (l *AccessLog) Health() AccessHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	return AccessHealth{Status: l.out.Tracker.Status(), PendingBytes: l.out.Pending(), Dropped: l.out.Dropped()}
}

func (l *AccessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Flush writes buffered lines to the file, unless the file is failing and
// its retry is not due yet; then it returns the last error.
func (l *AccessLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.out.Flush(false); err != nil {
		return fmt.Errorf("access log %s: %w", l.out.Path(), err)
	}
	return nil
}

// Close flushes, fsyncs and closes the file.
func (l *AccessLog) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.out.Close(); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	return nil
}

// Entry is one request as the access log records it.
type Entry struct {
	Time      time.Time // when the request ended
	ServerIP  string
	Method    string
	URIStem   string
	URIQuery  string
	Port      string
	Username  string
	ClientIP  string
	UserAgent string
	Status    int
	Taken     time.Duration
}

// Write appends one line.
func (l *AccessLog) Write(e Entry) error {
	t := e.Time.UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.rotate(t)
	b := l.buf[:0]
	b = t.AppendFormat(b, "2006-01-02 15:04:05")
	b = appendField(b, e.ServerIP)
	b = appendField(b, e.Method)
	b = appendField(b, e.URIStem)
	b = appendField(b, e.URIQuery)
	b = appendField(b, e.Port)
	b = appendField(b, e.Username)
	b = appendField(b, e.ClientIP)
	b = appendField(b, e.UserAgent)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, " 0 0 "...) // sc-substatus, sc-win32-status: IIS-only detail
	b = strconv.AppendInt(b, e.Taken.Milliseconds(), 10)
	b = append(b, "\r\n"...)
	l.buf = b
	l.out.Append(b)
	return err
}

// appendField appends a space and the field as W3C writes it: "-" when
// empty, spaces as "+" (IIS does this for the User-Agent), other control
// characters dropped so one request is one line.
func appendField(b []byte, s string) []byte {
	b = append(b, ' ')
	if s == "" {
		return append(b, '-')
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b = append(b, '+')
		case c < 0x20 || c == 0x7f:
		default:
			b = append(b, c)
		}
	}
	return b
}

// rotate makes the day's file the one lines go to, with the W3C
// directives first when it is new. It fails only when the previous day's
// lines could not be written (they are dropped).
func (l *AccessLog) rotate(t time.Time) error {
	var date civilDate
	date.year, date.month, date.day = t.Date()
	if l.day != "" && date == l.date {
		return nil
	}
	day := t.Format("060102")
	l.day, l.date = day, date
	header := fmt.Sprintf("#Software: %s\r\n#Version: 1.0\r\n#Date: %s\r\n#Fields: %s\r\n",
		l.software, t.Format("2006-01-02 15:04:05"), AccessFields)
	if err := l.out.Switch(filepath.Join(l.dir, "u_ex"+day+".log"), []byte(header)); err != nil {
		return fmt.Errorf("access log: the previous day's lines are lost: %w", err)
	}
	return nil
}

// Middleware logs every request h serves.
func (l *AccessLog) Middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		e := Entry{
			Method: r.Method, URIStem: r.URL.EscapedPath(), URIQuery: r.URL.RawQuery,
			UserAgent: r.UserAgent(), Status: sw.status,
		}
		e.Time = time.Now()
		e.Taken = e.Time.Sub(start)
		e.ClientIP, _, _ = net.SplitHostPort(r.RemoteAddr)
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			e.ServerIP, e.Port = l.serverAddr(a)
		}
		if u, _, ok := r.BasicAuth(); ok {
			e.Username = u
		}
		l.Write(e)
	})
}

// serverAddr is the s-ip and s-port of a: formatted once per address, not
// per request.
func (l *AccessLog) serverAddr(a net.Addr) (ip, port string) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		ip, port, _ = net.SplitHostPort(a.String())
		return ip, port
	}
	ap := ta.AddrPort()
	if c := l.local.Load(); c != nil && c.addr == ap {
		return c.ip, c.port
	}
	c := &localAddr{addr: ap}
	c.ip, c.port, _ = net.SplitHostPort(a.String())
	l.local.Store(c)
	return c.ip, c.port
}

// statusWriter remembers the status code. It forwards ReadFrom so file
// downloads keep the kernel's sendfile path.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

// ReadFrom lets io.Copy reach the connection's ReadFrom (sendfile).
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
