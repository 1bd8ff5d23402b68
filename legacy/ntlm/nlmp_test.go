package ntlm

import (
	"bytes"
	"crypto/rc4"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// MS-NLMP 4.2 test vectors: User "User", Domain "Domain", password
// "Password", server challenge 0123456789abcdef, client challenge aa×8,
// random session key 55×16, plaintext "Plaintext" in UTF-16LE.
var (
	nlmpServerChallenge = [8]byte(unhex("0123456789abcdef"))
	nlmpClientChallenge = [8]byte(bytes.Repeat([]byte{0xaa}, 8))
	nlmpRandomKey       = [16]byte(bytes.Repeat([]byte{0x55}, 16))
	nlmpPlaintext       = encodeUTF16("Plaintext")
)

// The AUTHENTICATE_MESSAGEs of MS-NLMP 4.2.2.3, 4.2.3.3 and 4.2.4.3, and the
// CHALLENGE_MESSAGEs of 4.2.2.2, 4.2.3.2 and 4.2.4.2.
const (
	nlmpV1Auth     = "4e544c4d5353500003000000180018006c00000018001800840000000c000c00480000000800080054000000100010005c000000100010009c000000358280e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520098def7b87f88aa5dafe2df779688a172def11c7d5ccdef1367c43011f30298a2ad35ece64f16331c44bdbed927841f94518822b1b3f350c8958682ecbb3e3cb7"
	nlmpESSAuth    = "4e544c4d5353500003000000180018006c00000018001800840000000c000c00480000000800080054000000100010005c000000000000009c000000358208820501280a0000000f44006f006d00610069006e00550073006500720043004f004d0050005500540045005200aaaaaaaaaaaaaaaa000000000000000000000000000000007537f803ae367128ca458204bde7caf81e97ed2683267232"
	nlmpV2Auth     = "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e"
	nlmpV1Chal     = "4e544c4d53535000020000000c000c003800000033820ae20123456789abcdef00000000000000000000000000000000060070170000000f530065007200760065007200"
	nlmpESSChal    = "4e544c4d53535000020000000c000c003800000033820a820123456789abcdef00000000000000000000000000000000060070170000000f530065007200760065007200"
	nlmpV2Chal     = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"
	nlmpV2Response = "68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000"
)

func h(b []byte) string { return hex.EncodeToString(b) }

// TestNLMPPrimitives checks each MS-NLMP 4.2 intermediate value.
func TestNLMPPrimitives(t *testing.T) {
	nt := NTHash("Password")
	lm := lmHash("Password")
	v2 := ntowfV2(nt, "User", "Domain")
	sbk := sessionBaseKeyV1(nt)
	essKX := hmacMD5(sbk[:], nlmpServerChallenge[:], nlmpClientChallenge[:])
	lmResp := desl(lm, nlmpServerChallenge)
	v2Blob := ntlmv2Blob(0, nlmpClientChallenge, unhex(nlmpV2Chal)[68:])
	v2Proof := ntProofStr(v2, nlmpServerChallenge, v2Blob)
	v2Base := hmacMD5(v2[:], v2Proof[:])
	lmKX, _ := kxkeyV1(FlagLMKey, sbk, lmResp, nlmpServerChallenge, &lm)
	nonNTKX, _ := kxkeyV1(FlagRequestNonNTSessionKey, sbk, lmResp, nlmpServerChallenge, &lm)
	davenport := deriveKeys([16]byte(unhex("0102030405060708090a0b0c0d0e0f00")),
		Flag128|FlagExtendedSessionSecurity, clientSignMagic, clientSealMagic)
	for _, tc := range []struct {
		name, got, want string
	}{
		{"4.2.2.1.1 LMOWFv1", h(lm[:]), "e52cac67419a9a224a3b108f3fa6cb6d"},
		{"4.2.2.1.2 NTOWFv1", h(nt[:]), "a4f49c406510bdcab6824ee7c30fd852"},
		{"4.2.2.1.3 session base key", h(sbk[:]), "d87262b0cde4b1cb7499becccdf10784"},
		{"4.2.2.2.1 NTLMv1 response", h(desl(nt, nlmpServerChallenge)), "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"},
		{"4.2.2.2.2 LMv1 response", h(lmResp), "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13"},
		{"4.2.2.2.3 encrypted session key", h(rc4K(sbk[:], nlmpRandomKey[:])), "518822b1b3f350c8958682ecbb3e3cb7"},
		{"4.2.2.1.3 KXKEY with LM_KEY", h(lmKX[:]), "b09e379f7fbecb1eaf0afdcb0383c8a0"},
		{"4.2.2.2.3 encrypted key with NON_NT_SESSION_KEY", h(rc4K(nonNTKX[:], nlmpRandomKey[:])), "7452ca55c225a1ca04b48fae32cf56fc"},
		{"4.2.3.2.2 NTLMv1+ESS response", h(desl(nt, essChallenge(nlmpServerChallenge, nlmpClientChallenge[:]))), "7537f803ae367128ca458204bde7caf81e97ed2683267232"},
		{"4.2.3.1.3 ESS key exchange key", h(essKX[:]), "eb93429a8bd952f8b89c55b87f475edc"},
		{"4.2.4.1.1 NTOWFv2", h(v2[:]), "0c868a403bfd7a93a3001ef22ef02e3f"},
		{"4.2.4.2.1 LMv2 response", h(lmv2Response(v2, nlmpServerChallenge, nlmpClientChallenge)), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"},
		{"4.2.4.2.2 NTLMv2 response", h(append(v2Proof[:], v2Blob...)), nlmpV2Response},
		{"4.2.4.1.2 NTLMv2 session base key", h(v2Base[:]), "8de40ccadbc14a82f15cb0ad0de95ca3"},
		{"4.2.4.2.3 NTLMv2 encrypted session key", h(rc4K(v2Base[:], nlmpRandomKey[:])), "c5dad2544fc9799094ce1ce90bc9d03e"},
		{"davenport NTLM2 client signing key", h(davenport.sign[:]), "f7f97a82ec390f9c903dac4f6aceb132"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestNLMPAccept parses the spec's AUTHENTICATE messages and checks what
// Accept derives from them.
func TestNLMPAccept(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		auth                 string
		variant              Variant
		exported             string
		clientSign, clientSl string // the keys the server verifies with (ESS only)
	}{
		{"4.2.2 NTLMv1", nlmpV1Auth, NTLMv1, "55555555555555555555555555555555", "", "55555555555555555555555555555555"},
		{"4.2.3 NTLMv1 with client challenge", nlmpESSAuth, NTLMv1ESS, "eb93429a8bd952f8b89c55b87f475edc",
			"60e799be5c72fc92922ae8ebe961fb8d", "04dd7f014d8504d265a25cc86a3a7c06"},
		{"4.2.4 NTLMv2", nlmpV2Auth, NTLMv2, "55555555555555555555555555555555",
			"4788dc861b4782f35d43fd98fe1a2d39", "59f600973cc4960a25480a7c196e4c58"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := ParseAuthenticate(unhex(tc.auth))
			if err != nil {
				t.Fatal(err)
			}
			if auth.User != "User" || auth.Domain != "Domain" || auth.Workstation != "COMPUTER" {
				t.Errorf("names = %q %q %q, want User Domain COMPUTER", auth.User, auth.Domain, auth.Workstation)
			}
			s, variant, err := Accept(auth, nlmpServerChallenge, NTHash("Password"))
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Variant                    Variant
				Exported, ClientSign, Seal string
			}{variant, h(s.ExportedSessionKey()), "", h(s.in.seal)}
			if s.flags&FlagExtendedSessionSecurity != 0 {
				got.ClientSign = h(s.in.sign[:])
			}
			want := got
			want.Variant, want.Exported, want.ClientSign, want.Seal = tc.variant, tc.exported, tc.clientSign, tc.clientSl
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if _, _, err := Accept(auth, nlmpServerChallenge, NTHash("password")); err != ErrWrongPassword {
				t.Errorf("Accept(wrong password) error = %v, want ErrWrongPassword", err)
			}
		})
	}
}

// TestNLMPRespond has the client side answer the spec's CHALLENGEs and
// compares the responses and encrypted session key with the spec's
// AUTHENTICATEs (flags, Version and Workstation differ by design).
func TestNLMPRespond(t *testing.T) {
	for _, tc := range []struct {
		name      string
		challenge string
		auth      string
		cfg       ClientConfig
	}{
		{"4.2.2 NTLMv1", nlmpV1Chal, nlmpV1Auth, ClientConfig{Variant: NTLMv1}},
		{"4.2.3 NTLMv1 with client challenge", nlmpESSChal, nlmpESSAuth, ClientConfig{Variant: NTLMv1ESS, ESS: true, KeyBits: 56}},
		{"4.2.4 NTLMv2", nlmpV2Chal, nlmpV2Auth, ClientConfig{Variant: NTLMv2, Time: fromFiletime(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := ParseChallenge(unhex(tc.challenge))
			if err != nil {
				t.Fatal(err)
			}
			cfg := tc.cfg
			cfg.User, cfg.Domain, cfg.Password = "User", "Domain", "Password"
			cfg.Rand = bytes.NewReader(append(nlmpClientChallenge[:], nlmpRandomKey[:]...))
			msg, _, err := Respond(ch, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseAuthenticate(msg)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ParseAuthenticate(unhex(tc.auth))
			type responses struct{ Lm, Nt, Key string }
			if diff := cmp.Diff(
				responses{h(want.LmResponse), h(want.NtResponse), h(want.EncryptedRandomSessionKey)},
				responses{h(got.LmResponse), h(got.NtResponse), h(got.EncryptedRandomSessionKey)},
			); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestNLMPSignatures checks the MAC algorithms against MS-NLMP 4.2.2.4,
// 4.2.3.4 and 4.2.4.4 (connection-oriented, sequence number 0, the RC4 state
// continuing after sealing the plaintext) and davenport's jCIFS examples.
func TestNLMPSignatures(t *testing.T) {
	type result struct{ Sealed, Signature string }
	for _, tc := range []struct {
		name string
		run  func() result
		want result
	}{
		{"4.2.2.4 NTLMv1", func() result {
			c, _ := rc4.NewCipher(nlmpRandomKey[:])
			sealed := make([]byte, len(nlmpPlaintext))
			c.XORKeyStream(sealed, nlmpPlaintext)
			sig := macV1(c, [4]byte{}, 0, nlmpPlaintext)
			return result{h(sealed), h(sig[:])}
		}, result{"56fe04d861f9319af0d7238a2e3b4d457fb8", "010000000000000009dcd1df2e459d36"}},
		{"4.2.3.4 NTLMv1 with client challenge", func() result {
			k := deriveKeys([16]byte(unhex("eb93429a8bd952f8b89c55b87f475edc")),
				Flag56|FlagExtendedSessionSecurity, clientSignMagic, clientSealMagic)
			sig := macESS(k.sign[:], nil, 0, nlmpPlaintext)
			return result{h(rc4K(k.seal, nlmpPlaintext)), h(sig[:])}
		}, result{"a02372f6530273f3aa1eb90190ce5200c99d", "01000000ff2aeb52f681793a00000000"}},
		{"4.2.4.4 NTLMv2", func() result {
			k := deriveKeys(nlmpRandomKey, Flag128|FlagExtendedSessionSecurity, clientSignMagic, clientSealMagic)
			c, _ := rc4.NewCipher(k.seal)
			sealed := make([]byte, len(nlmpPlaintext))
			c.XORKeyStream(sealed, nlmpPlaintext)
			sig := macESS(k.sign[:], c, 0, nlmpPlaintext)
			return result{h(sealed), h(sig[:])}
		}, result{"54e50165bf1936dc996020c1811b0f06fb5f", "010000007fb38ec5c55d497600000000"}},
		{"davenport NTLMv1 40-bit", func() result {
			c, _ := rc4.NewCipher(unhex("0102030405e538b0"))
			sig := macV1(c, [4]byte{0x78, 0x01, 0x09, 0x00}, 0, []byte("jCIFS"))
			return result{"", h(sig[:])}
		}, result{"", "0100000078010900397420fe0e5a0f89"}},
		{"davenport NTLM2 without key exchange", func() result {
			sign := unhex("f7f97a82ec390f9c903dac4f6aceb132")
			sig := macESS(sign, nil, 0, []byte("jCIFS"))
			return result{"", h(sig[:])}
		}, result{"", "010000000a003602317a759a00000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.run()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
