package directory

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/tanjay-lab/tanjay/appliance/internal/netaddr"
)

// Config is the lab domain's configuration. Provision and the Supervisor
// take it whole; the appliance fills it from its flags.
type Config struct {
	// Dir holds all of Samba's state (samba-tool's --targetdir): etc/smb.conf,
	// private/sam.ldb, … Required; the appliance uses <data>/directory.
	Dir string
	// Realm is the Kerberos realm and DNS domain of the directory, upper
	// case (--realm). Required; the appliance defaults it to the first
	// --domain in upper case.
	Realm string
	// NetBIOS is the pre-Windows 2000 domain name (--netbios), at most 15
	// characters. Default: the realm's first label, upper case, cut to 15.
	NetBIOS string
	// Host is the DC's host name, a single label: the appliance's host
	// label, so that <Host>.<realm> is the appliance. Default "tanjay".
	Host string
	// Interfaces are the network interfaces Samba listens on and nothing
	// else (--directory-interfaces); "lo" works for tests. Required.
	Interfaces []string
	// Account is the lab account phones sign in with (--directory-account).
	// Default "tech".
	Account string
	// Password is the lab account's password: the lab sign-in password of
	// the SIP front end (one password for the phone's whole sign-in).
	// Required by Provision.
	Password string
	// CADER is the appliance CA certificate (DER) published in the
	// directory. Required by Provision.
	CADER []byte
	// DNSHostName is the appliance's name in the domain, the dNSHostName of
	// the published pKIEnrollmentService: where a phone fetches
	// /certsrv/certnew.p7b. Default <Host>.<realm in lower case>.
	DNSHostName string
	// Samba is the directory of Samba's programs (samba, samba-tool,
	// samba_dnsupdate, samba_spnupdate) and LDB is that of ldb-tools'
	// (ldbsearch, ldbmodify).
	// Default: found on PATH.
	Samba, LDB string
	// SambaOptions are extra smb.conf options ("name = value") the
	// Supervisor gives samba on its command line (the VM names its fixed
	// Diffie-Hellman group this way).
	SambaOptions []string
}

// CLDAPPort is where Samba answers CLDAP (its "cldap port"): the
// appliance owns UDP 389 and relays each DC locator ping there (CLDAPRelay),
// to put it on the phone's timeline, since Samba does not log them.
const CLDAPPort = 1389

// Defaults of Config.
const (
	DefaultHost    = "tanjay"
	DefaultAccount = "tech"
)

// withDefaults fills the zero fields and normalises the rest.
func (c Config) withDefaults() Config {
	c.Realm = strings.ToUpper(strings.Trim(strings.TrimSpace(c.Realm), "."))
	if c.NetBIOS == "" {
		c.NetBIOS, _, _ = strings.Cut(c.Realm, ".")
		if len(c.NetBIOS) > 15 {
			c.NetBIOS = c.NetBIOS[:15]
		}
	}
	c.NetBIOS = strings.ToUpper(c.NetBIOS)
	if c.Host == "" {
		c.Host = DefaultHost
	}
	c.Host = strings.ToLower(c.Host)
	if c.Account == "" {
		c.Account = DefaultAccount
	}
	if c.DNSHostName == "" {
		c.DNSHostName = c.Host + "." + c.DNSDomain()
	}
	return c
}

// DNSDomain is the realm in lower case: the directory's DNS domain.
func (c Config) DNSDomain() string { return strings.ToLower(strings.Trim(c.Realm, ".")) }

// BaseDN is the domain's distinguished name: DC=lab,DC=local.
func (c Config) BaseDN() string {
	labels := strings.Split(c.DNSDomain(), ".")
	for i, l := range labels {
		labels[i] = "DC=" + l
	}
	return strings.Join(labels, ",")
}

// Validate reports the problems of c (zero fields taking their defaults),
// each naming the flag that sets the field. needSecrets says whether the
// password and the CA are required (Provision) or not (the Supervisor).
func (c Config) Validate(needSecrets bool) error {
	c = c.withDefaults()
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("--data: the directory's state directory must be set"))
	}
	if !isDomain(c.DNSDomain()) || !strings.Contains(c.Realm, ".") {
		errs = append(errs, fmt.Errorf("--realm %q: want a DNS domain of two labels or more, like LAB.LOCAL", c.Realm))
	}
	if !netaddr.IsHostLabel(strings.ToLower(c.NetBIOS)) || len(c.NetBIOS) > 15 {
		errs = append(errs, fmt.Errorf("--netbios %q: want 1 to 15 letters, digits or hyphens", c.NetBIOS))
	}
	if !netaddr.IsHostLabel(c.Host) || len(c.Host) > 15 {
		errs = append(errs, fmt.Errorf("--host %q: the DC's host name must be one label of at most 15 characters (a NetBIOS name)", c.Host))
	}
	if strings.EqualFold(c.Host, c.NetBIOS) {
		errs = append(errs, fmt.Errorf("--netbios %q: must differ from the host name", c.NetBIOS))
	}
	if len(c.Interfaces) == 0 {
		errs = append(errs, errors.New("--directory-interfaces: name at least one interface"))
	}
	for _, i := range c.Interfaces {
		if _, err := net.InterfaceByName(i); err != nil {
			errs = append(errs, fmt.Errorf("--directory-interfaces %q: %w", i, err))
		}
	}
	if !netaddr.IsHostLabel(strings.ToLower(c.Account)) {
		errs = append(errs, fmt.Errorf("--directory-account %q: want letters, digits or hyphens", c.Account))
	}
	if needSecrets && c.Password == "" {
		errs = append(errs, errors.New("the lab sign-in password is empty (TANJAY_SIP_PASSWORD or the SIP password file)"))
	}
	if needSecrets && len(c.CADER) == 0 {
		errs = append(errs, errors.New("no appliance CA to publish"))
	}
	return errors.Join(errs...)
}

func isDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if !netaddr.IsHostLabel(l) {
			return false
		}
	}
	return true
}

// Paths under Dir.
func (c Config) smbConf() string       { return filepath.Join(c.Dir, "etc", "smb.conf") }
func (c Config) samLDB() string        { return filepath.Join(c.Dir, "private", "sam.ldb") }
func (c Config) adminPassPath() string { return filepath.Join(c.Dir, "admin-password.txt") }
func (c Config) recordsPath() string   { return filepath.Join(c.Dir, "dc-records.txt") }

// AuditLogPath is the file Samba's JSON authentication audit goes to
// (auditlog.go): <Dir>/log/auth-audit.json.
func (c Config) AuditLogPath() string { return filepath.Join(c.Dir, "log", "auth-audit.json") }

// Provisioned reports whether Dir holds a provisioned domain.
func (c Config) Provisioned() bool { return fileExists(c.samLDB()) && fileExists(c.smbConf()) }

// program is the path of one of Samba's or ldb-tools' programs.
func (c Config) program(name string) string {
	dir := c.Samba
	if strings.HasPrefix(name, "ldb") {
		dir = c.LDB
	}
	if dir == "" {
		return name
	}
	return filepath.Join(dir, name)
}
