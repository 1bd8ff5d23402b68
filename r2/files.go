package r2

import (
	"errors"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
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
	http.ServeContent(cw, r, f.Name, f.ModTime, f.Content)
	cw.finish()
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
// the Observer: when a 200 or 206 response starts, each
// DownloadProgressEvery bytes, and once at the end. It passes ReadFrom
// through in DownloadProgressEvery chunks so the kernel's sendfile still
// carries the file.
type downloadWriter struct {
	http.ResponseWriter
	h           *updateHandler
	d           Download
	rangeHeader string
	wroteHeader bool
	started     bool  // a 200/206 transfer is being reported
	want        int64 // Content-Length of the transfer, -1 when unknown
	nextReport  int64 // d.Sent at which to report next
	err         error // the first write error
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
	cw.started = true
	cw.want = -1
	if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil {
		cw.want = n
	}
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
	cw.nextReport = cw.h.cfg.DownloadProgressEvery
	cw.report()
}

// Write splits p at progress steps so each step is reported.
func (cw *downloadWriter) Write(p []byte) (int, error) {
	cw.WriteHeader(http.StatusOK)
	if !cw.started {
		return cw.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		chunk := p
		if step := cw.nextReport - cw.d.Sent; step > 0 && int64(len(chunk)) > step {
			chunk = chunk[:step]
		}
		n, err := cw.ResponseWriter.Write(chunk)
		written += n
		cw.count(int64(n), err)
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// ReadFrom sends src in DownloadProgressEvery chunks through the underlying
// writer's ReadFrom. ServeContent hands it an *io.LimitedReader around the
// file; unwrapping it keeps the file visible to sendfile.
func (cw *downloadWriter) ReadFrom(src io.Reader) (int64, error) {
	cw.WriteHeader(http.StatusOK)
	rf, ok := cw.ResponseWriter.(io.ReaderFrom)
	switch {
	case !ok:
		return io.Copy(struct{ io.Writer }{cw}, src)
	case !cw.started:
		return rf.ReadFrom(src)
	}
	inner, remaining := src, int64(-1)
	if lr, ok := src.(*io.LimitedReader); ok {
		inner, remaining = lr.R, lr.N
		defer func() { lr.N = remaining }()
	}
	var total int64
	for remaining != 0 {
		chunk := cw.nextReport - cw.d.Sent
		if remaining > 0 && remaining < chunk {
			chunk = remaining
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: inner, N: chunk})
		total += n
		if remaining > 0 {
			remaining -= n
		}
		cw.count(n, err)
		if err != nil {
			return total, err
		}
		if n < chunk { // the source ended
			break
		}
	}
	return total, nil
}

// count adds n sent bytes and reports when a progress step is passed.
func (cw *downloadWriter) count(n int64, err error) {
	cw.d.Sent += n
	if err != nil && cw.err == nil {
		cw.err = err
	}
	if cw.d.Sent >= cw.nextReport && !cw.d.Done {
		for cw.nextReport <= cw.d.Sent {
			cw.nextReport += cw.h.cfg.DownloadProgressEvery
		}
		if cw.want < 0 || cw.d.Sent < cw.want {
			cw.report()
		}
	}
}

// finish reports the end of the transfer: Err is set when fewer bytes than
// the response announced were written (the phone went away).
func (cw *downloadWriter) finish() {
	if !cw.started {
		return
	}
	cw.d.Done = true
	switch {
	case cw.err != nil:
		cw.d.Err = cw.err.Error()
	case cw.want >= 0 && cw.d.Sent < cw.want:
		cw.d.Err = "transfer cut off after " + strconv.FormatInt(cw.d.Sent, 10) + " of " + strconv.FormatInt(cw.want, 10) + " bytes"
	}
	cw.report()
}

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
