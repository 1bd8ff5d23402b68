package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

var (
	pageRow  = regexp.MustCompile(`<tr id="r-([^"]+)"`)
	pageLink = regexp.MustCompile(`<a id="(next|prev|first)-page"[^>]* href="([^"]+)"`)
)

func pageRows(body string) []string {
	var ids []string
	for _, m := range pageRow.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func pageLinks(body string) map[string]string {
	links := map[string]string{}
	for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
		links[m[1]] = html.UnescapeString(m[2])
	}
	return links
}

// TestFleetPages: the fleet and the kiosk show one page of at most
// fleetPageSize phones, with plain links to the pages around it that keep
// the filter and the sort.
func TestFleetPages(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t)
	now := time.Now()
	for i := range 450 {
		checkIn(e.st, i, []images.DevicePath{cx700, ip8540}[i%2], beta, now.Add(-time.Duration(i)*time.Second))
	}
	c := e.client(t)
	for _, tc := range []struct {
		name      string
		path      string
		rows      int
		first     string
		shown     string
		links     string // which links there are
		nextQuery string // in the next link
	}{
		{"first page", "/", 200, mac(0), "450 phones", "next", "offset=200"},
		{"middle page", "/?offset=200", 200, mac(200), "450 phones", "next,prev", "offset=400"},
		{"last page", "/?offset=400", 50, mac(400), "450 phones", "prev", ""},
		{"past the end", "/?offset=9000", 0, "", "450 phones", "first", ""},
		{"kiosk", "/kiosk", 200, mac(0), "450 phones", "next", "offset=200"},
		{"filtered", "/?q=ip8540", 200, mac(1), "225 of 450 phones", "next", "q=ip8540"},
		{"filtered, second page", "/?q=ip8540&offset=200", 25, mac(401), "225 of 450 phones", "prev", ""},
		{"sorted by last seen, newest first", "/?sort=seen&dir=desc", 200, mac(0), "450 phones", "next", "sort=seen"},
		{"sorted by last seen, oldest first", "/?sort=seen", 200, mac(449), "450 phones", "next", "sort=seen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.get(tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", tc.path, resp.Status)
			}
			rows := pageRows(body)
			if len(rows) != tc.rows || tc.rows > 0 && rows[0] != tc.first {
				t.Errorf("%d rows from %v, want %d from %s", len(rows), rows[:min(1, len(rows))], tc.rows, tc.first)
			}
			if !strings.Contains(body, `<span id="shown" class="muted" data-live>`+tc.shown+`</span>`) {
				t.Errorf("shown is not %q", tc.shown)
			}
			links := pageLinks(body)
			var have []string
			for _, k := range []string{"next", "prev", "first"} {
				if links[k] != "" {
					have = append(have, k)
				}
			}
			if strings.Join(have, ",") != tc.links {
				t.Errorf("links %v, want %s", links, tc.links)
			}
			if tc.nextQuery != "" && !strings.Contains(links["next"], tc.nextQuery) {
				t.Errorf("next link %q lacks %q", links["next"], tc.nextQuery)
			}
		})
	}
	// The next link leads to the next rows.
	_, body := c.get("/?q=ip8540")
	_, body2 := c.get(pageLinks(body)["next"])
	if rows := pageRows(body2); len(rows) != 25 || rows[0] != mac(401) {
		t.Errorf("following next: %d rows from %v", len(rows), rows[:min(1, len(rows))])
	}
	resp, body := c.get("/?sort=colour")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `unknown sort column "colour"`) {
		t.Errorf("bad sort: %s %q", resp.Status, body)
	}
}

