package dns

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// The lab domain controller's locator records. A Tanjay walks "Locating
// Domain Controller" before it signs in (SIGNIN.md §1.2, §2.3): it finds
// the DC through the SRV records Windows clients use (_ldap._tcp.dc._msdcs,
// _kerberos._tcp, …) and then pings it over CLDAP. Samba, which runs the
// DC, would register these records in DNS itself; with its DNS off the
// responder answers them instead, exactly as Samba lists them
// (appliance/directory reads them from samba_dnsupdate). Every record
// points at the appliance, so they are answered in every mode,
// authoritatively, whatever the domain.

// Record is one of the domain controller's locator records.
type Record struct {
	// Name is the owner name, any case, with or without the final dot.
	Name string
	// Type is "A" (the appliance's address; AAAA too when Advertise6 is
	// set), "SRV" or "CNAME".
	Type string
	// Target is the host an SRV or CNAME record points to; it should be a
	// name with an A record of its own among the records.
	Target string
	// Port is an SRV record's port.
	Port uint16
}

// String is the record in the shape samba_dnsupdate writes it.
func (r Record) String() string {
	switch r.Type {
	case "SRV":
		return fmt.Sprintf("SRV %s %s %d", r.Name, r.Target, r.Port)
	case "CNAME":
		return fmt.Sprintf("CNAME %s %s", r.Name, r.Target)
	}
	return "A " + r.Name
}

// classDirectory is the counter class of the DC locator names.
const classDirectory = "directory"

func validateRecords(records []Record) error {
	for _, r := range records {
		name := dns.Fqdn(r.Name)
		if _, ok := dns.IsDomainName(name); !ok || name == "." {
			return fmt.Errorf("directory record %q: not a domain name", r.Name)
		}
		switch r.Type {
		case "A":
		case "SRV", "CNAME":
			if _, ok := dns.IsDomainName(dns.Fqdn(r.Target)); !ok || r.Target == "" {
				return fmt.Errorf("directory record %s: bad target %q", r, r.Target)
			}
			if r.Type == "SRV" && r.Port == 0 {
				return fmt.Errorf("directory record %s: no port", r)
			}
		default:
			return fmt.Errorf("directory record %s: type %q: want A, SRV or CNAME", r, r.Type)
		}
	}
	return nil
}

// addRecords puts the DC locator records into t; they win over the
// appliance's other names (the realm is usually also the lab domain, and
// both say the same: the appliance).
func addRecords(t nameTable, records []Record) {
	for _, r := range records {
		name := strings.ToLower(dns.Fqdn(r.Name))
		own := ownName{kind: kindHost, class: classDirectory}
		switch r.Type {
		case "SRV":
			own = ownName{kind: kindSRV, class: classDirectory, target: strings.ToLower(dns.Fqdn(r.Target)), port: r.Port}
		case "CNAME":
			own = ownName{kind: kindCNAME, class: classDirectory, target: strings.ToLower(dns.Fqdn(r.Target))}
		}
		t[name] = own
	}
}

// cnameRecords answers q for an alias: the CNAME record, and, when the
// target is one of the appliance's host names, its address records for the
// type asked (a resolver would otherwise ask again).
func (s *Server) cnameRecords(q dns.Question, own ownName, local netip.Addr) []dns.RR {
	rrs := []dns.RR{&dns.CNAME{Hdr: s.header(q.Name, dns.TypeCNAME), Target: own.target}}
	if t, ok := s.names[own.target]; ok && t.kind == kindHost && q.Qtype != dns.TypeCNAME {
		rrs = append(rrs, s.addressRecords(own.target, q.Qtype, local)...)
	}
	return rrs
}
