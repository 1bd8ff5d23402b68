package appliance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/directory"
	"github.com/tanjay-lab/tanjay/appliance/web"
)

// runDirectory is `tanjay directory SUBCOMMAND`; provision is the only one.
func runDirectory(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "provision" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintf(e.stderr, "usage: tanjay directory %s\n\n%s\n", commands["directory"].synopsis, commands["directory"].about)
			return nil
		}
		return usagef("want a subcommand: directory provision [flags]")
	}
	return runDirectoryProvision(ctx, e, args[1:])
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
	cfg.SIPPassword = e.getenv("TANJAY_SIP_PASSWORD")
	advertise := cfg.Advertise
	if advertise == "" {
		advertise = firstLANAddress()
	}
	dcfg, err := cfg.directoryConfig(advertise)
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
