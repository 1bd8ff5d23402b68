package sip

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// maxSAs bounds the security associations one connection holds: a client
// has one, plus a handshake in flight when it re-authenticates.
const maxSAs = 4

// maxCapturesPerConn bounds the messages one connection may have kept
// under captures/: the first few teach us a phone's shape, a flood of
// unknown requests must not fill the disk.
const maxCapturesPerConn = 16

// maxAuthFailures is how many wrong passwords in a row a connection gets
// before the 403 that ends it.
const maxAuthFailures = 3

// conn is one phone's long-lived connection. Everything on it happens on
// its own goroutine: requests are answered, and the requests the appliance
// originates (NOTIFY, BENOTIFY) sent, in order, so nothing here locks.
//
// An idle connection holds no read buffer and a small stack: thousands of
// registered phones sit in awaitByte, and each message is read (with a
// pooled buffer) and answered on a goroutine that ends with it.
type conn struct {
	s         *Server
	nc        net.Conn
	transport string
	ip        netip.Addr
	r         *Reader // nil while idle
	first     [1]byte // the byte that ended the idle wait

	sas       map[string]*securityAssociation
	failures  int    // wrong passwords in a row
	attempted bool   // a sign-in attempt was reported and has not ended
	signedIn  bool   // some security association was established
	userAgent string // the last User-Agent seen
	closeNow  bool   // close after the current answer
	captured  int    // messages kept under captures/
}

func newConn(s *Server, nc net.Conn, transport string, ip netip.Addr) *conn {
	return &conn{
		s: s, nc: nc, transport: transport, ip: ip,
		sas: map[string]*securityAssociation{},
	}
}

// readerPool holds the read buffers of connections that are reading.
var readerPool = sync.Pool{New: func() any { return &Reader{r: bufio.NewReaderSize(nil, readBufferSize)} }}

// serve waits for messages and has each one answered until the peer goes,
// a limit cuts the connection or ctx ends.
func (c *conn) serve(ctx context.Context) {
	defer c.s.release(c)
	defer c.nc.Close()
	defer c.putReader()
	handled := make(chan bool, 1)
	for ctx.Err() == nil && !c.closeNow {
		if c.r == nil {
			if err := c.awaitByte(); err != nil {
				c.logEnd(err, "idle")
				return
			}
		}
		// The message is read and answered on a goroutine of its own, so
		// the deep stack of a handshake is freed when it ends instead of
		// staying with this one for the life of the connection.
		go func() { handled <- c.handleNext() }()
		if !<-handled {
			return
		}
	}
}

// handleNext reads one message and answers it; false ends the connection.
func (c *conn) handleNext() bool {
	if c.r == nil {
		c.r = readerPool.Get().(*Reader)
		c.r.reset(&firstThen{c: c}, c.s.cfg.Limits)
	}
	c.nc.SetReadDeadline(c.s.cfg.Now().Add(c.s.cfg.MessageTimeout))
	if !c.next() {
		return false
	}
	if c.r.r.Buffered() == 0 {
		c.putReader() // nothing pipelined: go idle without a buffer
	}
	return true
}

// awaitByte waits, within the idle limit, for the first byte of the next
// message. It is kept small: its frames are what an idle phone's stack
// holds.
func (c *conn) awaitByte() error {
	idle := c.s.cfg.SignInTimeout
	if c.signedIn {
		idle = c.s.cfg.KeepAlive + time.Minute
	}
	c.nc.SetReadDeadline(c.s.cfg.Now().Add(idle))
	for {
		n, err := c.nc.Read(c.first[:])
		if n == 1 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// firstThen reads the byte awaitByte took, then the connection.
type firstThen struct {
	c    *conn
	done bool
}

func (f *firstThen) Read(p []byte) (int, error) {
	if !f.done && len(p) > 0 {
		f.done = true
		p[0] = f.c.first[0]
		return 1, nil
	}
	return f.c.nc.Read(p)
}

func (c *conn) putReader() {
	if c.r != nil {
		c.r.reset(nil, Limits{})
		readerPool.Put(c.r)
		c.r = nil
	}
}

// next reads one message and answers it; false ends the connection.
func (c *conn) next() bool {
	m, ping, err := c.r.Next()
	switch {
	case err != nil:
		c.refuse(m, err)
		return false
	case ping:
		c.write([]byte("\r\n"))
	case !m.IsRequest():
		c.response(m)
	default:
		c.request(m)
	}
	return true
}

// logEnd logs why a connection ended, unless the peer simply closed it.
func (c *conn) logEnd(err error, while string) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.s.cut.Add(1)
		c.s.cfg.Log.Info("sip: connection closed: silent too long", "client", c.ip, "transport", c.transport, "while", while)
		return
	}
	c.s.cfg.Log.Info("sip: connection ended", "client", c.ip, "transport", c.transport, "err", err)
}

