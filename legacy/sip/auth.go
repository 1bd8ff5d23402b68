package sip

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/legacy/ntlm"
)

// securityAssociation is one NTLM context, named by the opaque the server
// chose ([MS-SIPAE] 3.3.5.2). Until the AUTHENTICATE arrives it holds only
// the challenge.
type securityAssociation struct {
	opaque    string
	challenge [8]byte
	created   time.Time
	target    string // targetname as the client echoes it
	version   int    // protocol version the client echoed; 2 when none
	echoed    bool   // the client sent version=, so Authentication-Info carries it
	session   *ntlm.Session
	user      string // DOMAIN\user
	variant   ntlm.Variant
	snum      int
}

// sign adds Authentication-Info to m, signed with the server's key over
// the [MS-SIP] buffer; snum counts per association.
func (sa *securityAssociation) sign(m *Message, srand string) {
	sa.snum++
	snum := strconv.Itoa(sa.snum)
	sig := sa.session.Sign(signatureBuffer(m, sa.version, srand, snum, authRealm, sa.target))
	pairs := [][2]string{
		{"rspauth", strings.ToUpper(hex.EncodeToString(sig[:]))},
		{"srand", srand}, {"snum", snum}, {"opaque", sa.opaque}, {"qop", "auth"},
		{"targetname", sa.target}, {"realm", authRealm},
	}
	if sa.echoed {
		pairs = append(pairs, [2]string{"version", strconv.Itoa(sa.version)})
	}
	m.Set("Authentication-Info", formatAuth(pairs...))
}

// verify checks the signature a client put in its authorization header
// (crand, cnum, response). checked is false when m carries none.
func (sa *securityAssociation) verify(m *Message) (ok, checked bool) {
	a, _ := authorization(m)
	resp := a.get("response")
	if sa.session == nil || resp == "" {
		return false, false
	}
	sig, err := hex.DecodeString(resp)
	if err != nil || len(sig) != 16 {
		return false, true
	}
	buf := signatureBuffer(m, sa.version, a.get("crand"), a.get("cnum"), authRealm, a.get("targetname"))
	return sa.session.Verify(buf, sig), true
}

// authorization is the NTLM authorization of m and whether it came as
// Proxy-Authorization (then challenges are 407s). The OC 2007 R2 client
// sends Proxy-Authorization on REGISTER, pidgin-sipe Authorization.
func authorization(m *Message) (authParams, bool) {
	if v := m.Get("Authorization"); v != "" {
		return parseAuth(v), false
	}
	if v := m.Get("Proxy-Authorization"); v != "" {
		return parseAuth(v), true
	}
	return authParams{}, false
}

// saFor is the established association a message names, or nil.
func (c *conn) saFor(m *Message) *securityAssociation {
	a, _ := authorization(m)
	sa := c.sas[a.get("opaque")]
	if sa == nil || sa.session == nil || c.expired(sa) {
		return nil
	}
	return sa
}

func (c *conn) expired(sa *securityAssociation) bool {
	return c.s.cfg.Now().Sub(sa.created) > c.s.cfg.SALifetime
}

// authenticate runs the connectionless NTLM handshake of [MS-SIPAE] 3.3:
// no credentials → 401 offer; credentials without opaque → 401 with a
// CHALLENGE and a new association; an AUTHENTICATE → verified against the
// lab password (the answer then goes on to dispatch); a signed request →
// its association. It returns the established association, or the
// unsigned response to send instead of dispatching.
func (c *conn) authenticate(req *Message) (*securityAssociation, *Message) {
	a, proxy := authorization(req)
	if !strings.EqualFold(a.scheme, authScheme) {
		return nil, c.offer(req, proxy)
	}
	opaque := a.get("opaque")
	if opaque == "" {
		return nil, c.challenge(req, a, proxy)
	}
	sa := c.sas[opaque]
	switch {
	case sa == nil:
		c.s.cfg.Log.Info("sip: unknown security association, challenging again", "client", c.ip, "opaque", clip([]byte(opaque)))
		return nil, c.offer(req, proxy)
	case c.expired(sa):
		delete(c.sas, opaque)
		return nil, c.offer(req, proxy)
	case sa.session == nil:
		return c.accept(req, a, sa, proxy)
	}
	if ok, checked := sa.verify(req); checked && !ok {
		c.signatureFailed(req)
	}
	return sa, nil
}

