package r2

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Caps bound the files anonymous phones make the appliance keep in one
// folder: per phone (a MAC, else a client address) and in total, by count
// and by bytes. A zero field takes the default of its kind.
type Caps struct {
	PhoneFiles int
	PhoneBytes int64
	TotalFiles int
	TotalBytes int64
}

// DefaultUploadCaps are the caps of logs/client/: 64 files and 64 MiB per
// phone (four uploads of the largest size, DefaultMaxUpload, or a month of
// daily CE logs), 4096 files and 1 GiB in all.
func DefaultUploadCaps() Caps {
	return Caps{PhoneFiles: 64, PhoneBytes: 64 << 20, TotalFiles: 4096, TotalBytes: 1 << 30}
}

// DefaultCaptureCaps are the caps of captures/: 100 files and 8 MiB per
// client address (a phone's check-ins for three months at one a day, or a
// boot loop's last hundred), 10,000 files and 256 MiB in all (capture-all
// mode keeps the latest 10,000 check-ins of the fleet).
func DefaultCaptureCaps() Caps {
	return Caps{PhoneFiles: 100, PhoneBytes: 8 << 20, TotalFiles: 10000, TotalBytes: 256 << 20}
}

func (c Caps) withDefaults(d Caps) Caps {
	if c.PhoneFiles <= 0 {
		c.PhoneFiles = d.PhoneFiles
	}
	if c.PhoneBytes <= 0 {
		c.PhoneBytes = d.PhoneBytes
	}
	if c.TotalFiles <= 0 {
		c.TotalFiles = d.TotalFiles
	}
	if c.TotalBytes <= 0 {
		c.TotalBytes = d.TotalBytes
	}
	return c
}

// Why a write was refused, or an old capture dropped: the cap it hit.
const (
	CapPhoneFiles = "phone-files"
	CapPhoneBytes = "phone-bytes"
	CapTotalFiles = "total-files"
	CapTotalBytes = "total-bytes"
)

// capReasons are the caps in the order /metrics lists them.
var capReasons = [...]string{CapPhoneFiles, CapPhoneBytes, CapTotalFiles, CapTotalBytes}

// QuotaError is a write refused by a cap.
type QuotaError struct {
	Folder string // "uploads" or "captures"
	Cap    string // CapPhoneFiles…
	Limit  int64
}

func (e *QuotaError) Error() string {
	unit := "files"
	if strings.HasSuffix(e.Cap, "bytes") {
		unit = "bytes"
	}
	return fmt.Sprintf("%s: %s cap of %d %s reached", e.Folder, e.Cap, e.Limit, unit)
}

// Quota counts the files in one folder phones write to and enforces its
// Caps. The count is made from the disk when the Quota is opened, so the
// caps hold across restarts; from then on it counts what the handler
// writes (and, for captures, drops). Files removed by hand stay counted
// until the next start. Every reservation is made under one lock, so two
// writers never both take the last free slot.
type Quota struct {
	folder string
	caps   Caps
	// drop: when a cap is reached, the oldest files make room (captures);
	// otherwise the write is refused (uploads).
	drop bool

	mu     sync.Mutex
	phones map[string]*phoneUsage
	files  int
	bytes  int64
	order  list.List // of *storedFile, oldest first (drop only)

	refused [len(capReasons)]atomic.Uint64
	dropped [len(capReasons)]atomic.Uint64
}

type phoneUsage struct {
	files int
	bytes int64
	order list.List // of *storedFile, oldest first (drop only)
}

// storedFile is one counted file (drop only).
type storedFile struct {
	path, phone string
	size        int64
	all, mine   *list.Element
}

// OpenUploadQuota counts the uploads under dir (one folder per phone) and
// returns their Quota; uploads past a cap are refused.
func OpenUploadQuota(dir string, caps Caps) (*Quota, error) {
	q := newQuota("uploads", caps.withDefaults(DefaultUploadCaps()), false)
	return q, q.count(dir, func(rel string) string {
		phone, _, _ := strings.Cut(rel, string(filepath.Separator))
		return phone
	})
}

