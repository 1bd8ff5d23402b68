package web

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Paths CAHandler serves, matched case-insensitively as IIS matches them.
// The CX700 fetches its root chain from a domain controller's certificate
// services page, /certsrv/certnew.p7b, during sign-in [confirmed: Polycom];
// /ca.cer is the DER file an operator (or a Windows PC) imports by hand.
const (
	CertSrvPath    = "/certsrv/"
	CertNewP7BPath = "/certsrv/certnew.p7b"
	CertNewCerPath = "/certsrv/certnew.cer"
	CACerPath      = "/ca.cer"
)

// certsrvHome is the /certsrv/ page: the four downloads and nothing else
// (Windows' welcome page also offers enrollment, which the appliance does
// not do).
var certsrvHome = []byte(`<!DOCTYPE html>
<html><head><title>Certificate Services</title></head><body>
<h1>Certificate Services (Tanjay appliance)</h1>
<p>CA certificate: <a href="/certsrv/certnew.cer?ReqID=CACert&amp;Renewal=0&amp;Enc=bin">DER</a>,
<a href="/certsrv/certnew.cer?ReqID=CACert&amp;Renewal=0&amp;Enc=b64">Base 64</a></p>
<p>CA certificate chain: <a href="/certsrv/certnew.p7b?ReqID=CACert&amp;Renewal=0&amp;Enc=bin">DER</a>,
<a href="/certsrv/certnew.p7b?ReqID=CACert&amp;Renewal=0&amp;Enc=b64">Base 64</a></p>
</body></html>
`)

// CAHandler serves the CA for GET and HEAD, answering as Windows
// certificate services does (certsrvwire.go holds the wire format and its
// sources):
//
//   - /certsrv/certnew.p7b: every CA certificate known as PKCS#7
//     certificates-only, base64 with CERTIFICATE armour, DER for Enc=bin;
//   - /certsrv/certnew.cer: the top CA certificate, the same two forms;
//   - /certsrv/ (and /certsrv): a small page linking the four;
//   - /ca.cer: the top CA certificate, DER, as an attachment.
//
// Any Authorization header (Negotiate, NTLM, …) is ignored: never 401. 404
// for any other path and when no CA is known (files mode with a leaf-only
// file, acme mode before the first certificate). Mount it on both phone
// listeners (HTTP and HTTPS).
func (c *Certs) CAHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		chain := c.caChain()
		if len(chain) == 0 || !isCAPath(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		d, err := caAnswer(strings.ToLower(r.URL.Path), r.URL.Query(), chain)
		if err != nil {
			c.log.Error("CA download", "path", r.URL.Path, "err", err)
			http.Error(w, "encoding the CA chain failed", http.StatusInternalServerError)
			return
		}
		d.serve(w, r)
	})
}

// isCAPath reports whether CAHandler answers path, in any case.
func isCAPath(path string) bool {
	switch strings.ToLower(path) {
	case CertNewP7BPath, CertNewCerPath, CertSrvPath, strings.TrimSuffix(CertSrvPath, "/"), CACerPath:
		return true
	}
	return false
}

// caDownload is one answer of CAHandler.
type caDownload struct {
	body  []byte
	ctype string
	// attachment, when set, is sent as the Content-Disposition file name.
	// Windows' certsrv pages send none.
	attachment string
}

// caAnswer is the answer for path (lower case, one CAHandler serves) and
// query q, chain top first.
func caAnswer(path string, q url.Values, chain []*x509.Certificate) (caDownload, error) {
	switch path {
	case CACerPath:
		return caDownload{body: chain[0].Raw, ctype: "application/pkix-cert", attachment: "ca.cer"}, nil
	case CertNewCerPath:
		ctype := "application/pkix-cert"
		if strings.EqualFold(queryValue(q, "Mode"), "inst") {
			ctype = "application/x-x509-ca-cert"
		}
		return caDownload{body: encodeCertsrv(chain[0].Raw, requestedEncoding(q)), ctype: ctype}, nil
	case CertNewP7BPath:
		der, err := certsOnlyPKCS7(chain)
		if err != nil {
			return caDownload{}, fmt.Errorf("certnew.p7b: %w", err)
		}
		return caDownload{body: encodeCertsrv(der, requestedEncoding(q)), ctype: "application/x-pkcs7-certificates"}, nil
	}
	return caDownload{body: certsrvHome, ctype: "text/html; charset=utf-8"}, nil
}

// serve writes d, with Content-Length, HEAD and ranges handled.
func (d caDownload) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", d.ctype)
	if d.attachment != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+d.attachment+`"`)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(d.body))
}

// caChain is the CA certificates offered, top first.
func (c *Certs) caChain() []*x509.Certificate {
	if p := c.chain.Load(); p != nil {
		return *p
	}
	return nil
}

// PhoneHandler is the one wrapper for both phone listeners (HTTP and
// HTTPS): the CA downloads (the CAHandler paths, any case), in acme mode
// the http-01 answers, and everything else to next (the r2 handler).
func (c *Certs) PhoneHandler(next http.Handler) http.Handler {
	ca := c.CAHandler()
	return c.ACMEHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCAPath(r.URL.Path) {
			ca.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

// CAPEM is the CA certificates offered, top first, in PEM: what a test or
// the demo's simulated phones trust. Empty when there is no CA (files
// mode with a bare leaf).
func (c *Certs) CAPEM() []byte {
	var out []byte
	for _, cert := range c.caChain() {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	return out
}
