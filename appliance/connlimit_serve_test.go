package appliance

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// phoneConn is one raw connection to a phone listener from a chosen
// loopback address.
type phoneConn struct {
	net.Conn
	br *bufio.Reader
}

func dialPhone(t testing.TB, src, addr string) *phoneConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &phoneConn{Conn: c, br: bufio.NewReader(c)}
}

// tryCheckIn dials addr from src and checks in once on a connection of
// its own; a connection the server refuses fails in the dial or the read.
func tryCheckIn(src, addr, mac string) (int, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	return (&phoneConn{Conn: nc, br: bufio.NewReader(nc)}).checkIn(mac)
}

// checkInBody is a check-in in the shape the simulator sends.
func checkInBody(mac string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Request><DeviceType>UCPhone</DeviceType><MacAddress>%s</MacAddress><SerialNumber>S%s</SerialNumber><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><RequestTime>04.05.2009 07:30:04</RequestTime><Modules><Module><FileName>cpe.nbt</FileName><Version>1.0.199.0</Version><TimeStamp>01.01.1601 00:00:00</TimeStamp></Module></Modules></Request>`, mac, mac)
}

// checkIn posts one keep-alive check-in on c and returns the status, or
// the error when the server answered nothing.
func (c *phoneConn) checkIn(mac string) (int, error) {
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a safety net, not a measurement
	body := checkInBody(mac)
	req := fmt.Sprintf("POST /RequestHandler/ucdevice.upx HTTP/1.1\r\nHost: ucupdates-r2\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// untilClosed reads c until the server closes it and returns what came.
func (c *phoneConn) untilClosed(t testing.TB) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a safety net
	b, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open (read %q)", b)
	}
	return string(b)
}

// phoneMetrics reads the connlimit series of /metrics on the dashboard
// listener: "name{labels}" to value.
func phoneMetrics(t testing.TB, dashboard string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + dashboard + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range phoneSeries.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

var phoneSeries = regexp.MustCompile(`(?m)^(tanjay_phone_connections\S*) (\S+)$`)

// waitPhoneMetric waits until /metrics shows series at want (the server
// closes connections asynchronously).
func waitPhoneMetric(t testing.TB, dashboard, series string, want float64) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = phoneMetrics(t, dashboard)[series]; got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", series, got, want)
}

// TestServeCapsPhoneConnections runs the real `tanjay serve` with small
// caps and short timeouts: the per-address cap refuses the next connection
// from one address while another is served, the total cap refuses
// everyone, places come back, slow senders are cut, /metrics counts it all,
// and check-ins keep being answered while the caps refuse others.
func TestServeCapsPhoneConnections(t *testing.T) {
	p := startServe(t, t.TempDir(), "--phone-conns-per-address", "3", "--phone-conns-total", "8",
		"--phone-header-timeout", "300ms", "--phone-body-min-rate", "1000")
	phones, dash := p.addrs.HTTP, p.addrs.Dashboard

	// Per address: three held, the fourth refused, another address served.
	var held []*phoneConn
	for i := range 3 {
		c := dialPhone(t, "127.0.0.2", phones)
		if code, err := c.checkIn(fmt.Sprintf("00155D0002%02X", i)); err != nil || code != 200 {
			t.Fatalf("check-in %d from 127.0.0.2: %d %v, want 200", i+1, code, err)
		}
		held = append(held, c)
	}
	if code, err := tryCheckIn("127.0.0.2", phones, "00155D000299"); err == nil {
		t.Fatalf("fourth connection from 127.0.0.2 answered %d, want it closed unanswered", code)
	}
	if code, err := dialPhone(t, "127.0.0.3", phones).checkIn("00155D000300"); err != nil || code != 200 {
		t.Fatalf("127.0.0.3 while 127.0.0.2 is at its cap: %d %v, want 200", code, err)
	}

	// In total: five more addresses fill the eight places (127.0.0.3's
	// connection above stays open too, so four are enough).
	for i := range 4 {
		c := dialPhone(t, fmt.Sprintf("127.0.0.%d", 10+i), phones)
		if code, err := c.checkIn(fmt.Sprintf("00155D0010%02X", i)); err != nil || code != 200 {
			t.Fatalf("filling: check-in %d: %d %v, want 200", i+1, code, err)
		}
		held = append(held, c)
	}
	waitPhoneMetric(t, dash, "tanjay_phone_connections", 8)
	if code, err := tryCheckIn("127.0.0.20", phones, "00155D002000"); err == nil {
		t.Fatalf("ninth connection answered %d, want it closed unanswered", code)
	}
	m := phoneMetrics(t, dash)
	if m[`tanjay_phone_connections_refused_total{cap="per-address"}`] != 1 || m[`tanjay_phone_connections_refused_total{cap="total"}`] != 1 {
		t.Errorf("refusals in /metrics: %v, want one per cap", m)
	}

	// Places come back when clients leave.
	for _, c := range held {
		c.Close()
	}
	waitPhoneMetric(t, dash, "tanjay_phone_connections", 1) // 127.0.0.3's

	// A sender that never ends its headers is cut without an answer.
	slow := dialPhone(t, "127.0.0.30", phones)
	io.WriteString(slow, "POST /RequestHandler/ucdevice.upx HTTP/1.1\r\nHost: ucupdates-r2\r\n")
	if got := slow.untilClosed(t); got != "" {
		t.Errorf("answer %q to headers that never ended, want none", got)
	}
	// One that declares a large body and trickles it is cut with a 400.
	trickle := dialPhone(t, "127.0.0.31", phones)
	io.WriteString(trickle, "POST /RequestHandler/ucdevice.upx HTTP/1.1\r\nHost: ucupdates-r2\r\nContent-Length: 60000\r\n\r\n<Request>")
	cut := make(chan string, 1)
	go func() { cut <- trickle.untilClosed(t) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
trickling:
	for {
		select {
		case got := <-cut:
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("answer %q to a trickled body, want 400 and the connection closed", got)
			}
			break trickling
		case <-tick.C:
			trickle.Write([]byte(" "))
		}
	}
	waitPhoneMetric(t, dash, `tanjay_phone_connections_cut_total{reason="slow-body"}`, 1)

	// Check-ins keep being answered while another address is refused over
	// and over.
	for i := range 3 {
		if code, err := dialPhone(t, "127.0.0.2", phones).checkIn(fmt.Sprintf("00155D0002%02X", i)); err != nil || code != 200 {
			t.Fatalf("refill 127.0.0.2: %d %v, want 200", code, err)
		}
	}
	var refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tryCheckIn("127.0.0.2", phones, "00155D000299"); err != nil {
				refused.Add(1)
			}
		}
	})
	for i := range 30 {
		if code, err := tryCheckIn("127.0.0.4", phones, fmt.Sprintf("00155D0004%02X", i)); err != nil || code != 200 {
			t.Errorf("check-in %d while 127.0.0.2 is refused: %d %v, want 200", i+1, code, err)
		}
	}
	close(stop)
	wg.Wait()
	if refused.Load() == 0 {
		t.Errorf("127.0.0.2 was never refused while at its cap")
	}
	if n := phoneMetrics(t, dash)[`tanjay_phone_connections_refused_total{cap="per-address"}`]; n < 1+float64(refused.Load()) {
		t.Errorf("per-address refusals in /metrics %v, want at least %d", n, 1+refused.Load())
	}
}

// TestHTTPSSharesThePhoneCaps: the HTTPS phone listener is capped too, in
// the same count as HTTP, and a client that opens a TCP connection to it
// and never starts TLS is cut after the header timeout.
func TestHTTPSSharesThePhoneCaps(t *testing.T) {
	ta := startApp(t, func(c *Config) {
		c.HTTPSAddr = "127.0.0.1:0"
		c.PhoneConns.PerAddress = 2
		c.PhoneConns.HeaderTimeout = 300 * time.Millisecond
	})
	tlsCfg := &tls.Config{InsecureSkipVerify: true} // the chain is checked in appliance/web's tests
	for i := range 2 {
		c := dialPhone(t, "127.0.0.2", ta.HTTP)
		if code, err := c.checkIn(fmt.Sprintf("00155D0002%02X", i)); err != nil || code != 200 {
			t.Fatalf("check-in %d over HTTP from 127.0.0.2: %d %v, want 200", i+1, code, err)
		}
	}
	https := func(src string) (int, error) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		nc, err := tls.DialWithDialer(d, "tcp", ta.HTTPS, tlsCfg)
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		return (&phoneConn{Conn: nc, br: bufio.NewReader(nc)}).checkIn("00155D000999")
	}
	if code, err := https("127.0.0.2"); err == nil {
		t.Fatalf("HTTPS from 127.0.0.2, at its cap over HTTP: %d, want the connection closed", code)
	}
	if code, err := https("127.0.0.3"); err != nil || code != 200 {
		t.Fatalf("HTTPS from 127.0.0.3: %d %v, want 200", code, err)
	}
	silent := dialPhone(t, "127.0.0.4", ta.HTTPS) // no ClientHello, ever
	if got := silent.untilClosed(t); got != "" {
		t.Errorf("answer %q to a client that never started TLS, want none", got)
	}
}
