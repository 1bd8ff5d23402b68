// Package ntlm is connectionless (datagram) NTLM as Microsoft SIP uses it
// ([MS-SIPAE] over [MS-NLMP]): the server side that signs in Communicator
// Phone Edition, and a client side for the phone simulator and the tests.
//
// The server sends Challenge (an OCS 2007 R2 CHALLENGE_MESSAGE, no
// NEGOTIATE before it), parses the phone's reply with ParseAuthenticate and
// verifies it with Accept against the NT hash of the configured password
// (or AcceptPassword, which also covers NTLMv1 LM_KEY sessions).
// Accept handles NTLMv2 and NTLMv1 with and without extended session
// security (ESS), KEY_EXCH and 128/56/40-bit keys, and returns a Session that
// signs what the server sends (Sign, for rspauth) and checks what the phone
// sends (Verify, for response). The server must know the password: without
// it there is no session key and nothing can be signed.
//
// Quirks of the SIP profile, all visible in real traces:
//
//   - Every signature uses NTLM sequence number 100 (0x64), in both
//     directions and for every message; SIP counts messages in cnum/snum
//     instead. ESS signatures therefore end in 64000000 (without ESS the
//     sequence number is RC4-encrypted).
//   - Datagram mode re-keys RC4 for every message, so a Session carries no
//     per-message state. With ESS the RC4 key is MD5(SealKey ‖ LE32(100)).
//   - Without ESS the sealing key is the whole exported key unless LM_KEY
//     was negotiated, and the RandomPad of a received signature is taken as
//     sent (OCS 2007 sends zero, Lync servers do not).
//   - The CHALLENGE carries no MsvAvTimestamp, so clients send no MIC;
//     Accept ignores a MIC anyway.
//
// What proves it (see the tests): the OC 2007 R2 ↔ OCS 2007 R2 exchange
// recorded by pidgin-sipe — the CHALLENGE is rebuilt byte for byte, the
// AUTHENTICATE is accepted as NTLMv2 (NTProofStr 8DC0C800…) and regenerated
// byte for byte by Respond, and the REGISTER and 200 OK signatures
// (0100000029618e96…, 01000000E615438A…) are reproduced; the OCS 2007
// non-ESS signature 0100000000000000BF2E52667DDF6DED; and the MS-NLMP 4.2
// vectors for NTLMv1, NTLMv1 with ESS and NTLMv2 (responses, session keys,
// signing and sealing keys, signatures). Only wire values were taken from
// pidgin-sipe (GPL), no code.
package ntlm
