package appliance

import (
	"os"
	osuser "os/user"
	"path/filepath"

	"github.com/tanjay-lab/tanjay/appliance/admin"
	"github.com/tanjay-lab/tanjay/appliance/dhcp"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
)

// operatorLogFile is the record of operator actions (appliance/admin),
// under the data directory: <data>/logs/operator.log.
const operatorLogFile = "operator.log"

func (c Config) operatorLogPath() string { return filepath.Join(c.Data, "logs", operatorLogFile) }

// cliUserAgent names this tool, the user and the host it runs as, for
// the operator log of the appliance it talks to (admin.RequestActor reads
// it).
var cliUserAgent = func() string {
	user := os.Getenv("USER")
	if u, err := osuser.Current(); err == nil {
		user = u.Username
	}
	host, _ := os.Hostname()
	return admin.CLIAgent + Version + " (" + user + "@" + host + ")"
}()

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
	a.admin.Record(oplog.Actor{Who: "appliance (DHCP rogue-server guard)", From: from}, "dhcp-"+string(st.State), st.Interface, st.String(), nil)
}
