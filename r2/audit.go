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
// It is safe for concurrent use. Where the bytes go is a LogFile: plain
// appends by default, or one that heals after a full disk (the appliance
// passes its own to OpenAuditLogTo).
type AuditLog struct {
	dir  string
	host string
	now  func() time.Time

	mu      sync.Mutex
	day     string // the date of the file rows go to, in auditFileDateLayout
	out     LogFile
	row     []byte // scratch for one row
	closed  bool
	stop    chan struct{}
	stopped chan struct{}
}

// LogFile takes an AuditLog's bytes, one day's file at a time. The
// AuditLog calls it under its lock only.
type LogFile interface {
	// Switch makes path the file lines go to, header written first when
	// the file is empty; lines of the previous file are written first.
	Switch(path string, header []byte) error
	// Append buffers one line; Flush writes what is buffered (force: even
	// while a failing file's retry is not due yet).
	Append(line []byte)
	Flush(force bool) error
	// Path is the current file, Close flushes, syncs and closes it.
	Path() string
	Close() error
}

// OpenAuditLog creates dir if needed and starts the flusher, with plain
// appends to the day's file (a write error stays until the file is
// switched). host names the server in file names; now is the clock (nil:
// time.Now). Files are opened on the first row of each day.
func OpenAuditLog(dir, host string, now func() time.Time) (*AuditLog, error) {
	return OpenAuditLogTo(dir, host, now, &plainLogFile{})
}

// OpenAuditLogTo is OpenAuditLog writing through out.
func OpenAuditLogTo(dir, host string, now func() time.Time, out LogFile) (*AuditLog, error) {
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
		out:     out,
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go l.flushLoop()
	return l, nil
}

// Inspect calls f with the log's LogFile under the log's lock, for a
// caller that reads its state (how much is buffered).
func (l *AuditLog) Inspect(f func(LogFile)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.out)
}

// appendFileDate is t.AppendFormat(dst, auditFileDateLayout) without
// reading the layout for every row.
func appendFileDate(dst []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, auditFileDateLayout)
	}
	return appendDate(dst, year, month, day)
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
	var err error
	var buf [10]byte
	if day := appendFileDate(buf[:0], e.At); string(day) != l.day {
		l.day = string(day)
		if err = l.out.Switch(filepath.Join(l.dir, l.FileName(e.At)), []byte(AuditHeader+auditEOL)); err != nil {
			err = fmt.Errorf("audit log: %w", err)
		}
	}
	l.row = appendAuditRow(l.row[:0], &e)
	l.out.Append(l.row)
	return err
}

// Flush writes buffered rows to the file.
func (l *AuditLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.out.Flush(false); err != nil {
		return fmt.Errorf("audit log %s: %w", l.out.Path(), err)
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
	if err := l.out.Close(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// plainLogFile is the default LogFile: a buffered append to the day's
// file. A write error stays in the bufio.Writer, returned by every Flush,
// until the next file.
type plainLogFile struct {
	file *os.File
	w    *bufio.Writer
}

func (p *plainLogFile) Switch(path string, header []byte) error {
	if err := p.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	p.file, p.w = f, bufio.NewWriterSize(f, 64<<10)
	if st.Size() == 0 {
		p.w.Write(header)
	}
	return nil
}

func (p *plainLogFile) Append(line []byte) {
	if p.w != nil {
		p.w.Write(line)
	}
}

func (p *plainLogFile) Flush(bool) error {
	if p.w == nil {
		return nil
	}
	return p.w.Flush()
}

func (p *plainLogFile) Path() string {
	if p.file == nil {
		return ""
	}
	return p.file.Name()
}

func (p *plainLogFile) Close() error {
	if p.file == nil {
		return nil
	}
	f, w := p.file, p.w
	p.file, p.w = nil, nil
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

// flushLoop flushes every auditFlushEvery until Close.
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
	dst = appendFileTimeLayout(dst, e.At) // AuditTimeLayout
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
