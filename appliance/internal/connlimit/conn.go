package connlimit

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// writeChunk is the most one write (or one piece of a sendfile) carries
// under one WriteStall deadline: with the defaults, a client taking less
// than 128 KiB a minute (about 2 KiB/s) is cut, and a 30 MiB image can
// still take four hours.
const writeChunk = 128 << 10

// conn is an admitted connection: Close gives its place back once, and
// every write gets its own WriteStall deadline (or the caller's earlier
// one, when it set one).
type conn struct {
	net.Conn
	l      *Limiter
	addr   netip.Addr
	closed atomic.Bool

	mu sync.Mutex
	// deadline is the write deadline the caller set (zero: none); a
	// write's own deadline never extends it.
	deadline time.Time
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr)
	}
	return err
}

// CloseWrite half-closes the connection when the underlying one can
// (TCP): net/http sends its last response that way before closing a
// connection whose request body it did not read, so the client's unread
// bytes do not turn the close into a reset that eats the response.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

// armWrite sets the deadline of the next write: WriteStall from now, or
// the caller's deadline when that is earlier.
func (c *conn) armWrite() {
	d := time.Now().Add(c.l.cfg.WriteStall)
	c.mu.Lock()
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	c.Conn.SetWriteDeadline(d)
	c.mu.Unlock()
}

func (c *conn) Write(p []byte) (int, error) {
	if c.l.cfg.WriteStall <= 0 {
		return c.Conn.Write(p)
	}
	var n int
	for len(p) > 0 {
		c.armWrite()
		w, err := c.Conn.Write(p[:min(len(p), writeChunk)])
		n += w
		if err != nil {
			return n, c.l.noteWrite(c.addr, err)
		}
		p = p[w:]
	}
	return n, nil
}

// ReadFrom keeps the kernel's sendfile for downloads over plain HTTP
// (net/http hands the response body to the connection's ReadFrom) while
// giving each writeChunk its own deadline: ServeContent passes an
// *io.LimitedReader around the file, and a LimitedReader around the file
// is still what sendfile recognises.
func (c *conn) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	switch {
	case !ok:
		return io.Copy(writerOnly{c}, src)
	case c.l.cfg.WriteStall <= 0:
		return rf.ReadFrom(src)
	}
	lr, limited := src.(*io.LimitedReader)
	var total int64
	for {
		r, n := src, int64(writeChunk)
		if limited {
			if lr.N <= 0 {
				return total, nil
			}
			r, n = lr.R, min(n, lr.N)
		}
		c.armWrite()
		w, err := rf.ReadFrom(&io.LimitedReader{R: r, N: n})
		total += w
		if limited {
			lr.N -= w
		}
		if err != nil {
			return total, c.l.noteWrite(c.addr, err)
		}
		if w < n {
			return total, nil // src is done
		}
	}
}

// writerOnly hides conn's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// noteWrite counts and logs a write cut by WriteStall, and returns err.
func (l *Limiter) noteWrite(addr netip.Addr, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		l.stalledWrites.Add(1)
		l.log.Warn("phone listener: connection cut: the client took nothing for too long", "client", addr, "limit", l.cfg.WriteStall)
	}
	return err
}
