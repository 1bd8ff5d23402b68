package ntlm

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	FlagUnicode                 uint32 = 0x00000001 // strings are UTF-16LE
	FlagOEM                     uint32 = 0x00000002 // strings are in the OEM code page
	FlagRequestTarget           uint32 = 0x00000004 // the client asks for the server's TargetName
	FlagSign                    uint32 = 0x00000010 // message integrity
	FlagSeal                    uint32 = 0x00000020 // message confidentiality
	FlagDatagram                uint32 = 0x00000040 // connectionless NTLM (what SIP uses)
	FlagLMKey                   uint32 = 0x00000080 // LM session key (NTLMv1 without ESS only)
	FlagNTLM                    uint32 = 0x00000200 // NTLM v1 or v2 authentication
	FlagAlwaysSign              uint32 = 0x00008000 // sign even without FlagSign
	FlagExtendedSessionSecurity uint32 = 0x00080000 // ESS: HMAC-MD5 signatures and per-direction keys
	FlagIdentify                uint32 = 0x00100000 // identify-level token
	FlagRequestNonNTSessionKey  uint32 = 0x00400000 // LM-hash-derived session key (NTLMv1 without ESS)
	FlagTargetInfo              uint32 = 0x00800000 // TargetInfo (AV pairs) present
	FlagVersion                 uint32 = 0x02000000 // Version field present
	Flag128                     uint32 = 0x20000000 // 128-bit session keys
	FlagKeyExch                 uint32 = 0x40000000 // the client sends an RC4-encrypted random session key
	Flag56                      uint32 = 0x80000000 // 56-bit session keys
)

// ChallengeFlags are what OCS 2007 R2 sends: 0xE29882F3 (Lync 2013 sends the
// same). The client picks its subset and echoes it in the AUTHENTICATE; from
// then on only the AUTHENTICATE's flags count.
const ChallengeFlags uint32 = FlagUnicode | FlagOEM | FlagSign | FlagSeal | FlagDatagram |
	FlagLMKey | FlagNTLM | FlagAlwaysSign | FlagExtendedSessionSecurity | FlagIdentify |
	FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExch | Flag56
