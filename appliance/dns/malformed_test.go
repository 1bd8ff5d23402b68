package dns

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// rawHeader is a DNS header: id, flags and the four counts.
func rawHeader(id, flags, qd, an, ns, ar uint16) []byte {
	var b []byte
	for _, v := range []uint16{id, flags, qd, an, ns, ar} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// packetID is the ID a packet's answer would carry (its first two bytes).
func packetID(p []byte) uint16 {
	var id [2]byte
	copy(id[:], p)
	return binary.BigEndian.Uint16(id[:])
}

// rawQuery packs a query for name and qtype with id, then lets edit change
// the message before packing.
func rawQuery(id uint16, name string, qtype uint16, edit func(*dns.Msg)) []byte {
	m := query(name, qtype)
	m.Id = id
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// typeClassIN is QTYPE A, QCLASS IN.
var typeClassIN = []byte{0, 1, 0, 1}

// badInputs are packets a phone (or anything else on the lab network) may
// send, what the server must do with each ("" = drop it) and the counter
// that records it. IDs are unique so that answers can be told apart.
var badInputs = []struct {
	name    string
	packet  []byte
	want    string
	counter string
}{
	{"shorter than a header", []byte("\x00\x01garbage"), "", "malformed/DROPPED"},
	{"truncated header", rawHeader(2, 0, 1, 0, 0, 0)[:11], "", "malformed/DROPPED"},
	{"header only, question missing", rawHeader(3, 0, 1, 0, 0, 0), "FORMERR", "malformed/FORMERR"},
	{"garbage after a header", append(rawHeader(4, 0, 1, 0, 0, 0), bytes.Repeat([]byte{0xff}, 40)...), "FORMERR", "malformed/FORMERR"},
	{"compression pointer loop", append(append(rawHeader(5, 0, 1, 0, 0, 0), 0xc0, 12), typeClassIN...), "FORMERR", "malformed/FORMERR"},
	{"two-pointer compression loop", append(append(rawHeader(6, 0, 1, 0, 0, 0), 1, 'a', 0xc0, 16, 0xc0, 12), typeClassIN...), "FORMERR", "malformed/FORMERR"},
	{"pointer past the end", append(append(rawHeader(7, 0, 1, 0, 0, 0), 0xc0, 0xff), typeClassIN...), "FORMERR", "malformed/FORMERR"},
	{"reserved label type", append(append(rawHeader(8, 0, 1, 0, 0, 0), 0x40, 'a', 0), typeClassIN...), "FORMERR", "malformed/FORMERR"},
	{"name longer than 255 bytes", append(append(rawHeader(9, 0, 1, 0, 0, 0), longName()...), typeClassIN...), "FORMERR", "malformed/FORMERR"},
	{"question cut after the name", rawQuery(10, "ucupdates-r2.lab.local.", dns.TypeA, nil)[:12+len("ucupdates-r2.lab.local.")+1], "FORMERR", "appliance/FORMERR"},
	{"oversized datagram", append(rawQuery(11, "ucupdates-r2.lab.local.", dns.TypeA, nil), make([]byte, 5000)...), "", "malformed/DROPPED"},
	{"a response", rawQuery(12, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) { m.Response = true }), "", "malformed/DROPPED"},
	{"NOTIFY", rawQuery(13, "lab.local.", dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), "NOTIMP", "malformed/NOTIMP"},
	{"UPDATE", rawQuery(14, "lab.local.", dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), "NOTIMP", "malformed/NOTIMP"},
	{"two questions", rawQuery(15, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) {
		m.Question = append(m.Question, m.Question[0])
	}), "FORMERR", "malformed/FORMERR"},
	{"answer records in a query", rawQuery(16, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) {
		m.Answer = []dns.RR{mustRR("ucupdates-r2.lab.local. 60 IN A 10.9.9.9")}
	}), "FORMERR", "malformed/FORMERR"},
	{"two OPT records", rawQuery(17, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.Extra = append(m.Extra, m.Extra[0])
	}), "FORMERR", "malformed/FORMERR"},
	{"EDNS version 1", rawQuery(18, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
	}), "BADVERS", "appliance/BADVERS"},
	{"class CHAOS", rawQuery(19, "version.bind.", dns.TypeTXT, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), "REFUSED", "other/REFUSED"},
	{"unknown class", rawQuery(20, "ucupdates-r2.lab.local.", dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = 42 }), "REFUSED", "appliance/REFUSED"},
}

