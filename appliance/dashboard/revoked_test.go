package dashboard

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	nonceA = "AAAAAAAAAAAAAAAAAAAAAA"
	nonceB = "BBBBBBBBBBBBBBBBBBBBBA"
)

func TestRevokedRoundTrip(t *testing.T) {
	rv := &revocations{notBefore: 1700000000, nonces: map[string]int64{nonceB: 1800000002, nonceA: 1800000001}}
	data := rv.encode()
	want := revokedHeader + "\nnot-before 1700000000\n" + nonceA + " 1800000001\n" + nonceB + " 1800000002\n"
	if string(data) != want {
		t.Errorf("encode:\n%s\nwant\n%s", data, want)
	}
	got, err := parseRevoked(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rv, got, cmp.AllowUnexported(revocations{})); diff != "" {
		t.Errorf("parse(encode) (-want +got):\n%s", diff)
	}
}

func TestParseRevokedErrors(t *testing.T) {
	head := revokedHeader + "\nnot-before 0\n"
	for _, tc := range []struct{ name, in, err string }{
		{"empty", "", "newline"},
		{"torn", head + nonceA + " 18", "newline"},
		{"header", "tanjay something else\nnot-before 0\n", "line 1"},
		{"no not-before", revokedHeader + "\n", "line 2: missing"},
		{"bad not-before", revokedHeader + "\nnot-before -1\n", "line 2"},
		{"leading zero", revokedHeader + "\nnot-before 01\n", "line 2"},
		{"short nonce", head + "AAAA 1800000000\n", "line 3: session"},
		{"not base64url", head + "AAAAAAAAAAAAAAAAAAAAA+ 1800000000\n", "line 3: session"},
		{"no expiry", head + nonceA + "\n", "line 3"},
		{"bad expiry", head + nonceA + " soon\n", "line 3: expiry"},
		{"two spaces", head + nonceA + "  1\n", "line 3: expiry"},
		{"duplicate", head + nonceA + " 1\n" + nonceA + " 2\n", "line 4: session " + nonceA + " listed twice"},
		{"blank line", head + "\n", "line 3"},
		{"too many", head + strings.Repeat(nonceA+" 1\n", maxRevoked+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRevoked([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseRevoked: %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestRevocationsBound(t *testing.T) {
	rv := &revocations{nonces: map[string]int64{}}
	const now = 1000
	// Expired entries make room.
	for i := range maxRevoked {
		rv.add(nonceN(i), now+1, now)
	}
	rv.add(nonceA, now+100, now+1)
	if len(rv.nonces) != 1 || rv.notBefore != 0 {
		t.Fatalf("after expiry: %d entries, not-before %d; want 1 and 0", len(rv.nonces), rv.notBefore)
	}
	// A full list of live entries ends every session issued so far.
	for i := range maxRevoked - 1 {
		rv.add(nonceN(i), now+100, now+2)
	}
	if rv.refuses(nonceB, now+2) || !rv.refuses(nonceN(5), now+2) {
		t.Fatal("before overflow: want only listed sessions refused")
	}
	rv.add(nonceB, now+100, now+3)
	if len(rv.nonces) != 0 || rv.notBefore != now+3 {
		t.Fatalf("overflow: %d entries, not-before %d; want 0 and %d", len(rv.nonces), rv.notBefore, now+3)
	}
	for _, issued := range []int64{now, now + 2, now + 3} {
		if !rv.refuses("CCCCCCCCCCCCCCCCCCCCCA", issued) {
			t.Errorf("a session issued at %d, before the overflow, is accepted", issued)
		}
	}
	if rv.refuses("CCCCCCCCCCCCCCCCCCCCCA", now+4) {
		t.Error("a session issued after the overflow is refused")
	}
}

func nonceN(i int) string {
	b := make([]byte, 16)
	b[0], b[1], b[2] = byte(i>>8), byte(i), 0xff // never nonceA or nonceB
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestLoadRevokedCorruptFailsClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, revokedFile)
	bad := []byte(revokedHeader + "\nnot-before 0\n" + nonceA + " 18")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	var warned []string
	rv, err := loadRevoked(path, 5000, func(msg string, args ...any) { warned = append(warned, msg) })
	if err != nil {
		t.Fatal(err)
	}
	if rv.notBefore != 5000 || len(warned) != 1 {
		t.Errorf("not-before %d, warnings %q: want 5000 and one warning", rv.notBefore, warned)
	}
	if kept, _ := os.ReadFile(path + ".corrupt"); string(kept) != string(bad) {
		t.Errorf("the corrupt file was not kept: %q", kept)
	}
	again, err := loadRevoked(path, 6000, nil)
	if err != nil || again.notBefore != 5000 {
		t.Errorf("reload of the rewritten file: %v, not-before %d; want 5000", err, again.notBefore)
	}
}

func TestLoadRevokedPrunesExpired(t *testing.T) {
	path := filepath.Join(t.TempDir(), revokedFile)
	rv := &revocations{nonces: map[string]int64{nonceA: 100, nonceB: 300}}
	if err := os.WriteFile(path, rv.encode(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := loadRevoked(path, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{nonceB: 300}, got.nonces); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func FuzzParseRevoked(f *testing.F) {
	f.Add([]byte(revokedHeader + "\nnot-before 1700000000\n" + nonceA + " 1800000001\n" + nonceB + " 1800000002\n"))
	f.Add([]byte(revokedHeader + "\nnot-before 0\n"))
	f.Add([]byte(revokedHeader + "\nnot-before 0\n" + nonceA + " 1\n" + nonceA + " 2\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rv, err := parseRevoked(data)
		if err != nil {
			return
		}
		if len(rv.nonces) > maxRevoked || rv.notBefore < 0 {
			t.Fatalf("accepted %d entries, not-before %d", len(rv.nonces), rv.notBefore)
		}
		again, err := parseRevoked(rv.encode())
		if err != nil {
			t.Fatalf("cannot read back what encode wrote: %v", err)
		}
		if !cmp.Equal(rv, again, cmp.AllowUnexported(revocations{})) {
			t.Fatalf("round trip changed the list: %+v → %+v", rv, again)
		}
	})
}
