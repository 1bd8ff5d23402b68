package directory

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"time"
)

// The kinds of AuditEvent: what a client asked the domain controller.
const (
	// AuditKerberos is a Kerberos ticket-granting ticket asked of the KDC
	// (AS-REQ, kinit). Samba 4.17 does not log service tickets (TGS-REQ).
	AuditKerberos = "kerberos"
	// AuditLDAPBind is an LDAP bind: simple (anonymous when User is
	// empty) or SASL.
	AuditLDAPBind = "ldap bind"
	// AuditNTLM is an NTLM authentication to any service but LDAP (SMB,
	// the netlogon pipe).
	AuditNTLM = "ntlm"
	// AuditTicket is a Kerberos service ticket presented to a service
	// (an LDAP GSSAPI bind, SMB): Samba logs it as an authorization only.
	AuditTicket = "kerberos ticket used"
	// AuditLDAPSearch is an LDAP search over TCP, an LDAP ping (a search
	// of the root DSE for Netlogon) included: Samba logs it at debug level
	// 5 as a text line, which the Supervisor writes to the audit file as a
	// JSON record of type searchType. Detail is the filter and base.
	AuditLDAPSearch = "ldap search"
	// AuditSamba is something that happened to Samba itself (the
	// Supervisor's record of type sambaType): Detail says what, Status is
	// not NT_STATUS_OK when it stopped unasked. It has no client address.
	AuditSamba = "samba"
)

// The record types the Supervisor adds to the audit file beside Samba's
// own ("Authentication", "Authorization").
const (
	searchType = "tanjaySearch"
	sambaType  = "tanjaySamba"
)

// The Event kinds of an AuditSamba record (AuditEvent.Method).
const (
	SambaExited = "exited" // stopped unasked; Detail says why and when it restarts
	SambaReady  = "ready"  // answering LDAP; after a restart, Detail says how long it was away
)

// AuditEvent is one authentication Samba logged (its JSON authentication
// audit, debug class auth_json_audit).
type AuditEvent struct {
	At       time.Time
	ClientIP netip.Addr
	Kind     string // AuditKerberos, …
	// Service is where it happened, as Samba names it: "LDAP",
	// "Kerberos KDC", "SMB2".
	Service string
	// Method is how: "simple bind", "ENC-TS Pre-authentication",
	// "NTLMSSP", "krb5"; with the password type when Samba says it
	// ("NTLMSSP, NTLMv2").
	Method string
	// User is who the client said it was: tech@lab.local, LAB\tech,
	// tech@LAB.LOCAL; empty for an anonymous bind.
	User string
	// Status is Samba's NT status, NT_STATUS_OK when it succeeded; for a
	// search, the LDAP result when it is not Success.
	Status string
	// Detail is a search's filter and base, or what happened to Samba.
	Detail string
}

// OK reports whether the authentication succeeded.
func (e AuditEvent) OK() bool { return e.Status == "NT_STATUS_OK" }

// Failure says in words why it failed ("wrong password"), "" when it
// succeeded.
func (e AuditEvent) Failure() string {
	if e.OK() {
		return ""
	}
	if w, ok := statusWords[e.Status]; ok {
		return w
	}
	s := strings.TrimPrefix(e.Status, "NT_STATUS_")
	if s == "" {
		return "refused"
	}
	return strings.ToLower(strings.ReplaceAll(s, "_", " "))
}

// statusWords are the NT statuses a sign-in commonly ends with.
var statusWords = map[string]string{
	"NT_STATUS_WRONG_PASSWORD":        "wrong password",
	"NT_STATUS_NO_SUCH_USER":          "no such user",
	"NT_STATUS_LOGON_FAILURE":         "wrong user name or password",
	"NT_STATUS_ACCOUNT_DISABLED":      "account disabled",
	"NT_STATUS_ACCOUNT_LOCKED_OUT":    "account locked out",
	"NT_STATUS_ACCOUNT_EXPIRED":       "account expired",
	"NT_STATUS_PASSWORD_EXPIRED":      "password expired",
	"NT_STATUS_PASSWORD_MUST_CHANGE":  "password must be changed",
	"NT_STATUS_INVALID_LOGON_HOURS":   "outside the account's logon hours",
	"NT_STATUS_INVALID_WORKSTATION":   "not allowed from this workstation",
	"NT_STATUS_TIME_DIFFERENCE_AT_DC": "clock too far from the domain controller's",
}

