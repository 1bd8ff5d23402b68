package dns

import (
	"strings"

	"github.com/miekg/dns"
)

// Name classes, the first half of every counter key and Query.Class.
const (
	classAppliance = "appliance" // ucupdates-r2, ucupdates, the host name
	classNTP       = "ntp"       // _ntp._udp.<domain> and time.windows.com
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
	kindNone nameKind = iota // not the appliance's: the mode decides
	kindHost                 // A (and AAAA) of the appliance
	kindSRV                  // SRV to the appliance's host name, NTP port
)

// ownName is one name the appliance answers for itself.
type ownName struct {
	kind   nameKind
	class  string
	target string // kindSRV: the host the SRV record points to
}

// nameTable maps lower-case fully qualified names to what they answer.
type nameTable map[string]ownName

// buildNames lists the appliance's names: each update label and the host
// name under every domain and as a bare single label (the seed trace shows
// a phone asking for http://ucUpdates-r2/), time.windows.com, and
// _ntp._udp.<domain> pointing at <host>.<domain>. domains are normalised
// (lower-case, fully qualified); host is lower-case.
func buildNames(domains []string, host string) nameTable {
	t := make(nameTable)
	labels := append(append([]string(nil), updateLabels...), host)
	for _, l := range labels {
		t[l+"."] = ownName{kind: kindHost, class: classAppliance}
		for _, d := range domains {
			t[l+"."+d] = ownName{kind: kindHost, class: classAppliance}
		}
	}
	for _, d := range domains {
		t["_ntp._udp."+d] = ownName{kind: kindSRV, class: classNTP, target: host + "." + d}
	}
	t[timeFallbackName] = ownName{kind: kindHost, class: classNTP}
	return t
}

// lookup finds name (any case, with or without the final dot).
func (t nameTable) lookup(name string) ownName {
	if own, ok := t[strings.ToLower(dns.Fqdn(name))]; ok {
		return own
	}
	return ownName{kind: kindNone, class: classOther}
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
