package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// The fleet page and the kiosk are public (the kiosk always), so what one
// anonymous request costs is bounded: the summary comes from the fleet
// index's counts, the table is one page of at most fleetPageSize phones
// (filtered and sorted over the whole fleet first, on the index), and at
// most maxFleetRenders of them run at once. Others wait up to
// fleetRenderWait for a turn, at most maxFleetWaiting of them; the rest are
// refused at once with 503 and Retry-After.
const (
	fleetPageSize    = 200
	maxFleetRenders  = 4
	maxFleetWaiting  = 32
	fleetRenderWait  = 2 * time.Second
	fleetRetryAfter  = "5" // seconds
	maxFilterLen     = 100 // bytes of filter text
	fleetQueryOffset = "offset"
)

// renderGate caps concurrent heavy renders without ever queueing
// unboundedly.
type renderGate struct {
	slots      chan struct{}
	waiting    atomic.Int32
	maxWaiting int32
	wait       time.Duration
}

func newRenderGate(n, maxWaiting int, wait time.Duration) *renderGate {
	return &renderGate{slots: make(chan struct{}, n), maxWaiting: int32(maxWaiting), wait: wait}
}

// acquire takes a render slot, waiting up to the gate's wait; ok is false
// when the gate is full, the wait ran out or ctx ended.
func (g *renderGate) acquire(ctx context.Context) (release func(), ok bool) {
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, true
	default:
	}
	if g.waiting.Add(1) > g.maxWaiting {
		g.waiting.Add(-1)
		return nil, false
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

// sortColumn is a column of the phone table: its query name, its header
// and how it orders two phones (before the direction is applied).
type sortColumn struct {
	key, label string
	numeric    bool
	cmp        func(a, b *fleetEntry) int
}

const sortByID = 0 // the MAC column sorts by ID: the store's order

var sortColumns = []sortColumn{
	{"mac", "MAC", false, func(a, b *fleetEntry) int { return strings.Compare(a.id, b.id) }},
	{"serial", "Serial", false, func(a, b *fleetEntry) int { return strings.Compare(a.serial, b.serial) }},
	{"model", "Model", false, func(a, b *fleetEntry) int { return strings.Compare(a.model, b.model) }},
	{"ip", "IP", false, func(a, b *fleetEntry) int { return strings.Compare(a.ip, b.ip) }},
	{"started", "Started", false, func(a, b *fleetEntry) int { return a.first.Compare(b.first) }},
	{"current", "Current", false, func(a, b *fleetEntry) int { return a.version.Compare(b.version) }},
	{"next", "Next hop", false, func(a, b *fleetEntry) int { return a.offered.Compare(b.offered) }},
	{"stage", "Stage", false, func(a, b *fleetEntry) int { return int(a.stage) - int(b.stage) }},
	{"download", "Download", true, func(a, b *fleetEntry) int { return int(a.pct) - int(b.pct) }},
	{"seen", "Last seen", true, func(a, b *fleetEntry) int { return cmpInt64(a.lastSeen, b.lastSeen) }},
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fleetQuery is what the fleet page shows: ?q= (text), ?stage=, ?sort=,
// ?dir=desc and ?offset= (the first row, 0-based).
type fleetQuery struct {
	Stage  int    // index in store.Stages; -1: every stage
	Text   string // lower case
	Sort   int    // index in sortColumns
	Desc   bool
	Offset int

	raw string // Text as typed
}

func parseFleetQuery(v url.Values) (fleetQuery, error) {
	q := fleetQuery{Stage: -1, raw: strings.TrimSpace(v.Get("q"))}
	if len(q.raw) > maxFilterLen {
		return q, fmt.Errorf("filter text is %d bytes: at most %d", len(q.raw), maxFilterLen)
	}
	q.Text = strings.ToLower(q.raw)
	if s := v.Get("stage"); s != "" {
		q.Stage = stageIndexOf(store.Stage(s))
		if q.Stage < 0 {
			return q, fmt.Errorf("unknown stage %q: one of %s", s, stageNames())
		}
	}
	if s := v.Get("sort"); s != "" {
		q.Sort = -1
		for i, c := range sortColumns {
			if c.key == s {
				q.Sort = i
			}
		}
		if q.Sort < 0 {
			return q, fmt.Errorf("unknown sort column %q: one of %s", s, sortNames())
		}
	}
	switch dir := v.Get("dir"); dir {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, fmt.Errorf("unknown sort direction %q: asc or desc", dir)
	}
	if s := v.Get(fleetQueryOffset); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, fmt.Errorf("offset %q is not a row number (0 or more)", s)
		}
		q.Offset = n
	}
	return q, nil
}

