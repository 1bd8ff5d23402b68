package directory

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// auditLine is a Samba audit line of an LDAP simple bind from ip as user.
func auditLine(ip, user string) string {
	return `{"timestamp": "2026-12-06T05:04:26.781042+0000", "type": "Authentication", "Authentication": {"status": "NT_STATUS_OK", "remoteAddress": "ipv4:` +
		ip + `:49778", "serviceDescription": "LDAP", "authDescription": "simple bind", "clientAccount": "` + user + `"}}`
}

// auditRecorder collects what a follower reports.
type auditRecorder struct {
	mu    sync.Mutex
	users []string
}

func (r *auditRecorder) DirectoryAudit(e AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, e.User)
}

func (r *auditRecorder) wait(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := strings.Join(r.users, " ")
		r.mu.Unlock()
		if got == strings.Join(want, " ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reported %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
}

// TestFollowAudit: lines there before the follower starts are not
// reported; new ones are, across a half-written line, a line too long,
// rotation (rename and a new file), truncation and a file that is gone for
// a while.
func TestFollowAudit(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	path := cfg.AuditLogPath()
	os.MkdirAll(filepath.Dir(path), 0o755)
	appendTo(t, path, auditLine("10.0.0.5", "before")+"\n")

	ctx, cancel := context.WithCancel(context.Background())
	rec := &auditRecorder{}
	done := make(chan error, 1)
	go func() { done <- FollowAudit(ctx, cfg, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(3 * auditPoll) // started; nothing to wait on but the clock
	appendTo(t, path, auditLine("10.0.0.5", "a")+"\nnot an audit line\n")
	rec.wait(t, "a")

	half := auditLine("10.0.0.5", "b")
	appendTo(t, path, half[:40])
	time.Sleep(2 * auditPoll)
	appendTo(t, path, half[40:]+"\n", `{"x": "`+strings.Repeat("y", maxAuditLine)+`"}`+"\n", auditLine("10.0.0.5", "c")+"\n")
	rec.wait(t, "a", "b", "c")

	// Rotation: what is appended to the old file before the new one
	// appears is read too.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".old", auditLine("10.0.0.5", "d")+"\n")
	time.Sleep(2 * auditPoll)
	appendTo(t, path, auditLine("10.0.0.5", "e")+"\n")
	rec.wait(t, "a", "b", "c", "d", "e")

	// Truncation: the file starts over.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * auditPoll)
	appendTo(t, path, auditLine("10.0.0.5", "f")+"\n")
	rec.wait(t, "a", "b", "c", "d", "e", "f")
}

// TestAuditWriter: the Supervisor's writer appends and rotates.
func TestAuditWriter(t *testing.T) {
	w := &auditWriter{path: filepath.Join(t.TempDir(), "auth-audit.json")}
	line := auditLine("10.0.0.5", "tech")
	if !isAuditLine(line) || isAuditLine("samba version 4.17.12-Debian started.") {
		t.Fatal("isAuditLine")
	}
	for n := 0; ; n++ {
		if err := w.write(line); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(w.path + ".old"); err == nil {
			break
		}
		if n > 2*maxAuditSize/len(line) {
			t.Fatal("never rotated")
		}
	}
	old, err := os.Stat(w.path + ".old")
	if err != nil || old.Size() <= maxAuditSize {
		t.Fatalf("rotated early: %v", err)
	}
	if cur, _ := os.ReadFile(w.path); string(cur) != line+"\n" {
		t.Errorf("after rotation: %d bytes", len(cur))
	}
}

// TestSupervisorAuditLines: of what `samba -i` prints, the JSON audit
// goes to the audit file and the rest to the appliance's log.
func TestSupervisorAuditLines(t *testing.T) {
	var log strings.Builder
	cfg := Config{Dir: t.TempDir()}
	os.MkdirAll(filepath.Dir(cfg.AuditLogPath()), 0o755)
	s := &Supervisor{cfg: cfg, log: slog.New(slog.NewTextHandler(&log, nil)), audit: &auditWriter{path: cfg.AuditLogPath()}}
	bind := auditLine("10.0.0.5", "tech@lab.local")
	s.logLines(strings.NewReader("samba version 4.17.12-Debian started.\n"+bind+"\n\nprefork_pipe_handler: Child 21637 exiting\n"+
		"print_socket_options: Could not test socket option TCP_KEEPCNT: Operation not supported.\n"+
		"samba_terminate: samba_terminate of samba 1: smbd child process exited\n"+
		"gendb_search_v: DC=lab,DC=local NULL -> 1\n"+caLine+"\n"), 7)
	b, _ := os.ReadFile(cfg.AuditLogPath())
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0] != bind {
		t.Fatalf("audit file %q", b)
	}
	if e, ok := ParseAuditLine([]byte(lines[1])); !ok || e.Kind != AuditLDAPSearch || e.ClientIP.String() != "10.79.0.2" {
		t.Errorf("search record %q reads as %+v", lines[1], e)
	}
	// At Info the log shows what matters, not level 5's chatter.
	got := log.String()
	if !strings.Contains(got, `line="samba version 4.17.12-Debian started."`) || strings.Contains(got, "timestamp") ||
		!strings.Contains(got, "smbd child process exited") || strings.Contains(got, "socket option") ||
		strings.Contains(got, "prefork") || strings.Contains(got, "gendb_search_v") || strings.Contains(got, "LDAP Query") {
		t.Errorf("log:\n%s", got)
	}
}
