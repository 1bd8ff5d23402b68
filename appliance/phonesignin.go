package appliance

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/tanjay-lab/tanjay/legacy/sip"
)

// phoneSignIn is a simulated beta phone (1.0.199.x) signed in by a
// technician: it finds the SIP server by DNS as the phone does (SIGNIN.md
// §1.3), connects over TLS or TCP, signs in with NTLM (REGISTER), subscribes
// to its provisioning and takes updatesServerInternalUrl as the place to
// check in. Its SignIn method is a phone.Config.SignIn: the appliance plugs
// the legacy SIP client into the simulator, which imports no legacy code.
type phoneSignIn struct {
	// Address is the sign-in address, tech@lab.local. Its right side is
	// the SIP domain the SRV names are asked under. Required.
	Address string
	// User is the NTLM user name, DOMAIN\user. Default
	// signInDefaultUser(Address), LAB\tech.
	User string
	// Password is the lab sign-in password.
	Password string
	// Transport is "tls", "tcp", or "" or "auto" for the phone's own
	// choice: the first SRV name that answers, in the phone's order.
	// Without Roots only TCP is tried.
	Transport string
	// Roots are the CA certificates the phone trusts for the SIP server's
	// certificate (the appliance CA). Required for "tls".
	Roots []*x509.Certificate
	// DNS is host:port of the DNS server the phone asks. Required.
	DNS string
	// LocalIP is the address the phone's queries and connection come from,
	// so the appliance puts them on this phone's timeline. Default: the
	// system's choice.
	LocalIP netip.Addr
	// Timeout bounds each DNS question, the connection and the TLS
	// handshake, and each SIP exchange. Default signInTimeout.
	Timeout time.Duration
}

// signInTimeout is phoneSignIn.Timeout's default.
const signInTimeout = 10 * time.Second

// signInGroups are the provisioning groups the phone asks for, as OCS 2007
// R2 clients do (SIGNIN.md §5.1); the update URLs are in
// ServerConfiguration.
var signInGroups = []string{"ServerConfiguration", "meetingPolicy", "ucPolicy"}

// signInSRV is one SRV name a phone asks for its SIP server under the SIP
// domain, and whether the server behind it speaks TLS.
type signInSRV struct {
	prefix string
	tls    bool
}

// signInSRVOrder is the order of SIGNIN.md §1.3 (OCPE R2): both TLS names,
// then plain TCP. The A-record fallbacks after them (sipinternal, sip and
// sipexternal on 5061, then 443) are not simulated: the appliance publishes
// the SRV names of every listener that is on.
var signInSRVOrder = []signInSRV{
	{"_sipinternaltls._tcp.", true},
	{"_sip._tls.", true},
	{"_sipinternal._tcp.", false},
}

// Transports of phoneSignIn.Transport; "" is auto too.
const (
	signInTLS  = "tls"
	signInTCP  = "tcp"
	signInAuto = "auto"
)

