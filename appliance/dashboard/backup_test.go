package dashboard

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// backupActions is fakeActions that can make backups.
type backupActions struct {
	*fakeActions
	archive string
	mu      sync.Mutex
	err     error // of Backup
	cut     bool  // the archive fails half way
	logs    []bool
}

func (b *backupActions) Backup(withLogs bool) (BackupArchive, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs = append(b.logs, withLogs)
	return fakeArchive{archive: b.archive, cut: b.cut}, b.err
}

func (b *backupActions) set(err error, cut bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err, b.cut = err, cut
}

type fakeArchive struct {
	archive string
	cut     bool
}

func (fakeArchive) Name() string { return "tanjay-backup-test.tar.gz" }
func (fakeArchive) Close() error { return nil }
func (a fakeArchive) WriteTo(w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, a.archive)
	if a.cut {
		return int64(n), errors.New("disk read error")
	}
	return int64(n), nil
}

func TestDownloadBackup(t *testing.T) {
	e := newEnv(t, nil) // its dashboard cannot make backups
	act := &backupActions{fakeActions: e.act, archive: strings.Repeat("archive bytes ", 1000)}
	d, err := New(e.cfg, e.st, act)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	client := func() *client { c := e.client(t); c.base = srv.URL; return c }
	anon := client()
	if _, body := anon.get("/settings"); strings.Contains(body, `action="/settings/backup"`) || !strings.Contains(body, "to download a backup") {
		t.Errorf("the public settings page offers the backup (it holds the secrets):\n%s", body)
	}
	if resp, _ := anon.post("/settings/backup", url.Values{"csrf": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("backup without login: %s, want 403", resp.Status)
	}
	admin := client()
	admin.login(testPassword)
	tok := admin.csrf("/settings")
	if resp, _ := admin.post("/settings/backup", url.Values{"csrf": {"wrong"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("backup with a wrong CSRF token: %s, want 403", resp.Status)
	}
	resp, body := admin.post("/settings/backup", url.Values{"csrf": {tok}, "logs": {"on"}})
	if resp.StatusCode != http.StatusOK || body != act.archive || resp.Header.Get("Content-Disposition") != `attachment; filename="tanjay-backup-test.tar.gz"` {
		t.Errorf("backup: %s %v, %d bytes", resp.Status, resp.Header, len(body))
	}
	admin.post("/settings/backup", url.Values{"csrf": {tok}})
	act.mu.Lock()
	logs := act.logs
	act.mu.Unlock()
	if len(logs) != 2 || !logs[0] || logs[1] {
		t.Errorf("logs asked for: %v, want [true false] (the box ticked, then not)", logs)
	}

	act.set(errors.New("snapshot: disk full"), false)
	if resp, body := admin.post("/settings/backup", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "disk full") {
		t.Errorf("backup that cannot start: %s %q", resp.Status, body)
	}
	act.set(nil, true)
	r, err := admin.c.PostForm(admin.base+"/settings/backup", url.Values{"csrf": {tok}})
	if err == nil {
		_, err = io.ReadAll(r.Body)
		r.Body.Close()
	}
	if err == nil {
		t.Error("a backup that fails half way reached the browser as a whole download")
	}

	admin.base = e.srv.URL // the same session, on a dashboard that cannot make backups
	if resp, _ := admin.post("/settings/backup", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("backup without a Backuper: %s, want 501", resp.Status)
	}
}
