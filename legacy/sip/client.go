package sip

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/legacy/ntlm"
)

// ClientConfig is one simulated phone signing in, the way an OCS 2007
// client does (the simulator and the tests use it; real phones and
// pidgin-sipe are the proof).
type ClientConfig struct {
	// SignIn is the sign-in address, alice@lab.test. Required.
	SignIn string
	// User and Domain are the NTLM credentials. Default: the left side of
	// SignIn, and the first label of its domain in upper case.
	User, Domain string
	// Password is the lab password.
	Password string
	// Variant and ESS choose the NTLM response. Default NTLMv2.
	Variant ntlm.Variant
	ESS     bool
	// UserAgent is sent on every request. Default "UCCAPI/1.0.199.123 OC/1.0.199.123 (Microsoft Office Communicator Phone Edition)".
	UserAgent string
	// Piggyback asks for the first NOTIFY in the SUBSCRIBE's 200 OK.
	Piggyback bool
	// BENotify says the client takes BENOTIFY (no answer) instead of
	// NOTIFY.
	BENotify bool
	// Timeout bounds each exchange. Default 10 s.
	Timeout time.Duration
}

// Client is a signed-in SIP session on one connection. Every final
// response and request from the server after sign-in must be signed, as
// OCS clients require; a missing or bad signature is an error.
type Client struct {
	cfg     ClientConfig
	nc      net.Conn
	r       *Reader
	aor     string
	tag     string
	epid    string
	cseq    int
	session *ntlm.Session
	opaque  string
	target  string
	version int
	cnum    int
}

// ErrUnsigned is wrapped when the server's message after sign-in carries
// no valid signature.
var ErrUnsigned = errors.New("sip client: message from the server is not signed correctly")

// NewClient runs a session over nc (a TCP or TLS connection).
func NewClient(nc net.Conn, cfg ClientConfig) *Client {
	if cfg.User == "" {
		cfg.User, _, _ = strings.Cut(cfg.SignIn, "@")
	}
	if cfg.Domain == "" {
		_, d, _ := strings.Cut(cfg.SignIn, "@")
		label, _, _ := strings.Cut(d, ".")
		cfg.Domain = strings.ToUpper(label)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "UCCAPI/1.0.199.123 OC/1.0.199.123 (Microsoft Office Communicator Phone Edition)"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Client{cfg: cfg, nc: nc, r: NewReader(nc, Limits{}), aor: "sip:" + cfg.SignIn, tag: randHex(5), epid: randHex(5)}
}

// Close closes the connection.
func (c *Client) Close() error { return c.nc.Close() }

// Register signs in: the three REGISTERs of the NTLM handshake. It returns
// the signed 200 OK.
func (c *Client) Register(ctx context.Context) (*Message, error) {
	callID := randHex(16)
	resp, err := c.exchange(ctx, c.request("REGISTER", callID, "", nil), false)
	if err != nil {
		return nil, err
	}
	offer := parseAuth(resp.Get("WWW-Authenticate"))
	if resp.StatusCode != 401 || !strings.EqualFold(offer.scheme, authScheme) {
		return nil, fmt.Errorf("sip client: REGISTER: want a 401 NTLM offer, got %d %s", resp.StatusCode, resp.Reason)
	}
	c.target = offer.get("targetname")
	c.version, _ = strconv.Atoi(offer.get("version"))
	req := c.request("REGISTER", callID, "", nil)
	req.Add("Authorization", c.authHeader([2]string{"gssapi-data", ""}))
	if resp, err = c.exchange(ctx, req, false); err != nil {
		return nil, err
	}
	ch := parseAuth(resp.Get("WWW-Authenticate"))
	raw, err := base64.StdEncoding.DecodeString(ch.get("gssapi-data"))
	if resp.StatusCode != 401 || err != nil || ch.get("opaque") == "" {
		return nil, fmt.Errorf("sip client: REGISTER: want a 401 with an NTLM challenge, got %d %s", resp.StatusCode, resp.Reason)
	}
	challenge, err := ntlm.ParseChallenge(raw)
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	auth, session, err := ntlm.Respond(challenge, ntlm.ClientConfig{
		User: c.cfg.User, Domain: c.cfg.Domain, Password: c.cfg.Password, Workstation: "TANJAYPHONE",
		Variant: c.cfg.Variant, ESS: c.cfg.ESS,
	})
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	c.opaque = ch.get("opaque")
	req = c.request("REGISTER", callID, "", nil)
	pairs := [][2]string{{"opaque", c.opaque}, {"gssapi-data", base64.StdEncoding.EncodeToString(auth)}}
	c.session = session
	if c.version >= 4 {
		c.signInto(req, pairs)
	} else {
		req.Add("Authorization", c.authHeader(pairs...))
	}
	// Like OCS clients, take a failed REGISTER's answer unsigned: there is
	// no security association to sign it with.
	if resp, err = c.exchange(ctx, req, false); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		c.session = nil
		return resp, fmt.Errorf("sip client: REGISTER: %d %s %s", resp.StatusCode, resp.Reason, resp.Get("ms-diagnostics"))
	}
	return resp, c.checkSigned(resp)
}

