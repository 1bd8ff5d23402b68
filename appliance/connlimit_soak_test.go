package appliance

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/proctest"
)

// TestSoakSlowConnections opens 15,000 slow connections to the phone
// listener of a real `tanjay serve` and reports its memory: each sends a
// check-in's headers declaring a 63 000-byte body and 1 KiB of it, then
// stalls. It runs only with TANJAY_SOAK=1 (it takes about a minute and
// 30,000 file descriptors between the two processes), once with the
// default caps and once with them off:
//
//	TANJAY_SOAK=1 go test -run TestSoakSlowConnections -v ./appliance
//
// TANJAY_SOAK_BINARY=path runs one round against another tanjay binary
// (an older build, to compare) with no --phone-* flags. TANJAY_SOAK_CONNS
// and TANJAY_SOAK_ADDRS change the 15,000 connections and the 200 source
// addresses (127.0.1.0 onwards) they come from. Figures are logged, not
// asserted: they depend on the machine.
func TestSoakSlowConnections(t *testing.T) {
	if os.Getenv("TANJAY_SOAK") != "1" {
		t.Skip("a soak: set TANJAY_SOAK=1 to run it")
	}
	conns, addrs := soakInt(t, "TANJAY_SOAK_CONNS", 15000), soakInt(t, "TANJAY_SOAK_ADDRS", 200)
	if bin := os.Getenv("TANJAY_SOAK_BINARY"); bin != "" {
		binaryOnce.Do(func() { binaryPath = bin })
		t.Run("other binary", func(t *testing.T) { soakSlow(t, conns, addrs) })
		return
	}
	t.Run("caps", func(t *testing.T) { soakSlow(t, conns, addrs) })
	t.Run("caps off", func(t *testing.T) {
		soakSlow(t, conns, addrs, "--phone-conns-per-address", "0", "--phone-conns-total", "0")
	})
}

func soakInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// soakAddr is the i-th source address, from 127.0.1.0.
func soakAddr(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/256, i%256) }

func soakSlow(t *testing.T, conns, addrs int, extra ...string) {
	p := startServe(t, t.TempDir(), extra...)
	pid := p.cmd.Process.Pid
	rss := func() int { r, _ := proctest.Memory([]int{pid}); return r }
	// A few check-ins first, so the baseline includes a warmed-up server.
	for i := range 20 {
		checkIn(t, p.addrs.HTTP, "CX700", fmt.Sprintf("00155D01%04X", i), fmt.Sprint(i), "1.0.199.0")
	}
	http.DefaultClient.CloseIdleConnections()
	base := rss()

	body := strings.Repeat(" ", 1<<10)
	head := fmt.Sprintf("POST /RequestHandler/ucdevice.upx HTTP/1.1\r\nHost: ucupdates-r2\r\nContent-Type: text/xml\r\nContent-Length: 63000\r\n\r\n<Request>%s", body)
	var (
		mu        sync.Mutex
		held      []net.Conn
		dialFails atomic.Int64
		peak      atomic.Int64
	)
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if r := int64(rss()); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	})
	start := time.Now()
	next := atomic.Int64{}
	var dialers sync.WaitGroup
	for range 64 {
		dialers.Go(func() {
			for i := int(next.Add(1)) - 1; i < conns; i = int(next.Add(1)) - 1 {
				// Address after address, so the per-address cap is met
				// before the total one.
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(soakAddr(i * addrs / conns))}, Timeout: 30 * time.Second}
				c, err := d.Dial("tcp", p.addrs.HTTP)
				if err != nil {
					dialFails.Add(1) // refused before connect returned
					continue
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, head)
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		})
	}
	dialers.Wait()
	opened := time.Since(start)
	// Wait until the server has taken every connection from its backlog,
	// admitted or refused (a binary without the caps shows no series).
	m := phoneMetrics(t, p.addrs.Dashboard)
	for deadline := time.Now().Add(30 * time.Second); len(m) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		seen := m["tanjay_phone_connections"] + m[`tanjay_phone_connections_cut_total{reason="slow-body"}`] +
			m[`tanjay_phone_connections_refused_total{cap="per-address"}`] + m[`tanjay_phone_connections_refused_total{cap="total"}`]
		if seen >= float64(conns) {
			break
		}
		m = phoneMetrics(t, p.addrs.Dashboard)
	}
	atLoad := rss()
	t.Logf("%d connections from %d addresses opened in %v; %d failed in connect (refused at once)", conns, addrs, opened.Round(time.Millisecond), dialFails.Load())
	t.Logf("server RSS: %d MiB before, %d MiB once it took every connection (%v after the first connect), open per /metrics: %v",
		base>>10, atLoad>>10, time.Since(start).Round(time.Millisecond), m["tanjay_phone_connections"])
	t.Logf("refused: %v per address, %v total cap",
		m[`tanjay_phone_connections_refused_total{cap="per-address"}`], m[`tanjay_phone_connections_refused_total{cap="total"}`])

	// While the slow ones are held, can a phone from a fresh address check
	// in? (With the total cap full it cannot, until they are cut.)
	code, err := tryCheckIn("127.0.0.5", p.addrs.HTTP, "00155D050000")
	t.Logf("a check-in from a fresh address while they are held: %d %v", code, err)

	// Hold until the server has cut or refused every one (or 90 s).
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		m := phoneMetrics(t, p.addrs.Dashboard)
		if len(m) == 0 && time.Since(start) > 75*time.Second {
			break // a binary without the caps: no series to wait on
		}
		done := m[`tanjay_phone_connections_cut_total{reason="slow-body"}`] +
			m[`tanjay_phone_connections_refused_total{cap="per-address"}`] + m[`tanjay_phone_connections_refused_total{cap="total"}`]
		if len(m) > 0 && done >= float64(conns) {
			break
		}
	}
	close(stopSampling)
	sampler.Wait()
	m = phoneMetrics(t, p.addrs.Dashboard)
	t.Logf("server RSS: peak %d MiB while held, %d MiB once they were cut %v after the first connect; slow bodies cut: %v",
		peak.Load()>>10, rss()>>10, time.Since(start).Round(time.Second), m[`tanjay_phone_connections_cut_total{reason="slow-body"}`])
	if _, err := tryCheckIn("127.0.0.5", p.addrs.HTTP, "00155D050001"); err != nil {
		t.Errorf("check-in after the slow connections were cut: %v", err)
	}
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
}
