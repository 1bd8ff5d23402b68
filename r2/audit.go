package r2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// AuditHeader is the first line of every audit log file, exactly as OCS 2007
// R2 writes it, the original's spelling included (PROTOCOL.md §5).
const AuditHeader = "Logging DateTime,User Name,User Host Address,Device Type,Request DateTime,Mac Address,Serial Number,Vendor,Model,Revision,Locale,Requested<FileName;Version;TimeStamp>[# Seperated for Multiple],Response<FileName;Version;TimeStamp>[# Seperated for Multiple]"

// auditEOL ends every line. The original is written by .NET on Windows and
// CSV (RFC 4180) says CRLF; the tools operators point at these files expect
// it [inferred].
const auditEOL = "\r\n"

// AuditTimeLayout is the Logging DateTime column: local time, month first,
// as in the confirmed sample row.
const AuditTimeLayout = "01.02.2006 15:04:05"

// auditFileDateLayout is the <date> of RequestHandlerAuditLog_<host>_<date>.csv.
// The original's date form is not documented; ISO dates sort by name [our
// choice].
const auditFileDateLayout = "2006-01-02"

// auditFlushEvery is how often the background goroutine flushes rows to the
// file: a crash loses at most this much of the audit log.
const auditFlushEvery = time.Second

// AuditEntry is one answered check-in, one row of the audit log.
type AuditEntry struct {
	// At is the Logging DateTime, written in its own location (the handler
	// passes local time); it also picks the day's file. Zero means now.
	At time.Time
	// UserHost is the client's IP address.
	UserHost string
	// Request is what the phone said; nil writes empty columns.
	Request *Request
	// Updates is what it was offered; empty for "nothing to do".
	Updates []OfferedUpdate
}

// AuditLog writes the OCS R2 update audit log: one CSV file per local day,
// RequestHandlerAuditLog_<host>_<yyyy-MM-dd>.csv, in one directory. Rows are
// buffered and flushed every second by a background goroutine and on Close.
// It is safe for concurrent use.
type AuditLog struct {
	dir  string
	host string
	now  func() time.Time

	mu      sync.Mutex
	day     string // the date of the open file, in auditFileDateLayout
	file    *os.File
	w       *bufio.Writer
	row     []byte // scratch for one row
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

// OpenAuditLog creates dir if needed and starts the flusher. host names the
// server in file names; now is the clock (nil: time.Now). Files are opened
// on the first row of each day.
func OpenAuditLog(dir, host string, now func() time.Time) (*AuditLog, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l := &AuditLog{
		dir:     dir,
		host:    sanitizeFileName(host, "localhost"),
		now:     now,
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go l.flushLoop()
	return l, nil
}

// FileName is the name of the audit file for the day of t.
func (l *AuditLog) FileName(t time.Time) string {
	return "RequestHandlerAuditLog_" + l.host + "_" + t.Format(auditFileDateLayout) + ".csv"
}

// Write appends one row, switching to the day's file when the date changed.
func (l *AuditLog) Write(e AuditEntry) error {
	if e.At.IsZero() {
		e.At = l.now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("audit log: closed")
	}
	if err := l.switchDay(e.At); err != nil {
		return err
	}
	l.row = appendAuditRow(l.row[:0], &e)
	if _, err := l.w.Write(l.row); err != nil {
		return fmt.Errorf("audit log %s: %w", l.file.Name(), err)
	}
	return nil
}

// switchDay makes the file of t's day the open one. A new or empty file
// gets the header; an existing one is appended to.
func (l *AuditLog) switchDay(t time.Time) error {
	var buf [10]byte
	day := t.AppendFormat(buf[:0], auditFileDateLayout)
	if l.file != nil && string(day) == l.day {
		return nil
	}
	if err := l.closeFile(); err != nil {
		return err
	}
	name := filepath.Join(l.dir, l.FileName(t))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	l.file, l.day, l.w = f, string(day), bufio.NewWriterSize(f, 64<<10)
	if st.Size() == 0 {
		l.w.WriteString(AuditHeader + auditEOL)
	}
	return nil
}

// closeFile flushes, syncs and closes the open file, if any.
func (l *AuditLog) closeFile() error {
	if l.file == nil {
		return nil
	}
	f, w := l.file, l.w
	l.file, l.w, l.day = nil, nil, ""
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("audit log %s: %w", f.Name(), err)
	}
	return nil
}

// Flush writes buffered rows to the file.
func (l *AuditLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return nil
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("audit log %s: %w", l.file.Name(), err)
	}
	return nil
}

// Close stops the flusher, then flushes, syncs and closes the file. Rows
// written after Close are refused.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.stopped
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeFile()
}

// flushLoop flushes every auditFlushEvery until Close. A flush error stays
// in the bufio.Writer and is returned by the next Write or Flush.
func (l *AuditLog) flushLoop() {
	defer close(l.stopped)
	t := time.NewTicker(auditFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// appendAuditRow writes one CSV row in the OCS R2 column order, ending in
// auditEOL. Like the original, the MAC, serial, vendor, model, revision and
// locale columns are always quoted; the other columns are quoted only when
// they hold a comma, quote or line break (the original would have written a
// broken row there).
func appendAuditRow(dst []byte, e *AuditEntry) []byte {
	r := e.Request
	if r == nil {
		r = &Request{}
	}
	dst = e.At.AppendFormat(dst, AuditTimeLayout)
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.UserID)
	dst = append(dst, ',')
	dst = appendCSVField(dst, e.UserHost)
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.DeviceType)
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.RequestTime)
	mac := r.MAC
	if mac == "" {
		mac = r.RawMAC
	}
	for _, s := range [...]string{mac, r.Serial, r.Vendor, r.Model, r.Revision, r.Locale} {
		dst = append(dst, ',')
		dst = appendCSVQuoted(dst, s)
	}
	dst = append(dst, ',')
	dst = appendCSVField(dst, r.RawModules)
	dst = append(dst, ',')
	dst = appendAuditResponse(dst, e.Updates)
	return append(dst, auditEOL...)
}

// appendAuditResponse writes <BaseURL>/<ImageFile>;<version>;<timestamp> per
// offered update, joined by '#', as one CSV field.
func appendAuditResponse(dst []byte, updates []OfferedUpdate) []byte {
	start := len(dst)
	for i := range updates {
		u := &updates[i]
		if i > 0 {
			dst = append(dst, '#')
		}
		dst = append(dst, strings.TrimSuffix(u.BaseURL, "/")...)
		dst = append(dst, '/')
		dst = append(dst, u.ImageFile...)
		dst = append(dst, ';')
		dst = appendVersion(dst, u.Version)
		dst = append(dst, ';')
		dst = appendFileTime(dst, u.TimeStamp)
	}
	if bytes.ContainsAny(dst[start:], ",\"\r\n") {
		field := string(dst[start:])
		dst = appendCSVQuoted(dst[:start], field)
	}
	return dst
}

func appendCSVField(dst []byte, s string) []byte {
	if needsCSVQuote(s) {
		return appendCSVQuoted(dst, s)
	}
	return append(dst, s...)
}

func appendCSVQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

func needsCSVQuote(s string) bool {
	return strings.ContainsAny(s, ",\"\r\n")
}
