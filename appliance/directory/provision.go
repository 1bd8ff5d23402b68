package directory

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Result is what Provision made.
type Result struct {
	// Created is true when the domain was provisioned now, false when an
	// existing one was brought up to date.
	Created bool
	Realm   string
	NetBIOS string
	// DC is the domain controller's DNS name, <host>.<realm>.
	DC      string
	Account string
	// DNSHostName is the published enrollment service's host: where phones
	// fetch certnew.p7b.
	DNSHostName string
	// CASHA1 and CASHA256 are the published CA's fingerprints, hex.
	CASHA1, CASHA256 string
	// Records is how many DC locator records the DNS responder answers.
	Records int
	Elapsed time.Duration
}

// Provision makes Dir a domain controller of cfg.Realm and brings it up to
// date: it provisions the domain unless Dir already holds it, rewrites
// smb.conf, relaxes the password policy to what a lab needs, creates or
// updates the lab account, publishes the CA and lists the DC locator
// records. Running it again is harmless and applies a changed password,
// CA, interface list or host name of the enrollment service.
func Provision(ctx context.Context, cfg Config) (Result, error) {
	start := time.Now()
	if err := cfg.Validate(true); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	res := Result{Realm: cfg.Realm, NetBIOS: cfg.NetBIOS, DC: cfg.Host + "." + cfg.DNSDomain(), Account: cfg.Account, DNSHostName: cfg.DNSHostName}
	if cfg.Provisioned() {
		if err := checkSameDomain(cfg); err != nil {
			return Result{}, err
		}
	} else {
		if err := provisionDomain(ctx, cfg); err != nil {
			return Result{}, err
		}
		res.Created = true
	}
	if err := writeSMBConf(cfg); err != nil {
		return Result{}, err
	}
	if err := labPasswordPolicy(ctx, cfg); err != nil {
		return Result{}, err
	}
	if err := ensureAccount(ctx, cfg); err != nil {
		return Result{}, err
	}
	if err := publishCA(ctx, cfg); err != nil {
		return Result{}, err
	}
	if err := registerSPNs(ctx, cfg); err != nil {
		return Result{}, err
	}
	records, err := writeRecords(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	s1, s256 := sha1.Sum(cfg.CADER), sha256.Sum256(cfg.CADER)
	res.CASHA1, res.CASHA256 = hex.EncodeToString(s1[:]), hex.EncodeToString(s256[:])
	res.Records = len(records)
	res.Elapsed = time.Since(start)
	return res, nil
}

// provisionDomain runs samba-tool domain provision into Dir, without
// Samba's DNS. A directory left half-made by an interrupted provision is
// cleared first: samba-tool refuses to provision over one.
func provisionDomain(ctx context.Context, cfg Config) error {
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return fmt.Errorf("directory: clearing %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	// Nobody types the administrator's password: the appliance works on
	// sam.ldb as root. It is kept (0600) for an operator who wants to
	// look around with LDAP tools.
	admin := adminPassword()
	if err := os.WriteFile(cfg.adminPassPath(), []byte(admin+"\n"), 0o600); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	_, err := run(ctx, nil, []string{admin}, cfg.program("samba-tool"), "domain", "provision",
		"--realm="+cfg.Realm, "--domain="+cfg.NetBIOS, "--server-role=dc", "--dns-backend=NONE",
		"--adminpass="+admin, "--targetdir="+cfg.Dir, "--host-name="+cfg.Host,
		"--option=interfaces="+strings.Join(cfg.Interfaces, " "), "--option=bind interfaces only = yes",
		"--option=ldap server require strong auth = no", "--option=server services = -dns -dnsupdate")
	if err != nil {
		return fmt.Errorf("directory: provisioning the domain: %w", err)
	}
	return nil
}

// adminPassword is 24 random characters and a suffix that meets Samba's
// default complexity rule (in force while the domain is provisioned).
func adminPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b) + "Aa1!"
}