// offer is the first 401 (or 407): one NTLM offer, the server's Date so the
// client can see clock skew.
func (c *conn) offer(req *Message, proxy bool) *Message {
	if !c.attempted && strings.EqualFold(req.Method, "REGISTER") {
		c.attempted = true
		c.report(StepAttempt, c.signInAddress(req), "", req.Method+" challenged: NTLM offered, protocol version "+strconv.Itoa(c.s.cfg.AuthVersion))
	}
	pairs := [][2]string{{"realm", authRealm}, {"targetname", c.targetName(req)}}
	if c.s.cfg.AuthVersion >= 3 {
		// OCS 2007 offered no version at all: that is protocol version 2.
		pairs = append(pairs, [2]string{"version", strconv.Itoa(c.s.cfg.AuthVersion)})
	}
	resp := c.challengeResponse(req, proxy)
	resp.Add(challengeHeader(proxy), formatAuth(pairs...))
	return resp
}

// challenge starts an association: a fresh opaque and server challenge,
// sent as the NTLM CHALLENGE_MESSAGE.
func (c *conn) challenge(req *Message, a authParams, proxy bool) *Message {
	sa := &securityAssociation{opaque: c.s.randHex(4), created: c.s.cfg.Now(), target: a.get("targetname"), version: 2}
	if sa.target == "" {
		sa.target = c.targetName(req)
	}
	if v, err := strconv.Atoi(a.get("version")); err == nil && a.has["version"] {
		sa.version, sa.echoed = v, true
	}
	c.s.random(sa.challenge[:])
	c.keep(sa)
	pairs := [][2]string{
		{"opaque", sa.opaque},
		{"gssapi-data", base64.StdEncoding.EncodeToString(ntlm.Challenge(c.targetInfo(sa.target), sa.challenge))},
		{"targetname", sa.target}, {"realm", authRealm},
	}
	if sa.echoed {
		pairs = append(pairs, [2]string{"version", strconv.Itoa(sa.version)})
	}
	resp := c.challengeResponse(req, proxy)
	resp.Add(challengeHeader(proxy), formatAuth(pairs...))
	return resp
}

