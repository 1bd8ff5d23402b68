package dns

import (
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// bigRecords is how many 100-byte TXT records big.test. has: about 2.4 KB,
// more than 512 or 1232 bytes, less than 4096.
const bigRecords = 20

// startUpstream runs a fake recursive resolver on 127.0.0.1 (UDP and TCP,
// one port) that knows:
//
//	pool01.ocs.contoso.com. A 192.0.2.7
//	nx.example.             NXDOMAIN
//	transport.test.         TXT "udp" or "tcp", how it was asked
//	big.test.               TXT ×bigRecords; over UDP only TC with no answer
//	_sipinternaltls._tcp.contoso.com. and _sipinternaltls._tcp.lab.local.
//	                        SRV 0 0 5061 pool01.ocs.contoso.com. (a real pool)
//
// and answers REFUSED otherwise, always with RA set.
func startUpstream(t testing.TB) string {
	t.Helper()
	pc, ln := listenPair(t)
	for _, srv := range []*dns.Server{{PacketConn: pc}, {Listener: ln}} {
		srv.Handler = dns.HandlerFunc(upstreamAnswer)
		serveInBackground(t, srv)
	}
	return pc.LocalAddr().String()
}

// listenPair binds UDP and TCP on one port of 127.0.0.1.
func listenPair(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 5 { // the free UDP port may be taken for TCP
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("no port free for both UDP and TCP")
	return nil, nil
}

// serveInBackground runs srv (listener set) until the test ends.
func serveInBackground(t testing.TB, srv *dns.Server) {
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	t.Cleanup(func() {
		<-started
		srv.Shutdown()
		<-done
	})
}

func upstreamAnswer(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	switch strings.ToLower(q.Name) {
	case "pool01.ocs.contoso.com.":
		m.Answer = []dns.RR{mustRR("pool01.ocs.contoso.com. 300 IN A 192.0.2.7")}
	case "_sipinternaltls._tcp.contoso.com.", "_sipinternaltls._tcp.lab.local.":
		m.Answer = []dns.RR{mustRR(q.Name + " 300 IN SRV 0 0 5061 pool01.ocs.contoso.com.")}
	case "nx.example.":
		m.Rcode = dns.RcodeNameError
	case "transport.test.":
		m.Answer = []dns.RR{mustRR(`transport.test. 300 IN TXT "` + map[bool]string{false: "udp", true: "tcp"}[tcp] + `"`)}
	case "big.test.":
		if !tcp {
			m.Truncated = true
			break
		}
		for i := range bigRecords {
			m.Answer = append(m.Answer, bigRecord(i))
		}
	default:
		m.Rcode = dns.RcodeRefused
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	w.WriteMsg(m)
}

// bigRecord is the i-th TXT record of big.test.
func bigRecord(i int) dns.RR {
	text := strings.Repeat(string(rune('a'+i%26)), 100)
	return mustRR(`big.test. 300 IN TXT "` + text + `"`)
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// startSilentUpstream binds UDP and TCP on 127.0.0.1 and never answers:
// datagrams pile up unread, TCP connections are accepted by the kernel
// and left hanging.
func startSilentUpstream(t testing.TB) string {
	t.Helper()
	pc, ln := listenPair(t)
	t.Cleanup(func() { pc.Close(); ln.Close() })
	return pc.LocalAddr().String()
}
