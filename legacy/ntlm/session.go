package ntlm

import (
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"hash/crc32"
)

// sequenceNumber is the NTLM sequence number of every SIP signature, in both
// directions: OCS and Lync sign with a fixed 100 in connectionless mode and
// count messages in the SIP cnum/snum parameters instead. Every signature of
// a real exchange ends in 64000000.
const sequenceNumber = 100

// Key derivation magic constants (MS-NLMP 3.4.5.2, 3.4.5.3); the trailing NUL
// is part of the hashed input.
const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// Session is an established connectionless NTLM security context, for one
// side. It holds no per-message state (connectionless NTLM re-keys RC4 for
// every message), so its methods are safe for concurrent use.
type Session struct {
	flags    uint32
	exported [16]byte
	out, in  keys // out signs what this side sends; in verifies the peer
}

// keys are the signing material for one direction.
type keys struct {
	sign [16]byte // ESS only: SIGNKEY
	seal []byte   // ESS: SEALKEY; without ESS: the shared sealing key
	rc4  []byte   // the RC4 key of every message: MD5(seal ‖ LE32(100)) with ESS, else seal
}

// newSession derives both directions' keys from the exported session key and
// the negotiated flags. client selects which side the session belongs to.
func newSession(exported [16]byte, flags uint32, client bool) *Session {
	s := &Session{flags: flags, exported: exported}
	clientKeys := deriveKeys(exported, flags, clientSignMagic, clientSealMagic)
	serverKeys := deriveKeys(exported, flags, serverSignMagic, serverSealMagic)
	if client {
		s.out, s.in = clientKeys, serverKeys
	} else {
		s.out, s.in = serverKeys, clientKeys
	}
	return s
}

// deriveKeys computes one direction's keys (MS-NLMP 3.4.5.2 and 3.4.5.3).
func deriveKeys(exported [16]byte, flags uint32, signMagic, sealMagic string) keys {
	if flags&FlagExtendedSessionSecurity == 0 {
		seal := sealKeyV1(exported, flags)
		return keys{seal: seal, rc4: seal}
	}
	n := 5
	switch {
	case flags&Flag128 != 0:
		n = 16
	case flags&Flag56 != 0:
		n = 7
	}
	seal := md5Of(exported[:n], []byte(sealMagic))
	seq := binary.LittleEndian.AppendUint32(nil, sequenceNumber)
	rekeyed := md5Of(seal[:], seq)
	return keys{
		sign: md5Of(exported[:], []byte(signMagic)),
		seal: seal[:],
		rc4:  rekeyed[:],
	}
}

// sealKeyV1 is SEALKEY without extended session security: the LM_KEY
// weakening to 56 or 40 bits, else the whole exported key. (The newer
// MS-NLMP text also weakens DATAGRAM sessions; OCS 2007 does not: its
// non-ESS signature vector only verifies with the full 128-bit key.)
func sealKeyV1(exported [16]byte, flags uint32) []byte {
	switch {
	case flags&FlagLMKey == 0:
		return exported[:]
	case flags&Flag56 != 0:
		return append(exported[:7:7], 0xA0)
	default:
		return append(exported[:5:5], 0xE5, 0x38, 0xB0)
	}
}

// Flags returns the negotiated flags (the AUTHENTICATE's).
func (s *Session) Flags() uint32 { return s.flags }

// ExportedSessionKey returns a copy of the 16-byte exported session key.
func (s *Session) ExportedSessionKey() []byte {
	return append([]byte(nil), s.exported[:]...)
}

// Sign returns the 16-byte datagram signature of msg in this side's
// direction (server→client for a session from Accept, client→server for one
// from Respond), with the NTLM sequence number fixed at 100. Without ESS the
// RandomPad is zero, as OCS 2007 sends it.
func (s *Session) Sign(msg []byte) [16]byte {
	return s.mac(s.out, [4]byte{}, msg)
}

// Verify reports whether sig is the peer's signature of msg. Without ESS the
// RandomPad is taken from sig itself: Lync servers and some clients put
// random bytes there. The comparison is constant-time.
func (s *Session) Verify(msg, sig []byte) bool {
	if len(sig) != 16 {
		return false
	}
	want := s.mac(s.in, [4]byte(sig[4:8]), msg)
	return subtle.ConstantTimeCompare(want[:], sig) == 1
}

// mac signs msg with one direction's keys and a fresh RC4 state.
func (s *Session) mac(k keys, pad [4]byte, msg []byte) [16]byte {
	c, _ := rc4.NewCipher(k.rc4) // cannot fail: the key is 8 or 16 bytes
	if s.flags&FlagExtendedSessionSecurity == 0 {
		return macV1(c, pad, sequenceNumber, msg)
	}
	if s.flags&FlagKeyExch == 0 {
		c = nil
	}
	return macESS(k.sign[:], c, sequenceNumber, msg)
}

// macESS is MAC with extended session security (MS-NLMP 3.4.4.2): the first
// 8 bytes of HMAC_MD5(SignKey, LE32(seq) ‖ msg), RC4-encrypted with seal
// when a key was exchanged (seal is nil otherwise).
func macESS(signKey []byte, seal *rc4.Cipher, seq uint32, msg []byte) [16]byte {
	var sig [16]byte
	binary.LittleEndian.PutUint32(sig[0:], 1)
	binary.LittleEndian.PutUint32(sig[12:], seq)
	sum := hmacMD5(signKey, sig[12:16], msg)
	copy(sig[4:12], sum[:8])
	if seal != nil {
		seal.XORKeyStream(sig[4:12], sig[4:12])
	}
	return sig
}

// macV1 is MAC without extended session security (MS-NLMP 3.4.4.1): RC4 over
// (0, CRC32(msg), 0) with the sequence number XORed into the last word, and
// the RandomPad placed in clear where the encrypted zero pad was.
func macV1(seal *rc4.Cipher, pad [4]byte, seq uint32, msg []byte) [16]byte {
	var sig [16]byte
	binary.LittleEndian.PutUint32(sig[0:], 1)
	binary.LittleEndian.PutUint32(sig[8:], crc32.ChecksumIEEE(msg))
	binary.LittleEndian.PutUint32(sig[12:], seq)
	seal.XORKeyStream(sig[4:16], sig[4:16])
	copy(sig[4:8], pad[:])
	return sig
}
