package directory

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Samba's JSON authentication audit goes to <Dir>/log/auth-audit.json
// (smb.conf: log level = 0 auth_json_audit:5@<that file>). Level 5 logs
// failures, successes, authorizations and anonymous binds.
//
// Samba 4.17 writes a debug class file only from a process that logs to
// files: smbd (NTLM over SMB) does, but `samba -i`, which the Supervisor
// runs to copy Samba's log into the appliance's, logs every class to
// standard output, the LDAP server's and the KDC's audit included. The
// Supervisor appends those lines to the same file (auditWriter), so the
// file holds all of them, and the AuditFollower reads only the file.

// Bounds of the audit file and its follower.
const (
	// maxAuditLine is the longest line the follower reads; a longer one
	// is skipped. Samba's lines are about 1 KiB.
	maxAuditLine = 64 << 10
	// maxAuditSize is the size at which the Supervisor rotates the file
	// to <file>.old, as Samba does with its own logs.
	maxAuditSize = 4 << 20
	// auditPoll is how often the follower looks for new lines.
	auditPoll = 200 * time.Millisecond
)

// AuditObserver hears each authentication the directory logged.
type AuditObserver interface{ DirectoryAudit(AuditEvent) }

// AuditObserverFunc adapts a function to AuditObserver.
type AuditObserverFunc func(AuditEvent)

func (f AuditObserverFunc) DirectoryAudit(e AuditEvent) { f(e) }

// FollowAudit reads the audit file of cfg as it grows and tells obs of
// each authentication, until ctx ends. Lines already in the file when it
// starts are not reported (they were, by the run before). It follows the
// file across rotation (a new file at the path: the rest of the old one is
// read first) and truncation (read from the start again), and waits for a
// file that does not exist yet.
func FollowAudit(ctx context.Context, cfg Config, obs AuditObserver) error {
	f := &auditFollower{path: cfg.withDefaults().AuditLogPath(), obs: obs}
	f.open(true)
	defer f.close()
	t := time.NewTicker(auditPoll)
	defer t.Stop()
	for {
		f.poll()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// auditFollower is FollowAudit's state: the open file, where it read to,
// and the incomplete line after that.
type auditFollower struct {
	path string
	obs  AuditObserver
	file *os.File
	off  int64
	// partial is a line read without its newline yet; skipping is set
	// while a line longer than maxAuditLine is discarded.
	partial  []byte
	skipping bool
	buf      [32 << 10]byte
}

// open opens the file at path; atEnd starts after what it holds.
func (f *auditFollower) open(atEnd bool) {
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	f.file, f.off, f.partial, f.skipping = file, 0, nil, false
	if atEnd {
		if st, err := file.Stat(); err == nil {
			f.off = st.Size()
		}
	}
}

func (f *auditFollower) close() {
	if f.file != nil {
		f.file.Close()
		f.file = nil
	}
}

// poll reads what was added since, switching to a new file at the path
// once the old one is drained.
func (f *auditFollower) poll() {
	if f.file == nil {
		f.open(false)
		if f.file == nil {
			return
		}
	}
	cur, err := f.file.Stat()
	if err == nil && cur.Size() < f.off {
		f.off, f.partial, f.skipping = 0, nil, false // truncated
	}
	now, perr := os.Stat(f.path)
	rotated := err == nil && (errors.Is(perr, fs.ErrNotExist) || perr == nil && !os.SameFile(cur, now))
	f.drain()
	if rotated && f.file != nil {
		// The rest of the old file is read; the new one (if any yet) is
		// read from its start.
		f.close()
		f.open(false)
		if f.file != nil {
			f.drain()
		}
	}
}

// drain reads to the end of the file, reporting each whole line.
func (f *auditFollower) drain() {
	for {
		n, err := f.file.ReadAt(f.buf[:], f.off)
		f.off += int64(n)
		f.lines(f.buf[:n])
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				f.close() // reopened at the next poll
			}
			return
		}
	}
}

// lines splits b into lines, joined to the partial line before it.
func (f *auditFollower) lines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			f.keep(b)
			return
		}
		f.keep(b[:i])
		if !f.skipping {
			if e, ok := ParseAuditLine(f.partial); ok {
				f.obs.DirectoryAudit(e)
			}
		}
		f.partial, f.skipping = f.partial[:0], false
		b = b[i+1:]
	}
}

// keep adds b to the partial line, or starts skipping a line too long.
func (f *auditFollower) keep(b []byte) {
	if f.skipping {
		return
	}
	if len(f.partial)+len(b) > maxAuditLine {
		f.partial, f.skipping = f.partial[:0], true
		return
	}
	f.partial = append(f.partial, b...)
}

// auditWriter appends the audit lines `samba -i` prints to the audit
// file, rotating it past maxAuditSize. It opens the file for each line:
// smbd may rotate it meanwhile, and authentications are a few a minute.
type auditWriter struct {
	mu   sync.Mutex
	path string
}

// isAuditLine reports whether a line of Samba's output is a JSON audit
// record.
func isAuditLine(line string) bool {
	return strings.HasPrefix(line, `{"timestamp":`)
}

func (w *auditWriter) write(line string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, err := os.Stat(w.path); err == nil && st.Size() > maxAuditSize {
		os.Rename(w.path, w.path+".old")
	}
	// 0644: in the VM the Supervisor runs as root (tanjay directory run)
	// and the unprivileged appliance reads the file; the data directory
	// above it keeps everyone else out.
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
