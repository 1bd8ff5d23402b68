package ntlm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// signature opens every NTLM message (MS-NLMP 2.2.1).
var signature = [8]byte{'N', 'T', 'L', 'M', 'S', 'S', 'P', 0}

// Message types (MS-NLMP 2.2.1).
const (
	typeChallenge    = 2
	typeAuthenticate = 3
)

// maxMessageLen bounds what the parsers accept. A real AUTHENTICATE with an
// NTLMv2 response that echoes a long TargetInfo stays well under 2 KiB; SIP
// carries it base64-encoded in one header line.
const maxMessageLen = 16 << 10

// serverVersion is the Version field OCS 2007 R2 sends: Windows 5.2 build 3790
// (Server 2003), NTLMSSP revision 15. The client side sends the same bytes,
// as pidgin-sipe's recorded OC 2007 R2 AUTHENTICATE does.
var serverVersion = [8]byte{0x05, 0x02, 0xCE, 0x0E, 0x00, 0x00, 0x00, 0x0F}

// errTruncated is wrapped by parse errors that ran off the end of the input.
var errTruncated = errors.New("truncated")

// field is a (Len, MaxLen, Offset) payload descriptor (MS-NLMP 2.2.1).
type field struct {
	name   string
	length int
	offset int // valid only when length > 0
}

// readField decodes the descriptor at b[at:at+8] and checks that the payload
// it points to lies inside b. An empty field may point anywhere: some clients
// leave the offset of empty fields at zero. The check is done in 64 bits so
// that a 32-bit build cannot be fooled by an offset above 2 GiB.
func readField(b []byte, name string, at int) (field, error) {
	if len(b) < at+8 {
		return field{}, fmt.Errorf("%s descriptor: %w", name, errTruncated)
	}
	length := binary.LittleEndian.Uint16(b[at:])
	offset := binary.LittleEndian.Uint32(b[at+4:])
	if length == 0 {
		return field{name: name}, nil
	}
	if uint64(offset)+uint64(length) > uint64(len(b)) {
		return field{}, fmt.Errorf("%s: %d bytes at offset %d outside the %d-byte message: %w",
			name, length, offset, len(b), errTruncated)
	}
	return field{name: name, length: int(length), offset: int(offset)}, nil
}

// bytes returns a copy of the field's payload (nil when empty).
func (f field) bytes(b []byte) []byte {
	if f.length == 0 {
		return nil
	}
	return append([]byte(nil), b[f.offset:f.offset+f.length]...)
}

// putField writes a descriptor for a payload of n bytes at offset.
func putField(b []byte, at, n, offset int) {
	binary.LittleEndian.PutUint16(b[at:], uint16(n))
	binary.LittleEndian.PutUint16(b[at+2:], uint16(n))
	binary.LittleEndian.PutUint32(b[at+4:], uint32(offset))
}

// checkHeader verifies the NTLMSSP signature and message type.
func checkHeader(b []byte, want uint32, min int) error {
	if len(b) > maxMessageLen {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte limit", len(b), maxMessageLen)
	}
	if len(b) < min {
		return fmt.Errorf("message of %d bytes is shorter than the %d-byte header: %w", len(b), min, errTruncated)
	}
	if [8]byte(b[:8]) != signature {
		return fmt.Errorf("signature %q is not \"NTLMSSP\\x00\"", b[:8])
	}
	if got := binary.LittleEndian.Uint32(b[8:]); got != want {
		return fmt.Errorf("message type %d, want %d", got, want)
	}
	return nil
}

// encodeUTF16 returns s as UTF-16LE.
func encodeUTF16(s string) []byte {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return b
}

// decodeUTF16 decodes UTF-16LE; unpaired surrogates become U+FFFD.
func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd length %d for UTF-16LE", len(b))
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(units)), nil
}

// decodeOEM decodes an OEM-charset string. The code page is not on the wire;
// bytes are read as Latin-1, which is exact for the ASCII names phones use.
func decodeOEM(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// encodeOEM is the inverse of decodeOEM; runes above U+00FF become '?'.
func encodeOEM(s string) []byte {
	var b []byte
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return b
}

// encodeString encodes s as the negotiated charset.
func encodeString(s string, flags uint32) []byte {
	if flags&FlagUnicode != 0 {
		return encodeUTF16(s)
	}
	return encodeOEM(s)
}

// decodeString decodes b in the negotiated charset.
func decodeString(b []byte, flags uint32) (string, error) {
	if flags&FlagUnicode != 0 {
		return decodeUTF16(b)
	}
	return decodeOEM(b), nil
}
