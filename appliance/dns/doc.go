// Package dns is the appliance's DNS responder: on an isolated lab network
// it is the only DNS server, and it makes every phone find the appliance,
// whatever name the phone's firmware asks for (PROTOCOL.md §1).
//
// The appliance's own names are answered authoritatively (AA set) in every
// mode: ucupdates-r2, ucupdates and the host name (Config.Host), each under
// every lab domain and as a bare single label; time.windows.com; and SRV
// _ntp._udp.<domain>, pointing at <host>.<domain> on Config.NTPPort with
// that host's address in the additional section. Names match
// case-insensitively and answers keep the question's case. The address
// answered is Config.Advertise, else the local address the query arrived
// on (read per datagram from IP_PKTINFO, so a wildcard bind answers each
// phone with the address it asked), else the machine's first non-loopback
// IPv4 address, else 127.0.0.1. AAAA gets Config.Advertise6, or no data
// (NOERROR, empty answer) when it is unset; any other type gets no data.
//
// When a SIP listener is on (Config.SIPPort for plain TCP, Config.SIPTLSPort
// for TLS), the names a phone finds its SIP server by (SIGNIN.md §1.3) are
// the appliance's too: SRV _sipinternaltls._tcp.<domain> and
// _sip._tls.<domain> point at sip.<domain> on the TLS port,
// _sipinternal._tcp.<domain> at sip.<domain> on the TCP port, with the
// target's addresses in the additional section; sip, sipinternal and
// sipexternal under the domain are the appliance's address. The SIP
// domain is whatever the technician types, so lab mode answers them under
// any domain (authoritatively only inside the lab domains); strict and
// forward mode only under the lab domains. The SRV names of a listener
// that is off have no SRV record, so the phone moves on to its next name:
// NXDOMAIN in strict and forward mode, no data in lab mode (where the name
// still has the appliance's A record, as every name does).
//
// Other names depend on the Mode:
//   - lab: A is answered with the appliance's address, so a phone still
//     holding an old OCS pool's FQDN reaches the appliance anyway; AAAA as
//     above; other types no data. AA is set only inside the lab domains:
//     elsewhere the answer is synthesized, not authoritative.
//   - strict: REFUSED.
//   - forward: asked of Config.Upstream over the client's transport (UDP,
//     retried over TCP when the upstream truncates; TCP), and relayed with
//     the upstream's flags and rcode; SERVFAIL when it fails or does not
//     answer within Config.Timeout.
//
// Whatever the mode: RA is never set on a local answer (the appliance does
// not recurse); ANY is answered minimally as RFC 8482 allows, with the A
// record (the SRV record for an SRV name); AXFR and IXFR are REFUSED; a
// class other than IN is REFUSED; an opcode other than QUERY is NOTIMP.
// EDNS0 is honoured: an answer to a query with an OPT record carries one
// (version 0, buffer 4096, the query's DO bit), a query with EDNS version
// above 0 gets BADVERS, and a UDP answer larger than the client's buffer
// (512 without EDNS, at most 4096) is truncated with TC set.
//
// Malformed input never stops the server: a datagram shorter than a
// header, a response, or one over 4096 bytes is dropped; a query that does
// not parse (bad names, compression loops, lying counts) or asks other
// than one question is answered FORMERR.
//
// Every query is counted by name class (appliance, ntp, sip, other,
// malformed) and rcode (Server.Counts); sip is every name shaped like a SIP
// discovery name, in any mode and under any domain. The Observer hears of queries coalesced: at
// most once per client, name and type per Config.CoalesceWindow, with the
// memory for that bounded at 10,000 entries.
package dns
