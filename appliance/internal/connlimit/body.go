package connlimit

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"
)

// Server sets srv's timeouts for a listener from Listen, replacing its
// own: ReadHeaderTimeout is HeaderTimeout; request bodies are paced by
// BodyMinRate instead of a whole-request ReadTimeout; writes are bounded
// one by one by the connection (WriteStall) instead of a whole-response
// WriteTimeout, which would cut a slow but steady firmware download. A zero
// field leaves that part unbounded. It returns srv.
func (l *Limiter) Server(srv *http.Server) *http.Server {
	srv.ReadHeaderTimeout = l.cfg.HeaderTimeout
	srv.ReadTimeout = 0
	srv.WriteTimeout = 0
	srv.Handler = l.PaceBodies(srv.Handler)
	return srv
}

// PaceBodies cuts request bodies that arrive slower than BodyMinRate after
// the HeaderTimeout grace (DefaultHeaderTimeout when that is off): each read of the body gets the read deadline
// start + grace + received/BodyMinRate. A body the handler leaves unread
// is bounded by the same deadline when net/http drains it. It must wrap
// the handler outermost, on the server's own ResponseWriter.
func (l *Limiter) PaceBodies(next http.Handler) http.Handler {
	if l.cfg.BodyMinRate <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		b := &pacedBody{ReadCloser: r.Body, l: l, rc: *http.NewResponseController(w), start: time.Now(), addr: requestAddr(r), length: r.ContentLength}
		b.arm()
		r.Body = b
		next.ServeHTTP(w, r)
	})
}

// pacedBody sets the read deadline before each read that follows newly
// received bytes (the deadline is a function of the bytes received, so
// between arrivals it stays put), until the body ends:
// once it has, net/http reads the connection in the background to notice a
// client going away, and a deadline then would cancel the request.
type pacedBody struct {
	io.ReadCloser
	l        *Limiter
	rc       http.ResponseController // in the body: one allocation per request, not two
	start    time.Time
	addr     netip.Addr
	length   int64 // Content-Length, -1 when unknown (chunked)
	received int64
	armed    int64 // received when the deadline was last set
	done     bool
}

func (b *pacedBody) arm() {
	grace := b.l.cfg.HeaderTimeout
	if grace <= 0 {
		grace = DefaultHeaderTimeout
	}
	b.armed = b.received
	allowed := grace + time.Duration(float64(b.received)/float64(b.l.cfg.BodyMinRate)*float64(time.Second))
	// Only ErrNotSupported (a writer that is not net/http's) can come
	// back; such a writer has no connection to bound.
	b.rc.SetReadDeadline(b.start.Add(allowed))
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	// The deadline moves only as bytes arrive; once Content-Length bytes
	// have, net/http's body answers EOF without reading the connection.
	if b.received != b.armed && (b.length < 0 || b.received < b.length) {
		b.arm()
	}
	n, err := b.ReadCloser.Read(p)
	b.received += int64(n)
	if err != nil {
		b.done = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.l.slowBodies.Add(1)
			b.l.log.Warn("phone listener: request cut: its body arrived too slowly", "client", b.addr, "received", b.received, "min_rate", b.l.cfg.BodyMinRate)
		}
	}
	return n, err
}

// requestAddr is the client address of r, the zero Addr when unknown.
func requestAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}
