package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/directory"
	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
	"github.com/tanjay-lab/tanjay/appliance/web"
)

// runDirectory is `tanjay directory provision|run`.
func runDirectory(ctx context.Context, e env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "provision":
			return runDirectoryProvision(ctx, e, args[1:])
		case "run":
			return runDirectoryRun(ctx, e, args[1:])
		case "-h", "--help", "help":
			fmt.Fprintf(e.stderr, "usage: tanjay directory %s\n\n%s\n", commands["directory"].synopsis, commands["directory"].about)
			return nil
		}
	}
	return usagef("want a subcommand: directory provision|run [flags]")
}

// runDirectoryRun runs the provisioned Samba in the foreground, as serve
// --directory samba does, for a Samba that runs as its own service
// (tanjay-samba.service in the VM, where serve is unprivileged and uses
// --directory unit): the lab account's password brought in step with the
// lab sign-in password, restarts with backoff, Samba's log on standard
// error, its audit, searches and restarts in the audit file the appliance
// follows. Root; until SIGTERM or SIGINT.
func runDirectoryRun(ctx context.Context, e env, args []string) error {
	cfg := DefaultConfig()
	var options []string
	fs := newFlagSet("directory run", "[flags]", "Run the provisioned lab domain controller (Samba) in the foreground, restarting it when it dies, for a Samba that runs as its own service while tanjay serve --directory unit watches it. Run as root.", e.stderr)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory (the directory is <data>/directory)")
	fs.Var(&stringList{list: &cfg.DNS.Domains}, "domain", "lab domain; the first one is the realm unless --realm is given (default lab.local)")
	fs.StringVar(&cfg.Host, "host", cfg.Host, "the appliance's host name: the DC's name")
	fs.StringVar(&cfg.Advertise, "advertise", cfg.Advertise, "the address phones reach the appliance at; its interface is the default of --directory-interfaces")
	fs.StringVar(&cfg.SIPPasswordFile, "sip-password-file", cfg.SIPPasswordFile, "file holding the lab sign-in password (default: TANJAY_SIP_PASSWORD, else <data>/sip-password.txt)")
	fs.Var(&stringList{list: &options}, "samba-option", `extra smb.conf option for samba, "name = value" (repeatable)`)
	directoryFlags(fs, &cfg.Directory)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("directory run takes no arguments, got %q", fs.Args())
	}
	for _, o := range options {
		if name, _, ok := strings.Cut(o, "="); !ok || strings.TrimSpace(name) == "" {
			return usagef("--samba-option %q: want \"name = value\"", o)
		}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: Samba needs it")
	}
	dcfg, _, err := directoryCmdConfig(&cfg, e)
	if err != nil {
		return err
	}
	dcfg.SambaOptions = options
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if dcfg.Password, err = loadSIPPassword(cfg); err != nil {
		return err
	}
	sup, err := directory.NewSupervisor(dcfg, log, nil)
	if err != nil {
		return err
	}
	if err := directory.SetPassword(ctx, dcfg, dcfg.Password); err != nil {
		return err
	}
	log.Info("running the lab's domain controller", "realm", dcfg.Realm, "interfaces", strings.Join(dcfg.Interfaces, ","), "audit", dcfg.AuditLogPath())
	return sup.Run(ctx)
}