// TestRenderGate: beyond the slots, requests wait their turn briefly, a
// bounded number of them; the rest are refused at once.
func TestRenderGate(t *testing.T) {
	g := newRenderGate(1, 1, 200*time.Millisecond)
	release, ok := g.acquire(context.Background())
	if !ok {
		t.Fatal("the first request got no slot")
	}
	waited := make(chan bool)
	go func() {
		r, ok := g.acquire(context.Background())
		if ok {
			r()
		}
		waited <- ok
	}()
	for g.waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, ok := g.acquire(context.Background()); ok {
		t.Error("a second waiter got a slot: the wait is not bounded")
	}
	release()
	if !<-waited {
		t.Error("the waiter did not get the slot given back")
	}
	hold, _ := g.acquire(context.Background())
	start := time.Now()
	if _, ok := g.acquire(context.Background()); ok {
		t.Error("got a slot while it was held")
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("gave up before the wait")
	}
	hold()
}

// TestFleetPageBusy: with every render slot taken and the wait queue full,
// the fleet, the kiosk and the other fleet-sized pages answer 503 with
// Retry-After, and the phone page still answers.
func TestFleetPageBusy(t *testing.T) {
	e := seededEnv(t, nil)
	e.d.renders = newRenderGate(1, 0, 10*time.Millisecond)
	release, _ := e.d.renders.acquire(context.Background())
	defer release()
	c := e.client(t)
	for _, path := range []string{"/", "/kiosk", "/firmware", "/testdevices"} {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "busy") {
			t.Errorf("%s while busy: %s, Retry-After %q", path, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := c.get("/phone/" + mac(1)); resp.StatusCode != http.StatusOK {
		t.Errorf("phone page while busy: %s", resp.Status)
	}
}

// countingStore counts the walks over the whole fleet (the dashboard's
// Store has no way to copy it).
type countingStore struct {
	Store
	devices atomic.Int64
}

func (s *countingStore) EachDevice(ws memdb.WatchSet, fn func(*store.Device) bool) {
	s.devices.Add(1)
	s.Store.EachDevice(ws, fn)
}

// TestFramesReadOnlyChangedPhones: after the index is built at start, live
// frames and page requests never walk the whole fleet in the store.
func TestFramesReadOnlyChangedPhones(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir+"/state", store.Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 50 {
		checkIn(st, i, cx700, beta, time.Now())
	}
	cs := &countingStore{Store: st}
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = testPassword
	d, err := New(cfg, cs, &fakeActions{st: st})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts := httptest.NewServer(d.Handler())
	defer ts.Close()
	srv := ts.URL
	resp, err := http.Get(srv + "/events?topic=fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for round := range 3 {
		download(st, round, 8<<20, 8<<20, time.Now())
		checkIn(st, 100+round, ip8540, beta, time.Now()) // a new phone
		for lines.Scan() && !strings.HasPrefix(lines.Text(), "data: ") {
		}
		if data := lines.Text(); !strings.Contains(data, mac(round)) || !strings.Contains(data, "waiting to install") {
			t.Fatalf("frame %d: %.300s", round, data)
		}
		if r, err := http.Get(srv + "/"); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("fleet page: %v %v", r, err)
		} else {
			r.Body.Close()
		}
	}
	if n := cs.devices.Load(); n != 1 {
		t.Errorf("the whole fleet was read %d times, want once (at start)", n)
	}
	if s := d.fleet.summary(); s.Total != 53 {
		t.Errorf("index holds %d phones, want 53", s.Total)
	}
}

// stallingStore holds the hub in its catch-up: its lookup of the phone
// stall says so on entered and waits for release.
type stallingStore struct {
	*countingStore
	stall            string
	entered, release chan struct{}
}

func (s *stallingStore) Device(id string) (store.Device, bool) {
	if id == s.stall {
		close(s.entered)
		<-s.release
	}
	return s.countingStore.Device(id)
}

// TestLaggedFeedRebuildsInPlace: when the store's change feed drops
// changes for the hub (it was held up while more than feedBuffer changes
// came), the fleet index is rebuilt by one walk of the store, the rebuild
// is counted and logged at Debug, and the index is the store's fleet again.
func TestLaggedFeedRebuildsInPlace(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir+"/state", store.Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 50 {
		checkIn(st, i, cx700, beta, time.Now())
	}
	ss := &stallingStore{countingStore: &countingStore{Store: st}, stall: mac(50), entered: make(chan struct{}), release: make(chan struct{})}
	var logged strings.Builder
	var logMu sync.Mutex
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = testPassword
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, ss, &fakeActions{st: st})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.hub.sync() // the hub runs and is subscribed

	checkIn(st, 50, ip8540, beta, time.Now())
	go d.hub.sync() // catches up on phone 50: stalls in its lookup
	select {
	case <-ss.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub never looked phone 50 up")
	}
	const burst = feedBuffer // two changes a check-in: twice the feed's room
	for i := range burst {
		checkIn(st, 100+i, cx700, interim, time.Now())
	}
	close(ss.release)
	d.hub.sync()

	if n := d.IndexRebuilds(); n != 1 {
		t.Errorf("%d rebuilds, want 1", n)
	}
	if n := ss.devices.Load(); n != 2 {
		t.Errorf("the fleet was walked %d times, want twice (at start and after the lag)", n)
	}
	var want []string
	st.EachDevice(nil, func(dev *store.Device) bool { want = append(want, dev.ID); return true })
	got := d.fleet.page(fleetQuery{Stage: -1}, len(want)+1)
	if got.Total != 51+burst || !slices.Equal(got.IDs, want) {
		t.Errorf("index after the rebuild: %d phones, want %d, IDs equal the store's: %v", got.Total, 51+burst, slices.Equal(got.IDs, want))
	}
	logMu.Lock()
	defer logMu.Unlock()
	if line := logged.String(); !strings.Contains(line, "fleet index rebuilt") || !strings.Contains(line, fmt.Sprintf("phones=%d", 51+burst)) {
		t.Errorf("no Debug line for the rebuild in %q", line)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStreamSendsRowsOfItsPage: a fleet stream opened for one page (the
// page's own query) gets the rows of the phones on that page and, for a
// change elsewhere, a frame with the summary alone; a bad query is refused.
func TestStreamSendsRowsOfItsPage(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir+"/state", store.Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = fleetPageSize + 50
	for i := range n {
		checkIn(st, i, cx700, beta, time.Now())
	}
	cfg := DefaultConfig(dir)
	cfg.AdminPassword = testPassword
	d, err := New(cfg, st, &fakeActions{st: st})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts := httptest.NewServer(d.Handler())
	defer ts.Close()

	// The second page names its stream in the page.
	r, err := http.Get(ts.URL + "/?offset=" + fmt.Sprint(fleetPageSize))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	wantStream := fmt.Sprintf(`data-stream="topic=fleet&amp;offset=%d"`, fleetPageSize)
	if !strings.Contains(string(page), wantStream) {
		t.Fatalf("second page lacks %s", wantStream)
	}
	resp, err := http.Get(ts.URL + "/events?topic=fleet&offset=" + fmt.Sprint(fleetPageSize))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	next := func() string {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "data: ") {
				return lines.Text()
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return ""
	}
	first, onPage := 3, fleetPageSize+7 // mac order is ID order
	download(st, first, 8<<20, 8<<20, time.Now())
	data := next()
	if strings.Contains(data, mac(first)) || !strings.Contains(data, `"summary"`) {
		t.Errorf("change on the first page, frame to the second page's stream: %.300s", data)
	}
	download(st, onPage, 8<<20, 8<<20, time.Now())
	data = next()
	if !strings.Contains(data, mac(onPage)) || strings.Contains(data, mac(first)) {
		t.Errorf("change on the second page: %.300s", data)
	}

	bad, err := http.Get(ts.URL + "/events?topic=fleet&sort=nosuchcolumn")
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("stream with a bad sort: %s, want 400", bad.Status)
	}
	if d.hub.streams() != 1 {
		t.Errorf("%d streams open, want 1", d.hub.streams())
	}
}