// keep stores sa, dropping the oldest association when the connection
// holds too many.
func (c *conn) keep(sa *securityAssociation) {
	if len(c.sas) >= maxSAs {
		var oldest *securityAssociation
		for _, o := range c.sas {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(c.sas, oldest.opaque)
	}
	c.sas[sa.opaque] = sa
}

// accept verifies an AUTHENTICATE. A wrong password is a fresh offer, the
// third in a row a 403 that ends the connection.
func (c *conn) accept(req *Message, a authParams, sa *securityAssociation, proxy bool) (*securityAssociation, *Message) {
	raw, err := base64.StdEncoding.DecodeString(a.get("gssapi-data"))
	var auth *ntlm.Authenticate
	if err == nil {
		auth, err = ntlm.ParseAuthenticate(raw)
	}
	if err != nil {
		delete(c.sas, sa.opaque)
		c.capture(req, "bad-authenticate")
		c.s.cfg.Log.Info("sip: unreadable NTLM AUTHENTICATE, challenging again", "client", c.ip, "err", err)
		return nil, c.offer(req, proxy)
	}
	user := auth.User
	if auth.Domain != "" {
		user = auth.Domain + `\` + auth.User
	}
	session, variant, err := ntlm.AcceptPassword(auth, sa.challenge, c.s.cfg.Password())
	if err != nil {
		delete(c.sas, sa.opaque)
		c.s.authFailures.Add(1)
		c.failures++
		c.attempted = false
		detail := "wrong password for " + user + " (" + strconv.Itoa(c.failures) + " of " + strconv.Itoa(maxAuthFailures) + ")"
		c.report(StepAuthFailed, user, "", detail)
		c.s.cfg.Log.Info("sip: sign-in refused", "client", c.ip, "user", user, "failures", c.failures)
		if c.failures >= maxAuthFailures {
			c.closeNow = true
			resp := c.challengeResponse(req, proxy)
			resp.StatusCode, resp.Reason = 403, reasons[403]
			resp.Add("ms-diagnostics", `1000;reason="Authentication failed: `+strconv.Itoa(maxAuthFailures)+` wrong passwords for the lab account";source="`+c.targetName(req)+`"`)
			return nil, resp
		}
		return nil, c.offer(req, proxy)
	}
	sa.session, sa.user, sa.variant = session, user, variant
	c.failures, c.attempted, c.signedIn = 0, false, true
	c.s.signIns.Add(1)
	detail := string(variant) + ", protocol version " + strconv.Itoa(sa.version)
	if ok, checked := sa.verify(req); checked && !ok {
		c.signatureFailed(req)
	}
	c.report(StepSignedIn, user, "", detail)
	return sa, nil
}

// signatureFailed counts and reports a request whose signature did not
// verify. The request is still answered: which buffer a 2007 beta phone
// signs is not known (SIGNIN.md R3, R7), so a mismatch is evidence to
// collect, not a reason to lock a phone out.
func (c *conn) signatureFailed(m *Message) {
	c.s.sigFailures.Add(1)
	sa := c.saFor(m)
	user := ""
	if sa != nil {
		user = sa.user
	}
	method := m.Method
	if !m.IsRequest() {
		method = strconv.Itoa(m.StatusCode) + " response"
	}
	c.report(StepSignatureFailed, user, "", method+": the signature does not verify")
	c.s.cfg.Log.Warn("sip: signature does not verify", "client", c.ip, "user", user, "message", method)
}

// challengeResponse is the bare 401 or 407 to req.
func (c *conn) challengeResponse(req *Message, proxy bool) *Message {
	code := 401
	if proxy {
		code = 407
	}
	resp := newResponse(req, code)
	c.ensureToTag(resp)
	resp.Add("Date", c.s.cfg.Now().UTC().Format(time.RFC1123))
	resp.Add("Server", serverHeader)
	return resp
}

func challengeHeader(proxy bool) string {
	if proxy {
		return "Proxy-Authenticate"
	}
	return "WWW-Authenticate"
}

// domainOf is the SIP domain of a request: the host of its From URI (the
// right side of the sign-in address), else the configured domain.
func (c *conn) domainOf(req *Message) string {
	_, host := uriUserHost(addrURI(req.Get("From")))
	if host == "" || strings.ContainsAny(host, ":") || isIPv4(host) {
		return c.s.cfg.Domain
	}
	return host
}

// targetName is the server name the client authenticates to: sip.<SIP
// domain>, the SRV target and a name in the appliance's certificate.
func (c *conn) targetName(req *Message) string { return "sip." + c.domainOf(req) }

// signInAddress is the AOR of a request's From.
func (c *conn) signInAddress(req *Message) string {
	return strings.TrimPrefix(strings.TrimPrefix(addrURI(req.Get("From")), "sip:"), "sips:")
}

// targetInfo names the appliance in the NTLM CHALLENGE after the domain
// the phone signs in to.
func (c *conn) targetInfo(target string) ntlm.TargetInfo {
	domain := strings.TrimPrefix(target, "sip.")
	label, _, _ := strings.Cut(domain, ".")
	return ntlm.TargetInfo{
		NetBIOSDomain:   netbios(label),
		NetBIOSComputer: netbios(c.s.cfg.Host),
		DNSDomain:       domain,
		DNSComputer:     target,
		DNSTree:         domain,
	}
}

// netbios is a NetBIOS name: upper case, at most 15 characters.
func netbios(s string) string {
	s = strings.ToUpper(s)
	if len(s) > 15 {
		s = s[:15]
	}
	return s
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}
