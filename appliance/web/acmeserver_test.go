package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// acmeTestServer is a minimal RFC 8555 server on loopback: directory,
// newNonce, newAccount, newOrder, authorizations validated for real
// against the appliance's listeners (tls-alpn-01, RFC 8737: a handshake
// with ALPN acme-tls/1 checking the acmeIdentifier extension; http-01: a
// fetch of the key authorization), finalize signing the CSR with a test
// CA, certificate download. JWS: ES256 signatures are verified against
// the account key, nonces must be ones it issued, and the protected "url"
// must be the request's.
type acmeTestServer struct {
	t   testing.TB
	srv *httptest.Server
	ca  *x509.Certificate
	key *ecdsa.PrivateKey
	// ApplianceHTTP is host:port of the listener serving http-01 answers
	// (a real CA would resolve the identifier to port 80), ApplianceHTTPS
	// the one answering tls-alpn-01 (port 443). Set before the first order.
	ApplianceHTTP, ApplianceHTTPS string
	// Challenges are the challenge types offered in each authorization, in
	// order. Default tls-alpn-01 and http-01. Set before the first order.
	Challenges []string

	mu          sync.Mutex
	nonces      map[string]bool
	accounts    map[string]*ecdsa.PublicKey // kid → key
	orders      map[string]*acmeOrder
	authzs      map[string]*acmeAuthz
	certs       map[string][]byte // id → PEM chain
	seq         int
	lifetime    time.Duration // of the certificates issued
	nOrders     int           // orders created
	validations []string      // "<challenge type> <identifier>", in order
}

type acmeOrder struct {
	id, status, cert string
	names            []string
	authz            []string
}

type acmeAuthz struct {
	id, name, status, account string
	tokens                    map[string]string // challenge type → token
}

func newACMETestServer(t testing.TB) *acmeTestServer {
	s := &acmeTestServer{t: t, nonces: map[string]bool{}, accounts: map[string]*ecdsa.PublicKey{},
		orders: map[string]*acmeOrder{}, authzs: map[string]*acmeAuthz{}, certs: map[string][]byte{},
		Challenges: []string{"tls-alpn-01", "http-01"}, lifetime: 90 * 24 * time.Hour}
	s.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab ACME test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour * 3650),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.key.PublicKey, s.key)
	s.ca, _ = x509.ParseCertificate(der)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	// autocert deactivates authorizations from goroutines that may outlive
	// a test; their broken connections are not worth a line each.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	return s
}

// DirectoryURL and CAFile are what the appliance is configured with.
func (s *acmeTestServer) DirectoryURL() string { return s.srv.URL + "/dir" }

func (s *acmeTestServer) CAFile(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "acme-server-ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}), 0o644)
	return p
}

func (s *acmeTestServer) url(path string) string { return s.srv.URL + path }

// SetLifetime sets how long the certificates issued from now on are valid.
func (s *acmeTestServer) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Orders is the number of orders created.
func (s *acmeTestServer) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nOrders
}

// Validations are the challenges passed, "<type> <identifier>", in order.
func (s *acmeTestServer) Validations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.validations)
}