// checkSameDomain refuses to bring a directory of another realm, NetBIOS
// domain or DC name up to date: those are fixed at provisioning.
func checkSameDomain(cfg Config) error {
	got, err := readGlobals(cfg.smbConf())
	if err != nil {
		return err
	}
	for _, p := range []struct{ key, want, flag string }{
		{"realm", cfg.Realm, "--realm"},
		{"workgroup", cfg.NetBIOS, "--netbios"},
		{"netbios name", strings.ToUpper(cfg.Host), "--host"},
	} {
		if !strings.EqualFold(got[p.key], p.want) {
			return fmt.Errorf("directory: %s is provisioned with %s %s, not %s (%s); remove the directory to provision anew", cfg.Dir, p.key, got[p.key], p.want, p.flag)
		}
	}
	return nil
}

// readGlobals reads the "key = value" lines of an smb.conf, keys in lower
// case.
func readGlobals(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

// smbConf is the whole smb.conf of the lab DC. samba-tool writes its own
// from Debian's /etc/samba/smb.conf (home and printer shares) and drops
// options it does not know to keep (ldap server require strong auth), so
// the appliance writes it itself.
//
//   - server services: Samba's DNS is off, the appliance's responder
//     answers for the realm; so is dnsupdate, which would try to register
//     the records in a DNS server that does not take updates.
//   - ldap server require strong auth = no: old clients may bind with a
//     simple bind over plain LDAP; this directory serves only the lab.
//   - rpc server dynamic port range: Samba's default (49152-65535) lies
//     in Linux's ephemeral port range, where another program's connection
//     may hold the port an RPC endpoint wants and Samba exits; 61000 and up
//     are above that range.
//   - cldap port: the appliance relays UDP 389 there (CLDAPPort).
//   - every directory Samba writes is under Dir: ncalrpc dir too, whose
//     default /run/samba/ncalrpc nothing creates once Debian's Samba
//     units are masked (the VM), and smbd, unable to make it, exits and
//     takes the whole DC down with it.
//   - log level: Samba's JSON authentication audit (debug class
//     auth_json_audit) at level 5, every authentication and anonymous
//     bind, into AuditLogPath: the phones' timelines read it.
//   - no shares but sysvol and netlogon, which a DC needs; no printing.
func smbConf(cfg Config) string {
	d := cfg.Dir
	var b strings.Builder
	fmt.Fprintf(&b, `# The lab's domain controller, written by tanjay directory provision;
# rewritten every time it runs.
[global]
	netbios name = %s
	realm = %s
	workgroup = %s
	server role = active directory domain controller
	interfaces = %s
	bind interfaces only = yes
	server services = -dns -dnsupdate
	ldap server require strong auth = no
	rpc server dynamic port range = 61000-61999
	cldap port = %d
	private dir = %s
	state directory = %s
	cache directory = %s
	lock directory = %s
	pid directory = %s
	ncalrpc dir = %s
	binddns dir = %s
	ntp signd socket directory = %s
	winbindd socket directory = %s
	log file = %s
	log level = 0 auth_json_audit:5@%s
	max log size = 1000
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes

[sysvol]
	path = %s
	read only = no

[netlogon]
	path = %s
	read only = no
`, strings.ToUpper(cfg.Host), cfg.Realm, cfg.NetBIOS, strings.Join(cfg.Interfaces, " "),
		CLDAPPort, filepath.Join(d, "private"), filepath.Join(d, "state"), filepath.Join(d, "cache"), d,
		filepath.Join(d, "run"), filepath.Join(d, "run", "ncalrpc"), filepath.Join(d, "bind-dns"), filepath.Join(d, "ntp_signd"),
		filepath.Join(d, "winbindd"), filepath.Join(d, "log", "log.%m"), cfg.AuditLogPath(),
		filepath.Join(d, "state", "sysvol"), filepath.Join(d, "state", "sysvol", cfg.DNSDomain(), "scripts"))
	return b.String()
}

// writeSMBConf writes smbConf and the directories it names.
func writeSMBConf(cfg Config) error {
	for _, sub := range []string{"etc", "cache", "run", "log", "state"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
	}
	path := cfg.smbConf()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(smbConf(cfg)), 0o644); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	return nil
}