// check reports settings SignIn cannot work with.
func (s phoneSignIn) check() error {
	user, domain, ok := strings.Cut(s.Address, "@")
	switch {
	case !ok || user == "" || domain == "" || strings.ContainsAny(s.Address, " \\/:"):
		return fmt.Errorf("sign-in address %q: want user@sip-domain, e.g. tech@lab.local", s.Address)
	case s.DNS == "":
		return errors.New("sign-in: no DNS server to find the SIP server with")
	case s.Transport == signInTLS && len(s.Roots) == 0:
		return errors.New("sign-in over TLS needs the CA the phone trusts (the appliance CA); without it only TCP can be used")
	case !slices.Contains([]string{"", signInAuto, signInTLS, signInTCP}, s.Transport):
		return fmt.Errorf("sign-in transport %q: want tls, tcp or auto", s.Transport)
	}
	if d, u, ok := strings.Cut(s.User, `\`); s.User != "" && (!ok || d == "" || u == "" || strings.Contains(u, `\`)) {
		return fmt.Errorf(`sign-in user %q: want DOMAIN\user`, s.User)
	}
	return nil
}

// sipDomain is the right side of the sign-in address, lower case.
func (s phoneSignIn) sipDomain() string {
	_, d, _ := strings.Cut(s.Address, "@")
	return strings.ToLower(strings.Trim(d, "."))
}

// signInDefaultUser is the NTLM name a technician types for address: the
// first label of its domain in upper case, a backslash, its left side
// (tech@lab.local → LAB\tech).
func signInDefaultUser(address string) string {
	user, domain, _ := strings.Cut(address, "@")
	label, _, _ := strings.Cut(domain, ".")
	return strings.ToUpper(label) + `\` + user
}

// credentials splits User (or its default) into NTLM user and domain.
func (s phoneSignIn) credentials() (user, domain string) {
	domain, user, _ = strings.Cut(cmp.Or(s.User, signInDefaultUser(s.Address)), `\`)
	return user, domain
}

// SignIn signs the phone in and returns the check-in URL provisioning
// handed it. The connection is closed once provisioned: the simulator needs
// nothing more from SIP.
func (s phoneSignIn) SignIn(ctx context.Context) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	s.Timeout = cmp.Or(s.Timeout, signInTimeout)
	srv, err := s.locate(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Address, err)
	}
	nc, err := s.connect(ctx, srv)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.Address, srv, err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	user, domain := s.credentials()
	c := sip.NewClient(nc, sip.ClientConfig{
		SignIn: s.Address, User: user, Domain: domain, Password: s.Password,
		// SIGNIN.md §5.1: R2 clients take the first NOTIFY piggy-backed and
		// BENOTIFY.
		Piggyback: true, BENotify: true, Timeout: s.Timeout,
	})
	if _, err := c.Register(ctx); err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.Address, srv, signInCtxErr(ctx, err))
	}
	urls, err := c.Provisioning(ctx, signInGroups...)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", s.Address, srv, signInCtxErr(ctx, err))
	}
	return urls.Internal, nil
}

// signInCtxErr prefers ctx's error to err: a closed connection is how a done
// context ends an exchange.
func signInCtxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// signInServer is where a phone found the SIP server.
type signInServer struct {
	name   string // the SRV name that answered
	target string // its target, without the final dot: the certificate's name
	addr   string // ip:port to connect to
	tls    bool
}

func (s signInServer) String() string {
	transport := "TCP"
	if s.tls {
		transport = "TLS"
	}
	_, port, _ := net.SplitHostPort(s.addr)
	return fmt.Sprintf("%s %s:%s (%s)", transport, s.target, port, s.name)
}

// candidates are the SRV names this phone asks, in order.
func (s phoneSignIn) candidates() []signInSRV {
	return slices.DeleteFunc(slices.Clone(signInSRVOrder), func(c signInSRV) bool {
		switch s.Transport {
		case signInTLS:
			return !c.tls
		case signInTCP:
			return c.tls
		}
		return c.tls && len(s.Roots) == 0
	})
}

// locate asks the DNS server for the SRV names in the phone's order and
// takes the first that has an SRV record, then its target's A record. A
// name without one (NXDOMAIN, no data) moves on to the next; a DNS server
// that does not answer ends the search.
func (s phoneSignIn) locate(ctx context.Context) (signInServer, error) {
	domain := s.sipDomain()
	var missing []string
	for _, c := range s.candidates() {
		name := c.prefix + domain
		r, err := s.ask(ctx, name, dns.TypeSRV)
		if err != nil {
			return signInServer{}, err
		}
		srv := preferredSRV(r)
		if srv == nil {
			missing = append(missing, name+": "+whyNoRecord(r, "SRV"))
			continue
		}
		target := strings.TrimSuffix(strings.ToLower(srv.Target), ".")
		ip, err := s.lookupA(ctx, target)
		if err != nil {
			return signInServer{}, fmt.Errorf("SIP server %s (from %s): %w", target, name, err)
		}
		return signInServer{name: name, target: target, addr: net.JoinHostPort(ip.String(), strconv.Itoa(int(srv.Port))), tls: c.tls}, nil
	}
	msg := "no SIP server found through " + s.DNS + ": " + strings.Join(missing, "; ")
	if s.Transport != signInTCP && len(s.Roots) == 0 {
		msg += " (TLS names not asked: no trusted CA given)"
	}
	return signInServer{}, errors.New(msg)
}

// preferredSRV is the record a phone uses: the lowest priority, then the
// highest weight; nil when r has none.
func preferredSRV(r *dns.Msg) *dns.SRV {
	var best *dns.SRV
	for _, rr := range r.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		if best == nil || srv.Priority < best.Priority || (srv.Priority == best.Priority && srv.Weight > best.Weight) {
			best = srv
		}
	}
	return best
}

// whyNoRecord says why r holds no record of kind: its rcode, or "no SRV
// record" for an empty NOERROR.
func whyNoRecord(r *dns.Msg, kind string) string {
	if r.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[r.Rcode]
	}
	return "no " + kind + " record"
}

// lookupA is the first A record of host.
func (s phoneSignIn) lookupA(ctx context.Context, host string) (netip.Addr, error) {
	r, err := s.ask(ctx, host, dns.TypeA)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("A %s: %s", host, whyNoRecord(r, "A"))
}

// ask sends one question to the phone's DNS server from its address.
func (s phoneSignIn) ask(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: s.Timeout}
	if s.LocalIP.IsValid() {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: s.LocalIP.AsSlice()}}
	}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.ExchangeContext(ctx, q, s.DNS)
	if err != nil {
		return nil, fmt.Errorf("asking %s for %s %s: %w", s.DNS, dns.TypeToString[qtype], name, err)
	}
	return r, nil
}

// connect dials srv from the phone's address and, for TLS, completes the
// handshake, checking the certificate against Roots for srv's target.
func (s phoneSignIn) connect(ctx context.Context, srv signInServer) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.Timeout}
	if s.LocalIP.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: s.LocalIP.AsSlice()}
	}
	nc, err := d.DialContext(ctx, "tcp", srv.addr)
	if err != nil || !srv.tls {
		return nc, err
	}
	tc := tls.Client(nc, &tls.Config{
		ServerName: srv.target,
		// The chain is checked by VerifyConnection instead: the appliance
		// signs its phone chain with SHA-1 (the CX700 cannot verify SHA-2),
		// which crypto/x509's Verify refuses.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifySignInChain(cs.PeerCertificates, s.Roots, srv.target, time.Now())
		},
	})
	hctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// verifySignInChain checks a server's certificate chain as the phone's
// Windows CE stack does: the leaf names host, every certificate is within
// its dates, and each is signed by the next up to a certificate in roots
// (or is one). SHA-1 signatures count: crypto/x509's Verify refuses them
// since Go 1.24, and the appliance's phone chain uses them by default.
func verifySignInChain(chain, roots []*x509.Certificate, host string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("the server sent no certificate")
	}
	if err := chain[0].VerifyHostname(host); err != nil {
		return err
	}
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("certificate %q is not valid now (%s to %s)", c.Subject, c.NotBefore.Format(time.DateOnly), c.NotAfter.Format(time.DateOnly))
		}
		for _, r := range roots {
			if bytes.Equal(c.Raw, r.Raw) || (signedBy(c, r) == nil && !now.Before(r.NotBefore) && !now.After(r.NotAfter)) {
				return nil
			}
		}
		if i+1 == len(chain) {
			break
		}
		next := chain[i+1]
		if !next.BasicConstraintsValid || !next.IsCA {
			return fmt.Errorf("certificate %q is signed by %q, which is not a CA", c.Subject, next.Subject)
		}
		if err := signedBy(c, next); err != nil {
			return fmt.Errorf("certificate %q: %w", c.Subject, err)
		}
	}
	return fmt.Errorf("certificate %q is not signed by a trusted CA", chain[len(chain)-1].Subject)
}

// signedBy checks that parent signed c, SHA-1 included.
func signedBy(c, parent *x509.Certificate) error {
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("issuer %q is not %q", c.Issuer, parent.Subject)
	}
	// CheckSignature on the parent accepts SHA-1; CheckSignatureFrom does not.
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

// parseSignInRoots reads the certificates a phone trusts: PEM, or DER as
// the appliance serves /ca.cer.
func parseSignInRoots(data []byte) ([]*x509.Certificate, error) {
	if der, err := x509.ParseCertificates(data); err == nil && len(der) > 0 {
		return der, nil
	}
	var roots []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		roots = append(roots, c)
	}
	if len(roots) == 0 {
		return nil, errors.New("no certificate (want PEM or DER)")
	}
	return roots, nil
}
