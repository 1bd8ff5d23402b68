package sip

import "strings"

// addrURI is the URI of a From, To, Contact or P-Asserted-Identity value:
// what is inside <…>, or, without angle brackets, the value up to its first
// header parameter. [MS-SIP] signs exactly this text.
func addrURI(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
		return ""
	}
	uri, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(uri)
}

// addrParam is the header parameter name of an address value (tag, epid),
// or "". Parameters inside <…> belong to the URI and are not searched.
func addrParam(v, name string) string {
	rest := v
	if i := strings.IndexByte(v, '>'); i >= 0 {
		rest = v[i+1:]
	} else if _, after, ok := strings.Cut(v, ";"); ok {
		rest = ";" + after
	} else {
		return ""
	}
	return param(rest, name)
}

// param finds ;name=value in a parameter list, unquoting a quoted value.
func param(list, name string) string {
	for _, p := range strings.Split(list, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return ""
}

// uriUserHost splits sip:user@host:port;params into user and host
// (lower-case, without the port).
func uriUserHost(uri string) (user, host string) {
	s := uri
	switch lower := strings.ToLower(s); {
	case strings.HasPrefix(lower, "sip:"):
		s = s[4:]
	case strings.HasPrefix(lower, "sips:"):
		s = s[5:]
	}
	s, _, _ = strings.Cut(s, ";")
	s, _, _ = strings.Cut(s, "?")
	if u, h, ok := strings.Cut(s, "@"); ok {
		user, s = u, h
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			return user, strings.ToLower(s[1:i])
		}
	}
	s, _, _ = strings.Cut(s, ":")
	return user, strings.ToLower(s)
}

// assertedURIs are the sip: and tel: URIs of a P-Asserted-Identity (or
// P-Preferred-Identity) value, which may hold one of each.
func assertedURIs(v string) (sipURI, telURI string) {
	for _, part := range strings.Split(v, ",") {
		u := addrURI(strings.TrimSpace(part))
		switch {
		case strings.HasPrefix(strings.ToLower(u), "sip:"):
			sipURI = u
		case strings.HasPrefix(strings.ToLower(u), "tel:"):
			telURI = u
		}
	}
	return sipURI, telURI
}
