package r2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// xmlContentType is the Content-Type of every check-in response. Shared,
// never mutated: setting it allocates nothing per request.
var xmlContentType = []string{"text/xml; charset=utf-8"}

// bufPool holds the buffers a check-in reads its body into and renders its
// response into.
var bufPool = sync.Pool{New: func() any { return new(checkinBufs) }}

type checkinBufs struct {
	body  bytes.Buffer
	limit io.LimitedReader // reads the body, bounded; pooled so it is not allocated per check-in
	resp  []byte
}

// maxPooledBody is the largest body buffer kept for the next check-in.
// Phones send a few KiB; a buffer grown by a body near MaxBody goes to the
// collector, so the pool never hands every slow connection a large one.
const maxPooledBody = 16 << 10

// reusable reports whether bufs is small enough to keep for the next
// check-in.
func (b *checkinBufs) reusable() bool { return b.body.Cap() <= maxPooledBody }

// putBufs returns bufs to the pool unless its body buffer grew too large.
func putBufs(bufs *checkinBufs) {
	if bufs.reusable() {
		bufPool.Put(bufs)
	}
}

// serveCheckin answers POST …/ucdevice.upx: read the body (bounded), parse
// it, ask the planner (identified phones only), render, then audit, capture
// and tell the observer. Errors are logged here, once.
func (h *updateHandler) serveCheckin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	bufs := bufPool.Get().(*checkinBufs)
	defer putBufs(bufs)
	body, status := readBody(&bufs.body, &bufs.limit, r, h.cfg.MaxBody)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	now := h.cfg.Now()
	ip := clientIP(r)
	req, err := ParseRequest(body)
	if err != nil {
		h.cfg.Logger.Warn("check-in body is not well-formed XML", "client", ip, "err", err,
			"captured", h.capture(now, ip, CaptureMalformed, body))
		http.Error(w, "check-in body is not well-formed XML", http.StatusBadRequest)
		return
	}
	var offer Offer
	if req.Identified() {
		if offer, err = h.plan(r, req, ip); err != nil {
			h.cfg.Logger.Error("check-in", "client", ip, "device", req.DevicePath().String(), "mac", req.MAC, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	bufs.resp, err = AppendResponse(bufs.resp[:0], offer, now)
	if err != nil {
		h.cfg.Logger.Error("check-in", "client", ip, "device", req.DevicePath().String(), "mac", req.MAC, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = xmlContentType
	hdr["Content-Length"] = contentLength(len(bufs.resp))
	w.WriteHeader(http.StatusOK)
	w.Write(bufs.resp) // a phone that went away learns nothing from an error here
	h.record(now, ip, req, offer, body)
}

// plan asks the planner; a missing planner is a configuration error.
func (h *updateHandler) plan(r *http.Request, req *Request, ip string) (Offer, error) {
	if h.cfg.Planner == nil {
		return Offer{}, errors.New("no planner configured")
	}
	offer, err := h.cfg.Planner.PlanNextHop(r.Context(), req, ip)
	if err != nil {
		return Offer{}, fmt.Errorf("planning next hop: %w", err)
	}
	return offer, nil
}

// record writes the audit row, keeps the body when it should be captured and
// tells the observer about an answered check-in (identified or not).
func (h *updateHandler) record(now time.Time, ip string, req *Request, offer Offer, body []byte) {
	if h.cfg.Audit != nil {
		err := h.cfg.Audit.Write(AuditEntry{At: now, UserHost: ip, Request: req, Updates: offer.Updates})
		if err != nil {
			h.cfg.Logger.Error("check-in audit row", "client", ip, "err", err)
		}
	}
	var captured string
	if reason := captureReason(req, h.cfg.CaptureAll); reason != "" {
		captured = h.capture(now, ip, reason, body)
	}
	h.cfg.Observer.CheckedIn(CheckIn{At: now, ClientIP: ip, Request: req, Offer: offer, Captured: captured})
}

// capture keeps body under CaptureDir and returns its path, or "" when
// captures are off or failed. A failure is logged and never fails the
// check-in.
func (h *updateHandler) capture(now time.Time, ip, reason string, body []byte) string {
	if h.cfg.CaptureDir == "" {
		return ""
	}
	path, err := h.keepCapture(now, ip, reason, body)
	if err != nil {
		h.cfg.Logger.Error("check-in", "client", ip, "err", captureErr(reason, err))
		return ""
	}
	return path
}

// readBody reads at most max bytes of r's body into buf through limit. It
// returns a non-zero HTTP status when the body is too large (413) or could
// not be read (400).
//
// buf grows as bytes arrive, never to the declared Content-Length: anyone
// on the lab switch can declare MaxBody and send ten bytes, slowly, from
// thousands of connections.
func readBody(buf *bytes.Buffer, limit *io.LimitedReader, r *http.Request, max int64) ([]byte, int) {
	if r.ContentLength > max {
		return nil, http.StatusRequestEntityTooLarge
	}
	buf.Reset()
	*limit = io.LimitedReader{R: r.Body, N: max + 1}
	n, err := buf.ReadFrom(limit)
	limit.R = nil // the pool must not keep the connection's body
	switch {
	case n > max:
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return buf.Bytes(), 0
}

// contentLengths caches Content-Length header values of responses up to
// maxCachedLength bytes; a check-in answer is one of a few lengths, and
// each value is shared, never mutated, like xmlContentType.
var contentLengths [maxCachedLength + 1]atomic.Pointer[[]string]

const maxCachedLength = 4 << 10

// contentLength is the Content-Length header value for n bytes.
func contentLength(n int) []string {
	if n < 0 || n > maxCachedLength {
		return []string{strconv.Itoa(n)}
	}
	if v := contentLengths[n].Load(); v != nil {
		return *v
	}
	v := []string{strconv.Itoa(n)}
	contentLengths[n].Store(&v)
	return v
}
