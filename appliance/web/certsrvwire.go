package web

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net/url"
	"strings"
)

// What Windows certificate services (the /certsrv web enrollment pages)
// answers, and how sure each fact is. The CX700 fetches
// /certsrv/certnew.p7b?ReqID=CACert&Renewal=-1&Enc=b64 from an enterprise
// CA during sign-in (SIGNIN.md §2.3).
//
//   - certnew.p7b answers Content-Type application/x-pkcs7-certificates;
//     certnew.cer answers application/pkix-cert, or
//     application/x-x509-ca-cert with Mode=inst. No charset, no
//     Content-Disposition. [confirmed: clients run against live ADCS
//     compare the header exactly: github.com/nokia/adcs-issuer
//     adcs/ntlm_certsrv.go (certnew.p7b and certnew.cer with Enc=b64),
//     github.com/magnuswatn/certsrv certsrv.py; inferred: that Windows sends
//     no Content-Disposition]
//   - Enc=b64: base64 (CR_OUT_BASE64HEADER); Enc=bin: the DER bytes.
//     [confirmed: the same clients ask for both] Any other Enc, and none at
//     all, answer DER, as the appliance always did [inferred: no public
//     source says what Windows does without Enc, and the phone always
//     sends Enc=b64].
//   - The base64 form is armoured "-----BEGIN CERTIFICATE-----" /
//     "-----END CERTIFICATE-----" even around the PKCS#7 chain, never
//     "BEGIN PKCS7". [confirmed: learn.microsoft.com
//     ICertRequest2::GetCAProperty, flag "BASE64 with BEGIN CERTIFICATE and
//     END CERTIFICATE" for certificates and certificate chains alike;
//     magnuswatn/certsrv tests/test_certsrv.py asserts that armour on
//     certnew.p7b Enc=b64 from a live ADCS]
//   - Lines of 64 base64 characters, CR LF after every line, the END line
//     included. [confirmed for CryptBinaryToString with
//     CRYPT_STRING_BASE64HEADER: learn.microsoft.com CryptBinaryToStringA
//     (CR/LF unless CRYPT_STRING_NOCRLF) and Wine's dlls/crypt32/tests/base64.c,
//     which also runs on Windows; inferred that certsrv formats with it:
//     CR_OUT_BASE64HEADER and CRYPT_STRING_BASE64HEADER are both 0 in the
//     SDK headers, and no capture of a certsrv answer was found]
//   - Query names and values are matched in any case, as IIS matches
//     paths [inferred]: a client that writes ENC=B64 means base64.
//   - ReqID and Renewal are ignored: the appliance has one CA and no
//     requests to retrieve. On Windows ReqID=CACert selects the CA and
//     Renewal its generation (-1 the current one).
//   - No authentication. IIS may demand Windows authentication on /certsrv
//     (the Polycom trace shows Kerberos, SIGNIN.md §2.3); the appliance
//     ignores any Authorization header and never answers 401. Whatever the
//     User-Agent, the answer is the same (magnuswatn/certsrv notes that
//     Windows changes the Content-Type for non-browser agents, reason
//     unknown; nothing says the phone depends on it).

// certsrvEncoding is the body form a certsrv page answers in.
type certsrvEncoding int

const (
	// encBinary is CR_OUT_BINARY (Enc=bin, and the default): DER.
	encBinary certsrvEncoding = iota
	// encBase64Header is CR_OUT_BASE64HEADER (Enc=b64).
	encBase64Header
)

// queryValue is the first value of the query parameter named name in any
// case.
func queryValue(q url.Values, name string) string {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// requestedEncoding is the Enc parameter's answer form: base64 for "b64"
// in any case, else DER.
func requestedEncoding(q url.Values) certsrvEncoding {
	if strings.EqualFold(queryValue(q, "Enc"), "b64") {
		return encBase64Header
	}
	return encBinary
}

// encodeCertsrv is der in the form enc asks for.
func encodeCertsrv(der []byte, enc certsrvEncoding) []byte {
	if enc == encBinary {
		return der
	}
	return base64Header(der)
}

// base64Header is der as CryptBinaryToString(CRYPT_STRING_BASE64HEADER)
// writes it: CERTIFICATE armour whatever der holds, 64-character lines,
// CR LF line ends.
func base64Header(der []byte) []byte {
	lf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
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
