package appliance

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/admin"
	"github.com/tanjay-lab/tanjay/appliance/dashboard"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
)

// dashboardActions gives the dashboard the operator actions of
// appliance/admin, the ones the admin API uses (recorded, durable, the
// catalog refreshed), and what only the appliance knows: its health and
// backups (backup.go).
type dashboardActions struct {
	*admin.Actions
	a *app
}

// Import is admin's import of the dashboard's upload form, in the
// dashboard's terms.
func (d dashboardActions) Import(act oplog.Actor, r *http.Request) (dashboard.ImportResult, error) {
	res, err := d.Actions.ImportRequest(act, r)
	if err != nil {
		return dashboard.ImportResult{}, err
	}
	return dashboard.ImportResult{Rules: res.Rules, Images: res.Images, Warnings: res.Warnings}, nil
}

// Health is what the Settings page shows: the four URLs, DNS, listeners,
// certificates and data directory usage.
func (d dashboardActions) Health() dashboard.Health {
	a, b := d.a, d.a.bound
	h := dashboard.Health{
		Version: Version,
		URLs: [][2]string{
			{"InternalUpdatesDownloadURL", a.urls.InternalDownload},
			{"InternalUpdatesStoreURL", a.urls.InternalStore},
			{"ExternalUpdatesDownloadURL", a.urls.ExternalDownload},
			{"ExternalUpdatesStoreURL", a.urls.ExternalStore},
		},
		DNS:     "off",
		DataDir: a.cfg.Data,
	}
	if b.DNS != "" {
		domains := make([]string, len(a.cfg.DNS.Domains))
		for i, dom := range a.cfg.DNS.Domains {
			domains[i] = strings.TrimSuffix(dom, ".")
		}
		h.DNS = fmt.Sprintf("%s, %s mode, domains %s", b.DNS, a.cfg.DNS.Mode, strings.Join(domains, ", "))
	}
	h.Listeners = append(h.Listeners, [3]string{"phones (HTTP)", b.HTTP, "serving"})
	if b.HTTPS != "" {
		h.Listeners = append(h.Listeners, [3]string{"phones (HTTPS, legacy TLS)", b.HTTPS, "serving"})
	}
	if b.DNS != "" {
		h.Listeners = append(h.Listeners, [3]string{"DNS (UDP and TCP)", b.DNS, "serving"})
	}
	if b.SIP != "" {
		h.Listeners = append(h.Listeners, [3]string{"SIP sign-in (TCP)", b.SIP, "serving"})
	}
	if b.SIPTLS != "" {
		h.Listeners = append(h.Listeners, [3]string{"SIP sign-in (TLS)", b.SIPTLS, "serving"})
	}
	h.Listeners = append(h.Listeners, [3]string{"dashboard and admin API", b.Dashboard, "serving"})
	if a.dhcp != nil {
		h.Listeners = append(h.Listeners, a.dhcpHealth())
	}
	if a.directory != nil {
		h.Listeners = append(h.Listeners, directoryHealth(a.directoryCfg, a.directory.State()))
	}
	if a.directoryWatch != nil {
		h.Listeners = append(h.Listeners, a.directoryWatch.health())
	}
	if a.sip != nil {
		h.SIPPassword, h.SIPSignIn = a.sipPassword, a.signInFacts()
	}
	if a.certs != nil {
		for _, c := range a.certs.Info() {
			h.Certificates = append(h.Certificates, [3]string{c.Role, c.SHA256, c.NotAfter.Format("2006-01-02")})
		}
	}
	filepath.WalkDir(a.cfg.Data, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				h.DataBytes += info.Size()
			}
		}
		return nil
	})
	return h
}
