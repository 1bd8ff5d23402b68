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
// the client IP.
func (h *updateHandler) serveUpload(w http.ResponseWriter, r *http.Request) {
	if h.cfg.UploadDir == "" {
		http.NotFound(w, r)
		return
	}
	max := h.cfg.MaxUpload
	if r.ContentLength > max {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	now, ip := h.cfg.Now(), clientIP(r)
	head := make([]byte, min(uploadPeek, max+1))
	n, err := io.ReadFull(r.Body, head)
	complete := err == io.EOF || err == io.ErrUnexpectedEOF
	if err != nil && !complete {
		http.Error(w, "reading upload", http.StatusBadRequest)
		return
	}
	head = head[:n]
	if int64(n) > max {
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	}
	dir := filepath.Join(h.cfg.UploadDir, uploadDevice(r, head, complete, ip))
	name := now.UTC().Format(captureStampLayout) + "_" + sanitizeFileName(path.Base(r.URL.Path), "upload")
	var size int64
	body := &readErrRecorder{r: r.Body}
	stored, err := writeFileAtomic(dir, name, true, func(f io.Writer) (err error) {
		size, err = copyUpload(f, head, complete, body, max)
		return err
	})
	switch {
	case errors.Is(err, errUploadTooLarge):
		http.Error(w, http.StatusText(http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge)
		return
	case body.err != nil:
		http.Error(w, "reading upload", http.StatusBadRequest)
		return
	case err != nil:
		h.cfg.Logger.Error("device upload", "client", ip, "path", r.URL.Path, "err", fmt.Errorf("storing: %w", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.cfg.Observer.Uploaded(Upload{At: now, ClientIP: ip, Path: r.URL.Path, Stored: stored, Size: size})
	w.WriteHeader(http.StatusOK)
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

// uploadDevice names the folder of an upload: a MAC given in the query
// (any MAC alias as parameter name), else the MAC of a small XML body, else
// the client IP.
func uploadDevice(r *http.Request, head []byte, complete bool, ip string) string {
	for k, vs := range r.URL.Query() {
		if kindOf(k) == kindMAC && len(vs) > 0 {
			if mac := NormalizeMAC(vs[0]); mac != "" {
				return mac
			}
		}
	}
	if complete && bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n"), []byte("<")) {
		if req, err := ParseRequest(head); err == nil && req.MAC != "" {
			return req.MAC
		}
	}
	return sanitizeFileName(ip, "unknown")
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
