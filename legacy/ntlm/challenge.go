package ntlm

import (
	"encoding/binary"
	"fmt"
	"time"
)

// AV pair IDs (MS-NLMP 2.2.2.1).
const (
	avEOL          = 0
	avNbComputer   = 1
	avNbDomain     = 2
	avDNSComputer  = 3
	avDNSDomain    = 4
	avDNSTree      = 5
	avTimestamp    = 7
	maxAVNameUnits = 255 // DNS names are at most 255 characters
)

// challengeHeaderLen is the CHALLENGE header up to and including Version;
// OCS puts the (empty) TargetName and the TargetInfo right after it.
const challengeHeaderLen = 56

// TargetInfo names the server in the CHALLENGE's AV pairs. Empty names are
// left out; names longer than 255 UTF-16 code units are truncated.
type TargetInfo struct {
	NetBIOSDomain   string // LAB
	NetBIOSComputer string // TANJAY
	DNSDomain       string // lab.test
	DNSComputer     string // tanjay.lab.test
	DNSTree         string // lab.test
}

// Challenge returns a CHALLENGE_MESSAGE (type 2) like OCS 2007 R2's: flags
// ChallengeFlags, empty TargetName at offset 56, TargetInfo at offset 56 with
// AV pairs in the order NbDomain, NbComputer, DnsDomain, DnsComputer, DnsTree,
// EOL, and Version 5.2.3790 revision 15.
//
// There is deliberately no MsvAvTimestamp: a client that sees one switches to
// MIC mode and sends Z(24) as its LM response, which OCS 2007-era phones were
// never tested against.
func Challenge(ti TargetInfo, serverChallenge [8]byte) []byte {
	info := ti.avPairs()
	b := make([]byte, challengeHeaderLen, challengeHeaderLen+len(info))
	copy(b, signature[:])
	binary.LittleEndian.PutUint32(b[8:], typeChallenge)
	putField(b, 12, 0, challengeHeaderLen) // TargetName
	binary.LittleEndian.PutUint32(b[20:], ChallengeFlags)
	copy(b[24:32], serverChallenge[:])
	// b[32:40] Reserved stays zero.
	putField(b, 40, len(info), challengeHeaderLen) // TargetInfo
	copy(b[48:56], serverVersion[:])
	return append(b, info...)
}

// avPairs encodes the names in OCS's order, ending with MsvAvEOL.
func (ti TargetInfo) avPairs() []byte {
	var b []byte
	for _, p := range []struct {
		id    uint16
		value string
	}{
		{avNbDomain, ti.NetBIOSDomain},
		{avNbComputer, ti.NetBIOSComputer},
		{avDNSDomain, ti.DNSDomain},
		{avDNSComputer, ti.DNSComputer},
		{avDNSTree, ti.DNSTree},
	} {
		v := encodeUTF16(p.value)
		if len(v) == 0 {
			continue
		}
		v = v[:min(len(v), 2*maxAVNameUnits)]
		b = binary.LittleEndian.AppendUint16(b, p.id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return append(b, 0, 0, 0, 0) // MsvAvEOL
}

// ChallengeMessage is a parsed CHALLENGE (used by the client side and tests).
type ChallengeMessage struct {
	Flags           uint32
	ServerChallenge [8]byte
	TargetInfo      []byte // raw AV pairs, echoed in the NTLMv2 response
}

// ParseChallenge parses a CHALLENGE_MESSAGE. It accepts the short 32-byte
// form of old servers (no TargetInfo) and checks that TargetInfo, when
// present, is a well-formed AV pair list ending in MsvAvEOL.
func ParseChallenge(b []byte) (*ChallengeMessage, error) {
	if err := checkHeader(b, typeChallenge, 32); err != nil {
		return nil, fmt.Errorf("ntlm: CHALLENGE: %w", err)
	}
	c := &ChallengeMessage{Flags: binary.LittleEndian.Uint32(b[20:])}
	copy(c.ServerChallenge[:], b[24:32])
	if len(b) < 48 {
		return c, nil
	}
	f, err := readField(b, "TargetInfo", 40)
	if err != nil {
		return nil, fmt.Errorf("ntlm: CHALLENGE: %w", err)
	}
	c.TargetInfo = f.bytes(b)
	if c.TargetInfo != nil {
		if _, err := findAV(c.TargetInfo, avEOL); err != nil {
			return nil, fmt.Errorf("ntlm: CHALLENGE: TargetInfo: %w", err)
		}
	}
	return c, nil
}

// timestamp returns the challenge's MsvAvTimestamp, if it has one.
func (c *ChallengeMessage) timestamp() (time.Time, bool) {
	v, err := findAV(c.TargetInfo, avTimestamp)
	if err != nil || len(v) != 8 {
		return time.Time{}, false
	}
	return fromFiletime(binary.LittleEndian.Uint64(v)), true
}

// findAV walks AV pairs and returns the value of the first pair with id. It
// fails on a truncated pair and when the list has no MsvAvEOL.
func findAV(pairs []byte, id uint16) ([]byte, error) {
	for len(pairs) > 0 {
		if len(pairs) < 4 {
			return nil, fmt.Errorf("AV pair header: %w", errTruncated)
		}
		pid := binary.LittleEndian.Uint16(pairs)
		n := int(binary.LittleEndian.Uint16(pairs[2:]))
		if len(pairs)-4 < n {
			return nil, fmt.Errorf("AV pair %d of %d bytes: %w", pid, n, errTruncated)
		}
		if pid == id {
			return pairs[4 : 4+n], nil
		}
		if pid == avEOL {
			return nil, fmt.Errorf("no AV pair %d", id)
		}
		pairs = pairs[4+n:]
	}
	return nil, fmt.Errorf("AV pairs end without MsvAvEOL: %w", errTruncated)
}

// filetimeEpoch is 1601-01-01 in Unix seconds.
const filetimeEpoch = -11644473600

// toFiletime converts t to a Windows FILETIME (100 ns ticks since 1601).
func toFiletime(t time.Time) uint64 {
	return uint64((t.Unix()-filetimeEpoch)*1e7 + int64(t.Nanosecond())/100)
}

// fromFiletime converts a Windows FILETIME to a time.Time in UTC.
func fromFiletime(ft uint64) time.Time {
	return time.Unix(filetimeEpoch+int64(ft/1e7), int64(ft%1e7)*100).UTC()
}
