package web

import (
	"crypto/tls"
	"errors"
)

// The phone listener's TLS profile. Every concession below is for a
// device; none of it is offered on the dashboard.
//
//   - TLS 1.0 and 1.1: the Polycom CX700 and LG-Nortel IP8540 (Windows CE
//     based OCS 2007 firmware, 1.0.522.x and 3.5.6907.x) predate TLS 1.2
//     [inferred, PROTOCOL.md §6]. Go 1.22+ servers refuse TLS 1.0 by
//     default; an explicit MinVersion brings it back without GODEBUG.
//   - RSA key exchange (TLS_RSA_*): the same phones' Schannel of its time
//     may offer no ECDHE suite [inferred]. Go 1.22+ dropped these from its
//     defaults; listing them in CipherSuites brings them back without
//     GODEBUG tlsrsakex.
//   - 3DES (TLS_RSA_WITH_3DES_EDE_CBC_SHA): the one suite every TLS 1.0
//     stack of that era has [inferred]. Go 1.23+ dropped it from its
//     defaults; listing it brings it back without GODEBUG tls3des.
//   - An RSA certificate, and a SHA-1-signed chain by default: the CX700
//     cannot verify SHA-2 signatures [confirmed: Polycom] (see
//     selfsigned.go).
//   - ECDHE-RSA CBC and GCM suites stay first, so the Lync Phone Edition
//     devices (CX600, Aastra 6721ip/6725ip, HP 4120, 4.0.x) and anything
//     modern get forward secrecy.
//
// RC4 is not offered: no source says a phone needs it. If a capture shows
// a phone offering only RC4, add TLS_RSA_WITH_RC4_128_SHA here.
var phoneCipherSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

// PhoneTLS is the legacy profile for the phone-facing HTTPS listener
// (--https-addr): TLS 1.0 to 1.2, the suites above, the phone certificate.
// A phone that connects by IP sends no server name; it gets the same
// certificate (which names the advertised IP).
func (c *Certs) PhoneTLS() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS10,
		MaxVersion:     tls.VersionTLS12,
		CipherSuites:   phoneCipherSuites,
		GetCertificate: c.getPhoneCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	c.plugACME(cfg, true)
	return cfg
}

// SIPTLS is PhoneTLS for the SIP TLS listener: no HTTP ALPN (nor
// acme-tls/1), and in acme mode, where each name has its own certificate,
// a client that sends no server name gets name's (sip.<domain>, the name
// it dialed) rather than ucupdates-r2's. In the other modes one
// certificate covers every name.
func (c *Certs) SIPTLS(name string) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS10,
		MaxVersion:     tls.VersionTLS12,
		CipherSuites:   phoneCipherSuites,
		GetCertificate: c.getPhoneCertificate,
	}
	if c.acme != nil && name != "" {
		cfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return c.acme.certificateOr(h, name) }
	}
	return cfg
}

// DashboardTLS is Go's modern default (TLS 1.2 and up, Go's suites) with
// the dashboard certificate (SHA-256 in self-signed mode).
func (c *Certs) DashboardTLS() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.getDashboardCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	c.plugACME(cfg, false)
	return cfg
}

// errNoCertificate is an acme mode handshake before the first certificate.
var errNoCertificate = errors.New("tls: no certificate yet (acme mode: waiting for the ACME server)")

func (c *Certs) getPhoneCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.phone.Load(); cert != nil {
		return cert, nil
	}
	return nil, errNoCertificate
}

func (c *Certs) getDashboardCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.dashboard.Load(); cert != nil {
		return cert, nil
	}
	return nil, errNoCertificate
}
