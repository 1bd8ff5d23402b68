package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTest(max int) (*slog.Logger, *Handler, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	h := New(slog.NewTextHandler(&buf, nil), Config{Max: max, Summary: "many clients", Now: c.now})
	return slog.New(h), h, &buf, c
}

// TestOncePerClientAndMessage: the same line about the same client passes
// once a minute; another client, another message, or a line naming no
// client pass at once.
func TestOncePerClientAndMessage(t *testing.T) {
	log, _, buf, c := newTest(0)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for range 100 {
		log.Warn("refused", "client", a)
	}
	log.Warn("refused", "client", b)
	log.Warn("cut", "client", a)
	log.Info("accept failed")
	log.Info("accept failed")
	want := map[string]int{"msg=refused client=10.0.0.1": 1, "msg=refused client=10.0.0.2": 1, "msg=cut client=10.0.0.1": 1, "msg=\"accept failed\"": 2}
	for sub, n := range want {
		if got := strings.Count(buf.String(), sub); got != n {
			t.Errorf("%q logged %d times, want %d:\n%s", sub, got, n, buf)
		}
	}
	c.t = c.t.Add(59 * time.Second)
	log.Warn("refused", "client", a)
	if got := strings.Count(buf.String(), "client=10.0.0.1"); got != 2 {
		t.Errorf("within the minute: %d lines about 10.0.0.1, want 2", got)
	}
	c.t = c.t.Add(time.Second)
	log.Warn("refused", "client", a)
	if got := strings.Count(buf.String(), "msg=refused client=10.0.0.1"); got != 2 {
		t.Errorf("a minute later: %d refused lines about 10.0.0.1, want 2", got)
	}
}

// TestClientFromWithAttrs: a logger made With("client", …) is limited as
// if each line named it.
func TestClientFromWithAttrs(t *testing.T) {
	log, _, buf, _ := newTest(0)
	l := log.With("client", "10.0.0.9").WithGroup("g")
	for range 5 {
		l.Warn("cut", "n", 1)
	}
	if got := strings.Count(buf.String(), "msg=cut"); got != 1 {
		t.Errorf("%d lines, want 1:\n%s", got, buf)
	}
}

// TestManyClientsAreSummedUp: beyond Max clients within the minute, one
// summing-up line per minute replaces them, and the table stays bounded.
func TestManyClientsAreSummedUp(t *testing.T) {
	log, h, buf, c := newTest(100)
	for i := range 350 {
		log.Warn("refused", "client", fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if got := strings.Count(buf.String(), "msg=refused"); got != 100 {
		t.Errorf("%d per-client lines, want 100", got)
	}
	if got := strings.Count(buf.String(), "msg=\"many clients\" clients=100 unlogged=1"); got != 1 {
		t.Errorf("%d summing-up lines, want 1 counting the first unlogged line:\n%s", got, buf.String()[len(buf.String())-300:])
	}
	if n := h.Remembered(); n != 100 {
		t.Errorf("table holds %d, want its bound 100", n)
	}
	c.t = c.t.Add(time.Minute)
	log.Warn("refused", "client", "10.9.9.9")
	if got := strings.Count(buf.String(), "msg=refused"); got != 101 {
		t.Errorf("a minute later the table is swept and a new client logged: %d lines, want 101", got)
	}
}
