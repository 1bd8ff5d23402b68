package appliance

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/writefail"
	"github.com/tanjay-lab/tanjay/appliance/internal/writefail/writefailtest"
	"github.com/tanjay-lab/tanjay/r2"
)

// TestAuditLogHealsAfterDiskFull: the OCS audit log, written through the
// healing appender serve plugs into it, accepts rows on a full disk (the
// check-in is answered), leaves no partial row in the file, reports the
// failure and since when, and once there is room holds the header and
// every row, whole, exactly once.
func TestAuditLogHealsAfterDiskFull(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	clock := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	disk := writefailtest.New(int64(len(r2.AuditHeader)) + 2) // the header fits, a row does not
	out := &writefail.Appender{Open: disk.Open, Tracker: writefail.New("audit log", slog.New(slog.DiscardHandler), now)}
	l, err := r2.OpenAuditLogTo(dir, "h", now, out)
	if err != nil {
		t.Fatal(err)
	}
	entry := r2.AuditEntry{At: clock, UserHost: "10.0.0.5"}
	for range 3 {
		if err := l.Write(entry); err != nil {
			t.Fatalf("Write on a full disk: %v, want the row kept", err)
		}
	}
	if err := l.Flush(); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Flush on a full disk: %v", err)
	}
	name := filepath.Join(dir, l.FileName(clock))
	if b, _ := os.ReadFile(name); len(b) != 0 && string(b) != r2.AuditHeader+"\r\n" {
		t.Errorf("file after the failed write = %q, want at most the header", b)
	}
	var pending int
	l.Inspect(func(r2.LogFile) { pending = out.Pending() })
	if st := out.Tracker.Status(); !st.Failing || !st.Since.Equal(clock) || pending == 0 {
		t.Errorf("status %+v, %d bytes pending; want failing since %v with the rows held", st, pending, clock)
	}
	disk.SetRoom(1 << 20)
	mu.Lock()
	clock = clock.Add(writefail.FirstRetry)
	mu.Unlock()
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush with room again: %v", err)
	}
	if st := out.Tracker.Status(); st.Failing || st.Errors != 1 {
		t.Errorf("status after recovery %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
	if len(lines) != 4 || lines[0] != r2.AuditHeader || lines[1] != lines[2] || lines[2] != lines[3] || !strings.Contains(lines[1], "10.0.0.5") {
		t.Errorf("file after recovery:\n%s", b)
	}
}
