package web

import (
	"bytes"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
)

// TestBase64HeaderIsCryptBinaryToString: base64Header writes what
// CryptBinaryToString(CRYPT_STRING_BASE64HEADER) writes, byte for byte, on
// the vector of Wine's conformance test (dlls/crypt32/tests/base64.c,
// toEncode4, which that test checks on Windows too): CERTIFICATE armour,
// 64-character lines, CR LF after every line.
func TestBase64HeaderIsCryptBinaryToString(t *testing.T) {
	in := []byte(strings.Repeat("abcdefghijlkmnopqrstuvwxyz01234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890", 3) + "\x00")
	want := "-----BEGIN CERTIFICATE-----\r\n" +
		"YWJjZGVmZ2hpamxrbW5vcHFyc3R1dnd4eXowMTIzNDU2Nzg5MEFCQ0RFRkdISUpL\r\n" +
		"TE1OT1BRUlNUVVZXWFlaMDEyMzQ1Njc4OTBhYmNkZWZnaGlqbGttbm9wcXJzdHV2\r\n" +
		"d3h5ejAxMjM0NTY3ODkwQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2\r\n" +
		"Nzg5MGFiY2RlZmdoaWpsa21ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OTBBQkNERUZH\r\n" +
		"SElKS0xNTk9QUVJTVFVWV1hZWjAxMjM0NTY3ODkwAA==\r\n" +
		"-----END CERTIFICATE-----\r\n"
	if got := string(base64Header(in)); got != want {
		t.Fatalf("base64Header:\n%q\nwant\n%q", got, want)
	}
}

func TestRequestedEncoding(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        certsrvEncoding
	}{
		{"phone", "ReqID=CACert&Renewal=-1&Enc=b64", encBase64Header},
		{"bin", "ReqID=CACert&Renewal=-1&Enc=bin", encBinary},
		{"name and value any case", "reqid=cacert&ENC=B64", encBase64Header},
		{"mixed case value", "Enc=Bin", encBinary},
		{"no Enc is DER, as before", "ReqID=CACert&Renewal=-1", encBinary},
		{"unknown value is DER", "Enc=der", encBinary},
		{"empty query", "", encBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := requestedEncoding(q); got != tc.want {
				t.Errorf("requestedEncoding(%q) = %d, want %d", tc.query, got, tc.want)
			}
		})
	}
}

// TestCertsOnlyPKCS7Prefix pins the encoding against a hand-checked
// prefix: ContentInfo SEQUENCE, signedData OID, [0], SignedData version 1
// with empty digest algorithms and a data ContentInfo.
func TestCertsOnlyPKCS7Prefix(t *testing.T) {
	c := newTestCerts(t, selfSignedConfig(t))
	der, err := certsOnlyPKCS7([]*x509.Certificate{c.ca.cert})
	if err != nil {
		t.Fatal(err)
	}
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	if der[0] != 0x30 || !bytes.Contains(der[:16], oid) {
		t.Fatalf("not a signedData ContentInfo: % x", der[:16])
	}
	tail := []byte{0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0}
	if !bytes.Contains(der, tail) {
		t.Fatalf("SignedData header missing")
	}
	if !bytes.HasSuffix(der, []byte{0x31, 0x00}) {
		t.Fatal("signerInfos not an empty SET at the end")
	}
}
