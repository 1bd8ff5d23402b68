package ntlm

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var labTarget = TargetInfo{
	NetBIOSDomain:   "LAB",
	NetBIOSComputer: "TANJAY",
	DNSDomain:       "lab.test",
	DNSComputer:     "tanjay.lab.test",
	DNSTree:         "lab.test",
}

var labChallenge = [8]byte{1, 2, 3, 4, 5, 6, 7, 8}

const labPassword = "upgrade-Pa55"

// handshake runs Challenge → Respond → ParseAuthenticate and returns the
// parsed AUTHENTICATE and the client's session.
func handshake(t *testing.T, cfg ClientConfig) (*Authenticate, *Session) {
	t.Helper()
	ch, err := ParseChallenge(Challenge(labTarget, labChallenge))
	if err != nil {
		t.Fatal(err)
	}
	msg, client, err := Respond(ch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := ParseAuthenticate(msg)
	if err != nil {
		t.Fatal(err)
	}
	return auth, client
}

func TestRoundTrip(t *testing.T) {
	msg := sipBuffer("NTLM", "0000002a", "7", "SIP Communications Service", "tanjay.lab.test",
		"callid", "1", "REGISTER", "sip:phone@lab.test", "tag", "sip:phone@lab.test", "", "", "", "")
	for _, tc := range []struct {
		name     string
		cfg      ClientConfig
		variant  Variant
		password bool // needs AcceptPassword
		ess      bool
	}{
		{"NTLMv2", ClientConfig{}, NTLMv2, false, true},
		{"NTLMv2 56-bit", ClientConfig{Variant: NTLMv2, KeyBits: 56}, NTLMv2, false, true},
		{"NTLMv2 40-bit", ClientConfig{Variant: NTLMv2, KeyBits: 40}, NTLMv2, false, true},
		{"NTLMv1+ESS", ClientConfig{Variant: NTLMv1ESS}, NTLMv1ESS, false, true},
		{"NTLMv1 with ESS flag", ClientConfig{Variant: NTLMv1, ESS: true}, NTLMv1ESS, false, true},
		{"NTLMv1", ClientConfig{Variant: NTLMv1}, NTLMv1, false, false},
		{"NTLMv1 LM_KEY 56-bit", ClientConfig{Variant: NTLMv1, LMKey: true, KeyBits: 56}, NTLMv1, true, false},
		{"NTLMv1 LM_KEY 40-bit", ClientConfig{Variant: NTLMv1, LMKey: true, KeyBits: 40}, NTLMv1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.User, cfg.Domain, cfg.Password, cfg.Workstation = "phone", "LAB", labPassword, "CX700"
			auth, client := handshake(t, cfg)
			if got := auth.Flags&FlagExtendedSessionSecurity != 0; got != tc.ess {
				t.Fatalf("ESS negotiated = %v, want %v", got, tc.ess)
			}
			accept := func(password string) (*Session, Variant, error) {
				if tc.password {
					return AcceptPassword(auth, labChallenge, password)
				}
				return Accept(auth, labChallenge, NTHash(password))
			}
			server, variant, err := accept(labPassword)
			if err != nil {
				t.Fatal(err)
			}
			if variant != tc.variant {
				t.Errorf("variant = %q, want %q", variant, tc.variant)
			}
			if diff := cmp.Diff(client.ExportedSessionKey(), server.ExportedSessionKey()); diff != "" {
				t.Errorf("exported keys differ (-client +server):\n%s", diff)
			}
			if client.Flags() != server.Flags() {
				t.Errorf("flags: client %#x, server %#x", client.Flags(), server.Flags())
			}
			checkSignatures(t, client, server, msg, tc.ess)
			if _, _, err := accept("wrong"); err != ErrWrongPassword {
				t.Errorf("wrong password: err = %v, want ErrWrongPassword", err)
			}
			if tc.password {
				if _, _, err := Accept(auth, labChallenge, NTHash(labPassword)); !errors.Is(err, ErrNeedPassword) {
					t.Errorf("Accept of an LM_KEY session: err = %v, want ErrNeedPassword", err)
				}
			}
		})
	}
}

// checkSignatures signs msg both ways and checks that tampering is caught.
func checkSignatures(t *testing.T, client, server *Session, msg []byte, ess bool) {
	t.Helper()
	up, down := client.Sign(msg), server.Sign(msg)
	tampered := bytes.Clone(msg)
	tampered[len(tampered)-2] ^= 1
	badSig := up
	badSig[9] ^= 0x80 // inside the checksum in both layouts
	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"server verifies client", server.Verify(msg, up[:]), true},
		{"client verifies server", client.Verify(msg, down[:]), true},
		{"tampered message", server.Verify(tampered, up[:]), false},
		{"tampered signature", server.Verify(msg, badSig[:]), false},
		{"short signature", server.Verify(msg, up[:15]), false},
		// With ESS each direction has its own keys, so a reflected
		// signature fails; without ESS both share one key.
		{"reflected signature", server.Verify(msg, down[:]), !ess},
	} {
		if c.got != c.want {
			t.Errorf("%s: Verify = %v, want %v", c.name, c.got, c.want)
		}
	}
	if ess && (down[12] != 0x64 || up[12] != 0x64) {
		t.Errorf("sequence number: client %x, server %x, want 64000000", up[12:], down[12:])
	}
}