// OpenCaptureQuota counts the captures in dir (named
// <time>_<client ip>_<reason>.xml) and returns their Quota; when a cap is
// reached the oldest captures of the phone, then of all, are dropped.
func OpenCaptureQuota(dir string, caps Caps) (*Quota, error) {
	q := newQuota("captures", caps.withDefaults(DefaultCaptureCaps()), true)
	return q, q.count(dir, captureClient)
}

func newQuota(folder string, caps Caps, drop bool) *Quota {
	return &Quota{folder: folder, caps: caps, drop: drop, phones: map[string]*phoneUsage{}}
}

// captureClient is the client part of a capture's name, as saveCapture
// wrote it: between the fixed-width time and the last '_' (reasons have
// none; an IPv6 address's ':' became '_').
func captureClient(rel string) string {
	name := filepath.Base(rel)
	if len(name) <= len(captureStampLayout)+1 {
		return "unknown"
	}
	rest := name[len(captureStampLayout)+1:]
	if i := strings.LastIndexByte(rest, '_'); i > 0 {
		return rest[:i]
	}
	return "unknown"
}

// count adds up the regular files under dir (temp files of interrupted
// writes, ".tmp-*", are removed), oldest first by name: names start with
// the UTC time they were written.
func (q *Quota) count(dir string, phoneOf func(rel string) string) error {
	type found struct {
		path, rel string
		size      int64
	}
	var all []found
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && p == dir:
			return fs.SkipDir
		case err != nil:
			return err
		case !d.Type().IsRegular():
			return nil
		case strings.HasPrefix(d.Name(), ".tmp-"):
			return os.Remove(p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		all = append(all, found{p, rel, info.Size()})
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting %s in %s: %w", q.folder, dir, err)
	}
	slices.SortFunc(all, func(a, b found) int { return strings.Compare(filepath.Base(a.path), filepath.Base(b.path)) })
	for _, f := range all {
		q.addLocked(f.path, phoneOf(f.rel), f.size)
	}
	return nil
}

// addLocked counts a stored file.
func (q *Quota) addLocked(path, phone string, size int64) {
	u := q.usage(phone)
	u.files++
	u.bytes += size
	q.files++
	q.bytes += size
	if q.drop {
		f := &storedFile{path: path, phone: phone, size: size}
		f.all, f.mine = q.order.PushBack(f), u.order.PushBack(f)
	}
}

func (q *Quota) usage(phone string) *phoneUsage {
	u := q.phones[phone]
	if u == nil {
		u = &phoneUsage{}
		q.phones[phone] = u
	}
	return u
}

// reserve takes one file and n bytes for phone, dropping the oldest files
// first when the Quota drops. The reservation counts at once: concurrent
// writers see it.
func (q *Quota) reserve(phone string, n int64) (*reservation, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.fitLocked(phone, 1, n); err != nil {
		return nil, err
	}
	u := q.usage(phone)
	u.files++
	u.bytes += n
	q.files++
	q.bytes += n
	return &reservation{q: q, phone: phone, reserved: n}, nil
}

// fitLocked makes room for files more files and n more bytes of phone, or
// says which cap refuses them.
func (q *Quota) fitLocked(phone string, files int, n int64) error {
	u := q.usage(phone)
	if n > q.caps.PhoneBytes || n > q.caps.TotalBytes {
		// Dropping every old file would not make room: keep them.
		reason, limit := q.overLocked(&phoneUsage{}, 0, n)
		return q.refuseLocked(phone, u, reason, limit)
	}
	for {
		reason, limit := q.overLocked(u, files, n)
		if reason == "" {
			return nil
		}
		if !q.drop || !q.dropOldestLocked(u, reason) {
			return q.refuseLocked(phone, u, reason, limit)
		}
	}
}

// refuseLocked counts a refusal by the cap reason and forgets a phone
// that holds nothing.
func (q *Quota) refuseLocked(phone string, u *phoneUsage, reason string, limit int64) error {
	q.refused[capIndex(reason)].Add(1)
	if u.files == 0 && u.bytes == 0 {
		delete(q.phones, phone)
	}
	return &QuotaError{Folder: q.folder, Cap: reason, Limit: limit}
}

