package web

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
	"github.com/tanjay-lab/tanjay/appliance/internal/writefail/writefailtest"
)

// TestAccessLogHealsAfterDiskFull: on a full disk lines are kept, Health
// says the log fails, and once there is room the day's file holds the
// directives and every line, whole, exactly once.
func TestAccessLogHealsAfterDiskFull(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAccessLog(dir, "tanjay test")
	if err != nil {
		t.Fatal(err)
	}
	disk := writefailtest.New(50)
	now := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	l.mu.Lock()
	l.out.Open = disk.Open
	l.out.Tracker = writefail.New("access log", slog.New(slog.DiscardHandler), func() time.Time { return now })
	l.mu.Unlock()
	e := Entry{Time: now, Method: "POST", URIStem: "/RequestHandler/ucdevice.upx", ClientIP: "10.0.0.7", Status: 200}
	for range 4 {
		if err := l.Write(e); err != nil {
			t.Fatalf("Write on a full disk: %v, want the line kept", err)
		}
	}
	if err := l.Flush(); err == nil {
		t.Fatal("Flush on a full disk succeeded")
	}
	name := filepath.Join(dir, "u_ex240501.log")
	if b, _ := os.ReadFile(name); len(b) != 0 {
		t.Errorf("file after the failed write = %q, want it cut back to empty", b)
	}
	if h := l.Health(); !h.Failing || h.Errors != 1 || !h.Since.Equal(now) {
		t.Errorf("Health on a full disk = %+v", h)
	}
	disk.SetRoom(1 << 20)
	now = now.Add(writefail.FirstRetry)
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush with room again: %v", err)
	}
	if h := l.Health(); h.Failing {
		t.Errorf("Health after recovery = %+v", h)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.HasPrefix(got, "#Software: tanjay test\r\n#Version: 1.0\r\n#Date: 2024-05-01 09:00:00\r\n#Fields: ") || strings.Count(got, "#Software") != 1 {
		t.Errorf("directives missing or doubled:\n%s", got)
	}
	line := "2024-05-01 09:00:00 - POST /RequestHandler/ucdevice.upx - - - 10.0.0.7 - 200 0 0 0\r\n"
	if n := strings.Count(got, line); n != 4 || !strings.HasSuffix(got, line) {
		t.Errorf("%d whole lines, want 4:\n%s", n, got)
	}
}
