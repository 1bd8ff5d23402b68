package admin

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/images"
)

// CLIAgent begins the User-Agent the command-line tool sends; the admin
// API records what follows it (the tool's version, the user and host it
// ran as) as who acted.
const CLIAgent = "tanjay-cli/"

// Record writes an action to the operator log: who (act), what it acted
// on (target), what changed, or the error that refused it. A failure to
// write is logged: the action itself is already durable in the store.
// The appliance records its own changes of what it does on the lab (the
// DHCP guard) here too.
func (a *Actions) Record(act oplog.Actor, action, target, change string, err error) {
	e := oplog.Entry{Time: time.Now().UTC(), Who: act.Who, From: act.From, Action: action, Target: target, Change: change}
	if err != nil {
		e.Error = err.Error()
	}
	if werr := a.oplog.Record(e); werr != nil {
		a.log.Error("operator log: the action is done but its record is not written", "action", action, "target", target, "err", werr)
	}
}

// OperatorLog is the operator log's entries f selects, newest first, at
// most limit (0: all).
func (a *Actions) OperatorLog(f oplog.Filter, limit int) ([]oplog.Entry, error) {
	entries, _, err := a.oplog.Read(f, limit)
	return entries, err
}

// RequestActor is who calls the admin API: the admin token, and the
// client the command-line tool names in its User-Agent.
func RequestActor(r *http.Request) oplog.Actor {
	who := "admin token"
	if ua := r.UserAgent(); ua != "" {
		client := ua
		if rest, ok := strings.CutPrefix(ua, CLIAgent); ok {
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
