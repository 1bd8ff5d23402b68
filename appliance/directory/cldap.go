package directory

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The DC locator's "LDAP ping" over UDP (CLDAP, [MS-ADTS] 6.3.3): a phone
// asks port 389 for the root DSE's Netlogon attribute with a filter naming
// the domain (DnsDomain), itself (Host), maybe an account (User) and the
// answer versions it reads (NtVer); the DC answers with a
// NETLOGON_SAM_LOGON_RESPONSE_EX. Samba answers it but does not log it, so
// the appliance owns UDP 389 on the directory's addresses and relays each
// ping, bytes unchanged, to Samba's CLDAP on CLDAPPort of the same address,
// and the answer back. Samba fills the answer from the address it was
// asked on, which is the same; the client's site it derives from the
// source address (now the appliance's), and a lab has one site.

// Bounds of the relay.
const (
	// maxPing is the largest request relayed; a Windows ping is about
	// 100 bytes.
	maxPing = 4 << 10
	// maxPingReply is the largest answer relayed.
	maxPingReply = 64 << 10
	// pingTimeout is how long Samba gets to answer.
	pingTimeout = 3 * time.Second
	// maxPingsInFlight bounds the pings relayed at once; more are dropped,
	// as a busy DC drops datagrams.
	maxPingsInFlight = 64
)

// Ping is one DC locator ping the relay saw.
type Ping struct {
	At     time.Time
	Client netip.AddrPort
	// Domain, Host, User are the filter's DnsDomain, Host and User (empty
	// when absent); NtVer its NtVer, little-endian (0 when absent).
	Domain, Host, User string
	NtVer              uint32
	// Reply names the answer's Netlogon opcode
	// (LOGON_SAM_LOGON_RESPONSE_EX, …), "" when there was none; Err says
	// why not.
	Reply string
	Err   string
}

// CLDAPRelay relays DC locator pings to Samba and reports each.
type CLDAPRelay struct {
	// Addrs lists the addresses to listen on (port 389 of each directory
	// interface's IPv4 address); Samba is asked on CLDAPPort of the same
	// address. Run asks again every retryBind while none can be bound (the
	// lab card may get its address after the appliance starts).
	Addrs func() []netip.Addr
	// Port and SambaPort are 389 and CLDAPPort, Timeout pingTimeout and
	// Retry retryBind; tests change them.
	Port, SambaPort int
	Timeout, Retry  time.Duration
	Report          func(Ping)
	Log             *slog.Logger

	// Dropped counts pings dropped because maxPingsInFlight were relayed.
	Dropped atomic.Int64
}

// InterfaceAddrs lists the IPv4 addresses of the named interfaces.
func InterfaceAddrs(interfaces []string) []netip.Addr {
	var out []netip.Addr
	for _, name := range interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok {
					out = append(out, ip)
				}
			}
		}
	}
	return out
}

// retryBind is how often Run tries again to bind while it has nothing
// bound.
const retryBind = 5 * time.Second

// Run relays until ctx ends. While no address can be bound it says why
// (once per reason) and tries again.
func (r *CLDAPRelay) Run(ctx context.Context) error {
	if r.Port == 0 {
		r.Port = 389
	}
	if r.SambaPort == 0 {
		r.SambaPort = CLDAPPort
	}
	if r.Timeout == 0 {
		r.Timeout = pingTimeout
	}
	if r.Retry == 0 {
		r.Retry = retryBind
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	var conns []*net.UDPConn
	for said := ""; ; {
		var errs []error
		for _, a := range r.Addrs() {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(r.Port))))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			conns = append(conns, c)
		}
		if len(conns) > 0 {
			for _, err := range errs {
				r.Log.Warn("cldap relay: cannot listen", "err", err)
			}
			break
		}
		why := "no IPv4 address on the directory's interfaces"
		if len(errs) > 0 {
			why = errors.Join(errs...).Error()
		}
		if why != said {
			r.Log.Error("cldap relay: DC locator pings over UDP go unanswered until it can listen; trying again", "err", why, "every", r.Retry)
			said = why
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.Retry):
		}
	}
	r.Log.Info("cldap relay: relaying DC locator pings to Samba", "listen", listening(conns), "samba_port", r.SambaPort)
	sem := make(chan struct{}, maxPingsInFlight)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serve(ctx, c, sem)
		}()
	}
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return nil
}

func listening(conns []*net.UDPConn) string {
	var a []string
	for _, c := range conns {
		a = append(a, c.LocalAddr().String())
	}
	return strings.Join(a, ",")
}

func (r *CLDAPRelay) serve(ctx context.Context, c *net.UDPConn, sem chan struct{}) {
	local := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	samba := net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, uint16(r.SambaPort)))
	buf := make([]byte, maxPing+1)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n > maxPing {
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			r.Dropped.Add(1)
			continue
		}
		req := append([]byte(nil), buf[:n]...)
		go func() {
			defer func() { <-sem }()
			r.relay(c, samba, from, req)
		}()
	}
}

