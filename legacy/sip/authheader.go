package sip

import (
	"strings"
)

// authScheme is the only security package the front end offers: Kerberos
// needs a KDC and the service key, TLS-DSK the certificate-provisioning
// service (SIGNIN.md §3.1).
const authScheme = "NTLM"

// authRealm is the realm every OCS server names (all traces).
const authRealm = "SIP Communications Service"

// authParams is a parsed Authorization or Proxy-Authorization value:
// NTLM qop="auth", realm="…", targetname="…", gssapi-data="…", version=3.
type authParams struct {
	scheme string
	params map[string]string // lower-case names, unquoted values
	has    map[string]bool   // which names were present (gssapi-data="" vs absent)
}

// parseAuth parses an authorization header value order-independently. It
// never fails: unknown shapes leave parameters out.
func parseAuth(v string) authParams {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	a := authParams{scheme: scheme, params: map[string]string{}, has: map[string]bool{}}
	for rest = strings.TrimSpace(rest); rest != ""; {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.Trim(strings.TrimSpace(name), ","))
		name = strings.TrimSpace(name)
		after = strings.TrimLeft(after, " ")
		var val string
		if strings.HasPrefix(after, `"`) {
			val, rest = unquote(after[1:])
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		if len(a.params) < 32 {
			a.params[name], a.has[name] = val, true
		}
		rest = strings.TrimLeft(rest, ", ")
	}
	return a
}

// unquote reads a quoted string body up to its closing quote and returns
// it and what follows.
func unquote(s string) (val, rest string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

func (a authParams) get(name string) string { return a.params[name] }

// formatAuth renders a header value as OCS does: the scheme, then
// name="value" pairs joined by ", " (version unquoted). Clients parse it
// with simple splitters, so the shape matters more than RFC generality.
func formatAuth(pairs ...[2]string) string {
	var b strings.Builder
	b.WriteString(authScheme)
	for i, p := range pairs {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		if p[0] == "version" {
			b.WriteString(p[1])
		} else {
			b.WriteString(`"` + p[1] + `"`)
		}
	}
	return b.String()
}
