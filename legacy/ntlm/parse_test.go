package ntlm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// authWith returns the R2 AUTHENTICATE with edit applied to a copy.
func authWith(t *testing.T, edit func(b []byte) []byte) []byte {
	t.Helper()
	_, raw := r2Authenticate(t)
	return edit(append([]byte(nil), raw...))
}

func TestParseAuthenticateErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(b []byte) []byte
		substr string
	}{
		{"empty", func(b []byte) []byte { return nil }, "shorter than the 64-byte header"},
		{"header cut", func(b []byte) []byte { return b[:63] }, "shorter than the 64-byte header"},
		{"payload cut", func(b []byte) []byte { return b[:340] }, "EncryptedRandomSessionKey: 16 bytes at offset 336 outside the 340-byte message"},
		{"bad signature", func(b []byte) []byte { b[0] = 'X'; return b }, "signature"},
		{"CHALLENGE instead", func(b []byte) []byte { b[8] = 2; return b }, "message type 2, want 3"},
		{"too large", func(b []byte) []byte { return append(b, make([]byte, maxMessageLen)...) }, "exceeds the 16384-byte limit"},
		{"NT response offset past end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[24:], 0xFFFFFFF0)
			return b
		}, "NtChallengeResponse: 198 bytes at offset 4294967280"},
		{"odd UTF-16 user", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[36:], 7); return b }, "UserName: odd length 7"},
		{"5-byte session key", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[52:], 5); return b }, "EncryptedRandomSessionKey of 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAuthenticate(authWith(t, tc.edit))
			if err == nil {
				t.Fatalf("ParseAuthenticate = %+v, want an error", a)
			}
			if !strings.Contains(err.Error(), tc.substr) || !strings.HasPrefix(err.Error(), "ntlm: AUTHENTICATE: ") {
				t.Errorf("err = %q, want it to contain %q", err, tc.substr)
			}
		})
	}
}

func TestParseAuthenticateQuirks(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
		want func(a *Authenticate)
	}{
		{"empty field with a wild offset", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[44:], 0) // Workstation length
			binary.LittleEndian.PutUint32(b[48:], 0xFFFFFFFF)
			return b
		}, func(a *Authenticate) { a.Workstation = "" }},
		{"OEM strings", func(b []byte) []byte {
			// Without UNICODE the UTF-16 names read as OEM bytes, NULs included.
			flags := binary.LittleEndian.Uint32(b[60:])&^FlagUnicode | FlagOEM
			binary.LittleEndian.PutUint32(b[60:], flags)
			return b
		}, func(a *Authenticate) {
			a.Flags = a.Flags&^FlagUnicode | FlagOEM
			a.Domain = "C\x00O\x00S\x00M\x00O\x00"
			a.User = "U\x00s\x00e\x00r\x00"
			a.Workstation = "C\x00O\x00S\x00M\x00O\x00-\x00O\x00C\x00S\x00-\x00R\x002\x00"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := r2Authenticate(t)
			tc.want(want)
			got, err := ParseAuthenticate(authWith(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseChallengeErrors(t *testing.T) {
	r2 := unhex(r2ChallengeHex)
	for _, tc := range []struct {
		name   string
		b      []byte
		substr string
	}{
		{"short", r2[:31], "shorter than the 32-byte header"},
		{"AUTHENTICATE instead", append(append([]byte(nil), r2[:8]...), append([]byte{3, 0, 0, 0}, r2[12:]...)...), "message type 3, want 2"},
		{"TargetInfo cut", r2[:100], "TargetInfo: 150 bytes at offset 56 outside the 100-byte message"},
		{"AV pair cut", func() []byte {
			b := append([]byte(nil), r2...)
			binary.LittleEndian.PutUint16(b[40:], 20) // TargetInfo ends inside the second pair
			return b
		}(), "AV pair 1 of 24 bytes: truncated"},
		{"no EOL", func() []byte {
			b := append([]byte(nil), r2...)
			binary.LittleEndian.PutUint16(b[40:], 146) // TargetInfo without its EOL
			return b
		}(), "without MsvAvEOL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseChallenge(tc.b)
			if err == nil {
				t.Fatalf("ParseChallenge = %+v, want an error", c)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("err = %q, want it to contain %q", err, tc.substr)
			}
		})
	}
}

func TestParseChallengeShortForm(t *testing.T) {
	r2 := unhex(r2ChallengeHex)
	got, err := ParseChallenge(r2[:32])
	if err != nil {
		t.Fatal(err)
	}
	want := &ChallengeMessage{Flags: ChallengeFlags, ServerChallenge: [8]byte(r2[24:32])}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestChallengeTargetInfo(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name string
		ti   TargetInfo
		want []byte
	}{
		{"empty names left out", TargetInfo{NetBIOSComputer: "AB"}, []byte{1, 0, 4, 0, 'A', 0, 'B', 0, 0, 0, 0, 0}},
		{"nothing", TargetInfo{}, []byte{0, 0, 0, 0}},
		{"long name truncated", TargetInfo{DNSTree: long},
			append(append([]byte{5, 0, 254, 1}, encodeUTF16(long[:255])...), 0, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := ParseChallenge(Challenge(tc.ti, labChallenge))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ch.TargetInfo); diff != "" {
				t.Errorf("TargetInfo (-want +got):\n%s", diff)
			}
		})
	}
}