func (s *acmeTestServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Replay-Nonce", s.newNonce())
	switch {
	case r.URL.Path == "/dir":
		writeJSON(w, 200, map[string]any{"newNonce": s.url("/nonce"), "newAccount": s.url("/account"),
			"newOrder": s.url("/order"), "revokeCert": s.url("/revoke"), "keyChange": s.url("/keychange")})
		return
	case r.URL.Path == "/nonce":
		w.WriteHeader(http.StatusOK)
		return
	case r.Method != http.MethodPost:
		problem(w, 405, "malformed", "POST only")
		return
	}
	kid, payload, err := s.verifyJWS(r)
	if err != nil {
		problem(w, 400, "malformed", err.Error())
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch parts[0] {
	case "account":
		w.Header().Set("Location", kid)
		writeJSON(w, 201, map[string]any{"status": "valid"})
	case "order":
		if len(parts) == 2 {
			s.writeOrder(w, 200, s.orders[parts[1]])
			return
		}
		s.newOrder(w, kid, payload)
	case "authz":
		z := s.authzs[parts[1]]
		w.Header().Set("Location", s.url("/authz/"+z.id))
		writeJSON(w, 200, s.authzJSON(z))
	case "chal":
		s.validate(w, s.authzs[parts[1]], parts[2])
	case "finalize":
		s.finalize(w, s.orders[parts[1]], payload)
	case "cert":
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		w.Write(s.certs[parts[1]])
	default:
		problem(w, 404, "malformed", "no such resource")
	}
}

func (s *acmeTestServer) newNonce() string {
	s.seq++
	n := fmt.Sprintf("nonce-%d", s.seq)
	s.nonces[n] = true
	return n
}

func (s *acmeTestServer) id() string {
	s.seq++
	return fmt.Sprint(s.seq)
}

// verifyJWS checks a flattened JWS and returns the account URL and payload.
func (s *acmeTestServer) verifyJWS(r *http.Request) (string, []byte, error) {
	var jws struct{ Protected, Payload, Signature string }
	if err := json.NewDecoder(r.Body).Decode(&jws); err != nil {
		return "", nil, err
	}
	hdrJSON, _ := base64.RawURLEncoding.DecodeString(jws.Protected)
	var hdr struct {
		Alg, Nonce, URL, Kid string
		JWK                  *struct{ Kty, Crv, X, Y string }
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return "", nil, err
	}
	if !s.nonces[hdr.Nonce] {
		return "", nil, fmt.Errorf("unknown nonce %q", hdr.Nonce)
	}
	delete(s.nonces, hdr.Nonce)
	if hdr.URL != s.url(r.URL.Path) {
		return "", nil, fmt.Errorf("protected url %q is not %q", hdr.URL, s.url(r.URL.Path))
	}
	kid, pub := hdr.Kid, s.accounts[hdr.Kid]
	if hdr.JWK != nil {
		if hdr.Alg != "ES256" || hdr.JWK.Crv != "P-256" {
			return "", nil, fmt.Errorf("want ES256, got %s", hdr.Alg)
		}
		x, _ := base64.RawURLEncoding.DecodeString(hdr.JWK.X)
		y, _ := base64.RawURLEncoding.DecodeString(hdr.JWK.Y)
		if len(x) != 32 || len(y) != 32 {
			return "", nil, fmt.Errorf("JWK coordinates of %d and %d bytes, want 32", len(x), len(y))
		}
		var err error
		if pub, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...)); err != nil {
			return "", nil, fmt.Errorf("JWK: %w", err)
		}
		kid = s.url("/acct/" + hdr.JWK.X[:8])
		s.accounts[kid] = pub
	}
	if pub == nil {
		return "", nil, fmt.Errorf("unknown account %q", hdr.Kid)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(jws.Signature)
	sum := sha256.Sum256([]byte(jws.Protected + "." + jws.Payload))
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return "", nil, fmt.Errorf("bad signature")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
	return kid, payload, nil
}

func (s *acmeTestServer) newOrder(w http.ResponseWriter, kid string, payload []byte) {
	var req struct {
		Identifiers []struct{ Type, Value string }
	}
	json.Unmarshal(payload, &req)
	o := &acmeOrder{id: s.id(), status: "pending"}
	for _, ident := range req.Identifiers {
		z := &acmeAuthz{id: s.id(), name: ident.Value, status: "pending", account: kid, tokens: map[string]string{}}
		for _, typ := range s.Challenges {
			z.tokens[typ] = base64.RawURLEncoding.EncodeToString([]byte("token-" + z.id + "-" + typ + "-0123456789abcdef"))
		}
		s.authzs[z.id] = z
		o.names = append(o.names, ident.Value)
		o.authz = append(o.authz, z.id)
	}
	s.orders[o.id] = o
	s.nOrders++
	s.writeOrder(w, 201, o)
}

func (s *acmeTestServer) writeOrder(w http.ResponseWriter, code int, o *acmeOrder) {
	if o.status == "pending" {
		o.status = "ready"
		for _, id := range o.authz {
			if s.authzs[id].status != "valid" {
				o.status = "pending"
			}
		}
	}
	var ids []map[string]string
	for _, n := range o.names {
		ids = append(ids, map[string]string{"type": "dns", "value": n})
	}
	var authz []string
	for _, id := range o.authz {
		authz = append(authz, s.url("/authz/"+id))
	}
	v := map[string]any{"status": o.status, "identifiers": ids, "authorizations": authz,
		"finalize": s.url("/finalize/" + o.id), "expires": time.Now().Add(time.Hour).Format(time.RFC3339)}
	if o.cert != "" {
		v["certificate"] = s.url("/cert/" + o.cert)
	}
	w.Header().Set("Location", s.url("/order/"+o.id))
	writeJSON(w, code, v)
}

func (s *acmeTestServer) authzJSON(z *acmeAuthz) map[string]any {
	var chals []map[string]string
	for _, typ := range s.Challenges {
		chals = append(chals, s.challengeJSON(z, typ))
	}
	return map[string]any{"status": z.status, "identifier": map[string]string{"type": "dns", "value": z.name},
		"challenges": chals}
}