// refuse answers a message that could not be read, where an answer is
// possible, and logs why the connection is cut.
func (c *conn) refuse(head *Message, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	c.s.cut.Add(1)
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.s.cfg.Log.Warn("sip: connection cut: a message did not arrive in time", "client", c.ip, "transport", c.transport, "limit", c.s.cfg.MessageTimeout, "err", err)
		return
	}
	c.s.cfg.Log.Warn("sip: connection cut: unreadable message", "client", c.ip, "transport", c.transport, "err", err)
	if head != nil && head.IsRequest() && errors.Is(err, ErrTooLarge) {
		c.capture(head, "too-large")
		c.send(newResponse(head, 413), c.saFor(head))
	}
}

// request answers one request.
func (c *conn) request(req *Message) {
	if ua := req.Get("User-Agent"); ua != "" && len(ua) <= 256 {
		c.userAgent = ua
	}
	switch strings.ToUpper(req.Method) {
	case "ACK", "CANCEL":
		// Never challenged, never answered: there are no INVITE
		// transactions here ([MS-SIPAE] server rules).
		return
	}
	sa, resp := c.authenticate(req)
	if resp != nil {
		c.send(resp, nil)
		return
	}
	for _, m := range c.dispatch(req, sa) {
		c.send(m, sa)
	}
}

// response handles a phone's answer to a NOTIFY: checked, not acted on.
func (c *conn) response(m *Message) {
	sa := c.saFor(m)
	if sa == nil {
		return
	}
	ok, checked := sa.verify(m)
	if checked && !ok {
		c.signatureFailed(m)
	}
}

// send signs m with sa when sa is established and m is a final response or
// a request, and writes it.
func (c *conn) send(m *Message, sa *securityAssociation) {
	if sa != nil && sa.session != nil && (m.IsRequest() || m.StatusCode >= 200) {
		sa.sign(m, c.s.randHex(4))
	}
	c.write(m.Bytes())
}

// write writes b within the write timeout; a phone that does not read is
// cut.
func (c *conn) write(b []byte) {
	c.nc.SetWriteDeadline(c.s.cfg.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.s.cfg.Log.Info("sip: write failed, closing", "client", c.ip, "transport", c.transport, "err", err)
		c.closeNow = true
	}
}

// report tells the observer about a step.
func (c *conn) report(step Step, user, handed, detail string) {
	if c.s.cfg.Observer == nil {
		return
	}
	c.s.cfg.Observer.SIP(Event{
		At: c.s.cfg.Now(), ClientIP: c.ip, Transport: c.transport, Step: step,
		User: user, UserAgent: c.userAgent, Handed: handed, Detail: detail,
	})
}

// capture keeps m's bytes, credentials redacted.
func (c *conn) capture(m *Message, reason string) {
	if c.s.cfg.Capturer == nil {
		return
	}
	if c.captured++; c.captured > maxCapturesPerConn {
		if c.captured == maxCapturesPerConn+1 {
			c.s.cfg.Log.Warn("sip: no more captures from this connection", "client", c.ip, "limit", maxCapturesPerConn)
		}
		return
	}
	c.s.cfg.Capturer.CaptureSIP(c.s.cfg.Now(), c.ip, reason, redacted(m).Bytes())
}

// redacted is a copy of m whose NTLM blobs and signatures are replaced:
// an NTLMv2 response lets anyone who reads it guess the password offline.
func redacted(m *Message) *Message {
	cp := *m
	cp.Headers = make([]Header, len(m.Headers))
	for i, h := range m.Headers {
		switch canonical(h.Name) {
		case "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate", "authentication-info":
			a := parseAuth(h.Value)
			for _, secret := range []string{"gssapi-data", "response", "rspauth"} {
				if v := a.get(secret); v != "" {
					h.Value = strings.Replace(h.Value, v, "REDACTED", 1)
				}
			}
		}
		cp.Headers[i] = h
	}
	return &cp
}

// randHex is n random bytes in upper-case hex, as OCS writes opaque, srand
// and tags.
func (s *Server) randHex(n int) string {
	b := make([]byte, n)
	s.random(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// random fills b from Config.Rand.
func (s *Server) random(b []byte) {
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		rand.Read(b) // a test's short source; crypto/rand itself never fails
	}
}