// longName is a wire-format name of five 63-byte labels (over 255 bytes).
func longName() []byte {
	var b []byte
	for range 5 {
		b = append(b, 63)
		b = append(b, bytes.Repeat([]byte{'x'}, 63)...)
	}
	return append(b, 0)
}

// TestBadInputUDP sends each bad packet, then a good query, over one UDP
// socket: the bad one is answered as wanted or dropped, the good one is
// answered, and once the server has stopped the counters add up.
func TestBadInputUDP(t *testing.T) {
	srv := startServer(t, Config{}, nil)
	conn, err := net.Dial("udp", srv.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))

	want := map[string]uint64{}
	for i, tt := range badInputs {
		goodID := uint16(1000 + i)
		if _, err := conn.Write(tt.packet); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := conn.Write(rawQuery(goodID, "ucupdates-r2.lab.local.", dns.TypeA, nil)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		badID := packetID(tt.packet)
		got := readUntil(t, conn, goodID, badID, tt.want != "")
		if got != tt.want {
			t.Errorf("%s: answered %q, want %q (\"\" = dropped)", tt.name, got, tt.want)
		}
		want[tt.counter]++
		want["appliance/NOERROR"]++
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, srv.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// readUntil reads answers from conn until the good query's has come, and
// the bad packet's too when one is expected. It returns the rcode of the
// bad packet's answer, "" when there was none, and fails on any answer to
// the good query but NOERROR with one record.
func readUntil(t *testing.T, conn net.Conn, goodID, badID uint16, wantBad bool) string {
	t.Helper()
	var bad string
	good := false
	buf := make([]byte, 65535)
	for !good || (wantBad && bad == "") {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for answers to %d and %d: %v", goodID, badID, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("unreadable answer: %v", err)
		}
		switch m.Id {
		case goodID:
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("good query after bad input: %v", m)
			}
			good = true
		case badID:
			bad = rcodeName(m.Rcode)
		default:
			t.Errorf("answer to an earlier packet: %v", m)
		}
	}
	return bad
}

// TestBadInputTCP: garbage on a TCP connection does not end it, and a
// connection that promises more than it sends does not stop the server.
func TestBadInputTCP(t *testing.T) {
	srv := startServer(t, Config{}, nil)
	conn, err := net.Dial("tcp", srv.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	framed := func(b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }

	for _, p := range [][]byte{[]byte("junk"), nil, badInputs[4].packet} { // short, empty, pointer loop
		if _, err := conn.Write(framed(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(framed(rawQuery(77, "ucupdates-r2.lab.local.", dns.TypeA, nil))); err != nil {
		t.Fatal(err)
	}
	var rcodes []string
	for len(rcodes) < 2 {
		var n uint16
		if err := binary.Read(conn, binary.BigEndian, &n); err != nil {
			t.Fatalf("after %v: %v", rcodes, err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(conn, b); err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatal(err)
		}
		rcodes = append(rcodes, rcodeName(m.Rcode)+"/"+strings.Repeat("a", len(m.Answer)))
	}
	if diff := cmp.Diff([]string{"FORMERR/", "NOERROR/a"}, rcodes); diff != "" {
		t.Errorf("answers on one connection (-want +got):\n%s", diff)
	}

	// A frame that never completes.
	half, err := net.Dial("tcp", srv.tcp)
	if err != nil {
		t.Fatal(err)
	}
	half.Write([]byte{0xff, 0xff, 1, 2, 3})
	half.Close()
	r := exchange(t, "tcp", srv.tcp, query("ucupdates-r2.lab.local.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess {
		t.Errorf("after a half frame: %v", r)
	}
}
