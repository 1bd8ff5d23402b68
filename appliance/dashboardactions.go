package appliance

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/dashboard"
	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// dashboardActions gives the dashboard the same durable operator path the
// admin API uses (the catalog refresh included).
type dashboardActions struct{ a *app }

func (d dashboardActions) RuleAction(act oplog.Actor, action string, key images.RuleKey) (images.Rule, error) {
	return d.a.applyRuleAction(act, action, key)
}

func (d dashboardActions) AddTestDevice(act oplog.Actor, id string) (store.TestDevice, string, error) {
	return d.a.addTestDeviceID(act, id)
}

func (d dashboardActions) RemoveTestDevice(act oplog.Actor, id string) (store.TestDevice, error) {
	return d.a.removeTestDeviceID(act, id)
}

func (d dashboardActions) Import(act oplog.Actor, r *http.Request) (dashboard.ImportResult, error) {
	res, err := d.a.importAs(act, r)
	if err != nil {
		return dashboard.ImportResult{}, err
	}
	return dashboard.ImportResult{Rules: res.Rules, Images: res.Images, Warnings: res.Warnings}, nil
}

func (d dashboardActions) MakePending(act oplog.Actor, key images.RuleKey, v images.Version) (images.Rule, error) {
	return d.a.makePending(act, key, v)
}

func (d dashboardActions) OperatorLog(f oplog.Filter, limit int) ([]oplog.Entry, error) {
	entries, _, err := d.a.oplog.Read(f, limit)
	return entries, err
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