// overLocked names the first cap that files more files and n more bytes
// of u would pass.
func (q *Quota) overLocked(u *phoneUsage, files int, n int64) (string, int64) {
	switch {
	case u.files+files > q.caps.PhoneFiles:
		return CapPhoneFiles, int64(q.caps.PhoneFiles)
	case u.bytes+n > q.caps.PhoneBytes:
		return CapPhoneBytes, q.caps.PhoneBytes
	case q.files+files > q.caps.TotalFiles:
		return CapTotalFiles, int64(q.caps.TotalFiles)
	case q.bytes+n > q.caps.TotalBytes:
		return CapTotalBytes, q.caps.TotalBytes
	}
	return "", 0
}

// dropOldestLocked removes the oldest stored file of u (for a phone cap)
// or of all (for a total cap), and reports whether there was one.
func (q *Quota) dropOldestLocked(u *phoneUsage, reason string) bool {
	from := &q.order
	if reason == CapPhoneFiles || reason == CapPhoneBytes {
		from = &u.order
	}
	e := from.Front()
	if e == nil {
		return false
	}
	f := e.Value.(*storedFile)
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// The file stays, so it stays counted: refuse instead.
		return false
	}
	owner := q.phones[f.phone]
	q.order.Remove(f.all)
	owner.order.Remove(f.mine)
	owner.files--
	owner.bytes -= f.size
	q.files--
	q.bytes -= f.size
	if owner != u && owner.files == 0 && owner.bytes == 0 {
		delete(q.phones, f.phone)
	}
	q.dropped[capIndex(reason)].Add(1)
	return true
}

func capIndex(reason string) int {
	return slices.Index(capReasons[:], reason)
}

// reservation is one file being written under a Quota.
type reservation struct {
	q        *Quota
	phone    string
	reserved int64 // bytes counted against the caps
	used     int64 // bytes written
}

// grow counts n more written bytes, taking more of the caps once the
// written bytes pass the reserved ones. It never drops files: only a
// streamed upload grows.
func (r *reservation) grow(n int64) error {
	r.used += n
	if r.used <= r.reserved {
		return nil
	}
	more := r.used - r.reserved
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.usage(r.phone)
	if reason, limit := q.overLocked(u, 0, more); reason != "" {
		q.refused[capIndex(reason)].Add(1)
		r.used -= n
		return &QuotaError{Folder: q.folder, Cap: reason, Limit: limit}
	}
	u.bytes += more
	q.bytes += more
	r.reserved = r.used
	return nil
}

// commit counts the file stored at path with the bytes written; the
// reserved bytes beyond them are given back.
func (r *reservation) commit(path string) {
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(r)
	q.addLocked(path, r.phone, r.used)
}

// release gives the whole reservation back: nothing was stored.
func (r *reservation) release() {
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(r)
	if u := q.phones[r.phone]; u.files == 0 && u.bytes == 0 {
		delete(q.phones, r.phone)
	}
}

func (q *Quota) releaseLocked(r *reservation) {
	u := q.phones[r.phone]
	u.files--
	u.bytes -= r.reserved
	q.files--
	q.bytes -= r.reserved
	r.reserved = 0
}

// QuotaStats is what /metrics shows of a Quota.
type QuotaStats struct {
	Files, Phones int
	Bytes         int64
	// Refused and Dropped count writes refused and old files dropped, by
	// the cap (CapPhoneFiles…).
	Refused, Dropped map[string]uint64
}

// Stats reports the usage and the counts.
func (q *Quota) Stats() QuotaStats {
	q.mu.Lock()
	s := QuotaStats{Files: q.files, Phones: len(q.phones), Bytes: q.bytes, Refused: map[string]uint64{}, Dropped: map[string]uint64{}}
	q.mu.Unlock()
	for i, reason := range capReasons {
		s.Refused[reason] = q.refused[i].Load()
		s.Dropped[reason] = q.dropped[i].Load()
	}
	return s
}
