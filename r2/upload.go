package r2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"path/filepath"
)

// uploadPeek is how much of an upload is read before its folder is chosen: a
// body that fits and is XML may name the device's MAC.
const uploadPeek = 64 << 10

var errUploadTooLarge = errors.New("upload too large")

// serveUpload stores any other POST under /RequestHandler… (device logs:
// CE logs, Watson dumps, RoundTable configuration [confirmed]; their format
// is unknown) as UploadDir/<device>/<UTC time>_<last path element>, and
// answers 200. <device> is the MAC from the query or a small XML body, else
// the client IP; the upload goes on that MAC's timeline, whatever phone
// last used the address.
//
// An upload past one of the Uploads caps, or while the data directory is
// below its free-space floor, is refused with 507 Insufficient Storage; a
// refusal by a cap is reported to the Observer (Upload.Refused). The caps
// and the floor are enforced on the bytes as they arrive: a body without a
// Content-Length, or longer than it declared, is cut there and its partial
// file removed.
func (h *updateHandler) serveUpload(w http.ResponseWriter, r *http.Request) {
	if h.cfg.UploadDir == "" {
		http.NotFound(w, r)
		return
	}
	limit := h.cfg.MaxUpload
	if r.ContentLength > limit {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	now, ip := h.cfg.Now(), clientIP(r)
	up := Upload{At: now, ClientIP: ip, Path: r.URL.Path, MAC: queryMAC(r)}
	if h.cfg.Uploads == nil {
		// Counting UploadDir failed; NewHandler logged why.
		http.Error(w, "device uploads are unavailable", http.StatusInternalServerError)
		return
	}
	if err := h.diskCheck(r.ContentLength); err != nil {
		h.refuseUpload(w, up, err)
		return
	}
	head := make([]byte, min(uploadPeek, limit+1))
	n, err := io.ReadFull(r.Body, head)
	complete := err == io.EOF || err == io.ErrUnexpectedEOF
	if err != nil && !complete {
		http.Error(w, "reading upload", http.StatusBadRequest)
		return
	}
	head = head[:n]
	if int64(n) > limit {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	if up.MAC == "" && complete {
		up.MAC = bodyMAC(head)
	}
	device := up.MAC
	if device == "" {
		device = sanitizeFileName(ip, "unknown")
	}
	res, err := h.cfg.Uploads.reserve(device, max(r.ContentLength, int64(n)))
	if err != nil {
		h.refuseUpload(w, up, err)
		return
	}
	name := now.UTC().Format(captureStampLayout) + "_" + sanitizeFileName(path.Base(r.URL.Path), "upload")
	body := &readErrRecorder{r: r.Body}
	stored, err := writeFileAtomic(filepath.Join(h.cfg.UploadDir, device), name, true, func(f io.Writer) (err error) {
		_, err = copyUpload(&quotaWriter{w: f, res: res, disk: h.cfg.Disk}, head, complete, body, limit)
		return err
	})
	var qe *QuotaError
	switch {
	case err == nil:
		res.commit(stored)
	case errors.Is(err, errUploadTooLarge):
		res.release()
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	case errors.As(err, &qe) || errors.Is(err, ErrDiskLow):
		res.release()
		h.refuseUpload(w, up, err)
		return
	case body.err != nil:
		res.release()
		http.Error(w, "reading upload", http.StatusBadRequest)
		return
	default:
		res.release()
		h.cfg.Logger.Error("device upload", "client", ip, "path", r.URL.Path, "err", fmt.Errorf("storing: %w", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	up.Stored, up.Size = stored, res.used
	h.cfg.Observer.Uploaded(up)
	w.WriteHeader(http.StatusOK)
}

// diskCheck asks the free-space floor, when there is one, before n bytes
// (-1: unknown) are accepted.
func (h *updateHandler) diskCheck(n int64) error {
	if h.cfg.Disk == nil {
		return nil
	}
	return h.cfg.Disk.Check(max(n, 0))
}

// refuseUpload answers 507. A refusal by a cap goes to the Observer (the
// phone's timeline); one by the free-space floor does not: below the floor
// nothing a phone sends should make the appliance write more (the floor
// logs its crossings and counts its refusals). Neither is logged here:
// caps refuse uploads routinely and are counted in the Quota's stats.
func (h *updateHandler) refuseUpload(w http.ResponseWriter, up Upload, err error) {
	up.Refused = err.Error()
	if !errors.Is(err, ErrDiskLow) {
		h.cfg.Observer.Uploaded(up)
	}
	// The client may still be sending: the connection ends rather than
	// the rest being read.
	w.Header().Set("Connection", "close")
	http.Error(w, "upload refused: "+up.Refused, http.StatusInsufficientStorage)
}

// quotaWriter counts every write against a reservation and the free-space
// floor before making it: the caps hold while a body streams.
type quotaWriter struct {
	w    io.Writer
	res  *reservation
	disk *DiskFloor
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if err := q.res.grow(int64(len(p))); err != nil {
		return 0, err
	}
	if q.disk != nil {
		if err := q.disk.Take(int64(len(p))); err != nil {
			return 0, err
		}
	}
	return q.w.Write(p)
}

// copyUpload writes the already-read head and, unless it was the whole body,
// the rest of body, failing with errUploadTooLarge past max bytes.
func copyUpload(w io.Writer, head []byte, complete bool, body io.Reader, max int64) (int64, error) {
	if _, err := w.Write(head); err != nil {
		return 0, err
	}
	size := int64(len(head))
	if complete {
		return size, nil
	}
	n, err := io.Copy(w, io.LimitReader(body, max-size+1))
	size += n
	switch {
	case err != nil:
		return size, err
	case size > max:
		return size, errUploadTooLarge
	}
	return size, nil
}

// queryMAC is a MAC given in the query under any MAC alias as parameter
// name, normalised, or "".
func queryMAC(r *http.Request) string {
	for k, vs := range r.URL.Query() {
		if kindOf(k) == kindMAC && len(vs) > 0 {
			if mac := NormalizeMAC(vs[0]); mac != "" {
				return mac
			}
		}
	}
	return ""
}

// bodyMAC is the MAC named by a whole body that is XML, or "".
func bodyMAC(body []byte) string {
	if !bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(body, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n"), []byte("<")) {
		return ""
	}
	if req, err := ParseRequest(body); err == nil {
		return req.MAC
	}
	return ""
}

// openQuotas counts UploadDir and CaptureDir when the Config brings no
// Quota for them. A failure is logged here, once: uploads then answer 500
// and check-in bodies are not captured.
func (h *updateHandler) openQuotas() {
	var err error
	if h.cfg.Uploads == nil && h.cfg.UploadDir != "" {
		if h.cfg.Uploads, err = OpenUploadQuota(h.cfg.UploadDir, Caps{}); err != nil {
			h.cfg.Uploads = nil
			h.cfg.Logger.Error("device uploads are refused", "err", err)
		}
	}
	if h.cfg.Captures == nil && h.cfg.CaptureDir != "" {
		if h.cfg.Captures, err = OpenCaptureQuota(h.cfg.CaptureDir, Caps{}); err != nil {
			h.cfg.Captures = nil
			h.cfg.Logger.Error("check-in bodies are not captured", "err", err)
		}
	}
}

// readErrRecorder remembers the client's read error, to tell it from the
// disk's write errors.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (e *readErrRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