func (s *acmeTestServer) challengeJSON(z *acmeAuthz, typ string) map[string]string {
	return map[string]string{"type": typ, "url": s.url("/chal/" + z.id + "/" + typ), "token": z.tokens[typ], "status": z.status}
}

// validate checks challenge typ of z against the appliance, as a CA does.
func (s *acmeTestServer) validate(w http.ResponseWriter, z *acmeAuthz, typ string) {
	thumb, _ := acme.JWKThumbprint(s.accounts[z.account])
	keyAuth := z.tokens[typ] + "." + thumb
	var err error
	switch typ {
	case "http-01":
		err = s.validateHTTP01(z.name, z.tokens[typ], keyAuth)
	case "tls-alpn-01":
		err = s.validateTLSALPN01(z.name, keyAuth)
	default:
		err = fmt.Errorf("challenge type %q not offered", typ)
	}
	if err == nil {
		z.status = "valid"
		s.validations = append(s.validations, typ+" "+z.name)
	} else {
		z.status = "invalid"
		s.t.Errorf("%s for %s: %v", typ, z.name, err)
	}
	writeJSON(w, 200, s.challengeJSON(z, typ))
}

// validateHTTP01 fetches the key authorization from the appliance, with
// the identifier as Host, as a CA does on port 80 (RFC 8555 §8.3).
func (s *acmeTestServer) validateHTTP01(name, token, keyAuth string) error {
	req, _ := http.NewRequest("GET", "http://"+s.ApplianceHTTP+"/.well-known/acme-challenge/"+token, nil)
	req.Host = name
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != keyAuth {
		return fmt.Errorf("got %s %q, want %q", resp.Status, b, keyAuth)
	}
	return nil
}

// oidACMEIdentifier is id-pe-acmeIdentifier (RFC 8737 §6.1).
var oidACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

// validateTLSALPN01 does what RFC 8737 §3 asks of the ACME server: a TLS
// 1.2 or later handshake with the identifier as server name and acme-tls/1
// as the only ALPN protocol, which must be negotiated; the certificate
// (whose chain is not checked) must name the identifier and nothing else,
// and carry a critical acmeIdentifier extension holding the SHA-256 of the
// key authorization as an OCTET STRING.
func (s *acmeTestServer) validateTLSALPN01(name, keyAuth string) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.ApplianceHTTPS, &tls.Config{
		ServerName: name, NextProtos: []string{acme.ALPNProto}, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer conn.Close()
	cs := conn.ConnectionState()
	if cs.NegotiatedProtocol != acme.ALPNProto {
		return fmt.Errorf("negotiated ALPN %q, want %q", cs.NegotiatedProtocol, acme.ALPNProto)
	}
	cert := cs.PeerCertificates[0]
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != name || len(cert.IPAddresses)+len(cert.EmailAddresses)+len(cert.URIs) != 0 {
		return fmt.Errorf("subjectAltName %v %v %v %v, want only %s", cert.DNSNames, cert.IPAddresses, cert.EmailAddresses, cert.URIs, name)
	}
	want := sha256.Sum256([]byte(keyAuth))
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidACMEIdentifier) {
			continue
		}
		var got []byte
		if rest, err := asn1.Unmarshal(ext.Value, &got); err != nil || len(rest) != 0 {
			return fmt.Errorf("acmeIdentifier: not one OCTET STRING (%v, %d trailing bytes)", err, len(rest))
		}
		if !ext.Critical {
			return errors.New("acmeIdentifier extension not critical")
		}
		if !bytes.Equal(got, want[:]) {
			return fmt.Errorf("acmeIdentifier %x, want %x", got, want)
		}
		return nil
	}
	return errors.New("no acmeIdentifier extension")
}

func (s *acmeTestServer) finalize(w http.ResponseWriter, o *acmeOrder, payload []byte) {
	var req struct{ CSR string }
	json.Unmarshal(payload, &req)
	der, _ := base64.RawURLEncoding.DecodeString(req.CSR)
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil || csr.CheckSignature() != nil {
		problem(w, 400, "badCSR", fmt.Sprint(err))
		return
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(s.seq + 100)), Subject: pkix.Name{CommonName: csr.DNSNames[0]},
		DNSNames: csr.DNSNames, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(s.lifetime),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, csr.PublicKey, s.key)
	if err != nil {
		problem(w, 500, "serverInternal", err.Error())
		return
	}
	o.cert = s.id()
	s.certs[o.cert] = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw})...)
	o.status = "valid"
	s.writeOrder(w, 200, o)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, code int, typ, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"type": "urn:ietf:params:acme:error:" + typ, "detail": detail})
}
