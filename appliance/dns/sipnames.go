package dns

import "strings"

// The SIP front end's discovery names (SIGNIN.md §1.3). Communicator Phone
// Edition looks for its SIP server under the SIP domain, the right side of
// the sign-in address, in this order: SRV _sipinternaltls._tcp, SRV
// _sip._tls, SRV _sipinternal._tcp, then A sipinternal, sip and
// sipexternal (each tried on 5061, then 443). It moves to the next name
// when a lookup fails, so a listener that is off must leave its SRV names
// without SRV data rather than point them at a closed port.
//
// The SIP domain is whatever the lab used, typed by the technician on the
// phone, so lab mode answers these names under any domain; strict and
// forward mode only under the lab domains (Config.Domains).

// sipRecord is what a SIP discovery name asks for.
type sipRecord uint8

const (
	sipTLS  sipRecord = iota // SRV to the TLS listener
	sipTCP                   // SRV to the plain-TCP listener
	sipHost                  // A (and AAAA) of the appliance
)

// sipNames are the leading labels of the SIP discovery names, each ending
// in a dot; the SIP domain follows.
var sipNames = [...]struct {
	prefix string
	record sipRecord
}{
	{"_sipinternaltls._tcp.", sipTLS},
	{"_sip._tls.", sipTLS},
	{"_sipinternal._tcp.", sipTCP},
	{"sipinternal.", sipHost},
	{"sip.", sipHost},
	{"sipexternal.", sipHost},
}

// sipTargetLabel names the host every SIP SRV record points to, under the
// SIP domain. Lync-era clients by default demand strict domain matching
// (the SRV target must lie inside the SIP domain), and it is the name the
// SIP certificate carries.
const sipTargetLabel = "sip."

// splitSIP splits name, lower-case and fully qualified, into the SIP
// record it asks for and the SIP domain below which it does; ok is false
// for any other name, including a bare "sip.".
func splitSIP(name string) (rec sipRecord, domain string, ok bool) {
	for _, n := range sipNames {
		if len(name) > len(n.prefix) && strings.HasPrefix(name, n.prefix) {
			return n.record, name[len(n.prefix):], true
		}
	}
	return 0, "", false
}

// sipListeners are the ports of the SIP front end's listeners; 0 is off.
type sipListeners struct{ tcp, tls uint16 }

func (c Config) sipListeners() sipListeners {
	return sipListeners{tcp: c.SIPPort, tls: c.SIPTLSPort}
}

// on reports whether any SIP listener is on: only then are the SIP names
// the appliance's.
func (l sipListeners) on() bool { return l.tcp != 0 || l.tls != 0 }

// own is what the SIP name asking for rec under domain (lower-case, fully
// qualified) answers to in mode. The host names are the appliance's; an
// SRV name points at sip.<domain> on its listener's port, priority 0 and
// weight 0 as OCS deployments publish it. The SRV name of a listener that
// is off has no SRV data, so the phone moves on to the next name: strict
// and forward mode say it does not exist (NXDOMAIN, the answer of an
// authoritative server without the record, and one that keeps a forward
// mode phone from being sent to whatever pool the upstream knows); lab
// mode, where every name exists and has the appliance's A record, answers
// it as any other name: SRV gets no data (NODATA), A the appliance.
func (l sipListeners) own(rec sipRecord, domain string, mode Mode) ownName {
	var port uint16
	switch rec {
	case sipHost:
		return ownName{kind: kindHost, class: classSIP}
	case sipTLS:
		port = l.tls
	case sipTCP:
		port = l.tcp
	}
	switch {
	case port != 0:
		return ownName{kind: kindSRV, class: classSIP, target: sipTargetLabel + domain, port: port}
	case mode == ModeLab:
		return ownName{kind: kindNone, class: classSIP}
	}
	return ownName{kind: kindAbsent, class: classSIP}
}