// auditRecord is the part of a Samba JSON audit line the appliance reads.
// Samba writes null for unknown strings; a missing or mistyped field
// leaves the zero value.
type auditRecord struct {
	Timestamp      string        `json:"timestamp"`
	Type           string        `json:"type"`
	Authentication *auditFields  `json:"Authentication"`
	Authorization  *auditFields  `json:"Authorization"`
	Search         *searchFields `json:"tanjaySearch"`
	Samba          *sambaFields  `json:"tanjaySamba"`
}

// searchFields are the parts of Samba's "LDAP Query" line the Supervisor
// keeps (parseSearchLine).
type searchFields struct {
	RemoteAddress string `json:"remoteAddress"`
	Principal     string `json:"principal"` // the SID the client is bound as
	Filter        string `json:"filter"`
	BaseDN        string `json:"basedn"`
	Scope         string `json:"scope"`
	Result        string `json:"result"`
	Duration      string `json:"duration"`
}

// sambaFields is an Event of the Supervisor.
type sambaFields struct {
	Event  string `json:"event"`
	PID    int    `json:"pid"`
	Detail string `json:"detail"`
}

type auditFields struct {
	Status             string `json:"status"`
	RemoteAddress      string `json:"remoteAddress"`
	ServiceDescription string `json:"serviceDescription"`
	AuthDescription    string `json:"authDescription"`
	AuthType           string `json:"authType"`
	ClientDomain       string `json:"clientDomain"`
	ClientAccount      string `json:"clientAccount"`
	Domain             string `json:"domain"`
	Account            string `json:"account"`
	PasswordType       string `json:"passwordType"`
}

// auditTimeLayout is Samba's timestamp: 2026-12-06T05:04:26.781042+0000.
const auditTimeLayout = "2006-01-02T15:04:05.999999-0700"

