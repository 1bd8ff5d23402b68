package ntlm

import (
	"encoding/base64"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// authenticateSeeds are real AUTHENTICATEs and broken variants of them.
func authenticateSeeds() [][]byte {
	r2, _ := base64.StdEncoding.DecodeString(r2AuthBase64)
	seeds := [][]byte{r2, unhex(nlmpV1Auth), unhex(nlmpESSAuth), unhex(nlmpV2Auth), nil, r2[:64], r2[:200]}
	for _, edit := range []func(b []byte){
		func(b []byte) { binary.LittleEndian.PutUint32(b[24:], 0xFFFFFFF0) },   // NT offset past the end
		func(b []byte) { binary.LittleEndian.PutUint16(b[20:], 0xFFFF) },       // NT length past the end
		func(b []byte) { binary.LittleEndian.PutUint16(b[36:], 7) },            // odd UTF-16 user
		func(b []byte) { binary.LittleEndian.PutUint32(b[60:], 0x42908255) },   // NTLMv1 flags, v2 response
		func(b []byte) { binary.LittleEndian.PutUint16(b[20:], 24) },           // v2 response cut to 24
		func(b []byte) { binary.LittleEndian.PutUint32(b[60:], FlagLMKey|1) },  // LM_KEY, no ESS
		func(b []byte) { binary.LittleEndian.PutUint16(b[52:], 0) },            // KEY_EXCH without key
		func(b []byte) { binary.LittleEndian.PutUint32(b[12+4:], 0xFFFFFFFF) }, // LM offset past the end
	} {
		b := append([]byte(nil), r2...)
		edit(b)
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzParseAuthenticate checks that ParseAuthenticate never panics, that a
// parsed message survives marshal → parse unchanged, and that every slice
// it returns is a copy bounded by the input.
func FuzzParseAuthenticate(f *testing.F) {
	for _, s := range authenticateSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthenticate(b)
		if err != nil {
			return
		}
		for _, p := range [][]byte{a.LmResponse, a.NtResponse, a.EncryptedRandomSessionKey} {
			if len(p) > len(b) {
				t.Fatalf("field of %d bytes from a %d-byte message", len(p), len(b))
			}
		}
		m := a.marshal()
		if len(m) > maxMessageLen {
			return // overlapping fields re-encoded side by side
		}
		again, err := ParseAuthenticate(m)
		if err != nil {
			t.Fatalf("re-parse of marshal: %v", err)
		}
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("marshal → parse changed the message (-first +second):\n%s", diff)
		}
	})
}

// FuzzParseChallenge checks that ParseChallenge never panics and that the
// client side copes with whatever it accepts.
func FuzzParseChallenge(f *testing.F) {
	r2 := unhex(r2ChallengeHex)
	for _, s := range [][]byte{r2, unhex(nlmpV1Chal), unhex(nlmpV2Chal), Challenge(labTarget, labChallenge),
		nil, r2[:32], r2[:47], r2[:100]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseChallenge(b)
		if err != nil {
			return
		}
		if len(ch.TargetInfo) > len(b) {
			t.Fatalf("TargetInfo of %d bytes from a %d-byte message", len(ch.TargetInfo), len(b))
		}
		ch.timestamp()
		msg, _, err := Respond(ch, ClientConfig{User: "u", Password: "p", Rand: zeroReader{}})
		if err != nil {
			if len(ch.TargetInfo) < maxMessageLen-200 {
				t.Fatalf("Respond to an accepted challenge: %v", err)
			}
			return // the echoed TargetInfo makes the AUTHENTICATE too large
		}
		if _, err := ParseAuthenticate(msg); err != nil {
			t.Fatalf("Respond produced an unparsable AUTHENTICATE: %v", err)
		}
	})
}

// FuzzAccept runs everything a server does with an untrusted AUTHENTICATE:
// parse, Accept, AcceptPassword, Sign and Verify must not panic.
func FuzzAccept(f *testing.F) {
	for _, s := range authenticateSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthenticate(b)
		if err != nil {
			return
		}
		sc := [8]byte(unhex("DD1BAAF4E7E218D1"))
		if s, _, err := Accept(a, sc, NTHash(r2Password)); err == nil {
			sig := s.Sign(b)
			s.Verify(b, sig[:])
			s.Verify(b, b[:min(16, len(b))])
		}
		if s, _, err := AcceptPassword(a, sc, r2Password); err == nil {
			s.Verify(b, b[len(b)-16:])
		}
	})
}

// zeroReader is an endless source of zero bytes.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