func stageIndexOf(s store.Stage) int {
	for i, st := range store.Stages {
		if st == s {
			return i
		}
	}
	return -1
}

func stageNames() string {
	names := make([]string, len(store.Stages))
	for i, s := range store.Stages {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func sortNames() string {
	names := make([]string, len(sortColumns))
	for i, c := range sortColumns {
		names[i] = c.key
	}
	return strings.Join(names, ", ")
}

// url is the page at path showing q, from row offset.
func (q fleetQuery) url(path string, offset int) string {
	v := url.Values{}
	if q.raw != "" {
		v.Set("q", q.raw)
	}
	if q.Stage >= 0 {
		v.Set("stage", string(store.Stages[q.Stage]))
	}
	if q.Sort != sortByID {
		v.Set("sort", sortColumns[q.Sort].key)
	}
	if q.Desc {
		v.Set("dir", "desc")
	}
	if offset > 0 {
		v.Set(fleetQueryOffset, strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// fleetHeader is a column header: a link that sorts by it (again: the
// other way).
type fleetHeader struct {
	Label, Href, Class string
	Numeric            bool
}

// fleetData is the fleet page and the kiosk.
type fleetData struct {
	page
	Summary  fleetSummary
	Stages   []stageCount  // the filter's choices
	RowsHTML template.HTML // the phone table's rows (see appendRow)
	Path     string        // "/" or "/kiosk"
	Filter   string        // the filter text as typed
	Stage    string        // the stage filter, "" for all
	Sort     string        // the sort column's key, "" for the default
	Dir      string        // "desc", or ""
	Headers  []fleetHeader
	Shown    string // "13 phones", "5 of 13 phones"
	Range    string // "rows 201–400 of 5000", "" when one page holds them all
	Prev     string // the previous page's link, or ""
	Next     string // the next page's link, or ""
	First    string // the first page's link, when past the end
	Empty    bool   // no phones at all
}

// fleetPage is GET /: the fleet (through the render gate, see routes).
// kioskPage is GET /kiosk: the same, read-only and full screen for a bench
// screen, public whatever PublicReadOnly says, never showing forms.
func (d *Dashboard) fleetPage(w http.ResponseWriter, r *http.Request, s session) {
	d.serveFleet(w, r, s, false)
}

func (d *Dashboard) kioskPage(w http.ResponseWriter, r *http.Request, _ session) {
	d.serveFleet(w, r, session{}, true)
}

func (d *Dashboard) serveFleet(w http.ResponseWriter, r *http.Request, s session, kiosk bool) {
	q, err := parseFleetQuery(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d.render(w, "fleet", d.fleetData(r, s, q, kiosk))
}

// gated runs h, a page whose work grows with the fleet, in one of the
// render gate's slots; when none is free in time the client gets 503 with
// Retry-After. The page is rendered into memory and the slot given back
// before it is written, so a client that reads slowly holds no slot.
func (d *Dashboard) gated(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, s session) {
		release, ok := d.renders.acquire(r.Context())
		if !ok {
			busy(w)
			return
		}
		bw := &bufferedResponse{header: w.Header(), code: http.StatusOK}
		func() {
			defer release() // even if h panics (net/http recovers it)
			h(bw, r, s)
		}()
		w.WriteHeader(bw.code)
		w.Write(bw.body.Bytes())
	}
}

// busy answers a client the render gate turned away.
func busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", fleetRetryAfter)
	http.Error(w, "the dashboard is busy showing the fleet to other clients: retry in a few seconds", http.StatusServiceUnavailable)
}

// bufferedResponse keeps a page until its render slot is given back.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

func (d *Dashboard) fleetData(r *http.Request, s session, q fleetQuery, kiosk bool) fleetData {
	p := newPage(r, s, "Fleet", "fleet")
	// The stream names the page, so it sends rows of these phones only.
	p.Stream = "topic=" + topicFleet
	if v := strings.TrimPrefix(q.url("", q.Offset), "?"); v != "" {
		p.Stream += "&" + v
	}
	path := "/"
	if kiosk {
		p.Title, p.Nav, p.Kiosk = "Kiosk", "kiosk", true
		path = "/kiosk"
	}
	d.hub.sync() // the index has every change made before this request
	now := d.cfg.Now()
	res := d.fleet.page(q, fleetPageSize)
	med := d.fleet.medians(now)
	rows := make([]byte, 0, len(res.IDs)*700)
	for _, id := range res.IDs {
		if dev, ok := d.st.Device(id); ok {
			row := makeRow(&dev, med, now)
			rows = appendRow(rows, &row)
		}
	}
	sum := d.fleet.summary()
	data := fleetData{page: p, Summary: sum, Stages: sum.Stages, RowsHTML: template.HTML(rows), Path: path,
		Filter: q.raw, Empty: res.Total == 0}
	if q.Stage >= 0 {
		data.Stage = string(store.Stages[q.Stage])
	}
	if q.Sort != sortByID {
		data.Sort = sortColumns[q.Sort].key
	}
	if q.Desc {
		data.Dir = "desc"
	}
	data.Headers = fleetHeaders(q, path)
	data.Shown = shownText(res)
	paginate(&data, q, res, path)
	return data
}

func fleetHeaders(q fleetQuery, path string) []fleetHeader {
	hs := make([]fleetHeader, len(sortColumns))
	for i, c := range sortColumns {
		o := q
		o.Sort, o.Desc = i, false
		h := fleetHeader{Label: c.label, Numeric: c.numeric}
		if i == q.Sort {
			o.Desc = !q.Desc
			h.Class = "asc"
			if q.Desc {
				h.Class = "desc"
			}
		}
		h.Href = o.url(path, 0)
		hs[i] = h
	}
	return hs
}

func shownText(res fleetPageResult) string {
	s := "s"
	if res.Total == 1 {
		s = ""
	}
	if res.Matched == res.Total {
		return fmt.Sprintf("%d phone%s", res.Total, s)
	}
	return fmt.Sprintf("%d of %d phone%s", res.Matched, res.Total, s)
}

// paginate sets the range text and the links to the neighbouring pages.
func paginate(data *fleetData, q fleetQuery, res fleetPageResult, path string) {
	if res.Matched <= fleetPageSize && q.Offset == 0 {
		return
	}
	from := min(q.Offset, res.Matched)
	to := min(from+fleetPageSize, res.Matched)
	if from == to {
		data.Range = fmt.Sprintf("no rows past row %d: %d match", q.Offset, res.Matched)
		data.First = q.url(path, 0)
		return
	}
	data.Range = fmt.Sprintf("rows %d–%d of %d", from+1, to, res.Matched)
	if from > 0 {
		data.Prev = q.url(path, max(0, from-fleetPageSize))
	}
	if to < res.Matched {
		data.Next = q.url(path, to)
	}
}

// phonesNamed is, for the test devices page, the phone each test device
// names, from the fleet index brought up to date first.
func (d *Dashboard) phonesNamed(tds []store.TestDevice) map[string]string {
	d.hub.sync()
	return d.fleet.phonesNamed(tds)
}
