package ntlm

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"strings"
)

// Variant names the NTLM response a client sent.
type Variant string

// The variants Accept recognises and Respond produces.
const (
	NTLMv2    Variant = "NTLMv2"
	NTLMv1ESS Variant = "NTLMv1+ESS"
	NTLMv1    Variant = "NTLMv1"
)

// ErrWrongPassword is returned (unwrapped) by Accept when the response does
// not match the password.
var ErrWrongPassword = errors.New("ntlm: wrong password")

// ErrNeedPassword is returned by Accept for an NTLMv1 session without ESS
// that negotiated LM_KEY or REQUEST_NON_NT_SESSION_KEY: its key comes from
// the LM hash, which the NT hash cannot give. AcceptPassword handles it.
var ErrNeedPassword = errors.New("ntlm: LM session key needs the password, not only the NT hash")

// ntlmv2MinLen is NTProofStr plus the fixed part of the NTLMv2 blob.
const ntlmv2MinLen = 16 + 28

// Accept verifies auth (server side) against the server challenge it was
// given and the NT hash of the lab password, and returns the established
// security context.
//
// NTLMv2 when NtResponse is longer than 24 bytes: the domain is tried as
// sent, upper-cased and empty, because clients disagree on which one they
// hash. NTLMv1 when it is 24 bytes, with or without extended session
// security as the flags say. With KEY_EXCH the exported session key is the
// RC4-decrypted EncryptedRandomSessionKey. The MIC is ignored: CE-era phones
// do not send one, and the CHALLENGE carries no timestamp that would ask
// for it.
func Accept(auth *Authenticate, serverChallenge [8]byte, ntHash [16]byte) (*Session, Variant, error) {
	return accept(auth, serverChallenge, ntHash, nil)
}

// AcceptPassword is Accept for callers that hold the password itself; it
// also accepts the NTLMv1 LM_KEY and REQUEST_NON_NT_SESSION_KEY sessions
// that Accept refuses with ErrNeedPassword.
func AcceptPassword(auth *Authenticate, serverChallenge [8]byte, password string) (*Session, Variant, error) {
	lm := lmHash(password)
	return accept(auth, serverChallenge, NTHash(password), &lm)
}

func accept(auth *Authenticate, sc [8]byte, ntHash [16]byte, lm *[16]byte) (*Session, Variant, error) {
	if auth == nil {
		return nil, "", errors.New("ntlm: Accept: no AUTHENTICATE message")
	}
	var (
		kxkey   [16]byte
		variant Variant
		err     error
	)
	switch n := len(auth.NtResponse); {
	case n == 0:
		return nil, "", errors.New("ntlm: Accept: empty NtChallengeResponse (anonymous or LM-only logon)")
	case n > 24:
		variant = NTLMv2
		kxkey, err = verifyV2(auth, sc, ntHash)
	case n == 24:
		variant = NTLMv1
		if auth.Flags&FlagExtendedSessionSecurity != 0 {
			variant = NTLMv1ESS
		}
		kxkey, err = verifyV1(auth, sc, ntHash, lm)
	default:
		return nil, "", fmt.Errorf("ntlm: Accept: NtChallengeResponse of %d bytes is neither NTLMv1 (24) nor NTLMv2 (>24)", n)
	}
	if err != nil {
		return nil, variant, err
	}
	exported, err := exportedKey(auth, kxkey)
	if err != nil {
		return nil, variant, err
	}
	return newSession(exported, auth.Flags, false), variant, nil
}

// verifyV2 checks an NTLMv2 response and returns the key exchange key, which
// for NTLMv2 is the session base key HMAC_MD5(NTOWFv2, NTProofStr).
func verifyV2(auth *Authenticate, sc [8]byte, ntHash [16]byte) ([16]byte, error) {
	if len(auth.NtResponse) < ntlmv2MinLen {
		return [16]byte{}, fmt.Errorf("ntlm: Accept: NTLMv2 response of %d bytes is shorter than %d",
			len(auth.NtResponse), ntlmv2MinLen)
	}
	proof, blob := auth.NtResponse[:16], auth.NtResponse[16:]
	for _, domain := range domainCandidates(auth.Domain) {
		key := ntowfV2(ntHash, auth.User, domain)
		want := ntProofStr(key, sc, blob)
		if hmac.Equal(want[:], proof) {
			return hmacMD5(key[:], proof), nil
		}
	}
	return [16]byte{}, ErrWrongPassword
}

