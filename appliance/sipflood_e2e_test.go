package appliance

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestSIPRefusalsAreLoggedOncePerMinute: a client that keeps opening SIP
// connections over its per-address cap (16) is refused each time, but the
// log says so once a minute, not once per connection, and a phone from
// another address still signs in meanwhile.
func TestSIPRefusalsAreLoggedOncePerMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	t.Setenv("TANJAY_SIP_PASSWORD", "flood-Lab-pa55")
	srv := startServe(t, t.TempDir())
	bound := readServeInfo(t, srv.data)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 16 {
		c, err := net.Dial("tcp", bound.SIP)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The server counts a connection once it accepted it: wait until the
	// 17th is refused (closed without a byte) before flooding.
	refused := func() bool {
		c, err := net.Dial("tcp", bound.SIP)
		if err != nil {
			return true
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	const flood = 300
	n := 0
	for range flood {
		if refused() {
			n++
		}
	}
	if n < flood-16 {
		t.Fatalf("%d of %d connections over the cap refused", n, flood)
	}
	out, err := srv.run(t, "phone", "--version", "1.0.199.123", "--sign-in", "tech@lab.local", "--dns", bound.DNS,
		"--mac", "00049F0052B1", "--local-ip", "127.0.0.94", "--sip-transport", "tcp")
	if err != nil || !strings.Contains(out, "signed in") {
		t.Errorf("a phone from another address during the flood: %v\n%s", err, out)
	}
	srv.interrupt(t)
	if got := strings.Count(srv.stderr.String(), "sip: connection refused"); got != 1 {
		t.Errorf("%d refusals logged for %d refused connections from one address, want 1:\n%s", got, n, clipLog(srv.stderr.String()))
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// clipLog is the last 4 KiB of a log, for failure messages.
func clipLog(s string) string {
	if len(s) > 4096 {
		return "…" + s[len(s)-4096:]
	}
	return s
}