// relay asks Samba and answers the client with what Samba said.
func (r *CLDAPRelay) relay(c *net.UDPConn, samba *net.UDPAddr, from netip.AddrPort, req []byte) {
	p := ParsePing(req)
	p.At, p.Client = time.Now(), netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	defer func() {
		if r.Report != nil {
			r.Report(p)
		}
	}()
	up, err := net.DialUDP("udp", nil, samba)
	if err != nil {
		p.Err = "cannot reach Samba's CLDAP: " + err.Error()
		return
	}
	defer up.Close()
	up.SetDeadline(time.Now().Add(r.Timeout))
	if _, err := up.Write(req); err != nil {
		p.Err = "cannot reach Samba's CLDAP: " + err.Error()
		return
	}
	reply := make([]byte, maxPingReply)
	n, err := up.Read(reply)
	if err != nil {
		p.Err = fmt.Sprintf("no answer from Samba (CLDAP port %d)", r.SambaPort)
		if !isTimeout(err) {
			p.Err += ": " + err.Error()
		}
		return
	}
	if _, err := c.WriteToUDPAddrPort(reply[:n], from); err != nil {
		p.Err = "cannot send the answer: " + err.Error()
		return
	}
	p.Reply = ReplyOpcode(reply[:n])
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// BER, as LDAP uses it ([X.690]): only what a ping and its answer hold,
// read leniently (long-form lengths of up to four bytes, as Windows writes
// them; no indefinite lengths, no high tag numbers).

// tlv reads one element: its tag byte, contents and what follows.
func tlv(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, nil, false
	}
	tag, l := b[0], int(b[1])
	b = b[2:]
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < n {
			return 0, nil, nil, false
		}
		l = 0
		for _, x := range b[:n] {
			l = l<<8 | int(x)
		}
		b = b[n:]
	}
	if l < 0 || l > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:l], b[l:], true
}

// LDAP's tags in a ping and its answer.
const (
	tagSequence    = 0x30
	tagSearchReq   = 0x63 // [APPLICATION 3]
	tagSearchEntry = 0x64 // [APPLICATION 4]
	tagFilterAnd   = 0xa0
	tagFilterEqual = 0xa3
	// maxFilterNest bounds the ANDs read inside each other.
	maxFilterNest = 8
)

// ParsePing reads what a DC locator ping asks: the equality items of its
// filter (nested in ANDs). A datagram that is not a search gives a Ping
// with empty fields; it is relayed all the same (Samba answers or not).
func ParsePing(b []byte) Ping {
	var p Ping
	tag, msg, _, ok := tlv(b)
	if !ok || tag != tagSequence {
		return p
	}
	_, _, msg, ok = tlv(msg) // messageID
	if !ok {
		return p
	}
	tag, req, _, ok := tlv(msg)
	if !ok || tag != tagSearchReq {
		return p
	}
	// baseObject, scope, derefAliases, sizeLimit, timeLimit, typesOnly.
	for range 6 {
		if _, _, req, ok = tlv(req); !ok {
			return p
		}
	}
	tag, filter, _, ok := tlv(req)
	if !ok {
		return p
	}
	p.readFilter(tag, filter, 0)
	return p
}

func (p *Ping) readFilter(tag byte, f []byte, depth int) {
	switch {
	case depth > maxFilterNest:
	case tag == tagFilterAnd:
		for len(f) > 0 {
			t, c, rest, ok := tlv(f)
			if !ok {
				return
			}
			p.readFilter(t, c, depth+1)
			f = rest
		}
	case tag == tagFilterEqual:
		_, attr, rest, ok := tlv(f)
		if !ok {
			return
		}
		_, val, _, ok := tlv(rest)
		if !ok {
			return
		}
		switch strings.ToLower(string(attr)) {
		case "dnsdomain":
			p.Domain = printable(val)
		case "host":
			p.Host = printable(val)
		case "user":
			p.User = printable(val)
		case "ntver":
			if len(val) >= 4 {
				p.NtVer = binary.LittleEndian.Uint32(val)
			}
		}
	}
}

// printable keeps a value fit for the timeline: at most 64 bytes, control
// and non-ASCII bytes as '?'.
func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	out := []byte(string(b))
	for i, c := range out {
		if c < 0x20 || c >= 0x7f {
			out[i] = '?'
		}
	}
	return string(out)
}

// netlogonOps name the opcodes of a Netlogon answer ([MS-ADTS] 6.3.1).
var netlogonOps = map[uint16]string{
	19: "LOGON_SAM_LOGON_RESPONSE",
	20: "LOGON_SAM_PAUSE_RESPONSE",
	21: "LOGON_SAM_USER_UNKNOWN",
	23: "LOGON_SAM_LOGON_RESPONSE_EX",
	24: "LOGON_SAM_PAUSE_RESPONSE_EX",
	25: "LOGON_SAM_USER_UNKNOWN_EX",
}

// ReplyOpcode names the Netlogon answer in a ping's reply ("answered" when
// it holds none: a search result without Netlogon).
func ReplyOpcode(b []byte) string {
	tag, msg, _, ok := tlv(b)
	if !ok || tag != tagSequence {
		return "answered"
	}
	_, _, msg, ok = tlv(msg) // messageID
	if !ok {
		return "answered"
	}
	tag, entry, _, ok := tlv(msg)
	if !ok || tag != tagSearchEntry {
		return "answered"
	}
	_, _, entry, ok = tlv(entry) // objectName
	if !ok {
		return "answered"
	}
	_, attrs, _, ok := tlv(entry)
	for ok && len(attrs) > 0 {
		var attr []byte
		_, attr, attrs, ok = tlv(attrs)
		if !ok {
			break
		}
		_, name, vals, ok2 := tlv(attr)
		if !ok2 || !strings.EqualFold(string(name), "netlogon") {
			continue
		}
		if _, set, _, ok3 := tlv(vals); ok3 {
			if _, v, _, ok4 := tlv(set); ok4 && len(v) >= 2 {
				op := binary.LittleEndian.Uint16(v)
				if name, known := netlogonOps[op]; known {
					return name
				}
				return fmt.Sprintf("Netlogon opcode %d", op)
			}
		}
	}
	return "answered"
}
