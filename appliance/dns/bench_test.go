package dns

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkServeDNS is the handler alone: an A query for
// ucupdates-r2.lab.local, answered, packed and coalesced.
func BenchmarkServeDNS(b *testing.B) {
	s, err := New(Config{}, ObserverFunc(func(Query) {}), nil)
	if err != nil {
		b.Fatal(err)
	}
	w := newFakeWriter("10.0.0.5")
	w.keep = false
	r := query("ucupdates-r2.lab.local.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeDNS(w, r)
	}
	if w.packErr != nil {
		b.Fatal(w.packErr)
	}
}

// BenchmarkServeDNSSIP is the handler alone for a lab-mode responder with
// both SIP listeners on: a SIP SRV query under a domain the responder does
// not list (parsed from the name), one under the lab domain (a table
// hit), an A query for another name (which also tries the SIP prefixes),
// and, for reference, the _ntp._udp SRV query, whose answer has the same
// shape as a SIP SRV answer.
func BenchmarkServeDNSSIP(b *testing.B) {
	for _, bc := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"ntp-srv", "_ntp._udp.lab.local.", dns.TypeSRV},
		{"srv-any-domain", "_sipinternaltls._tcp.contoso.com.", dns.TypeSRV},
		{"srv-lab-domain", "_sipinternaltls._tcp.lab.local.", dns.TypeSRV},
		{"a-other-name", "pool01.ocs.contoso.com.", dns.TypeA},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Config{SIPPort: 5060, SIPTLSPort: 5061}, ObserverFunc(func(Query) {}), nil)
			if err != nil {
				b.Fatal(err)
			}
			w := newFakeWriter("10.0.0.5")
			w.keep = false
			r := query(bc.qname, bc.qtype)
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, r)
			}
			if w.packErr != nil {
				b.Fatal(w.packErr)
			}
		})
	}
}

// BenchmarkLoopbackUDP measures queries per second for
// ucupdates-r2.lab.local over loopback UDP, against a minimal miekg/dns
// server answering one fixed record, measured the same way in the same
// run. Clients keep one query each in flight.
func BenchmarkLoopbackUDP(b *testing.B) {
	b.Run("minimal-miekg", func(b *testing.B) {
		benchUDP(b, startMinimal(b), "ucupdates-r2.lab.local.")
	})
	b.Run("tanjay", func(b *testing.B) {
		srv := startServer(b, Config{}, ObserverFunc(func(Query) {}))
		benchUDP(b, srv.udp, "ucupdates-r2.lab.local.")
	})
}

// startMinimal serves one fixed A record for any question on 127.0.0.1.
func startMinimal(b *testing.B) string {
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	rr := mustRR("ucupdates-r2.lab.local. 60 IN A 127.0.0.1")
	serveInBackground(b, &dns.Server{PacketConn: uc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		m.Answer = []dns.RR{rr}
		w.WriteMsg(m)
	})})
	return uc.LocalAddr().String()
}

// benchUDP sends b.N queries for name to addr from 4 clients per CPU and
// reports the rate.
func benchUDP(b *testing.B, addr, name string) {
	packet := rawQuery(7, name, dns.TypeA, nil)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		buf := make([]byte, 512)
		for pb.Next() {
			if err := ask(conn, packet, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}

// ask sends packet and reads its answer, sending again when a datagram was
// lost.
func ask(conn net.Conn, packet, buf []byte) error {
	for range 5 {
		if _, err := conn.Write(packet); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			continue
		}
		if err != nil {
			return err
		}
		if n < headerSize || buf[0] != packet[0] || buf[1] != packet[1] {
			continue
		}
		return nil
	}
	return errTooManyLosses
}

var errTooManyLosses = errors.New("no answer to 5 tries")
