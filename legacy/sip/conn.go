package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// maxSAs bounds the security associations one connection holds: a client
// has one, plus a handshake in flight when it re-authenticates.
const maxSAs = 4

// maxAuthFailures is how many wrong passwords in a row a connection gets
// before the 403 that ends it.
const maxAuthFailures = 3

// conn is one phone's long-lived connection. Everything on it happens on
// its own goroutine: requests are answered, and the requests the appliance
// originates (NOTIFY, BENOTIFY) sent, in order, so nothing here locks.
type conn struct {
	s         *Server
	nc        net.Conn
	transport string
	ip        netip.Addr
	cid       int
	r         *Reader

	sas       map[string]*securityAssociation
	failures  int       // wrong passwords in a row
	attempted bool      // a sign-in attempt was reported and has not ended
	signedIn  bool      // some security association was established
	userAgent string    // the last User-Agent seen
	regKeys   []string  // registrations this connection made
	closeNow  bool      // close after the current answer
	lastAuth  time.Time // when the last handshake finished
}

func newConn(s *Server, nc net.Conn, transport string, ip netip.Addr, cid int) *conn {
	return &conn{
		s: s, nc: nc, transport: transport, ip: ip, cid: cid,
		r:   NewReader(nc, s.cfg.Limits),
		sas: map[string]*securityAssociation{},
	}
}

// serve reads and answers messages until the peer goes, a limit cuts the
// connection or ctx ends.
func (c *conn) serve(ctx context.Context) {
	defer c.s.release(c)
	defer c.nc.Close()
	for ctx.Err() == nil && !c.closeNow {
		idle := c.s.cfg.SignInTimeout
		if c.signedIn {
			idle = c.s.cfg.KeepAlive + time.Minute
		}
		c.nc.SetReadDeadline(c.s.cfg.Now().Add(idle))
		if _, err := c.r.r.Peek(1); err != nil {
			c.logEnd(err, "idle")
			return
		}
		c.nc.SetReadDeadline(c.s.cfg.Now().Add(c.s.cfg.MessageTimeout))
		m, ping, err := c.r.Next()
		if err != nil {
			c.refuse(m, err)
			return
		}
		if ping {
			c.write([]byte("\r\n"))
			continue
		}
		if !m.IsRequest() {
			c.response(m)
			continue
		}
		c.request(m)
	}
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
