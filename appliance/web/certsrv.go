package web

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paths CAHandler serves, matched case-insensitively. The CX700 fetches its
// root chain from a domain controller's certificate services page,
// /certsrv/certnew.p7b, during sign-in [confirmed: Polycom]; /ca.cer is the
// DER file an operator (or a Windows PC) imports by hand.
const (
	CertNewP7BPath = "/certsrv/certnew.p7b"
	CACerPath      = "/ca.cer"
)

// CAHandler serves the CA chain: certnew.p7b (PKCS#7 certificates-only,
// DER, every CA certificate known) and ca.cer (the top CA, DER), for GET
// and HEAD, with 404 for any other path and when no CA is known (files mode
// with a leaf-only file, acme mode before the first certificate). Mount it
// on both phone listeners (HTTP and HTTPS); the query is ignored
// (Windows' own page is certnew.p7b?ReqID=CACert&Renewal=0&Enc=bin).
func (c *Certs) CAHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		chain := c.caChain()
		path := strings.ToLower(r.URL.Path)
		if len(chain) == 0 || (path != CertNewP7BPath && path != CACerPath) {
			http.NotFound(w, r)
			return
		}
		body, ctype, name := chain[0].Raw, "application/pkix-cert", "ca.cer"
		if path == CertNewP7BPath {
			der, err := certsOnlyPKCS7(chain)
			if err != nil {
				http.Error(w, "encoding the CA chain failed", http.StatusInternalServerError)
				return
			}
			body, ctype, name = der, "application/x-pkcs7-certificates", "certnew.p7b"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// caChain is the CA certificates offered, top first.
func (c *Certs) caChain() []*x509.Certificate {
	if p := c.chain.Load(); p != nil {
		return *p
	}
	return nil
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// certsOnlyPKCS7 encodes certs as a degenerate PKCS#7 SignedData (RFC 2315
// §9.1, RFC 5652 §5): no digest algorithms, no content, no signers, only
// the certificates. This is what Windows certificate services returns
// from certnew.p7b.
func certsOnlyPKCS7(certs []*x509.Certificate) ([]byte, error) {
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms []asn1.RawValue `asn1:"set"`
		ContentInfo      struct{ ContentType asn1.ObjectIdentifier }
		Certificates     asn1.RawValue
		SignerInfos      []asn1.RawValue `asn1:"set"`
	}{
		Version:      1,
		ContentInfo:  struct{ ContentType asn1.ObjectIdentifier }{oidData},
		Certificates: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
}

// PhoneHandler is the one wrapper for both phone listeners (HTTP and
// HTTPS): the CA downloads (CertNewP7BPath, CACerPath, any case), in acme
// mode the http-01 answers, and everything else to next (the r2 handler).
func (c *Certs) PhoneHandler(next http.Handler) http.Handler {
	ca := c.CAHandler()
	return c.ACMEHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := strings.ToLower(r.URL.Path); p == CertNewP7BPath || p == CACerPath {
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
