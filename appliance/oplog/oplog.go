// Package oplog is the record of who changed what: every operator action
// (an import, an approve, reject or restore, a test device added or
// removed) with who did it (a dashboard login or the admin token, and the
// client the command-line tool names), when, from which address and what
// changed. It is kept apart from the OCS request audit log, which records
// what phones asked.
//
// The record is one JSON object per line in one file, appended and synced
// before the action is reported done; operator actions are rare, so the
// file stays small (about 300 bytes an action) and is never rotated.
// Reading is lenient: a line that does not parse (a torn last line after a
// crash, a hand edit) is skipped and counted.
package oplog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is one operator action.
type Entry struct {
	Time time.Time `json:"time"`
	// Who is the credential: "dashboard login" or "admin token", with the
	// client the command-line tool names ("admin token (tanjay cli,
	// root@bench)").
	Who string `json:"who"`
	// From is the client's address.
	From string `json:"from"`
	// Action is what was done: import, approve, reject, restore,
	// testdevice-add, testdevice-remove.
	Action string `json:"action"`
	// Target is what it was done to: a rule, a test device's ID, the
	// uploaded file.
	Target string `json:"target"`
	// Change says what changed, e.g. "approved 4.0.7577.4066 (was 3.5.6907.0)".
	Change string `json:"change,omitempty"`
	// Error is why the action failed, empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// Actor is who asks for an action, as the handler that took the request
// knows it.
type Actor struct {
	Who, From string
}

// Log appends to and reads the record. It is safe for concurrent use.
type Log struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens (creating it and its directory when missing) the record at
// path.
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("operator log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("operator log: %w", err)
	}
	return &Log{path: path, f: f}, nil
}

// Path is the record's file.
func (l *Log) Path() string { return l.path }

// Record appends e and syncs it to disk.
func (l *Log) Record(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("operator log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("operator log %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Filter selects entries: Text matches, case-insensitively, any of who,
// from, action, target, change and error; Action, when set, the action
// exactly.
type Filter struct {
	Text   string
	Action string
}

func (f Filter) match(e *Entry) bool {
	if f.Action != "" && e.Action != f.Action {
		return false
	}
	if f.Text == "" {
		return true
	}
	t := strings.ToLower(f.Text)
	for _, s := range [...]string{e.Who, e.From, e.Action, e.Target, e.Change, e.Error} {
		if strings.Contains(strings.ToLower(s), t) {
			return true
		}
	}
	return false
}

// maxLine bounds one line; a longer one is skipped as unreadable.
const maxLine = 64 << 10

// Read returns the entries f selects, newest first, at most limit of them
// (limit <= 0: all), and how many lines it skipped as unreadable.
func (l *Log) Read(f Filter, limit int) ([]Entry, int, error) {
	file, err := os.Open(l.path)
	if err != nil {
		return nil, 0, fmt.Errorf("operator log: %w", err)
	}
	defer file.Close()
	var out []Entry
	skipped, err := Scan(file, func(e Entry) {
		if f.match(&e) {
			out = append(out, e)
			if limit > 0 && len(out) > limit {
				out = out[1:]
			}
		}
	})
	slices.Reverse(out)
	return out, skipped, err
}

// Scan calls fn for each readable entry of r, oldest first, and returns
// how many lines it skipped as unreadable.
func Scan(r io.Reader, fn func(Entry)) (skipped int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if errors.Is(err, errLong) {
			skipped++
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return skipped, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var e Entry
			if json.Unmarshal(line, &e) != nil || e.Action == "" || e.Time.IsZero() {
				skipped++
			} else {
				fn(e)
			}
		}
		if err != nil {
			return skipped, nil
		}
	}
}

var errLong = errors.New("line too long")

// readLine reads one line without its newline; a line over maxLine is
// consumed whole and reported as errLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, errLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}
