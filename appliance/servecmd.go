package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/internal/atomicfile"
)

// serveInfoFile is written in the data directory once the listeners are
// bound: where this appliance listens (tests and scripts read it when they
// asked for port 0).
const serveInfoFile = "serve.json"

func runServe(ctx context.Context, e env, args []string) error {
	cfg := DefaultConfig()
	fs := newFlagSet("serve", commands["serve"].synopsis, commands["serve"].about, e.stderr)
	serveFlags(fs, &cfg)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	cfg.Token = e.getenv("TANJAY_TOKEN")
	cfg.AdminPassword = e.getenv("TANJAY_ADMIN_PASSWORD")
	cfg.SIPPassword = e.getenv("TANJAY_SIP_PASSWORD")
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	memory := setMemoryLimit(e.getenv)
	return Run(ctx, cfg, log, e.stdout, func(a Addrs) {
		dns := "off"
		if a.DNS != "" {
			domains := make([]string, len(cfg.DNS.Domains))
			for i, d := range cfg.DNS.Domains {
				domains[i] = strings.TrimSuffix(d, ".")
			}
			dns = fmt.Sprintf("%s (%s mode; ucupdates-r2 and ucupdates under %s)", a.DNS, cfg.DNS.Mode, strings.Join(domains, ", "))
		}
		https, scheme := "off", "http"
		if a.HTTPS != "" {
			https = "https://" + a.HTTPS
		}
		if cfg.DashboardTLS {
			scheme = "https"
		}
		fmt.Fprintf(e.stdout, "tanjay %s serving\n  phones:    http://%s (advertised as %s)\n  https:     %s\n  dashboard: %s://%s\n  dns:       %s\n  check-ins: %s\n  files:     %s\n  data:      %s\n",
			Version, a.HTTP, a.Advertise, https, scheme, a.Dashboard, dns, a.URLs.InternalDownload, a.URLs.InternalStore, cfg.Data)
		if a.SIP != "" || a.SIPTLS != "" {
			fmt.Fprintf(e.stdout, "  sip:       tcp %s, tls %s (beta phones sign in here; the lab password is on Settings & health)\n", orOff(a.SIP), orOff(a.SIPTLS))
		}
		if a.DHCP != "" {
			fmt.Fprintf(e.stdout, "  dhcp:      %s, once no other DHCP server answers (the lines starting \"dhcp:\" say when it serves or why not)\n", a.DHCP)
		}
		if a.Directory != "" {
			fmt.Fprintf(e.stdout, "  directory: %s (Samba AD DC; DNS answers its locator records)\n", a.Directory)
		}
		for _, c := range a.Certificates {
			fmt.Fprintf(e.stdout, "  cert:      %s\n", c)
		}
		fmt.Fprintf(e.stdout, "  memory:    %s\n", memory)
		if err := notifyReady(e.getenv); err != nil {
			log.Warn("could not tell systemd the appliance is ready", "err", err)
		}
		b, _ := json.MarshalIndent(a, "", "  ")
		if err := atomicfile.Write(filepath.Join(cfg.Data, serveInfoFile), 0o644, append(b, '\n')); err != nil {
			log.Warn("could not record the listen addresses", "err", err)
		}
	})
}

// orOff is addr, or "off" when a listener is not running.
func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}
