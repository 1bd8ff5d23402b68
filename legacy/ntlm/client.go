package ntlm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

// ClientConfig configures Respond, the client side used by the phone
// simulator and the tests.
type ClientConfig struct {
	User, Domain, Password, Workstation string
	// Variant is the response to send; default NTLMv2. Like every choice
	// here it is bounded by the server's offer: NTLMv1ESS against a server
	// that does not offer ESS sends plain NTLMv1.
	Variant Variant
	// ESS selects extended session security for NTLMv1 (ignored for v2,
	// which always uses it when the server offers it).
	ESS bool
	// LMKey asks for the LM_KEY session key when NTLMv1 runs without ESS;
	// the server then needs AcceptPassword. Default off.
	LMKey bool
	// KeyBits is the session key strength: 128 (default), 56 or 40. Weaker
	// keys only change the sealing key; signatures keep their size.
	KeyBits int
	// Rand supplies the 8-byte client challenge and then, with KEY_EXCH, the
	// 16-byte random session key, in that order; default crypto/rand.
	Rand io.Reader
	// Time is the NTLMv2 blob timestamp; default the challenge's
	// MsvAvTimestamp when it has one, else now.
	Time time.Time
}

// clientWants are the flags a connectionless SIP client asks for; the OC
// 2007 R2 client answered OCS's ChallengeFlags with exactly these (0x62988255).
const clientWants = FlagUnicode | FlagRequestTarget | FlagSign | FlagDatagram | FlagNTLM |
	FlagAlwaysSign | FlagExtendedSessionSecurity | FlagIdentify | FlagTargetInfo | FlagVersion |
	Flag128 | FlagKeyExch

// Respond builds the AUTHENTICATE for a CHALLENGE, like a connectionless
// client: it takes the server's offer, keeps what clientWants, sends a
// random session key when KEY_EXCH was offered, and returns the client's
// security context.
func Respond(ch *ChallengeMessage, cfg ClientConfig) ([]byte, *Session, error) {
	if ch == nil {
		return nil, nil, errors.New("ntlm: Respond: no CHALLENGE message")
	}
	flags, err := cfg.flags(ch.Flags)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: Respond: %w", err)
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	var cc [8]byte
	if _, err := io.ReadFull(r, cc[:]); err != nil {
		return nil, nil, fmt.Errorf("ntlm: Respond: client challenge: %w", err)
	}
	auth := &Authenticate{
		Flags:       flags,
		Domain:      cfg.Domain,
		User:        cfg.User,
		Workstation: cfg.Workstation,
	}
	kxkey := cfg.respond(ch, auth, cc)
	exported := kxkey
	if flags&FlagKeyExch != 0 {
		if _, err := io.ReadFull(r, exported[:]); err != nil {
			return nil, nil, fmt.Errorf("ntlm: Respond: random session key: %w", err)
		}
		auth.EncryptedRandomSessionKey = rc4K(kxkey[:], exported[:])
	}
	msg := auth.marshal()
	if len(msg) > maxMessageLen {
		return nil, nil, fmt.Errorf("ntlm: Respond: AUTHENTICATE of %d bytes exceeds the %d-byte limit", len(msg), maxMessageLen)
	}
	return msg, newSession(exported, flags, true), nil
}

// flags picks the AUTHENTICATE flags from the server's offer.
func (cfg ClientConfig) flags(offer uint32) (uint32, error) {
	f := offer&clientWants | FlagRequestTarget | FlagNTLM | FlagDatagram
	if offer&FlagUnicode == 0 {
		f |= FlagOEM
	}
	switch cfg.Variant {
	case "", NTLMv2:
	case NTLMv1ESS:
	case NTLMv1:
		if !cfg.ESS {
			f &^= FlagExtendedSessionSecurity
			if cfg.LMKey {
				f |= offer & FlagLMKey
			}
		}
	default:
		return 0, fmt.Errorf("unknown variant %q", cfg.Variant)
	}
	switch cfg.KeyBits {
	case 0, 128:
	case 56:
		f = f&^Flag128 | offer&Flag56
	case 40:
		f &^= Flag128 | Flag56
	default:
		return 0, fmt.Errorf("KeyBits %d is not 128, 56 or 40", cfg.KeyBits)
	}
	return f, nil
}

// respond fills in the LM and NT responses and returns the key exchange key.
func (cfg ClientConfig) respond(ch *ChallengeMessage, auth *Authenticate, cc [8]byte) [16]byte {
	ntHash := NTHash(cfg.Password)
	sc := ch.ServerChallenge
	if cfg.Variant == "" || cfg.Variant == NTLMv2 {
		key := ntowfV2(ntHash, cfg.User, cfg.Domain)
		blob := ntlmv2Blob(toFiletime(cfg.timestamp(ch)), cc, ch.TargetInfo)
		proof := ntProofStr(key, sc, blob)
		auth.NtResponse = append(proof[:], blob...)
		auth.LmResponse = lmv2Response(key, sc, cc)
		if _, ok := ch.timestamp(); ok {
			// MS-NLMP 3.1.5.1.2: with a server timestamp the LM response is Z(24).
			auth.LmResponse = make([]byte, 24)
		}
		return hmacMD5(key[:], proof[:])
	}
	lm := lmHash(cfg.Password)
	if auth.Flags&FlagExtendedSessionSecurity != 0 {
		auth.LmResponse = append(cc[:], make([]byte, 16)...)
		auth.NtResponse = desl(ntHash, essChallenge(sc, cc[:]))
	} else {
		auth.LmResponse = desl(lm, sc)
		auth.NtResponse = desl(ntHash, sc)
	}
	k, _ := kxkeyV1(auth.Flags, sessionBaseKeyV1(ntHash), auth.LmResponse, sc, &lm) // cannot fail: lm given, LmResponse is 24 bytes
	return k
}

// timestamp is the NTLMv2 blob time: cfg.Time, else the server's, else now.
func (cfg ClientConfig) timestamp(ch *ChallengeMessage) time.Time {
	if !cfg.Time.IsZero() {
		return cfg.Time
	}
	if t, ok := ch.timestamp(); ok {
		return t
	}
	return time.Now()
}
