package directory

import (
	"encoding/json"
	"strings"
	"time"
)

// Samba's own output, read by the Supervisor. It runs Samba at debug level
// 5 (samba -i prints every class to standard output, without the level),
// because Samba 4.17 logs each LDAP search only there, as
//
//	ldapsrv_SearchRequest: LDAP Query: Duration was 0.00s, SearchRequest by S-1-5-7 from ipv4:10.0.0.5:49778 filter: [(&(DnsDomain=lab.local)(NtVer=\06\00\00\00))] basedn: [] scope: [BASE] result: Success
//
// ("Long LDAP Query: Duration was …, MaxQueryDuration(…)/4 == … in
// SearchRequest by …" for slow ones). Level 5 is chatty (a few hundred
// lines at start, a dozen per bind), so only lines that look like trouble
// reach the appliance's log at Info; the rest go to Debug.

// anonymousSID is the principal of an anonymous LDAP client.
const anonymousSID = "S-1-5-7"

// parseSearchLine reads Samba's "LDAP Query" line. The filter and base
// come from the client and may hold anything, the separators included: the
// fixed parts are found from the right, and the filter is what lies between
// the first " filter: [" and the last "] basedn: [".
func parseSearchLine(line string) (searchFields, bool) {
	i := strings.Index(line, "LDAP Query: Duration was ")
	if i < 0 {
		return searchFields{}, false
	}
	rest := line[i+len("LDAP Query: Duration was "):]
	var f searchFields
	if j := strings.IndexByte(rest, 's'); j > 0 && j < 16 {
		f.Duration = rest[:j+1]
	}
	by := strings.Index(rest, "SearchRequest by ")
	if by < 0 {
		return searchFields{}, false
	}
	rest = rest[by+len("SearchRequest by "):]
	from := strings.Index(rest, " from ")
	filt := strings.Index(rest, " filter: [")
	if from < 0 || filt < from+len(" from ") {
		return searchFields{}, false
	}
	f.Principal, f.RemoteAddress = rest[:from], rest[from+len(" from "):filt]
	rest = rest[filt+len(" filter: ["):]
	res := strings.LastIndex(rest, "] result: ")
	if res < 0 {
		return searchFields{}, false
	}
	f.Result = strings.TrimSpace(rest[res+len("] result: "):])
	rest = rest[:res]
	scope := strings.LastIndex(rest, "] scope: [")
	if scope < 0 {
		return searchFields{}, false
	}
	f.Scope, rest = rest[scope+len("] scope: ["):], rest[:scope]
	base := strings.LastIndex(rest, "] basedn: [")
	if base < 0 {
		return searchFields{}, false
	}
	f.Filter, f.BaseDN = rest[:base], rest[base+len("] basedn: ["):]
	return f, true
}

// auditRecordLine is the audit file's JSON line of one of the Supervisor's
// records (fields is a searchFields or a sambaFields), shaped like Samba's
// own: the timestamp first.
func auditRecordLine(at time.Time, typ string, fields any) string {
	r := struct {
		Timestamp string        `json:"timestamp"`
		Type      string        `json:"type"`
		Search    *searchFields `json:"tanjaySearch,omitempty"`
		Samba     *sambaFields  `json:"tanjaySamba,omitempty"`
	}{Timestamp: at.Format(auditTimeLayout), Type: typ}
	switch f := fields.(type) {
	case searchFields:
		r.Search = &f
	case sambaFields:
		r.Samba = &f
	}
	b, err := json.Marshal(r)
	if err != nil {
		return "" // strings and ints: cannot happen
	}
	return string(b)
}

// troubleWords mark the lines of Samba's output that reach the appliance's
// log at Info: failures and the start-up lines worth seeing.
var troubleWords = []string{
	"rror", "ail", "annot", "nable", "refus", "denied", "PANIC", "panic", "abort",
	"terminat", "exit", "Exit", "not ", "invalid", "Invalid", "WARNING", "samba version",
}

// chatter starts the lines level 5 prints that look like trouble and are
// not: workers coming and going, socket options a kernel does not offer,
// clients hanging up, helpers that exited 0.
var chatter = []string{"prefork_", "print_socket_options:", "stream_terminate_connection:", "samba_runcmd_io_handler: Child /usr/sbin/samba_kcc exited 0"}

// worthLogging reports whether a line of Samba's output is shown at Info.
func worthLogging(line string) bool {
	for _, p := range chatter {
		if strings.HasPrefix(line, p) {
			return false
		}
	}
	for _, w := range troubleWords {
		if strings.Contains(line, w) {
			return true
		}
	}
	return false
}
