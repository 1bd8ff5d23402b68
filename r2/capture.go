package r2

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Why a check-in body was captured: the last part of the capture's name.
const (
	CaptureMalformed    = "malformed"    // not well-formed XML (answered 400)
	CaptureUnidentified = "unidentified" // Request.Identified() false (answered NumOfFiles 0)
	CapturePartial      = "partial"      // identified, but no MAC or serial, or no modules
	CaptureAll          = "checkin"      // complete; kept because Config.CaptureAll is set
)

// captureStampLayout names files by UTC time with fixed-width nanoseconds, so
// names sort in time order and contain no ':'.
const captureStampLayout = "20060102T150405.000000000Z"

// captureReason says why a parsed request's body should be kept, or "".
func captureReason(req *Request, all bool) string {
	switch {
	case !req.Identified():
		return CaptureUnidentified
	case req.MAC == "" && req.Serial == "" || len(req.Modules) == 0:
		return CapturePartial
	case all:
		return CaptureAll
	}
	return ""
}

// keepCapture keeps a check-in body under CaptureDir (saveCapture) within
// the Captures caps, dropping the oldest captures of the client, then of
// all, to make room. It returns "" and no error when the body is not kept
// for the caps (a body larger than a byte cap) or the free-space floor:
// those are counted in the Quota's and the floor's stats, and the floor
// logs its crossings, so a full disk does not log every check-in.
func (h *updateHandler) keepCapture(at time.Time, clientIP, reason string, body []byte) (string, error) {
	q := h.cfg.Captures
	if q == nil {
		return "", nil // counting CaptureDir failed; NewHandler logged why
	}
	if d := h.cfg.Disk; d != nil && (d.Check(int64(len(body))) != nil || d.Take(int64(len(body))) != nil) {
		return "", nil
	}
	res, err := q.reserve(sanitizeFileName(clientIP, "unknown"), int64(len(body)))
	if err != nil {
		return "", nil
	}
	res.used = int64(len(body))
	path, err := saveCapture(h.cfg.CaptureDir, at, clientIP, reason, body)
	if err != nil {
		res.release()
		return "", err
	}
	res.commit(path)
	return path, nil
}

// saveCapture writes body to dir as <UTC time>_<client ip>_<reason>.xml and
// returns its path. Captures are diagnostics: they are written temp+rename
// but not fsynced, so capture-all mode does not put an fsync on every
// check-in; a crash may lose the last few.
func saveCapture(dir string, at time.Time, clientIP, reason string, body []byte) (string, error) {
	name := at.UTC().Format(captureStampLayout) + "_" + sanitizeFileName(clientIP, "unknown") + "_" + reason + ".xml"
	return writeFileAtomic(dir, name, false, func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	})
}

// reserveMu serialises picking a free final name in writeFileAtomic.
var reserveMu sync.Mutex

// writeFileAtomic creates dir, writes a temp file in it with write,
// optionally fsyncs it, and renames it to name, or to name with "-2", "-3"…
// before the extension when name is taken (two bodies in the same
// nanosecond, or a fixed test clock). It returns the final path.
func writeFileAtomic(dir, name string, sync bool, write func(io.Writer) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return "", err
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			return "", err
		}
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	reserveMu.Lock()
	defer reserveMu.Unlock()
	final := freeName(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	tmp = nil
	return final, nil
}

func freeName(dir, name string) string {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	p := filepath.Join(dir, name)
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) || i > 1000 {
			return p
		}
		p = filepath.Join(dir, base+"-"+strconv.Itoa(i)+ext)
	}
}

// sanitizeFileName keeps letters, digits, '.', '_' and '-' of s (others
// become '_'), drops leading dots and cuts it to 100 bytes; fallback when
// nothing is left. The result is safe as one path element.
func sanitizeFileName(s, fallback string) string {
	const max = 100
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		case c == '.':
			if len(b) == 0 {
				continue
			}
		default:
			c = '_'
		}
		b = append(b, c)
	}
	if len(b) == 0 {
		return fallback
	}
	return string(b)
}

// captureErr names a capture failure for the log.
func captureErr(reason string, err error) error {
	return fmt.Errorf("capture %s check-in: %w", reason, err)
}
