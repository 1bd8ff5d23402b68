package appliance

import (
	"fmt"
	"net"
	"net/http"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/images"
)

// operatorLogFile is the record of operator actions, under the data
// directory: <data>/logs/operator.log.
const operatorLogFile = "operator.log"

func (c Config) operatorLogPath() string { return filepath.Join(c.Data, "logs", operatorLogFile) }

// cliAgent is the User-Agent the command-line tool sends; the admin API
// records what follows it (the user and host it ran as) as who acted.
const cliAgent = "tanjay-cli/"

// cliUserAgent names this tool, the user and the host it runs as, for
// the operator log of the appliance it talks to.
var cliUserAgent = func() string {
	user := os.Getenv("USER")
	if u, err := osuser.Current(); err == nil {
		user = u.Username
	}
	host, _ := os.Hostname()
	return cliAgent + Version + " (" + user + "@" + host + ")"
}()

// apiActor is who calls the admin API: the admin token, and the client
// the command-line tool names.
func apiActor(r *http.Request) oplog.Actor {
	who := "admin token"
	if ua := r.UserAgent(); ua != "" {
		client := ua
		if rest, ok := strings.CutPrefix(ua, cliAgent); ok {
			client = "tanjay cli " + rest
		}
		who += " (" + clip(client, 100) + ")"
	}
	return oplog.Actor{Who: who, From: remoteHost(r)}
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clip keeps the first n bytes of s, printable ASCII only.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// record writes an operator action to the operator log. A failure to
// write is logged: the action itself is already durable in the store.
func (a *app) record(act oplog.Actor, action, target, change string, err error) {
	if a.oplog == nil {
		return
	}
	e := oplog.Entry{Time: time.Now().UTC(), Who: act.Who, From: act.From, Action: action, Target: target, Change: change}
	if err != nil {
		e.Error = err.Error()
	}
	if werr := a.oplog.Record(e); werr != nil {
		a.log.Error("operator log: the action is done but its record is not written", "action", action, "target", target, "err", werr)
	}
}

// ruleChange says what a rule holds after an action.
func ruleChange(r images.Rule) string {
	return fmt.Sprintf("approved %s, pending %s, restore %s", verOrNone(r.Approved), verOrNone(r.Pending), verOrNone(r.Restore))
}

func verOrNone(v images.Version) string {
	if v.IsZero() {
		return "none"
	}
	return v.String()
}

// operatorLog is GET /api/v1/operator-log?q=&action=&limit=: the newest
// actions first (default 200, at most 10,000).
func (a *app) operatorLog(_ http.ResponseWriter, r *http.Request) (any, error) {
	limit := 200
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return nil, badRequest("limit %q: want 1 to 10000", s)
		}
		limit = n
	}
	f := oplog.Filter{Text: r.URL.Query().Get("q"), Action: r.URL.Query().Get("action")}
	entries, _, err := a.oplog.Read(f, limit)
	if entries == nil {
		entries = []oplog.Entry{}
	}
	return entries, err
}

// recordGuard puts a change of the DHCP guard's state on the operator log:
// DHCP stopping because another server answered, serving again, or forced
// is the appliance changing what it does on the lab, and the operator
// reads it with their own changes (the Logs page). Probing is not
// recorded: it only leads to one of the others.
func (a *app) recordGuard(st dhcp.GuardStatus) {
	if st.State == dhcp.GuardProbing {
		return
	}
	from := ""
	if st.Other.From.IsValid() {
		from = st.Other.From.String()
	}
	a.record(oplog.Actor{Who: "appliance (DHCP rogue-server guard)", From: from}, "dhcp-"+string(st.State), st.Interface, st.String(), nil)
}