// domainCandidates is the domain as sent, upper-cased and empty, without
// repeats.
func domainCandidates(domain string) []string {
	out := []string{domain}
	if up := strings.ToUpper(domain); up != domain {
		out = append(out, up)
	}
	if domain != "" {
		out = append(out, "")
	}
	return out
}

// verifyV1 checks a 24-byte NTLMv1 response (MS-NLMP 3.3.1) and returns the
// key exchange key (KXKEY, MS-NLMP 3.4.5.1).
func verifyV1(auth *Authenticate, sc [8]byte, ntHash [16]byte, lm *[16]byte) ([16]byte, error) {
	ess := auth.Flags&FlagExtendedSessionSecurity != 0
	if ess && len(auth.LmResponse) < 8 {
		return [16]byte{}, fmt.Errorf("ntlm: Accept: NTLMv1+ESS needs the client challenge in LmChallengeResponse, got %d bytes",
			len(auth.LmResponse))
	}
	challenge := sc
	if ess {
		challenge = essChallenge(sc, auth.LmResponse[:8])
	}
	if !hmac.Equal(desl(ntHash, challenge), auth.NtResponse) {
		return [16]byte{}, ErrWrongPassword
	}
	return kxkeyV1(auth.Flags, sessionBaseKeyV1(ntHash), auth.LmResponse, sc, lm)
}

// kxkeyV1 is KXKEY for NTLMv1. lm is the LM hash, needed only for the LM_KEY
// and REQUEST_NON_NT_SESSION_KEY forms; both need 8 bytes of LM response.
func kxkeyV1(flags uint32, sessionBaseKey [16]byte, lmResponse []byte, sc [8]byte, lm *[16]byte) ([16]byte, error) {
	ess := flags&FlagExtendedSessionSecurity != 0
	lmKey := flags&FlagLMKey != 0
	nonNT := flags&FlagRequestNonNTSessionKey != 0
	switch {
	case ess:
		return hmacMD5(sessionBaseKey[:], sc[:], lmResponse[:8]), nil
	case !lmKey && !nonNT:
		return sessionBaseKey, nil
	case lm == nil:
		return [16]byte{}, ErrNeedPassword
	case !lmKey:
		var k [16]byte
		copy(k[:8], lm[:8])
		return k, nil
	case len(lmResponse) < 8:
		return [16]byte{}, fmt.Errorf("ntlm: Accept: LM_KEY needs an LmChallengeResponse, got %d bytes", len(lmResponse))
	}
	var k [16]byte
	block := [8]byte(lmResponse[:8])
	desEncrypt(k[0:8], lm[0:7], block)
	desEncrypt(k[8:16], []byte{lm[7], 0xBD, 0xBD, 0xBD, 0xBD, 0xBD, 0xBD}, block)
	return k, nil
}

// exportedKey is the RC4-decrypted EncryptedRandomSessionKey when KEY_EXCH
// was negotiated, else the key exchange key.
func exportedKey(auth *Authenticate, kxkey [16]byte) ([16]byte, error) {
	if auth.Flags&FlagKeyExch == 0 {
		return kxkey, nil
	}
	if len(auth.EncryptedRandomSessionKey) != 16 {
		return [16]byte{}, fmt.Errorf("ntlm: Accept: KEY_EXCH with a %d-byte EncryptedRandomSessionKey, want 16",
			len(auth.EncryptedRandomSessionKey))
	}
	return [16]byte(rc4K(kxkey[:], auth.EncryptedRandomSessionKey)), nil
}
