package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/r2"
)

// testKeys makes RSA keys once per test binary: a 2048-bit key takes
// long under -race, and these tests issue dozens of certificates.
var testKeys struct {
	once sync.Once
	mu   sync.Mutex
	keys []*rsa.PrivateKey
	next int
}

func TestMain(m *testing.M) {
	generateKey = func() (*rsa.PrivateKey, error) {
		testKeys.once.Do(func() {
			for range 6 {
				k, err := rsa.GenerateKey(rand.Reader, rsaBits)
				if err != nil {
					panic(err)
				}
				testKeys.keys = append(testKeys.keys, k)
			}
		})
		testKeys.mu.Lock()
		defer testKeys.mu.Unlock()
		k := testKeys.keys[testKeys.next%len(testKeys.keys)]
		testKeys.next++
		return k, nil
	}
	os.Exit(m.Run())
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// selfSignedConfig is a self-signed TLSConfig in a fresh directory.
func selfSignedConfig(t testing.TB) TLSConfig {
	return TLSConfig{
		Dir:    t.TempDir(),
		Names:  ServerNames("testhost", []string{"lab.example"}),
		IPs:    []net.IP{net.IPv4(127, 0, 0, 1)},
		Logger: discardLogger(),
	}
}

func newTestCerts(t testing.TB, c TLSConfig) *Certs {
	t.Helper()
	certs, err := NewCerts(c)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// testFiles is a firmware store with nothing in it.
type testFiles struct{}

func (testFiles) OpenFile(string) (r2.File, error) { return r2.File{}, r2.ErrNoFile }

// checkinRequest is the seed's beta phone (r2/testdata/checkin).
const checkinRequest = `<?xml version="1.0" encoding="utf-8"?>
<Request><DeviceType>UCPhone</DeviceType><MacAddress>001B9E4B5B10</MacAddress><SerialNumber>1108015382</SerialNumber><Vendor>LG-Nortel</Vendor><Model>IP8540</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>0.0.0.0</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`

// phoneMux is what the appliance mounts on a phone listener: PhoneHandler
// around the r2 handler, here with a planner that offers nothing.
func phoneMux(certs *Certs) http.Handler {
	return certs.PhoneHandler(r2.NewHandler(r2.Config{
		Planner: r2.PlannerFunc(func(context.Context, *r2.Request, string) (r2.Offer, error) {
			return r2.Offer{LangList: []string{"ENU"}, Reason: "test"}, nil
		}),
		Files: testFiles{},
	}))
}

// serve runs h on a fresh 127.0.0.1 listener, wrapped in TLS when cfg is
// set, and returns its address.
func serve(t testing.TB, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	srv := NewServer(h, context.Background(), discardLogger())
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// parseCertsOnlyPKCS7 reads what certsOnlyPKCS7 writes, as a phone would.
func parseCertsOnlyPKCS7(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("ContentInfo: %v (trailing %d)", err, len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("content type %v", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue `asn1:"tag:0"`
		SignerInfos      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("SignedData: %w", err)
	}
	return x509.ParseCertificates(sd.Certificates.Bytes)
}

// verifyAsPhone checks a served chain the way the CX700 must: the leaf
// signed (SHA-1) by a root from the .p7b, the root self-signed, both in
// date, the leaf naming host. crypto/x509 refuses SHA-1, so by hand.
func verifyAsPhone(roots []*x509.Certificate, host string, now time.Time) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		leaf := cs.PeerCertificates[0]
		if err := leaf.VerifyHostname(host); err != nil {
			return err
		}
		for _, root := range roots {
			if checkSignedBy(leaf, root) != nil {
				continue
			}
			if err := checkSignedBy(root, root); err != nil {
				return fmt.Errorf("root self-signature: %w", err)
			}
			for _, c := range []*x509.Certificate{leaf, root} {
				if now.Before(c.NotBefore) || now.After(c.NotAfter) {
					return fmt.Errorf("%s out of date", c.Subject)
				}
			}
			return nil
		}
		return errors.New("leaf not signed by any root from the .p7b")
	}
}

// cx700Client is a TLS 1.0 client with one suite, RSA key exchange and
// 3DES, that trusts only roots.
func cx700Client(roots []*x509.Certificate, host string) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS10,
		MaxVersion:         tls.VersionTLS10,
		CipherSuites:       []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
		InsecureSkipVerify: true, // replaced by VerifyConnection: SHA-1 chain
		VerifyConnection:   verifyAsPhone(roots, host, time.Now()),
	}}, Timeout: 30 * time.Second}
}

func get(t testing.TB, c *http.Client, url string) []byte {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

func postCheckin(c *http.Client, url string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(checkinRequest)))
	req.Header.Set("User-Agent", "Microsoft UCPhone Device")
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}
