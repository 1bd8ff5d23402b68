package sip

import (
	"strconv"
	"strings"
)

// signatureBuffer is what NTLM over SIP signs for m ([MS-SIP] 3.1.4.2,
// [MS-SIPAE] 3.2.5.2): each element wrapped in <…>, exactly as it appears
// on the wire, <> when absent. version is the authentication protocol
// version the client echoed: 2 (none, OCS 2007) signs the short list, 3
// and 4 the long one with the To URI and P-Asserted-Identity. rnd and num
// are the signer's crand/cnum or srand/snum. A response ends with its
// status code; a request has no such element at all.
func signatureBuffer(m *Message, version int, rnd, num, realm, target string) []byte {
	cseqNum, cseqMethod := m.CSeq()
	from, to := m.Get("From"), m.Get("To")
	parts := []string{authScheme, rnd, num, realm, target, m.Get("Call-ID"), cseqNum, cseqMethod, addrURI(from), addrParam(from, "tag")}
	if version >= 3 {
		pai := m.Get("P-Asserted-Identity")
		if pai == "" {
			pai = m.Get("P-Preferred-Identity")
		}
		sipURI, telURI := assertedURIs(pai)
		parts = append(parts, addrURI(to), addrParam(to, "tag"), sipURI, telURI, m.Get("Expires"))
	} else {
		parts = append(parts, addrParam(to, "tag"), m.Get("Expires"))
	}
	if !m.IsRequest() {
		parts = append(parts, strconv.Itoa(m.StatusCode))
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("<" + p + ">")
	}
	return []byte(b.String())
}
