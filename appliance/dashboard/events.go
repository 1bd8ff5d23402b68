package dashboard

import (
	"iter"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// Live feed tuning.
const (
	feedBuffer      = 4096                   // the hub's store subscription
	clientBuffer    = 8                      // frames a browser may be behind before it gets a refresh
	coalesceEvery   = 500 * time.Millisecond // changes are batched into one frame per interval
	maxRowsPerFrame = 200                    // rows per frame: a burst rolls in over several frames
	writeTimeout    = 10 * time.Second       // a stream whose browser does not read for this long ends
	heartbeat       = 25 * time.Second
)

// Stream topics: which changes a browser wants.
const (
	topicFleet  = "fleet"  // rows and summary of changed phones
	topicDevice = "device" // a refresh when one phone changes
	topicAdmin  = "admin"  // a refresh when rules, images or test devices change
)

var refreshFrame = []byte("event: refresh\ndata: {}\n\n")

// hub is the one store subscription of the dashboard. It coalesces changes,
// renders each update once and fans the frames out to the streams without
// ever blocking: the store's feed drops for the hub, and the hub drops for
// a browser whose buffer is full (replacing what it missed by a refresh).
// So neither a slow browser nor the rendering ever holds up Observe. Its
// work is bounded by the frame rate, not by the check-in rate: at most
// maxRowsPerFrame rows every coalesceEvery, however many phones changed.
// It also keeps the fleet index (fleetindex.go) up to date, one store
// lookup per changed phone; a frame reads only its changed phones from the
// store and the summary from the index's counts, never the whole fleet.
type hub struct {
	st     Store
	fleet  *fleetIndex
	now    func() time.Time
	render func(changed map[string]bool, added int) []byte // a fleet "rows" frame
	log    *slog.Logger
	syncs  chan chan struct{} // page requests waiting for the index to catch up
	// rebuilds counts the index's rebuilds after a lagged feed (IndexRebuilds).
	rebuilds atomic.Uint64

	mu      sync.Mutex
	clients map[*streamClient]struct{}
	// shown counts, per phone, the fleet streams whose page shows it: a
	// changed phone no open page shows costs no row in any frame.
	shown   map[string]int
	done    chan struct{}
	closed  bool
	stopped chan struct{}
}

type streamClient struct {
	topic    string
	deviceID string
	// shown are the phones on the fleet page (or kiosk) a fleet stream
	// was opened for: only their rows are sent (fleetRows).
	shown []string
	ch    chan []byte
}

func newHub(st Store, fleet *fleetIndex, now func() time.Time, render func(map[string]bool, int) []byte, log *slog.Logger) *hub {
	return &hub{st: st, fleet: fleet, now: now, render: render, log: log, syncs: make(chan chan struct{}),
		clients: map[*streamClient]struct{}{}, shown: map[string]int{}, done: make(chan struct{}), stopped: make(chan struct{})}
}

// pendingRows is the ordered set of phones whose fleet rows are still to
// be sent, oldest change first.
type pendingRows struct {
	order []string
	in    map[string]bool
}

func (p *pendingRows) add(id string) {
	if p.in == nil {
		p.in = map[string]bool{}
	}
	if !p.in[id] {
		p.in[id] = true
		p.order = append(p.order, id)
	}
}

// take removes and returns up to n phones.
func (p *pendingRows) take(n int) map[string]bool {
	n = min(n, len(p.order))
	out := make(map[string]bool, n)
	for _, id := range p.order[:n] {
		out[id] = true
		delete(p.in, id)
	}
	p.order = p.order[n:]
	return out
}

func (p *pendingRows) reset() { p.order, p.in = nil, nil }

// tick is what changed during one interval.
type tick struct {
	devices map[string]bool // devices and timelines
	admin   bool
	lagged  bool // the hub's subscription dropped changes
	added   int  // phones new to the fleet
}

// indexState is what the fleet index has yet to hear of.
type indexState struct {
	pending map[string]bool
	lagged  bool // changes were dropped: rebuild from the store
}

func (h *hub) run() {
	defer close(h.stopped)
	sub := h.st.Subscribe(feedBuffer)
	defer sub.Close()
	// Subscribed first, so nothing between the read and the feed is missed.
	h.fleet.rebuild(allDevices(h.st), h.now())
	ticker := time.NewTicker(coalesceEvery)
	defer ticker.Stop()
	var rows pendingRows
	t := tick{devices: map[string]bool{}}
	ix := indexState{pending: map[string]bool{}}
	note := func(c store.Change) {
		t.lagged = t.lagged || c.Lagged
		ix.lagged = ix.lagged || c.Lagged
		switch c.Table {
		case "devices", "events":
			t.devices[c.ID] = true
			ix.pending[c.ID] = true
		default:
			t.admin = true
		}
	}
	for {
		select {
		case <-h.done:
			return
		case c, ok := <-sub.C:
			if !ok {
				return
			}
			note(c)
		case reply := <-h.syncs:
			drain(sub.C, note)
			t.added += h.catchUp(&ix)
			close(reply)
		case <-ticker.C:
			t.added += h.catchUp(&ix)
			h.fleet.recount(h.now())
			h.publish(t, &rows)
			t = tick{devices: map[string]bool{}}
		}
	}
}

// drain hands note every change already in c, without waiting.
func drain(c <-chan store.Change, note func(store.Change)) {
	for {
		select {
		case ch, ok := <-c:
			if !ok {
				return
			}
			note(ch)
		default:
			return
		}
	}
}

// catchUp brings the fleet index up to date: one store lookup per changed
// phone, or, when the feed lagged, a rebuild that walks the store in place
// (allDevices), never a copy of the fleet. It returns how many phones are
// new.
func (h *hub) catchUp(ix *indexState) int {
	if ix.lagged {
		start := time.Now()
		h.fleet.rebuild(allDevices(h.st), h.now())
		n := h.rebuilds.Add(1)
		h.log.Debug("dashboard change feed lagged: fleet index rebuilt from the store",
			"phones", h.fleet.phones(), "took", time.Since(start), "rebuilds", n)
		clear(ix.pending)
		ix.lagged = false
		return 0 // the lag sends every stream a refresh anyway
	}
	if len(ix.pending) == 0 {
		return 0
	}
	ids := make([]string, 0, len(ix.pending))
	for id := range ix.pending {
		ids = append(ids, id)
	}
	clear(ix.pending)
	return len(h.fleet.update(h.st, ids, h.now()))
}

// allDevices is every phone in st, read in place: each *Device is the
// store's own (store.Store.EachDevice), read-only and not to be kept past
// the loop body that gets it.
func allDevices(st Store) iter.Seq[*store.Device] {
	return func(yield func(*store.Device) bool) { st.EachDevice(nil, yield) }
}

// sync returns once the fleet index has every change the store published
// before it was called (a page reads the store first, which commits the
// store's open batch and publishes it).
func (h *hub) sync() {
	h.st.Device("") // commits the store's batch: its changes are on the feed
	reply := make(chan struct{})
	select {
	case h.syncs <- reply:
	case <-h.stopped:
		return
	}
	select {
	case <-reply:
	case <-h.stopped:
	}
}

// publish renders at most maxRowsPerFrame changed rows once — only rows
// some open fleet page shows — and offers the frame to every fleet stream;
// device and admin streams get a refresh when what they show changed.
// When the hub itself lagged it does not know what changed, so every
// stream gets a refresh.
func (h *hub) publish(t tick, rows *pendingRows) {
	h.mu.Lock()
	clients := make([]*streamClient, 0, len(h.clients))
	wantFleet := false
	for c := range h.clients {
		clients = append(clients, c)
		wantFleet = wantFleet || c.topic == topicFleet
	}
	for id := range t.devices {
		if h.shown[id] > 0 {
			rows.add(id)
		}
	}
	h.mu.Unlock()
	if !wantFleet || t.lagged {
		rows.reset() // a new fleet page, or the refresh, renders everything
	}
	var frame []byte
	if wantFleet && !t.lagged && (len(rows.order) > 0 || len(t.devices) > 0 || t.added > 0) {
		// The summary changes with any phone, shown or not.
		frame = h.render(rows.take(maxRowsPerFrame), t.added)
	}
	for _, c := range clients {
		switch {
		case t.lagged:
			c.offer(refreshFrame)
		case c.topic == topicFleet && frame != nil:
			c.offer(frame)
		case c.topic == topicDevice && t.devices[c.deviceID]:
			c.offer(refreshFrame)
		case c.topic == topicAdmin && t.admin:
			c.offer(refreshFrame)
		}
	}
}

// offer never blocks: when the browser is clientBuffer frames behind, its
// oldest frame goes and a refresh takes the new one's place.
func (c *streamClient) offer(frame []byte) {
	select {
	case c.ch <- frame:
		return
	default:
	}
	select {
	case <-c.ch:
	default:
	}
	select {
	case c.ch <- refreshFrame:
	default:
	}
}

func (h *hub) add(c *streamClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	for _, id := range c.shown {
		h.shown[id]++
	}
	return true
}

func (h *hub) remove(c *streamClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	for _, id := range c.shown {
		if h.shown[id]--; h.shown[id] <= 0 {
			delete(h.shown, id)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// streams is how many event streams are open.
func (h *hub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// serveEvents is GET /events?topic=fleet|admin or ?device=ID: a
// server-sent event stream. It ends on Close, when the request's context
// ends, or when a write does not finish within writeTimeout.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	c := &streamClient{topic: r.URL.Query().Get("topic"), ch: make(chan []byte, clientBuffer)}
	if id := r.URL.Query().Get("device"); id != "" {
		c.topic, c.deviceID = topicDevice, id
	}
	switch c.topic {
	case topicFleet:
		if !d.fleetShown(w, r, c) {
			return
		}
	case topicAdmin, topicDevice:
	default:
		http.Error(w, "unknown topic", http.StatusBadRequest)
		return
	}
	if !d.hub.add(c) {
		http.Error(w, "dashboard is shutting down", http.StatusServiceUnavailable)
		return
	}
	defer d.hub.remove(c)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n: connected\n\n")) {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		var frame []byte
		select {
		case <-r.Context().Done():
			return
		case <-d.hub.done:
			return
		case <-beat.C:
			frame = []byte(": heartbeat\n\n")
		case frame = <-c.ch:
		}
		if !write(frame) {
			return
		}
	}
}

// fleetShown sets the phones a fleet stream sends rows of: the page its
// query names (the fleet page's own ?q=, stage, sort, dir and offset),
// computed once, in a render gate slot, as the page is. It answers the
// client itself and reports false when the stream cannot go on.
func (d *Dashboard) fleetShown(w http.ResponseWriter, r *http.Request, c *streamClient) bool {
	q, err := parseFleetQuery(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	release, ok := d.renders.acquire(r.Context())
	if !ok {
		busy(w)
		return false
	}
	defer release()
	d.hub.sync()
	c.shown = d.fleet.page(q, fleetPageSize).IDs
	return true
}
