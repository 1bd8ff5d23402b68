package dashboard

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the export: %v\n%s", err, body)
	}
	return recs
}

func TestExportFleetCSV(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	checkIn(e.st, 1, cx700, beta, t0)
	checkIn(e.st, 1, cx700, interim, t0.Add(time.Hour))
	checkIn(e.st, 1, cx700, target, t0.Add(2*time.Hour))
	checkIn(e.st, 2, ip8540, beta, t0)
	signIn(e.st, "10.0.0.50", t0.Add(time.Minute))
	resp, body := e.client(t).get("/export/fleet.csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="fleet.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	want := [][]string{
		fleetCSVHeader,
		{mac(1), mac(1), "SN00001", "10.0.0.3", "Polycom CX700", "UCPhone/Polycom/CX700/A/ENU", "false",
			"1.0.199.0", "3.5.6907.200", "3.5.6907.200", "done", "", "2026-11-27T12:00:00Z",
			"2026-11-27T10:00:00Z", "2026-11-27T12:00:00Z", "3", "3",
			"2026-11-27T10:00:00Z", "1.0.522.103", "2026-11-27T11:00:00Z", "2026-11-27T12:00:00Z"},
		{mac(2), mac(2), "SN00002", "10.0.0.4", "LG-Nortel IP8540", "UCPhone/LG-Nortel/IP8540/A/ENU", "false",
			"1.0.199.0", "1.0.199.0", "3.5.6907.200", "offered", "", "2026-11-27T10:00:00Z",
			"2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z", "1", "1",
			"2026-11-27T10:00:00Z", "", "", ""},
		{"IP:10.0.0.50", "", "", "10.0.0.50", "", "", "false",
			"", "", "", "signed-in", "", "2026-11-27T10:01:00Z",
			"2026-11-27T10:01:00Z", "2026-11-27T10:01:00Z", "0", "0",
			"", "", "", ""},
	}
	if diff := cmp.Diff(want, readCSV(t, body)); diff != "" {
		t.Errorf("fleet.csv (-want +got):\n%s", diff)
	}
}

// TestExportFleetCSVColumnsFixed: a phone that went back and forth many
// times still has one row of the same columns as every other phone.
func TestExportFleetCSVColumnsFixed(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for k := range 40 { // a phone reset again and again: 80 hops
		checkIn(e.st, 1, cx700, beta, t0.Add(time.Duration(2*k)*time.Minute))
		checkIn(e.st, 1, cx700, interim, t0.Add(time.Duration(2*k+1)*time.Minute))
	}
	checkIn(e.st, 2, cx700, beta, t0)
	_, body := e.client(t).get("/export/fleet.csv")
	recs := readCSV(t, body)
	if len(recs) != 3 {
		t.Fatalf("%d records, want a header and 2 rows:\n%s", len(recs), body)
	}
	for _, r := range recs {
		if len(r) != len(fleetCSVHeader) {
			t.Errorf("row %s has %d columns, want %d", r[0], len(r), len(fleetCSVHeader))
		}
	}
	col := func(name string) int {
		for i, h := range fleetCSVHeader {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	if got := recs[1][col("hops")]; got != "80" {
		t.Errorf("hops %s, want 80", got)
	}
	if got := recs[1][col("interim_reached_at")]; got != "2026-11-27T10:01:00Z" {
		t.Errorf("interim first reached %s, want the first time", got)
	}
}

func TestExportHistoryCSV(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	e.st.Observe(store.Event{Kind: store.EventDHCP, Time: t0.Add(-time.Minute), MAC: mac(1), IP: "10.0.0.3"})
	checkIn(e.st, 1, cx700, beta, t0)
	download(e.st, 1, 8<<20, 8<<20, t0.Add(10*time.Minute))
	checkIn(e.st, 1, cx700, interim, t0.Add(time.Hour))
	checkIn(e.st, 2, ip8540, beta, t0)
	resp, body := e.client(t).get("/export/history.csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %s\n%s", resp.Status, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="history.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs := readCSV(t, body)
	// Only the columns that tell the history apart; seq is the store's.
	type row struct{ id, time, record, version, offered, file, bytes, complete string }
	var got []row
	for _, r := range recs[1:] {
		if len(r) != len(historyCSVHeader) {
			t.Fatalf("row has %d columns, want %d: %q", len(r), len(historyCSVHeader), r)
		}
		got = append(got, row{r[0], r[4], r[5], r[8], r[9], r[11], r[12], r[14]})
	}
	want := []row{
		{mac(1), "2026-11-27T09:59:00Z", "dhcp", "", "", "", "", ""},
		{mac(1), "2026-11-27T10:00:00Z", "checkin", "1.0.199.0", "1.0.522.103", "CPE.nbt", "", ""},
		{mac(1), "2026-11-27T10:00:00Z", "hop", "1.0.199.0", "", "", "", ""},
		{mac(1), "2026-11-27T10:10:00Z", "download", "", "", "CPE.nbt", "8388608", "true"},
		{mac(1), "2026-11-27T11:00:00Z", "checkin", "1.0.522.103", "3.5.6907.200", "CPE.nbt", "", ""},
		{mac(1), "2026-11-27T11:00:00Z", "hop", "1.0.522.103", "", "", "", ""},
		{mac(2), "2026-11-27T10:00:00Z", "checkin", "1.0.199.0", "1.0.522.103", "CPE.nbt", "", ""},
		{mac(2), "2026-11-27T10:00:00Z", "hop", "1.0.199.0", "", "", "", ""},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("history.csv (-want +got):\n%s", diff)
	}
	if recs[0][0] != "id" || len(recs[0]) != len(historyCSVHeader) {
		t.Errorf("header %q", recs[0])
	}
}

// TestExportsStreamWholeFleet: more phones than one batch come out once
// each, in ID order, in both exports; phone strings are neutralised.
func TestExportsStreamWholeFleet(t *testing.T) {
	e := newEnv(t, nil)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	n := 2*exportBatch + 17
	for i := 1; i <= n; i++ {
		e.st.Observe(store.Event{Kind: store.EventCheckIn, Time: t0, IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+2), MAC: mac(i),
			Serial: "=HYPERLINK(\"x\")", DevicePath: cx700, Reported: beta})
	}
	for _, path := range []string{"/export/fleet.csv", "/export/history.csv"} {
		_, body := e.client(t).get(path)
		recs := readCSV(t, body)
		var ids []string
		for _, r := range recs[1:] {
			if r[2] != `'=HYPERLINK("x")` {
				t.Errorf("%s: serial %q not neutralised", path, r[2])
			}
			if len(ids) == 0 || ids[len(ids)-1] != r[0] {
				ids = append(ids, r[0])
			}
		}
		if len(ids) != n {
			t.Fatalf("%s: %d phones, want %d: first %s last %s", path, len(ids), n, ids[0], ids[len(ids)-1])
		}
		for i, id := range ids {
			if id != mac(i+1) {
				t.Fatalf("%s: phone %d is %s, want %s", path, i, id, mac(i+1))
			}
		}
	}
}

func TestIDsAfter(t *testing.T) {
	ix := newFleetIndex()
	now := time.Now()
	var devs []store.Device
	for _, id := range []string{"A", "C", "E", "G"} {
		devs = append(devs, store.Device{ID: id, Stage: store.StageDiscovered})
	}
	ix.rebuild(seqOf(devs), now)
	tests := []struct {
		name  string
		after string
		n     int
		want  []string
	}{
		{"from the start", "", 3, []string{"A", "C", "E"}},
		{"after an ID in the index", "C", 3, []string{"E", "G"}},
		{"after an ID since removed", "B", 2, []string{"C", "E"}},
		{"past the end", "G", 3, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ix.idsAfter(tt.after, tt.n)); diff != "" {
				t.Errorf("idsAfter(%q, %d) (-want +got):\n%s", tt.after, tt.n, diff)
			}
		})
	}
}

// TestExportBusy: with the render gate full, an export is refused at once
// with 503 and Retry-After, like the fleet page; once a slot is free it is
// served.
func TestExportBusy(t *testing.T) {
	e := newEnv(t, nil)
	checkIn(e.st, 1, cx700, beta, time.Now())
	e.d.renders = newRenderGate(1, 0, time.Millisecond)
	release, ok := e.d.renders.acquire(context.Background())
	if !ok {
		t.Fatal("no slot")
	}
	for _, path := range []string{"/export/fleet.csv", "/export/history.csv"} {
		resp, _ := e.client(t).get(path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s with the gate full: %s, Retry-After %q", path, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	release()
	for _, path := range []string{"/export/fleet.csv", "/export/history.csv"} {
		if resp, body := e.client(t).get(path); resp.StatusCode != http.StatusOK || !strings.Contains(body, mac(1)) {
			t.Errorf("%s with a free slot: %s\n%s", path, resp.Status, body)
		}
	}
}

// TestExportLaterTurnWaits: a batch after the first waits for a slot (the
// client already has part of the file) until one is free or the client
// goes.
func TestExportLaterTurnWaits(t *testing.T) {
	e := newEnv(t, nil)
	e.d.renders = newRenderGate(1, 0, time.Millisecond)
	held, _ := e.d.renders.acquire(context.Background())
	if _, ok := e.d.exportTurn(context.Background(), true); ok {
		t.Fatal("the first turn got a slot of a full gate")
	}
	got := make(chan bool)
	go func() {
		release, ok := e.d.exportTurn(context.Background(), false)
		if ok {
			release()
		}
		got <- ok
	}()
	held()
	if !<-got {
		t.Error("a later turn gave up while the client waited")
	}

	held, _ = e.d.renders.acquire(context.Background())
	defer held()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, ok := e.d.exportTurn(ctx, false)
		got <- ok
	}()
	cancel()
	if <-got {
		t.Error("a later turn got a slot of a full gate")
	}
}

// The exports are for viewers: behind the login when the dashboard is not
// public.
func TestExportsNeedViewer(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PublicReadOnly = false })
	for _, path := range []string{"/export/fleet.csv", "/export/history.csv"} {
		resp, body := e.client(t).get(path)
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s without a login: %s\n%.200s", path, resp.Status, body)
		}
	}
}