// Provisioning subscribes to vnd-microsoft-provisioning-v2 and returns the
// update URLs the server handed out, from the 200 OK (piggy-backed) or the
// NOTIFY/BENOTIFY after it.
func (c *Client) Provisioning(ctx context.Context, groups ...string) (UpdateURLs, error) {
	var body strings.Builder
	body.WriteString(`<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist">`)
	for _, g := range groups {
		body.WriteString(`<provisioningGroup name="` + g + `"/>`)
	}
	body.WriteString(`</provisioningGroupList>`)
	resp, err := c.Subscribe(ctx, eventProvisioningV2, contentTypeProvisioningV2, []byte(body.String()))
	if err != nil {
		return UpdateURLs{}, err
	}
	notice := resp
	if len(resp.Body) == 0 {
		if notice, err = c.readNotify(ctx); err != nil {
			return UpdateURLs{}, err
		}
	}
	return parseUpdateURLs(notice.Body)
}

// Subscribe sends a signed SUBSCRIBE and returns the signed final answer.
func (c *Client) Subscribe(ctx context.Context, event, accept string, body []byte) (*Message, error) {
	req := c.request("SUBSCRIBE", randHex(16), event, body)
	req.Add("Accept", accept)
	if len(body) > 0 {
		req.Add("Content-Type", accept)
	}
	return c.Do(ctx, req)
}

// Do signs req with the session and returns the signed final answer.
func (c *Client) Do(ctx context.Context, req *Message) (*Message, error) {
	if c.session == nil {
		return nil, errors.New("sip client: not signed in")
	}
	c.signInto(req, [][2]string{{"opaque", c.opaque}})
	return c.exchange(ctx, req, true)
}

// NewRequest is a request of this session's user to itself.
func (c *Client) NewRequest(method string) *Message {
	return c.request(method, randHex(16), "", nil)
}

// request builds a request from the session's user to itself.
func (c *Client) request(method, callID, event string, body []byte) *Message {
	c.cseq++
	m := &Message{Method: method, RequestURI: c.aor}
	if method == "REGISTER" {
		_, host := uriUserHost(c.aor)
		m.RequestURI = "sip:" + host
	}
	local := c.nc.LocalAddr().String()
	m.Add("Via", "SIP/2.0/TCP "+local+";branch=z9hG4bK"+randHex(8))
	m.Add("From", "<"+c.aor+">;tag="+c.tag+";epid="+c.epid)
	m.Add("To", "<"+c.aor+">")
	m.Add("Call-ID", callID)
	m.Add("CSeq", strconv.Itoa(c.cseq)+" "+method)
	m.Add("Contact", "<sip:"+local+";transport=tcp;ms-opaque="+randHex(5)+`>;methods="INVITE, MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY";proxy=replace;+sip.instance="<urn:uuid:34D859DB-6585-5F91-A3B4-DE853C15347D>"`)
	m.Add("User-Agent", c.cfg.UserAgent)
	switch method {
	case "REGISTER":
		m.Add("Supported", "gruu-10, adhoclist, msrtc-event-categories")
		m.Add("Event", "registration")
		m.Add("ms-keep-alive", "UAC;hop-hop=yes")
	case "SUBSCRIBE":
		m.Add("Event", event)
		m.Add("Supported", "com.microsoft.autoextend")
		if c.cfg.BENotify {
			m.Add("Supported", "ms-benotify")
			m.Add("Proxy-Require", "ms-benotify")
		}
		if c.cfg.Piggyback {
			m.Add("Supported", "ms-piggyback-first-notify")
		}
		if event == eventProvisioningV2 {
			m.Add("Expires", "0")
		}
	}
	m.Body = body
	return m
}