// ParseAuditLine reads one line of Samba's JSON authentication audit:
// the JSON object, possibly indented or after a "JSON Authentication:"
// prefix (Samba's debug header), as Samba 4.17 writes it to a debug class
// file or to standard output. It reports false for anything else: other
// lines, other audit types, and authorizations that only repeat the
// authentication before them (simple binds, NTLM). Fields it cannot read
// are left empty; a line without a client address is not an event.
func ParseAuditLine(line []byte) (AuditEvent, bool) {
	i := bytes.IndexByte(line, '{')
	if i < 0 {
		return AuditEvent{}, false
	}
	var r auditRecord
	if err := json.Unmarshal(bytes.TrimSpace(line[i:]), &r); err != nil {
		// A mistyped field fails the whole object: read it leniently,
		// field by field, instead.
		if !lenientRecord(bytes.TrimSpace(line[i:]), &r) {
			return AuditEvent{}, false
		}
	}
	e := AuditEvent{}
	e.At, _ = time.Parse(auditTimeLayout, r.Timestamp)
	switch {
	case r.Type == "Authentication" && r.Authentication != nil:
		a := r.Authentication
		e.Service, e.Status = a.ServiceDescription, a.Status
		e.Method = joinNonEmpty(a.AuthDescription, a.PasswordType)
		e.User = qualifiedUser(a.ClientDomain, a.ClientAccount)
		e.ClientIP = auditAddr(a.RemoteAddress)
		switch {
		case strings.HasPrefix(a.ServiceDescription, "Kerberos"):
			e.Kind = AuditKerberos
		case a.ServiceDescription == "LDAP":
			e.Kind = AuditLDAPBind
		default:
			e.Kind = AuditNTLM
		}
	case r.Type == "Authorization" && r.Authorization != nil && isKerberos(r.Authorization.AuthType):
		a := r.Authorization
		e.Kind, e.Service, e.Method, e.Status = AuditTicket, a.ServiceDescription, a.AuthType, "NT_STATUS_OK"
		e.User = qualifiedUser(a.Domain, a.Account)
		e.ClientIP = auditAddr(a.RemoteAddress)
	case r.Type == searchType && r.Search != nil:
		q := r.Search
		e.Kind, e.Service, e.Method = AuditLDAPSearch, "LDAP", q.Scope
		e.Detail = q.Filter
		if q.BaseDN != "" {
			e.Detail += " in " + q.BaseDN
		}
		if q.Principal == anonymousSID {
			e.User = "anonymous"
		}
		e.Status = "NT_STATUS_OK"
		if q.Result != "Success" {
			e.Status = q.Result
		}
		e.ClientIP = auditAddr(q.RemoteAddress)
	case r.Type == sambaType && r.Samba != nil:
		e.Kind, e.Method, e.Detail, e.Status = AuditSamba, r.Samba.Event, r.Samba.Detail, "NT_STATUS_OK"
		if r.Samba.Event == SambaExited {
			e.Status = "NT_STATUS_UNSUCCESSFUL"
		}
		return e, r.Samba.Event != ""
	default:
		return AuditEvent{}, false
	}
	if !e.ClientIP.IsValid() {
		return AuditEvent{}, false
	}
	if e.Status == "" {
		e.Status = "NT_STATUS_UNSUCCESSFUL"
	}
	return e, true
}

// lenientRecord reads r's fields one by one, skipping those of the wrong
// type. It reports false when line is not a JSON object.
func lenientRecord(line []byte, r *auditRecord) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(line, &top) != nil {
		return false
	}
	json.Unmarshal(top["timestamp"], &r.Timestamp)
	json.Unmarshal(top["type"], &r.Type)
	for name, dst := range map[string]**auditFields{"Authentication": &r.Authentication, "Authorization": &r.Authorization} {
		var fields map[string]json.RawMessage
		if json.Unmarshal(top[name], &fields) != nil || fields == nil {
			continue
		}
		f := &auditFields{}
		for key, p := range map[string]*string{
			"status": &f.Status, "remoteAddress": &f.RemoteAddress, "serviceDescription": &f.ServiceDescription,
			"authDescription": &f.AuthDescription, "authType": &f.AuthType, "clientDomain": &f.ClientDomain,
			"clientAccount": &f.ClientAccount, "domain": &f.Domain, "account": &f.Account, "passwordType": &f.PasswordType,
		} {
			json.Unmarshal(fields[key], p)
		}
		*dst = f
	}
	return true
}

// isKerberos reports whether an authorization's authType is a Kerberos
// ticket (Samba: "krb5"; older releases "Kerberos").
func isKerberos(authType string) bool {
	t := strings.ToLower(authType)
	return strings.Contains(t, "krb5") || strings.Contains(t, "kerberos")
}

// qualifiedUser is the account as the client named it: an account that
// names its realm (tech@lab.local) as is, else DOMAIN\account.
func qualifiedUser(domain, account string) string {
	switch {
	case account == "":
		return ""
	case domain == "" || strings.ContainsAny(account, `@\`):
		return account
	}
	return domain + `\` + account
}

// auditAddr reads Samba's address strings: "ipv4:10.0.0.5:49778",
// "ipv6:fe80::1:389" (the port after the last colon), with or without
// brackets.
func auditAddr(s string) netip.Addr {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "ipv4:"), "ipv6:")
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if a, err := netip.ParseAddr(strings.Trim(s[:i], "[]")); err == nil {
			return a.Unmap()
		}
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}
