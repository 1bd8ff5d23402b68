package dns

import (
	"strings"

	"github.com/miekg/dns"
)

// Name classes, the first half of every counter key and Query.Class.
const (
	classAppliance = "appliance" // ucupdates-r2, ucupdates, the host name
	classNTP       = "ntp"       // _ntp._udp.<domain> and time.windows.com
	classSIP       = "sip"       // the SIP server's discovery names, any domain (sipnames.go)
	classOther     = "other"     // everything else
	classMalformed = "malformed" // packets that never became a question
)

// The labels the update service is looked up by (PROTOCOL.md §1):
// R2-era firmware (1.0.522.10x, 3.5.6907.x) and Lync Phone Edition 4.0.x ask
// for ucupdates-r2, the OCS 2007 RTM build 1.0.522.73 (and some Lync
// documentation) for ucupdates.
var updateLabels = []string{"ucupdates-r2", "ucupdates"}

// timeFallbackName is where Lync Phone Edition 4.0.x goes for time when the
// _ntp._udp SRV lookup fails.
const timeFallbackName = "time.windows.com."

// nameKind is what a name the appliance owns answers to.
type nameKind uint8

const (
	kindNone   nameKind = iota // not the appliance's: the mode decides
	kindHost                   // A (and AAAA) of the appliance
	kindSRV                    // SRV to target on port, target's addresses as additional records
	kindAbsent                 // the appliance's, but it does not exist: NXDOMAIN
	kindCNAME                  // an alias of target, one of the appliance's names
)

// ownName is one name the appliance answers for itself.
type ownName struct {
	kind   nameKind
	class  string
	target string // kindSRV, kindCNAME: the host the record points to
	port   uint16 // kindSRV: the port it gives
	// synthesized is set on a name outside the lab domains that lab mode
	// answers as the appliance's (a SIP name under any domain): the
	// answer is not authoritative.
	synthesized bool
}

// nameTable maps lower-case fully qualified names to what they answer.
type nameTable map[string]ownName

// buildNames lists the appliance's names: each update label and the host
// name under every domain and as a bare single label (the seed trace shows
// a phone asking for http://ucUpdates-r2/), time.windows.com,
// _ntp._udp.<domain> pointing at <host>.<domain>, and the SIP names under
// every domain when a SIP listener is on, and the domain controller's
// locator records. cfg is normalised (withDefaults).
func buildNames(cfg Config) nameTable {
	t := make(nameTable)
	labels := append(append([]string(nil), updateLabels...), cfg.Host)
	for _, l := range labels {
		t[l+"."] = ownName{kind: kindHost, class: classAppliance}
		for _, d := range cfg.Domains {
			t[l+"."+d] = ownName{kind: kindHost, class: classAppliance}
		}
	}
	for _, d := range cfg.Domains {
		// Lync Phone Edition 4.0.x looks this record up before it falls
		// back to time.windows.com.
		t["_ntp._udp."+d] = ownName{kind: kindSRV, class: classNTP, target: cfg.Host + "." + d, port: cfg.NTPPort}
	}
	t[timeFallbackName] = ownName{kind: kindHost, class: classNTP}
	if sip := cfg.sipListeners(); sip.on() {
		for _, d := range cfg.Domains {
			for _, n := range sipNames {
				t[n.prefix+d] = sip.own(n.record, d, cfg.Mode)
			}
		}
	}
	addRecords(t, cfg.Records)
	return t
}

// lookup finds what name (any case, with or without the final dot)
// answers to: one of the table's names; else, by its shape, a SIP name
// under a domain the table does not list, which lab mode answers for any
// domain; else nothing of the appliance's.
func (s *Server) lookup(name string) ownName {
	name = strings.ToLower(dns.Fqdn(name))
	if own, ok := s.names[name]; ok {
		return own
	}
	rec, domain, ok := splitSIP(name)
	if !ok {
		return ownName{kind: kindNone, class: classOther}
	}
	sip := s.cfg.sipListeners()
	if s.cfg.Mode != ModeLab || !sip.on() {
		return ownName{kind: kindNone, class: classSIP}
	}
	own := sip.own(rec, domain, ModeLab)
	own.synthesized = !inZone(domain, s.cfg.Domains)
	return own
}

// inZone reports whether name (any case) is one of domains or below one;
// domains are normalised.
func inZone(name string, domains []string) bool {
	name = strings.ToLower(dns.Fqdn(name))
	for _, d := range domains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}
