package directory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Record is one DC locator record the appliance's DNS responder answers
// while the directory runs: SRV (Target, Port), CNAME (Target) or A (the
// appliance's address, whatever it is then).
type Record struct {
	Name, Type, Target string
	Port               uint16
}

// placeholderIP is the address samba_dnsupdate is told the DC has; the
// responder answers the A records with the appliance's real address.
const placeholderIP = "127.0.0.1"

// writeRecords asks Samba which records it would register in DNS for this
// DC (samba_dnsupdate --all-names, writing them to a file instead of
// sending updates) and keeps the list in Dir: the _ldap, _kerberos,
// _kpasswd and _gc SRV records under the realm, the site and GUID-based
// _msdcs names, the NTDS GUID alias and the A records. Nothing is
// reimplemented: the GUIDs and the site come from Samba.
func writeRecords(ctx context.Context, cfg Config) ([]Record, error) {
	tmp, err := os.MkdirTemp(cfg.Dir, "dnsupdate-")
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	out, cache := filepath.Join(tmp, "records"), filepath.Join(tmp, "cache")
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	_, err = run(ctx, nil, nil, cfg.program("samba_dnsupdate"), "-s", cfg.smbConf(), "--all-names", "--no-credentials",
		"--use-file="+out, "--update-cache="+cache, "--current-ip="+placeholderIP)
	if err != nil {
		return nil, fmt.Errorf("directory: listing the DC locator records: %w", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	records, err := parseRecords(b)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, errors.New("directory: samba_dnsupdate listed no DC locator records")
	}
	if err := os.WriteFile(cfg.recordsPath(), b, 0o644); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return records, nil
}

// LoadRecords reads the DC locator records Provision listed.
func LoadRecords(cfg Config) ([]Record, error) {
	b, err := os.ReadFile(cfg.recordsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotProvisioned
	}
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return parseRecords(b)
}

// parseRecords parses samba_dnsupdate's file format, one record a line:
//
//	A tanjay.lab.local 127.0.0.1
//	CNAME <ntds guid>._msdcs.lab.local tanjay.lab.local
//	SRV _ldap._tcp.dc._msdcs.lab.local tanjay.lab.local 389
//
// AAAA lines (an IPv6 DC address) become A records too: the responder
// answers both families with the appliance's addresses.
func parseRecords(b []byte) ([]Record, error) {
	var records []Record
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var r Record
		switch {
		case (f[0] == "A" || f[0] == "AAAA") && len(f) == 3:
			r = Record{Name: f[1], Type: "A"}
		case f[0] == "CNAME" && len(f) == 3:
			r = Record{Name: f[1], Type: "CNAME", Target: f[2]}
		case f[0] == "SRV" && len(f) == 4:
			port, err := strconv.ParseUint(f[3], 10, 16)
			if err != nil || port == 0 {
				return nil, fmt.Errorf("directory: DC locator records line %d: bad port %q", n, f[3])
			}
			r = Record{Name: f[1], Type: "SRV", Target: f[2], Port: uint16(port)}
		default:
			return nil, fmt.Errorf("directory: DC locator records line %d: cannot read %q", n, sc.Text())
		}
		if key := r.Type + " " + strings.ToLower(r.Name); !seen[key] {
			seen[key] = true
			records = append(records, r)
		}
	}
	return records, nil
}