// writeRecorder is a ResponseWriter that keeps the largest single write.
type writeRecorder struct {
	header  http.Header
	code    int
	total   int
	largest int
}

func (w *writeRecorder) Header() http.Header  { return w.header }
func (w *writeRecorder) WriteHeader(code int) { w.code = code }
func (w *writeRecorder) Write(p []byte) (int, error) {
	w.total += len(p)
	w.largest = max(w.largest, len(p))
	return len(p), nil
}

// TestExportsAreStreamed: the exports reach the client in batches of
// phones, not as one buffer of the whole file (as pages are, through the
// render gate), so what the dashboard holds at once does not grow with
// the fleet.
func TestExportsAreStreamed(t *testing.T) {
	e := newEnv(t, nil)
	e.seedFirmware(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i := 1; i <= 5*exportBatch; i++ {
		checkIn(e.st, i, cx700, beta, t0)
		checkIn(e.st, i, cx700, interim, t0.Add(time.Hour))
	}
	for name, export := range map[string]handlerFunc{"fleet.csv": e.d.exportFleet, "history.csv": e.d.exportHistory} {
		w := &writeRecorder{header: http.Header{}, code: http.StatusOK}
		r, _ := http.NewRequest("GET", "/export/"+name, nil)
		export(w, r, session{})
		if w.code != http.StatusOK {
			t.Fatalf("%s: status %d", name, w.code)
		}
		// Five batches: no write may hold more than about one (plus the header).
		if w.largest > w.total/3 {
			t.Errorf("%s: one write of %d bytes out of %d: not streamed by batch", name, w.largest, w.total)
		}
	}
}