// TestAcceptDomainLeniency covers clients that hash a different spelling of
// the domain than they send.
func TestAcceptDomainLeniency(t *testing.T) {
	for _, tc := range []struct {
		name           string
		hashed, sent   string
		wantWrongPassw bool
	}{
		{"as sent", "LAB", "LAB", false},
		{"hashed upper-case, sent lower-case", "LAB", "lab", false},
		{"hashed empty", "", "LAB", false},
		{"hashed another domain", "OTHER", "LAB", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, _ := handshake(t, ClientConfig{User: "phone", Domain: tc.hashed, Password: labPassword})
			auth.Domain = tc.sent
			_, _, err := Accept(auth, labChallenge, NTHash(labPassword))
			if got := err == ErrWrongPassword; got != tc.wantWrongPassw || (err != nil && !got) {
				t.Errorf("err = %v, want wrong password: %v", err, tc.wantWrongPassw)
			}
		})
	}
}

// TestAcceptRejects covers AUTHENTICATEs that cannot establish a session.
func TestAcceptRejects(t *testing.T) {
	good, _ := handshake(t, ClientConfig{User: "phone", Domain: "LAB", Password: labPassword})
	v1, _ := handshake(t, ClientConfig{User: "phone", Domain: "LAB", Password: labPassword, Variant: NTLMv1ESS})
	for _, tc := range []struct {
		name   string
		auth   *Authenticate
		substr string
	}{
		{"nil", nil, "no AUTHENTICATE"},
		{"anonymous", &Authenticate{}, "empty NtChallengeResponse"},
		{"odd length", &Authenticate{NtResponse: make([]byte, 20)}, "neither NTLMv1"},
		{"short NTLMv2", &Authenticate{NtResponse: make([]byte, 30)}, "shorter than 44"},
		{"ESS without client challenge", func() *Authenticate { a := *v1; a.LmResponse = nil; return &a }(), "client challenge"},
		{"KEY_EXCH without key", func() *Authenticate { a := *good; a.EncryptedRandomSessionKey = nil; return &a }(), "EncryptedRandomSessionKey"},
		{"wrong challenge", good, "wrong password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := labChallenge
			if tc.name == "wrong challenge" {
				sc[0] ^= 1
			}
			_, _, err := Accept(tc.auth, sc, NTHash(labPassword))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.substr)) {
				t.Errorf("err = %v, want one containing %q", err, tc.substr)
			}
		})
	}
}

// TestRespondTimestamp checks that a server timestamp is used for the blob
// and switches the LM response to Z(24) (MS-NLMP 3.1.5.1.2).
func TestRespondTimestamp(t *testing.T) {
	ti := Challenge(labTarget, labChallenge)[challengeHeaderLen:]
	ti = ti[:len(ti)-4] // drop EOL
	ti = append(ti, avTimestamp, 0, 8, 0, 0x59, 0x51, 0x9A, 0x17, 0x27, 0xB9, 0xCA, 0x01, 0, 0, 0, 0)
	ch := &ChallengeMessage{Flags: ChallengeFlags, ServerChallenge: labChallenge, TargetInfo: ti}
	msg, _, err := Respond(ch, ClientConfig{User: "phone", Password: labPassword})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := ParseAuthenticate(msg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(make([]byte, 24), auth.LmResponse); diff != "" {
		t.Errorf("LmResponse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(unhex("59519A1727B9CA01"), auth.NtResponse[24:32]); diff != "" {
		t.Errorf("blob timestamp (-want +got):\n%s", diff)
	}
	if _, _, err := Accept(auth, labChallenge, NTHash(labPassword)); err != nil {
		t.Errorf("Accept: %v", err)
	}
}

func TestRespondRejects(t *testing.T) {
	ch, _ := ParseChallenge(Challenge(labTarget, labChallenge))
	for _, tc := range []struct {
		name string
		ch   *ChallengeMessage
		cfg  ClientConfig
	}{
		{"nil challenge", nil, ClientConfig{}},
		{"unknown variant", ch, ClientConfig{Variant: "NTLMv3"}},
		{"bad key size", ch, ClientConfig{KeyBits: 64}},
		{"short random", ch, ClientConfig{Rand: bytes.NewReader(make([]byte, 10))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Respond(tc.ch, tc.cfg); err == nil {
				t.Error("Respond succeeded, want an error")
			}
		})
	}
}

func TestFiletime(t *testing.T) {
	got := fromFiletime(r2Filetime)
	if want := "2010-03-01 10:08:08"; got.Format(time.DateTime) != want {
		t.Errorf("fromFiletime = %v, want %v", got, want)
	}
	if toFiletime(got) != r2Filetime {
		t.Errorf("toFiletime(fromFiletime(x)) = %#x, want %#x", toFiletime(got), uint64(r2Filetime))
	}
}
