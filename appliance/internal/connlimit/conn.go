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

// writeChunk is the most one write carries under one WriteStall deadline,
// and what a client must take of a sendfile within each WriteStall: with
// the defaults, a client taking less than 128 KiB a minute (about 2 KiB/s)
// is cut, and a 30 MiB image can still take four hours.
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
// (net/http hands the response body to the connection's ReadFrom: an
// *io.LimitedReader around the file, from ServeContent) under the rule
// Write keeps, each writeChunk taken within WriteStall. From a file it is
// one ReadFrom, so the kernel moves the transfer in as few calls as it can,
// while sendfileWatch moves the deadline on as the client takes the bytes;
// from anything else, each writeChunk is its own ReadFrom under its own
// deadline.
func (c *conn) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	switch {
	case !ok:
		return io.Copy(writerOnly{c}, src)
	case c.l.cfg.WriteStall <= 0:
		return rf.ReadFrom(src)
	}
	if f := sendfileSource(src); f != nil {
		if start, err := f.Seek(0, io.SeekCurrent); err == nil {
			stop := c.sendfileWatch(f, start)
			n, err := rf.ReadFrom(src)
			stop()
			if err != nil {
				return n, c.l.noteWrite(c.addr, err)
			}
			return n, nil
		}
	}
	return c.readFromChunks(rf, src)
}

// sendfileSource is the file under src when the kernel can send it
// (net.TCPConn's ReadFrom takes a file or a LimitedReader around one), or
// nil.
func sendfileSource(src io.Reader) *os.File {
	if lr, ok := src.(*io.LimitedReader); ok {
		src = lr.R
	}
	f, _ := src.(*os.File)
	return f
}

// sendfileWatch sets the write deadline of a sendfile from f, which starts
// at offset start, and keeps it: every quarter of WriteStall it reads f's
// offset (sendfile sends from it and moves it on, so reading it beside the
// transfer is safe), and once the client has taken another writeChunk it
// sets the deadline to WriteStall from then. A client that takes less than
// writeChunk in a WriteStall is cut as Write cuts it, a quarter of
// WriteStall later at most. The returned func stops the watch and waits
// for it.
func (c *conn) sendfileWatch(f *os.File, start int64) (stop func()) {
	c.armWrite()
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(max(c.l.cfg.WriteStall/4, time.Millisecond))
		defer t.Stop()
		credited := start
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if pos, err := f.Seek(0, io.SeekCurrent); err == nil && pos-credited >= writeChunk {
					credited = pos
					c.armWrite()
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// readFromChunks copies src by rf, one writeChunk at a time, each under
// its own write deadline.
func (c *conn) readFromChunks(rf io.ReaderFrom, src io.Reader) (int64, error) {
	lr, limited := src.(*io.LimitedReader)
	var total int64
	chunk := new(io.LimitedReader) // one for every chunk of the transfer
	for {
		r, n := src, int64(writeChunk)
		if limited {
			if lr.N <= 0 {
				return total, nil
			}
			r, n = lr.R, min(n, lr.N)
		}
		c.armWrite()
		*chunk = io.LimitedReader{R: r, N: n}
		w, err := rf.ReadFrom(chunk)
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
