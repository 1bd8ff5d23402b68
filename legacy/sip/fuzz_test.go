package sip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// FuzzParseMessage feeds arbitrary bytes to the stream reader, as a phone
// or an attacker could: it must never panic, never return a message over
// the limits, and every message it returns must survive a round trip
// through Bytes.
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		"REGISTER sip:lab.test SIP/2.0\r\nVia: SIP/2.0/TLS 10.99.0.50:49152\r\nFrom: <sip:alice@lab.test>;tag=3e49177a52;epid=c8ca638a15\r\nTo: <sip:alice@lab.test>\r\nCall-ID: 4037df9284354df39065195bd57a4b14\r\nCSeq: 1 REGISTER\r\nAuthorization: NTLM qop=\"auth\", opaque=\"85185AE4\", realm=\"SIP Communications Service\", targetname=\"sip.lab.test\", gssapi-data=\"\", version=3\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 200 OK\r\nCSeq: 1 NOTIFY\r\nl: 4\r\n\r\nbody",
		"\r\n\r\n",
		"\r\nOPTIONS sip:x SIP/2.0\r\n folded: no\r\n\r\n",
		"SUBSCRIBE sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n",
		"INVITE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	lim := Limits{MaxHeaderBytes: 2048, MaxBodyBytes: 1024, MaxHeaders: 32}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), lim)
		for range 16 {
			m, ping, err := r.Next()
			if err != nil {
				if errors.Is(err, ErrTooLarge) && m != nil && len(m.Body) != 0 {
					t.Fatalf("a too-large message came with a body")
				}
				return
			}
			if ping {
				continue
			}
			if len(m.Body) > lim.MaxBodyBytes || len(m.Headers) > lim.MaxHeaders {
				t.Fatalf("message over the limits: %d body bytes, %d headers", len(m.Body), len(m.Headers))
			}
			again, _, err := NewReader(bytes.NewReader(m.Bytes()), Limits{}).Next()
			if err != nil {
				t.Fatalf("re-reading %q: %v", m.Bytes(), err)
			}
			if again.Method != m.Method || again.StatusCode != m.StatusCode || !bytes.Equal(again.Body, m.Body) {
				t.Fatalf("round trip changed the message: %+v → %+v", m, again)
			}
			a := parseAuth(m.Get("Authorization"))
			_ = signatureBuffer(m, 4, a.get("crand"), a.get("cnum"), authRealm, a.get("targetname"))
			_, _ = requestedGroups(m.Body)
		}
	})
}

// FuzzServeConn runs a connection of the server over arbitrary bytes, so
// the handshake, the dispatch and every answer builder see hostile
// headers: the server must answer or close, never panic or hang.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte("REGISTER sip:lab.test SIP/2.0\r\nFrom: <sip:a@lab.test>;tag=1;epid=2\r\nTo: <sip:a@lab.test>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: <sip:127.0.0.1:5;transport=tcp>;+sip.instance=\"<urn:uuid:34D859DB-6585-5F91-A3B4-DE853C15347D>\"\r\n\r\n" +
		"REGISTER sip:lab.test SIP/2.0\r\nFrom: <sip:a@lab.test>;tag=1\r\nTo: <sip:a@lab.test>\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\nAuthorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"sip.lab.test\", gssapi-data=\"\", version=4\r\n\r\n"))
	f.Add([]byte("SUBSCRIBE sip:a@b SIP/2.0\r\nProxy-Authorization: NTLM opaque=\"AAAA\", gssapi-data=\"TlRMTVNTUAADAAAA\"\r\nEvent: vnd-microsoft-provisioning-v2\r\n\r\nACK x SIP/2.0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nAuthorization: NTLM opaque=\"x\", response=\"zz\"\r\n\r\n\r\n\r\n"))
	s, err := New(Config{
		Password:       func() string { return testPassword },
		URLs:           func() UpdateURLs { return testURLs },
		MessageTimeout: time.Second, SignInTimeout: time.Second,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c := newConn(s, server, "tcp", netip.MustParseAddr("127.0.0.1"))
		done := make(chan struct{})
		go func() {
			c.serve(context.Background())
			close(done)
		}()
		go func() {
			client.Write(data)
			client.Close()
		}()
		io.Copy(io.Discard, client)
		<-done
	})
}
