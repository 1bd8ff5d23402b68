package ntlm

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The OC 2007 R2 ↔ OCS 2007 R2 exchange of March 2010 recorded by
// pidgin-sipe (SIGNIN.md §3.8); wire values only.
const (
	r2ChallengeHex = "4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D1000000000000000096009600380000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C0000000000"
	r2AuthBase64   = "TlRMTVNTUAADAAAAGAAYAHIAAADGAMYAigAAAAoACgBIAAAACAAIAFIAAAAYABgAWgAAABAAEABQAQAAVYKYYgUCzg4AAAAPQwBPAFMATQBPAFUAcwBlAHIAQwBPAFMATQBPAC0ATwBDAFMALQBSADIAoeku/k4Hi/fFwASazGFmwtauh1yw/apBjcDIAK527KYG0rn769BHMQEBAAAAAAAAWVGaFye5ygHWrodcsP2qQQAAAAACAAoAQwBPAFMATQBPAAEAGABDAE8AUwBNAE8ALQBPAEMAUwAtAFIAMgAEABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAMAMABjAG8AcwBtAG8ALQBvAGMAcwAtAHIAMgAuAGMAbwBzAG0AbwAuAGwAbwBjAGEAbAAFABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAAAAAAAAAAAMctznhyoCkmFkeiueXEV5A=="
	r2Password     = "Pa$$word"
	r2NTProofStr   = "8DC0C800AE76ECA606D2B9FBEBD04731"
	r2RequestSig   = "0100000029618e9651b65a7764000000"
	r2ResponseSig  = "01000000E615438A917661BE64000000"

	// The NTLMv2 blob's FILETIME and client challenge, read from the
	// AUTHENTICATE (0x01CAB927179A5159 is 2010-03-01 10:08:08 UTC).
	r2Filetime        = 0x01CAB927179A5159
	r2ClientChallenge = "D6AE875CB0FDAA41"
)

var r2TargetInfo = TargetInfo{
	NetBIOSDomain:   "COSMO",
	NetBIOSComputer: "COSMO-OCS-R2",
	DNSDomain:       "cosmo.local",
	DNSComputer:     "cosmo-ocs-r2.cosmo.local",
	DNSTree:         "cosmo.local",
}

// r2Request is the §3.7 v4 buffer of the signed REGISTER.
var r2Request = sipBuffer("NTLM", "13317733", "1", "SIP Communications Service", "cosmo-ocs-r2.cosmo.local",
	"4037df9284354df39065195bd57a4b14", "3", "REGISTER", "sip:user@cosmo.local", "3e49177a52",
	"sip:user@cosmo.local", "", "", "", "")

// r2Response is the §3.7 v4 buffer of its 200 OK, built from the same
// Call-ID, CSeq and From plus srand, snum, the To tag, Expires and the code.
var r2Response = sipBuffer("NTLM", "9616454F", "1", "SIP Communications Service", "cosmo-ocs-r2.cosmo.local",
	"4037df9284354df39065195bd57a4b14", "3", "REGISTER", "sip:user@cosmo.local", "3e49177a52",
	"sip:user@cosmo.local", "5E61CCD925D17E043D9A74835A88F664", "", "", "7200", "200")

// sipBuffer wraps each element in <…> as MS-SIPAE's signature buffer does.
func sipBuffer(elems ...string) []byte {
	var b strings.Builder
	for _, e := range elems {
		b.WriteString("<" + e + ">")
	}
	return []byte(b.String())
}

// unhex decodes a hex literal of the test tables.
func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func r2Challenge(t testing.TB) (*ChallengeMessage, [8]byte) {
	t.Helper()
	ch, err := ParseChallenge(unhex(r2ChallengeHex))
	if err != nil {
		t.Fatal(err)
	}
	return ch, ch.ServerChallenge
}

func r2Authenticate(t testing.TB) (*Authenticate, []byte) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(r2AuthBase64)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthenticate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return a, raw
}

