package ntlm

import (
	"encoding/binary"
	"fmt"
)

// authenticateHeaderLen is the AUTHENTICATE header with its Version field;
// the payload follows it. Clients that do not negotiate FlagVersion still
// reserve the 8 bytes, so 64 is the shortest header accepted.
const (
	authenticateHeaderLen    = 72
	authenticateMinHeaderLen = 64
)

// Authenticate is a parsed AUTHENTICATE_MESSAGE (type 3).
type Authenticate struct {
	Flags                     uint32
	LmResponse, NtResponse    []byte
	Domain, User, Workstation string // decoded from UTF-16LE (or OEM when Unicode is not negotiated)
	EncryptedRandomSessionKey []byte
}

// ParseAuthenticate parses untrusted bytes from the network: it never
// panics, bounds every offset and length, refuses messages over 16 KiB and
// returns errors naming the field that is wrong. The MIC, if any, is not
// read.
func ParseAuthenticate(b []byte) (*Authenticate, error) {
	a, err := parseAuthenticate(b)
	if err != nil {
		return nil, fmt.Errorf("ntlm: AUTHENTICATE: %w", err)
	}
	return a, nil
}

func parseAuthenticate(b []byte) (*Authenticate, error) {
	if err := checkHeader(b, typeAuthenticate, authenticateMinHeaderLen); err != nil {
		return nil, err
	}
	a := &Authenticate{Flags: binary.LittleEndian.Uint32(b[60:])}
	fields := [6]field{}
	for i, name := range [...]string{"LmChallengeResponse", "NtChallengeResponse", "DomainName",
		"UserName", "Workstation", "EncryptedRandomSessionKey"} {
		f, err := readField(b, name, 12+8*i)
		if err != nil {
			return nil, err
		}
		fields[i] = f
	}
	a.LmResponse = fields[0].bytes(b)
	a.NtResponse = fields[1].bytes(b)
	for i, dst := range []*string{&a.Domain, &a.User, &a.Workstation} {
		f := fields[2+i]
		s, err := decodeString(f.bytes(b), a.Flags)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		*dst = s
	}
	if n := fields[5].length; n != 0 && n != 16 {
		return nil, fmt.Errorf("EncryptedRandomSessionKey of %d bytes, want 16", n)
	}
	a.EncryptedRandomSessionKey = fields[5].bytes(b)
	return a, nil
}

// marshal encodes a as a client does: a 72-byte header (Version when
// FlagVersion is set, zeros otherwise), then Domain, User, Workstation,
// LmChallengeResponse, NtChallengeResponse and the session key, which is the
// payload order of both Windows and the OC 2007 R2 client.
func (a *Authenticate) marshal() []byte {
	payload := [6][]byte{
		encodeString(a.Domain, a.Flags),
		encodeString(a.User, a.Flags),
		encodeString(a.Workstation, a.Flags),
		a.LmResponse,
		a.NtResponse,
		a.EncryptedRandomSessionKey,
	}
	descriptor := [6]int{28, 36, 44, 12, 20, 52} // header slot of each payload
	b := make([]byte, authenticateHeaderLen)
	copy(b, signature[:])
	binary.LittleEndian.PutUint32(b[8:], typeAuthenticate)
	for i, p := range payload {
		putField(b, descriptor[i], len(p), len(b))
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[60:], a.Flags)
	if a.Flags&FlagVersion != 0 {
		copy(b[64:72], serverVersion[:])
	}
	return b
}
