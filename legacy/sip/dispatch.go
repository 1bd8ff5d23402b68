package sip

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// serverHeader says what the phone talks to: OCS 2007 R2's version, whose
// major number clients read (SIGNIN.md §4.2).
const serverHeader = "RTC/3.5"

// allowEvents are the event packages a registered client may subscribe to,
// as OCS 2007 R2 lists them.
const allowEvents = "vnd-microsoft-provisioning,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,presence,presence.wpending,vnd-microsoft-roaming-self,vnd-microsoft-provisioning-v2"

// maxRegisterExpires is the longest registration granted, as OCS.
const maxRegisterExpires = 7200

// dispatch answers an authenticated request: its final response and any
// request the appliance sends after it (a NOTIFY or BENOTIFY).
func (c *conn) dispatch(req *Message, sa *securityAssociation) []*Message {
	switch strings.ToUpper(req.Method) {
	case "REGISTER":
		return []*Message{c.register(req, sa)}
	case "SUBSCRIBE":
		return c.subscribe(req, sa)
	case "SERVICE", "MESSAGE", "INFO", "BYE":
		return []*Message{c.ok(req)}
	case "OPTIONS":
		resp := c.ok(req)
		resp.Add("Allow", "REGISTER, SUBSCRIBE, SERVICE, OPTIONS, INFO, MESSAGE, BYE, ACK, CANCEL")
		return []*Message{resp}
	case "INVITE":
		// The appliance has no telephony.
		resp := newResponse(req, 480)
		c.ensureToTag(resp)
		return []*Message{resp}
	case "NEGOTIATE":
		// SIP compression ([MS-SIPCOMP]) is declined: the phone goes on
		// uncompressed.
		return []*Message{c.notImplemented(req)}
	}
	c.s.unsupported.Add(1)
	c.capture(req, "unknown-method")
	return []*Message{c.notImplemented(req)}
}

func (c *conn) ok(req *Message) *Message {
	resp := newResponse(req, 200)
	c.ensureToTag(resp)
	return resp
}

func (c *conn) notImplemented(req *Message) *Message {
	resp := newResponse(req, 501)
	c.ensureToTag(resp)
	return resp
}

// ensureToTag gives a response's To a tag when the request had none: the
// signature covers it, so it is set before signing.
func (c *conn) ensureToTag(resp *Message) {
	to := resp.Get("To")
	if to == "" || addrParam(to, "tag") != "" {
		return
	}
	resp.Set("To", to+";tag="+c.s.randHex(16))
}

// register answers a REGISTER ([MS-SIPREGE] 3.1.2.5.1): a binding for
// AOR+epid on this connection, refreshed or dropped with Expires: 0, and
// the headers that tell the client it talks to OCS 2007 R2. Nothing is
// refused for missing epid or +sip.instance, as a real server would:
// logging is enough here.
func (c *conn) register(req *Message, sa *securityAssociation) *Message {
	aor := addrURI(req.Get("To"))
	from := req.Get("From")
	key := strings.ToLower(aor) + ";" + addrParam(from, "epid")
	contact := req.Get("Contact")
	expires := registerExpires(req)
	resp := c.ok(req)
	if expires == 0 || strings.TrimSpace(contact) == "*" {
		c.s.unregister(key)
		resp.Add("Expires", "0")
		c.report(StepUnregistered, sa.user, "", aor)
		return resp
	}
	if !c.s.register(key, c, c.s.cfg.Now().Add(time.Duration(expires)*time.Second)) {
		c.s.cfg.Log.Warn("sip: registration refused: the table is full", "client", c.ip, "aor", aor, "limit", c.s.cfg.MaxRegistrations)
		resp = newResponse(req, 503)
		c.ensureToTag(resp)
		resp.Add("Retry-After", "600")
		return resp
	}
	resp.Add("ms-keep-alive", "UAS; tcp=no; hop-hop=yes; end-end=no; timeout="+strconv.Itoa(int(c.s.cfg.KeepAlive/time.Second)))
	if contact != "" {
		resp.Add("Contact", registeredContact(contact, aor, expires))
	}
	resp.Add("Expires", strconv.Itoa(expires))
	resp.Add("presence-state", `register-action="added"`)
	resp.Add("Allow-Events", allowEvents)
	resp.Add("Supported", "adhoclist")
	resp.Add("Server", serverHeader)
	resp.Add("Supported", "msrtc-event-categories")
	return resp
}

// registerExpires is the binding lifetime asked for (Expires header, else
// the Contact's expires parameter), at most maxRegisterExpires, the
// maximum when none is given.
func registerExpires(req *Message) int {
	v := req.Get("Expires")
	if v == "" {
		v = addrParam(req.Get("Contact"), "expires")
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > maxRegisterExpires {
		return maxRegisterExpires
	}
	return n
}

// registeredContact is the Contact of the 200 OK: the client's URI with
// the granted expiry, its +sip.instance, and a GRUU built from it as OCS
// builds them.
func registeredContact(contact, aor string, expires int) string {
	out := "<" + addrURI(contact) + ">;expires=" + strconv.Itoa(expires)
	instance := addrParam(contact, "+sip.instance")
	if instance == "" {
		return out
	}
	out += `;+sip.instance="` + instance + `"`
	if g, ok := gruuOpaque(instance); ok {
		out += `;gruu="` + aor + ";opaque=user:epid:" + g + `;gruu"`
	}
	return out
}

// gruuOpaque is OCS's GRUU opaque for a +sip.instance "<urn:uuid:…>":
// base64url of the GUID's bytes in Windows order (Data1, Data2, Data3
// little-endian) and two zero bytes (SIGNIN.md §4.2, checked on three
// real pairs).
func gruuOpaque(instance string) (string, bool) {
	u := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(instance, "<>"), "urn:uuid:"), ">")
	hexDigits := strings.ReplaceAll(u, "-", "")
	if len(hexDigits) != 32 {
		return "", false
	}
	var g [18]byte
	for i := 0; i < 16; i++ {
		n, err := strconv.ParseUint(hexDigits[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", false
		}
		g[i] = byte(n)
	}
	g[0], g[1], g[2], g[3] = g[3], g[2], g[1], g[0]
	g[4], g[5] = g[5], g[4]
	g[6], g[7] = g[7], g[6]
	return base64.RawURLEncoding.EncodeToString(g[:]), true
}