func TestBuffersMatchSIGNIN(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"REGISTER", r2Request, "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>"},
		{"200 OK tail", r2Response[bytes.Index(r2Response, []byte("<sip:user@cosmo.local><5E")):],
			"<sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(tc.got)); diff != "" {
				t.Errorf("buffer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChallengeReproducesOCS2007R2(t *testing.T) {
	ch, sc := r2Challenge(t)
	got := Challenge(r2TargetInfo, sc)
	if diff := cmp.Diff(r2ChallengeHex, strings.ToUpper(hex.EncodeToString(got))); diff != "" {
		t.Errorf("CHALLENGE (-want +got):\n%s", diff)
	}
	want := &ChallengeMessage{
		Flags:           ChallengeFlags,
		ServerChallenge: [8]byte(unhex("DD1BAAF4E7E218D1")),
		TargetInfo:      unhex(r2ChallengeHex)[56:],
	}
	if diff := cmp.Diff(want, ch); diff != "" {
		t.Errorf("ParseChallenge (-want +got):\n%s", diff)
	}
	if ChallengeFlags != 0xE29882F3 {
		t.Errorf("ChallengeFlags = %#x, want 0xE29882F3", ChallengeFlags)
	}
}

func TestParseAuthenticateOC2007R2(t *testing.T) {
	got, _ := r2Authenticate(t)
	raw, _ := base64.StdEncoding.DecodeString(r2AuthBase64)
	want := &Authenticate{
		Flags: FlagUnicode | FlagRequestTarget | FlagSign | FlagDatagram | FlagNTLM | FlagAlwaysSign |
			FlagExtendedSessionSecurity | FlagIdentify | FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExch,
		LmResponse:                unhex("A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0FDAA41"),
		NtResponse:                raw[138 : 138+198],
		Domain:                    "COSMO",
		User:                      "User",
		Workstation:               "COSMO-OCS-R2",
		EncryptedRandomSessionKey: unhex("31CB739E1CA80A498591E8AE797115E4"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseAuthenticate (-want +got):\n%s", diff)
	}
	if got.Flags != 0x62988255 {
		t.Errorf("Flags = %#x, want 0x62988255", got.Flags)
	}
}

func TestNTProofStrOC2007R2(t *testing.T) {
	auth, _ := r2Authenticate(t)
	_, sc := r2Challenge(t)
	key := ntowfV2(NTHash(r2Password), auth.User, auth.Domain)
	got := ntProofStr(key, sc, auth.NtResponse[16:])
	if diff := cmp.Diff(r2NTProofStr, strings.ToUpper(hex.EncodeToString(got[:]))); diff != "" {
		t.Errorf("NTProofStr (-want +got):\n%s", diff)
	}
}

// TestAcceptOC2007R2 checks the server side against the recorded exchange:
// it accepts the AUTHENTICATE, verifies the client's REGISTER signature and
// produces OCS's rspauth for the 200 OK.
func TestAcceptOC2007R2(t *testing.T) {
	auth, _ := r2Authenticate(t)
	_, sc := r2Challenge(t)
	s, variant, err := Accept(auth, sc, NTHash(r2Password))
	if err != nil {
		t.Fatal(err)
	}
	if variant != NTLMv2 {
		t.Errorf("variant = %q, want %q", variant, NTLMv2)
	}
	if s.Flags() != auth.Flags {
		t.Errorf("Flags() = %#x, want the AUTHENTICATE's %#x", s.Flags(), auth.Flags)
	}
	if !s.Verify(r2Request, unhex(r2RequestSig)) {
		t.Errorf("Verify(REGISTER, %s) = false", r2RequestSig)
	}
	got := s.Sign(r2Response)
	if diff := cmp.Diff(strings.ToLower(r2ResponseSig), hex.EncodeToString(got[:])); diff != "" {
		t.Errorf("rspauth (-want +got):\n%s", diff)
	}

	// The client's side of the same context.
	c := newSession([16]byte(s.ExportedSessionKey()), auth.Flags, true)
	sig := c.Sign(r2Request)
	if diff := cmp.Diff(r2RequestSig, hex.EncodeToString(sig[:])); diff != "" {
		t.Errorf("client response= (-want +got):\n%s", diff)
	}
	if !c.Verify(r2Response, unhex(r2ResponseSig)) {
		t.Errorf("client Verify(200 OK, %s) = false", r2ResponseSig)
	}
}

// TestRespondReproducesOC2007R2 regenerates the recorded AUTHENTICATE byte
// for byte from the client's inputs: its challenge, timestamp and the
// random session key the server recovers.
func TestRespondReproducesOC2007R2(t *testing.T) {
	auth, raw := r2Authenticate(t)
	ch, sc := r2Challenge(t)
	server, _, err := Accept(auth, sc, NTHash(r2Password))
	if err != nil {
		t.Fatal(err)
	}
	random := append(unhex(r2ClientChallenge), server.ExportedSessionKey()...)
	got, client, err := Respond(ch, ClientConfig{
		User:        "User",
		Domain:      "COSMO",
		Password:    r2Password,
		Workstation: "COSMO-OCS-R2",
		Rand:        bytes.NewReader(random),
		Time:        fromFiletime(r2Filetime),
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hex.EncodeToString(raw), hex.EncodeToString(got)); diff != "" {
		t.Errorf("AUTHENTICATE (-want +got):\n%s", diff)
	}
	sig := client.Sign(r2Request)
	if diff := cmp.Diff(r2RequestSig, hex.EncodeToString(sig[:])); diff != "" {
		t.Errorf("client signature (-want +got):\n%s", diff)
	}
}

// TestNonESSOCS2007 is the OCS 2007 (RTC/3.0) 200 OK signed without ESS, v2
// buffer, with the exported key as the sealing key.
func TestNonESSOCS2007(t *testing.T) {
	key := [16]byte(unhex("5F029153BC025058969548615E7099BA"))
	buf := []byte("<NTLM><0878F41B><1><SIP Communications Service><ocs1.ocs.provo.novell.com><8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx><3><REGISTER><sip:gabriel@ocs.provo.novell.com><2947328781><B816D65C2300A32CFA6D371F2AF537FD><900><200>")
	const want = "0100000000000000BF2E52667DDF6DED"
	flags := clientWants &^ FlagExtendedSessionSecurity
	for _, tc := range []struct {
		name   string
		client bool
	}{{"server", false}, {"client", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(key, flags, tc.client)
			got := s.Sign(buf)
			if diff := cmp.Diff(want, strings.ToUpper(hex.EncodeToString(got[:]))); diff != "" {
				t.Errorf("Sign (-want +got):\n%s", diff)
			}
			if !s.Verify(buf, unhex(want)) {
				t.Error("Verify(own signature) = false: without ESS both directions share the key")
			}
			padded := unhex(want)
			copy(padded[4:8], []byte{0xde, 0xad, 0xbe, 0xef})
			if !s.Verify(buf, padded) {
				t.Error("Verify with a non-zero RandomPad = false, want the pad taken as sent")
			}
		})
	}
}
