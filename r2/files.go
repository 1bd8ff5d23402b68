package r2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serveFile answers GET and HEAD under DeviceUpdateFiles_Int/ and _Ext/
// (both serve the same files; the URL the appliance handed out decides which
// a phone uses). prefixLen is the length of the matched prefix.
func (h *updateHandler) serveFile(w http.ResponseWriter, r *http.Request, prefixLen int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	rel, ok := firmwarePath(r, prefixLen)
	if !ok || h.cfg.Files == nil {
		http.NotFound(w, r)
		return
	}
	f, err := h.cfg.Files.OpenFile(rel)
	if err == nil && f.Content == nil {
		err = errors.New("Files returned no content")
	}
	switch {
	case errors.Is(err, ErrNoFile):
		http.NotFound(w, r)
		return
	case err != nil:
		h.cfg.Logger.Error("firmware file", "path", rel, "client", clientIP(r), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Content.Close()
	w.Header().Set("Content-Type", firmwareContentType(f.Name))
	if r.Method == http.MethodHead {
		http.ServeContent(w, r, f.Name, f.ModTime, f.Content)
		return
	}
	cw := &downloadWriter{ResponseWriter: w, h: h, d: Download{
		ClientIP: clientIP(r),
		Path:     r.URL.Path,
		File:     f.Name,
		Total:    f.Size,
	}, rangeHeader: r.Header.Get("Range")}
	stop := cw.watch(f.Content)
	http.ServeContent(cw, r, f.Name, f.ModTime, f.Content)
	stop()
	cw.finish()
}

// watch reports a running transfer every DownloadProgressInterval by
// reading the file's position: on Linux sendfile sends from the file's
// current offset and advances it, so the bytes flow through the kernel
// untouched and progress still shows. Only an *os.File is watched (its Seek
// is safe beside the transfer); other contents report start and end. The
// returned func stops the watch and waits for it.
func (cw *downloadWriter) watch(content io.ReadSeeker) (stop func()) {
	file, ok := content.(*os.File)
	if !ok {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(cw.h.cfg.DownloadProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if pos, err := file.Seek(0, io.SeekCurrent); err == nil {
					cw.polled(pos)
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// firmwarePath returns the part of the URL after the prefix, or false when
// it is not a plain relative path: empty, not in cleaned form, with ".."
// segments, backslashes, NULs, or '.', '/', '\' or NUL percent-encoded.
func firmwarePath(r *http.Request, prefixLen int) (string, bool) {
	raw := strings.ToLower(r.URL.EscapedPath())
	if strings.Contains(raw, "%2e") || strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%00") {
		return "", false
	}
	rel := r.URL.Path[prefixLen:]
	switch {
	case rel == "", strings.ContainsAny(rel, "\\\x00"):
		return "", false
	case path.Clean("/"+rel) != "/"+rel: // also catches every "." and ".." segment
		return "", false
	}
	return rel, true
}

// firmwareContentType is the MIME type IIS maps the OCS file types to
// [inferred]: the signed catalog as the Windows catalog type, everything
// else as bytes. Setting it keeps ServeContent from sniffing the content.
func firmwareContentType(name string) string {
	if strings.EqualFold(path.Ext(name), ".cat") {
		return "application/vnd.ms-pki.seccat"
	}
	return "application/octet-stream"
}

// downloadWriter counts the bytes of one transfer and reports progress to
// the Observer: when a 200 or 206 response starts, as watch polls the file
// position, and once at the end. ReadFrom passes straight through, so the
// kernel's sendfile carries the whole file in one call.
type downloadWriter struct {
	http.ResponseWriter
	h           *updateHandler
	rangeHeader string
	wroteHeader bool
	want        int64 // Content-Length of the transfer, -1 when unknown

	mu      sync.Mutex // d and started, shared with watch
	d       Download
	started bool  // a 200/206 transfer is being reported
	written int64 // bytes the writes confirmed
	err     error // the first write error
}

// Unwrap lets http.ResponseController reach the connection.
func (cw *downloadWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

func (cw *downloadWriter) WriteHeader(status int) {
	if cw.wroteHeader {
		return
	}
	cw.wroteHeader = true
	if status == http.StatusOK || status == http.StatusPartialContent {
		cw.begin(status)
	}
	cw.ResponseWriter.WriteHeader(status)
}

// begin fixes the transfer's offset and length from the headers ServeContent
// set, and reports the start.
func (cw *downloadWriter) begin(status int) {
	hdr := cw.ResponseWriter.Header()
	cw.want = -1
	if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil {
		cw.want = n
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if status == http.StatusPartialContent {
		start, total, ok := parseContentRange(hdr.Get("Content-Range"))
		if !ok { // multipart: several ranges; report the first one's start
			start, ok = firstRangeStart(cw.rangeHeader, cw.d.Total)
		}
		if ok {
			cw.d.Offset = start
		}
		if cw.d.Total <= 0 && total > 0 {
			cw.d.Total = total
		}
	} else if cw.d.Total <= 0 && cw.want >= 0 {
		cw.d.Total = cw.want
	}
	cw.started = true
	cw.report()
}

func (cw *downloadWriter) Write(p []byte) (int, error) {
	cw.WriteHeader(http.StatusOK)
	n, err := cw.ResponseWriter.Write(p)
	cw.count(int64(n), err)
	return n, err
}

// ReadFrom hands src to the underlying writer's ReadFrom whole:
// ServeContent gives it an *io.LimitedReader around the file, which
// net/http passes to sendfile.
func (cw *downloadWriter) ReadFrom(src io.Reader) (int64, error) {
	cw.WriteHeader(http.StatusOK)
	rf, ok := cw.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{cw}, src)
	}
	n, err := rf.ReadFrom(src)
	cw.count(n, err)
	return n, err
}

// count adds n bytes the writes confirmed.
func (cw *downloadWriter) count(n int64, err error) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.written += n
	cw.d.Sent = max(cw.d.Sent, cw.written)
	if err != nil && cw.err == nil {
		cw.err = err
	}
}

// polled reports the transfer as far as the file position pos shows it.
func (cw *downloadWriter) polled(pos int64) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	sent := pos - cw.d.Offset
	if cw.want >= 0 {
		sent = min(sent, cw.want)
	}
	if !cw.started || cw.d.Done || sent <= cw.d.Sent || sent == cw.want {
		return // nothing new; the end is finish's to report
	}
	cw.d.Sent = sent
	cw.report()
}

// finish reports the end of the transfer: Err is set when fewer bytes than
// the response announced were written (the phone went away).
func (cw *downloadWriter) finish() {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if !cw.started {
		return
	}
	cw.d.Sent = cw.written
	cw.d.Done = true
	switch {
	case cw.err != nil:
		cw.d.Err = cw.err.Error()
	case cw.want >= 0 && cw.d.Sent < cw.want:
		cw.d.Err = "transfer cut off after " + strconv.FormatInt(cw.d.Sent, 10) + " of " + strconv.FormatInt(cw.want, 10) + " bytes"
	}
	cw.report()
}

// report tells the Observer; called with mu held.
func (cw *downloadWriter) report() {
	cw.d.At = cw.h.cfg.Now()
	cw.h.cfg.Observer.Downloaded(cw.d)
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*").
func parseContentRange(s string) (start, total int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, _ := strings.Cut(s, "/")
	first, _, _ := strings.Cut(rng, "-")
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total, _ = strconv.ParseInt(tot, 10, 64)
	return start, total, true
}

// firstRangeStart is where the first range of a Range header starts:
// "bytes=500-" and "bytes=500-999" start at 500, "bytes=-500" at size-500.
func firstRangeStart(h string, size int64) (int64, bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found {
		return 0, false
	}
	first, _, _ := strings.Cut(spec, ",")
	a, b, found := strings.Cut(strings.TrimSpace(first), "-")
	if !found {
		return 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || size <= 0 {
			return 0, false
		}
		return max(size-n, 0), true
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil && n >= 0
}
