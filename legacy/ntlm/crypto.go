package ntlm

import (
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"strings"

	"golang.org/x/crypto/md4"
)

// NTHash is MD4(UTF16LE(password)), NTOWFv1 of MS-NLMP 3.3.1.
func NTHash(password string) [16]byte {
	h := md4.New()
	h.Write(encodeUTF16(password))
	return [16]byte(h.Sum(nil))
}

// lmHash is LMOWFv1 (MS-NLMP 3.3.1): DES of "KGS!@#$%" under the upper-cased
// OEM password, padded or cut to 14 bytes. Only NTLMv1 LM_KEY sessions need it.
func lmHash(password string) [16]byte {
	pw := make([]byte, 14)
	copy(pw, encodeOEM(strings.ToUpper(password)))
	magic := [8]byte{'K', 'G', 'S', '!', '@', '#', '$', '%'}
	var h [16]byte
	desEncrypt(h[0:8], pw[0:7], magic)
	desEncrypt(h[8:16], pw[7:14], magic)
	return h
}

// ntowfV2 is NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(NTHash, UTF16LE(UPPER(user) ‖ domain)).
func ntowfV2(ntHash [16]byte, user, domain string) [16]byte {
	return hmacMD5(ntHash[:], encodeUTF16(strings.ToUpper(user)+domain))
}

// ntProofStr is HMAC_MD5(NTOWFv2, ServerChallenge ‖ blob), the first 16 bytes
// of an NTLMv2 response; blob is the rest of the response.
func ntProofStr(key [16]byte, serverChallenge [8]byte, blob []byte) [16]byte {
	return hmacMD5(key[:], serverChallenge[:], blob)
}

// ntlmv2Blob is the "temp" of MS-NLMP 3.3.2: version 1.1, the FILETIME, the
// client challenge and the server's TargetInfo echoed unchanged.
func ntlmv2Blob(filetime uint64, clientChallenge [8]byte, targetInfo []byte) []byte {
	b := make([]byte, 28, 28+len(targetInfo)+4)
	b[0], b[1] = 1, 1
	binary.LittleEndian.PutUint64(b[8:], filetime)
	copy(b[16:24], clientChallenge[:])
	b = append(b, targetInfo...)
	return append(b, 0, 0, 0, 0)
}

// lmv2Response is HMAC_MD5(NTOWFv2, ServerChallenge ‖ ClientChallenge) ‖ ClientChallenge.
func lmv2Response(key [16]byte, serverChallenge, clientChallenge [8]byte) []byte {
	mac := hmacMD5(key[:], serverChallenge[:], clientChallenge[:])
	return append(mac[:], clientChallenge[:]...)
}

// essChallenge is MD5(ServerChallenge ‖ ClientChallenge)[0:8], what an
// NTLMv1 response with extended session security is computed over.
func essChallenge(serverChallenge [8]byte, clientChallenge []byte) [8]byte {
	h := md5.New()
	h.Write(serverChallenge[:])
	h.Write(clientChallenge)
	return [8]byte(h.Sum(nil))
}

// sessionBaseKeyV1 is MD4(NTOWFv1).
func sessionBaseKeyV1(ntHash [16]byte) [16]byte {
	h := md4.New()
	h.Write(ntHash[:])
	return [16]byte(h.Sum(nil))
}

// desl is DESL (MS-NLMP 6): the 8-byte data encrypted under K[0:7], K[7:14]
// and K[14:16] ‖ Z(5), concatenated into 24 bytes.
func desl(k [16]byte, data [8]byte) []byte {
	out := make([]byte, 24)
	k3 := [7]byte{k[14], k[15]}
	desEncrypt(out[0:8], k[0:7], data)
	desEncrypt(out[8:16], k[7:14], data)
	desEncrypt(out[16:24], k3[:], data)
	return out
}

// desEncrypt encrypts one block under a 56-bit key given as 7 bytes, spread
// over the 8-byte DES key with the (ignored) parity bit left zero.
func desEncrypt(dst, key7 []byte, data [8]byte) {
	var bits uint64
	for _, c := range key7[:7] {
		bits = bits<<8 | uint64(c)
	}
	var key [8]byte
	for i := range key {
		key[i] = byte(bits>>(49-7*i)) << 1
	}
	c, _ := des.NewCipher(key[:]) // cannot fail: the key is 8 bytes
	c.Encrypt(dst, data[:])
}

// hmacMD5 is HMAC_MD5(key, concatenation of parts).
func hmacMD5(key []byte, parts ...[]byte) [16]byte {
	h := hmac.New(md5.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return [16]byte(h.Sum(nil))
}

// md5Of is MD5 of the concatenation of parts.
func md5Of(parts ...[]byte) [16]byte {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return [16]byte(h.Sum(nil))
}

// rc4K is RC4K (MS-NLMP 6): data encrypted with a fresh RC4 state under key.
func rc4K(key, data []byte) []byte {
	c, _ := rc4.NewCipher(key) // cannot fail: every key here is 5 to 16 bytes
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}
