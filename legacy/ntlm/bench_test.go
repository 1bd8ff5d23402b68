package ntlm

import "testing"

// BenchmarkAccept is the server's per-sign-in cost on the OC 2007 R2
// AUTHENTICATE (NTLMv2, KEY_EXCH): verification and key derivation.
func BenchmarkAccept(b *testing.B) {
	auth, _ := r2Authenticate(b)
	_, sc := r2Challenge(b)
	nt := NTHash(r2Password)
	for b.Loop() {
		if _, _, err := Accept(auth, sc, nt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is the per-message cost of an rspauth.
func BenchmarkSign(b *testing.B) {
	s := r2Session(b)
	for b.Loop() {
		s.Sign(r2Response)
	}
}

// BenchmarkVerify is the per-message cost of checking a phone's response=.
func BenchmarkVerify(b *testing.B) {
	s := r2Session(b)
	sig := unhex(r2RequestSig)
	for b.Loop() {
		if !s.Verify(r2Request, sig) {
			b.Fatal("Verify = false")
		}
	}
}

// BenchmarkAcceptSignVerify is one sign-in: Accept, then verify the
// REGISTER and sign its 200 OK.
func BenchmarkAcceptSignVerify(b *testing.B) {
	auth, _ := r2Authenticate(b)
	_, sc := r2Challenge(b)
	nt := NTHash(r2Password)
	sig := unhex(r2RequestSig)
	for b.Loop() {
		s, _, err := Accept(auth, sc, nt)
		if err != nil {
			b.Fatal(err)
		}
		if !s.Verify(r2Request, sig) {
			b.Fatal("Verify = false")
		}
		s.Sign(r2Response)
	}
}

func r2Session(b *testing.B) *Session {
	auth, _ := r2Authenticate(b)
	_, sc := r2Challenge(b)
	s, _, err := Accept(auth, sc, NTHash(r2Password))
	if err != nil {
		b.Fatal(err)
	}
	return s
}