// labPasswordPolicy lets the lab password be whatever the lab chose (a
// generated one is lower-case letters, digits and hyphens: two of the
// three classes Samba's complexity rule wants), be set again after a
// change, and never expire: Samba's default makes it expire after 42
// days, and phones would stop signing in six weeks after provisioning.
func labPasswordPolicy(ctx context.Context, cfg Config) error {
	_, err := run(ctx, nil, nil, cfg.program("samba-tool"), "domain", "passwordsettings", "set", "-s", cfg.smbConf(),
		"--complexity=off", "--history-length=0", "--min-pwd-age=0", "--max-pwd-age=0", "--min-pwd-length=1")
	if err != nil {
		return fmt.Errorf("directory: password policy: %w", err)
	}
	return nil
}

// ensureAccount creates the lab account, or sets its password when it
// exists, and makes it never expire.
func ensureAccount(ctx context.Context, cfg Config) error {
	exists := true
	if _, err := run(ctx, nil, nil, cfg.program("samba-tool"), "user", "show", cfg.Account, "-s", cfg.smbConf()); err != nil {
		exists = false
	}
	if exists {
		if err := SetPassword(ctx, cfg, cfg.Password); err != nil {
			return err
		}
	} else {
		_, err := run(ctx, nil, []string{cfg.Password}, cfg.program("samba-tool"), "user", "create", cfg.Account, cfg.Password, "-s", cfg.smbConf(),
			"--description=The lab account phones sign in with (tanjay)")
		if err != nil {
			return fmt.Errorf("directory: creating the lab account: %w", err)
		}
	}
	if _, err := run(ctx, nil, nil, cfg.program("samba-tool"), "user", "setexpiry", cfg.Account, "--noexpiry", "-s", cfg.smbConf()); err != nil {
		return fmt.Errorf("directory: lab account expiry: %w", err)
	}
	return nil
}

// SetPassword sets the lab account's password: the appliance calls it at
// start with the lab sign-in password, so the two never differ.
func SetPassword(ctx context.Context, cfg Config, password string) error {
	cfg = cfg.withDefaults()
	if password == "" {
		return errors.New("directory: the lab sign-in password is empty")
	}
	if !cfg.Provisioned() {
		return ErrNotProvisioned
	}
	_, err := run(ctx, nil, []string{password}, cfg.program("samba-tool"), "user", "setpassword", cfg.Account,
		"--newpassword="+password, "-s", cfg.smbConf())
	if err != nil {
		return fmt.Errorf("directory: setting the lab account's password: %w", err)
	}
	return nil
}

// registerSPNs gives the DC's account its service principal names
// (ldap/<dc>, host/<dc>, GC/…): a Samba DC registers them at its first
// start from its dnsupdate service, which is off here, and without them
// the KDC issues no service ticket for the DC, so no Kerberos LDAP bind
// and no SPNEGO to http://<dc>/certsrv (HTTP/<dc> maps to host/<dc>).
// samba_spnupdate works on sam.ldb directly, Samba running or not.
func registerSPNs(ctx context.Context, cfg Config) error {
	if _, err := run(ctx, nil, nil, cfg.program("samba_spnupdate"), "-s", cfg.smbConf()); err != nil {
		return fmt.Errorf("directory: registering the DC's service principal names: %w", err)
	}
	return nil
}

// ErrNotProvisioned is returned for a directory that was never provisioned.
var ErrNotProvisioned = errors.New("the directory was never provisioned: run `tanjay directory provision` first")