// runDirectoryProvision provisions (or brings up to date) the lab's domain
// controller in <data>/directory: the domain, the lab account with the lab
// sign-in password, the appliance CA published. Root only: Samba's tools
// work on its databases as root.
func runDirectoryProvision(ctx context.Context, e env, args []string) error {
	cfg := DefaultConfig()
	fs := newFlagSet("directory provision", "[flags]", "Provision the lab's domain controller (Samba AD DC) in <data>/directory, or bring it up to date: the lab account with the lab sign-in password, the appliance CA published. Run as root; then tanjay serve --directory samba.", e.stderr)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory (the directory goes to <data>/directory, the CA is <data>/tls)")
	fs.Var(&stringList{list: &cfg.DNS.Domains}, "domain", "lab domain; the first one is the realm unless --realm is given (default lab.local)")
	fs.StringVar(&cfg.Host, "host", cfg.Host, "the appliance's host name: the DC's name (first label, at most 15 characters)")
	fs.StringVar(&cfg.Advertise, "advertise", cfg.Advertise, "the address phones reach the appliance at; its interface is the default of --directory-interfaces (default: the first LAN IPv4 address)")
	fs.StringVar(&cfg.SIPPasswordFile, "sip-password-file", cfg.SIPPasswordFile, "file holding the lab sign-in password (default: TANJAY_SIP_PASSWORD, else <data>/sip-password.txt, generated now if missing)")
	fs.StringVar(&cfg.TLS.PhoneSigAlg, "tls-phone-sig", cfg.TLS.PhoneSigAlg, "signature of the appliance CA when it is made now: sha1 (the CX700 cannot verify SHA-2) or sha256")
	directoryFlags(fs, &cfg.Directory)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("directory provision takes no arguments, got %q", fs.Args())
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: Samba's tools work on the directory's databases as root")
	}
	dcfg, advertise, err := directoryCmdConfig(&cfg, e)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if dcfg.Password, err = loadOrCreateSIPPassword(cfg, e.stdout, log); err != nil {
		return err
	}
	// The CA serve would use: made now, as serve makes it, when this is
	// the appliance's first start.
	tcfg := cfg.tlsConfig(advertise)
	tcfg.Logger = log
	certs, err := web.NewCerts(tcfg)
	if err != nil {
		return err
	}
	if dcfg.CADER, err = caDER(certs.CAPEM()); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "provisioning the %s domain controller in %s (Samba; this takes a minute the first time)…\n", dcfg.Realm, dcfg.Dir)
	res, err := directory.Provision(ctx, dcfg)
	if err != nil {
		return err
	}
	what := "brought up to date"
	if res.Created {
		what = "provisioned"
	}
	fmt.Fprintf(e.stdout, "%s in %s:\n  realm:              %s\n  NetBIOS domain:     %s\n  domain controller:  %s (Samba on %s)\n  account:            %s\\%s (%s@%s), the lab sign-in password, never expires\n  CA published:       SHA-1 %s\n                      SHA-256 %s\n  enrollment service: http://%s/certsrv/certnew.p7b\n  DC locator records: %d, answered by the appliance's DNS\nnext: tanjay serve --directory samba\n",
		what, res.Elapsed.Round(100*time.Millisecond), res.Realm, res.NetBIOS, res.DC, strings.Join(dcfg.Interfaces, ", "),
		res.NetBIOS, res.Account, res.Account, strings.ToLower(res.Realm), res.CASHA1, res.CASHA256, res.DNSHostName, res.Records)
	return nil
}

// loadSIPPassword is the lab sign-in password as serve finds it, but never
// made here: a password file root made would be unreadable to an
// unprivileged serve.
func loadSIPPassword(cfg Config) (string, error) {
	if cfg.SIPPassword == "" && cfg.SIPPasswordFile == "" {
		path := filepath.Join(cfg.Data, sipPasswordFile)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no lab sign-in password in %s yet: tanjay serve makes it at its first start (or set TANJAY_SIP_PASSWORD)", path)
		}
	}
	return loadOrCreateSIPPassword(cfg, io.Discard, slog.New(slog.DiscardHandler))
}

// directoryCmdConfig is the directory's configuration for provision and
// run, from their flags: the lab password from TANJAY_SIP_PASSWORD when
// set, the advertised address (default: the first LAN address) naming the
// default interface.
func directoryCmdConfig(cfg *Config, e env) (dcfg directory.Config, advertise string, err error) {
	cfg.SIPPassword = e.getenv("TANJAY_SIP_PASSWORD")
	if advertise = cfg.Advertise; advertise == "" {
		advertise = netaddr.FirstLANAddress().String()
	}
	dcfg, err = cfg.directoryConfig(advertise)
	return dcfg, advertise, err
}