// authHeader is the Authorization value with the session's realm,
// targetname and version around pairs.
func (c *Client) authHeader(pairs ...[2]string) string {
	all := append([][2]string{{"qop", "auth"}, {"realm", authRealm}, {"targetname", c.target}}, pairs...)
	if c.version > 0 {
		all = append(all, [2]string{"version", strconv.Itoa(c.version)})
	}
	return formatAuth(all...)
}

// signInto adds an Authorization with crand, cnum and response.
func (c *Client) signInto(req *Message, pairs [][2]string) {
	c.cnum++
	crand, cnum := randHex(4), strconv.Itoa(c.cnum)
	sig := c.session.Sign(signatureBuffer(req, c.versionForSig(), crand, cnum, authRealm, c.target))
	pairs = append(pairs, [2]string{"crand", crand}, [2]string{"cnum", cnum}, [2]string{"response", hex.EncodeToString(sig[:])})
	req.Set("Authorization", c.authHeader(pairs...))
}

func (c *Client) versionForSig() int {
	if c.version == 0 {
		return 2
	}
	return c.version
}

// exchange writes req and reads up to its final response; with signed,
// that response must carry a valid server signature.
func (c *Client) exchange(ctx context.Context, req *Message, signed bool) (*Message, error) {
	c.nc.SetDeadline(c.deadline(ctx))
	if _, err := c.nc.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("sip client: %s: %w", req.Method, err)
	}
	for {
		m, ping, err := c.r.Next()
		if err != nil {
			return nil, fmt.Errorf("sip client: %s: %w", req.Method, err)
		}
		if ping || m.IsRequest() || m.StatusCode < 200 {
			continue
		}
		if signed && m.StatusCode != 401 {
			if err := c.checkSigned(m); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
}

// readNotify reads the server's NOTIFY or BENOTIFY, checks its signature
// and answers a NOTIFY with a signed 200.
func (c *Client) readNotify(ctx context.Context) (*Message, error) {
	c.nc.SetDeadline(c.deadline(ctx))
	for {
		m, ping, err := c.r.Next()
		if err != nil {
			return nil, fmt.Errorf("sip client: waiting for the NOTIFY: %w", err)
		}
		if ping || !m.IsRequest() {
			continue
		}
		if err := c.checkSigned(m); err != nil {
			return nil, err
		}
		if strings.EqualFold(m.Method, "NOTIFY") {
			ok := newResponse(m, 200)
			c.signInto(ok, [][2]string{{"opaque", c.opaque}})
			if _, err := c.nc.Write(ok.Bytes()); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
}

// checkSigned verifies the server's Authentication-Info on m.
func (c *Client) checkSigned(m *Message) error {
	info := parseAuth(m.Get("Authentication-Info"))
	sig, err := hex.DecodeString(info.get("rspauth"))
	what := m.Method
	if !m.IsRequest() {
		what = strconv.Itoa(m.StatusCode) + " " + m.Reason
	}
	if err != nil || len(sig) != 16 {
		return fmt.Errorf("%w: %s has no rspauth", ErrUnsigned, what)
	}
	buf := signatureBuffer(m, c.versionForSig(), info.get("srand"), info.get("snum"), authRealm, c.target)
	if !c.session.Verify(buf, sig) {
		return fmt.Errorf("%w: %s: rspauth does not verify", ErrUnsigned, what)
	}
	return nil
}

func (c *Client) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		return dl
	}
	return d
}

// parseUpdateURLs reads updatesServerInternalUrl and …ExternalUrl from a
// provisioning body, flat or as property elements.
func parseUpdateURLs(body []byte) (UpdateURLs, error) {
	d := xml.NewDecoder(strings.NewReader(string(body)))
	var u UpdateURLs
	var current string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			current = t.Name.Local
			for _, a := range t.Attr {
				if current == "property" && a.Name.Local == "name" {
					current = a.Value
				}
			}
		case xml.CharData:
			switch current {
			case "updatesServerInternalUrl":
				u.Internal = strings.TrimSpace(string(t))
			case "updatesServerExternalUrl":
				u.External = strings.TrimSpace(string(t))
			}
		case xml.EndElement:
			current = ""
		}
	}
	if u.Internal == "" {
		return u, fmt.Errorf("sip client: the provisioning answer holds no updatesServerInternalUrl: %q", clip(body))
	}
	return u, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
