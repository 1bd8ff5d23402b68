package dashboard

import (
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
)

// fleetView is the whole fleet as the index sees it, for tests: the
// summary and every phone's row, in ID order.
type fleetView struct {
	Summary fleetSummary
	Rows    []phoneRow
}

// buildFleet indexes devs and renders every row, as the pages do a page.
func buildFleet(devs []store.Device, now time.Time) fleetView {
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	med := ix.medians(now)
	v := fleetView{Summary: ix.summary()}
	for i := range devs {
		v.Rows = append(v.Rows, makeRow(&devs[i], med, now))
	}
	return v
}

// seqOf yields each of devs in place, as the store's EachDevice does.
func seqOf(devs []store.Device) iter.Seq[*store.Device] {
	return func(yield func(*store.Device) bool) {
		for i := range devs {
			if !yield(&devs[i]) {
				return
			}
		}
	}
}

// mapStore is a Store whose Device reads a map, for index updates.
type mapStore struct {
	Store
	devs map[string]store.Device
}

func (m mapStore) Device(id string) (store.Device, bool) { d, ok := m.devs[id]; return d, ok }

// TestFleetIndexUpdates: phones come, change and go through update, and
// the ID order, the counts and the pages stay what a rebuild gives.
func TestFleetIndexUpdates(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	devs := makeFleet(50, now)
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs[:20]), now)
	ms := mapStore{devs: map[string]store.Device{}}
	for _, d := range devs[:20] {
		ms.devs[d.ID] = d
	}
	var ids []string
	for _, d := range devs[20:] { // 30 new phones
		ms.devs[d.ID] = d
		ids = append(ids, d.ID)
	}
	for _, d := range devs[:5] { // 5 gone
		delete(ms.devs, d.ID)
		ids = append(ids, d.ID)
	}
	changed := devs[7]
	changed.Stage = store.StageDone
	ms.devs[changed.ID] = changed
	ids = append(ids, changed.ID)
	added := ix.update(ms, ids, now)
	if len(added) != 30 {
		t.Errorf("%d added, want 30", len(added))
	}
	// Reuse the freed slots: 5 new phones after the removals.
	var more []string
	for i := range 5 {
		d := devs[0]
		d.ID, d.MAC = fmt.Sprintf("ZZ%02d", i), fmt.Sprintf("ZZ%02d", i)
		ms.devs[d.ID] = d
		more = append(more, d.ID)
	}
	ix.update(ms, more, now)

	var want []store.Device
	for _, d := range ms.devs {
		want = append(want, d)
	}
	slices.SortFunc(want, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) })
	ref := newFleetIndex()
	ref.rebuild(seqOf(want), now)
	all := fleetQuery{Stage: -1}
	got, exp := ix.page(all, 1000), ref.page(all, 1000)
	if !slices.Equal(got.IDs, exp.IDs) || got.Total != len(want) {
		t.Errorf("IDs after updates\n got %v\nwant %v", got.IDs, exp.IDs)
	}
	gs, ws := ix.summary(), ref.summary()
	if fmt.Sprint(gs) != fmt.Sprint(ws) {
		t.Errorf("summary after updates\n got %+v\nwant %+v", gs, ws)
	}
}

// TestFleetIndexPage: filters and sorts apply to the whole fleet before the
// page is cut.
func TestFleetIndexPage(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	devs := makeFleet(1000, now)
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	downloading := stageIndexOf(store.StageDownloading)
	for _, tc := range []struct {
		name        string
		q           fleetQuery
		size        int
		wantFirst   string
		wantMatched int
		wantLen     int
	}{
		{"first page in ID order", fleetQuery{Stage: -1}, 200, mac(0), 1000, 200},
		{"last page", fleetQuery{Stage: -1, Offset: 900}, 200, mac(900), 1000, 100},
		{"past the end", fleetQuery{Stage: -1, Offset: 5000}, 200, "", 1000, 0},
		{"descending", fleetQuery{Stage: -1, Desc: true}, 200, mac(999), 1000, 200},
		{"stage", fleetQuery{Stage: downloading}, 200, mac(downloading), 100, 100},
		{"text on the serial, any case", fleetQuery{Stage: -1, Text: "sn0099"}, 200, mac(990), 10, 10},
		{"text on the model", fleetQuery{Stage: -1, Text: "ip8540"}, 200, mac(1), 500, 200},
		{"sorted by last seen, newest last", fleetQuery{Stage: -1, Sort: 9, Desc: true}, 3, mac(0), 1000, 3},
		{"sorted by serial, second page", fleetQuery{Stage: -1, Sort: 1, Offset: 200}, 200, mac(200), 1000, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ix.page(tc.q, tc.size)
			if res.Matched != tc.wantMatched || len(res.IDs) != tc.wantLen || res.Total != 1000 {
				t.Fatalf("matched %d, %d IDs, total %d; want %d, %d, 1000", res.Matched, len(res.IDs), res.Total, tc.wantMatched, tc.wantLen)
			}
			if tc.wantLen > 0 && res.IDs[0] != tc.wantFirst {
				t.Errorf("first %s, want %s", res.IDs[0], tc.wantFirst)
			}
		})
	}
}

func TestParseFleetQuery(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"", ""},
		{"q=CX700&stage=signed-in&sort=seen&dir=desc&offset=400", ""},
		{"stage=sleeping", `unknown stage "sleeping"`},
		{"sort=colour", `unknown sort column "colour"`},
		{"dir=up", `unknown sort direction "up"`},
		{"offset=-1", `offset "-1" is not a row number`},
		{"offset=x", `offset "x" is not a row number`},
		{"q=" + strings.Repeat("a", 101), "filter text is 101 bytes"},
	} {
		v, _ := parseQuery(tc.in)
		_, err := parseFleetQuery(v)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func parseQuery(s string) (map[string][]string, error) { return url.ParseQuery(s) }

// TestFleetIndexFirstPhonesGetMedians: phones that arrive after start in a
// stage that had none are judged against their peers at the next tick, not
// attentionEvery later.
func TestFleetIndexFirstPhonesGetMedians(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ix := newFleetIndex()
	ix.rebuild(seqOf(nil), now)
	ms := mapStore{devs: map[string]store.Device{}}
	var ids []string
	for i, age := range []time.Duration{2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 2 * time.Hour} {
		d := store.Device{ID: mac(i), MAC: mac(i), Stage: store.StageOffered, StageSince: now.Add(-age), DevicePath: cx700}
		ms.devs[d.ID] = d
		ids = append(ids, d.ID)
	}
	ix.update(ms, ids, now)
	ix.recount(now.Add(coalesceEvery)) // the next tick
	if a := ix.summary().Attention; a != 1 {
		t.Errorf("%d need attention after the next tick, want 1 (the phone offered for 2 hours)", a)
	}
	if m := ix.medians(now)[store.StageOffered]; m != 4*time.Minute {
		t.Errorf("median offered %s, want 4m (the upper median of 2, 3, 4 minutes and 2 hours)", m)
	}
}

// TestFirmwareCountsFromIndex: the Firmware page's per-rule counts and
// diagram boxes, read from the index by device path, are what counting
// every device directly gives — test devices by flag, by MAC and by
// serial, phones that never checked in, phones without a model.
func TestFirmwareCountsFromIndex(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	devs := makeFleet(60, now)
	devs[3].IsTest = true
	devs[4].CheckIns = 0
	devs[5].DevicePath = images.DevicePath{}
	devs[6].Offered = images.Version{}
	devs[7].Version = target
	tds := []store.TestDevice{{ID: strings.ToLower(devs[8].MAC)}, {ID: devs[9].Serial}}
	tests := testIDs(tds)
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	stats := ix.pathStats(tests)

	imgs := []images.Image{
		{Key: images.RuleKey{DevicePath: images.DevicePath{DeviceType: "OCInterim", Locale: "ENU"}, UpdateType: "CPE"}, Version: interim, Interim: true},
		{Key: images.RuleKey{DevicePath: cx700, UpdateType: "CPE"}, Version: target},
	}
	for _, im := range imgs {
		var phones, testPhones int
		for i := range devs {
			if ruleMatches(im.Key, devs[i].DevicePath) {
				phones++
				if isTest(&devs[i], tests) {
					testPhones++
				}
			}
		}
		var gotPhones, gotTests int
		for i := range stats {
			if ruleMatches(im.Key, stats[i].path) {
				gotPhones += stats[i].phones
				gotTests += stats[i].tests
			}
		}
		if gotPhones != phones || gotTests != testPhones {
			t.Errorf("%s: %d phones, %d test devices; counting devices gives %d, %d", im.Key, gotPhones, gotTests, phones, testPhones)
		}
	}

	// The diagrams' boxes count every checked-in phone of their path once,
	// in the box of its exact version, or the beta box below the path.
	cat := legacy.NewCatalog([]images.Rule{
		{Key: images.RuleKey{DevicePath: images.DevicePath{DeviceType: "OCInterim", Locale: "ENU"}, UpdateType: "CPE"}, Approved: interim},
		{Key: images.RuleKey{DevicePath: cx700, UpdateType: "CPE"}, Approved: target},
	}, imgs)
	for i := range stats {
		main, side := planNodes(&stats[i], cat)
		want := map[images.Version]int{}
		beta := 0
		for j := range devs {
			d := &devs[j]
			if d.CheckIns == 0 || d.DevicePath != stats[i].path {
				continue
			}
			if len(main) > 1 && d.Version.Less(main[1].Version) {
				beta++
			} else {
				want[d.Version]++
			}
		}
		if main[0].Phones != beta {
			t.Errorf("%s: beta box %d phones, counting devices gives %d", stats[i].path, main[0].Phones, beta)
		}
		for _, n := range append(main[1:], side...) {
			if n.Phones != want[n.Version] {
				t.Errorf("%s: box %s has %d phones, counting devices gives %d", stats[i].path, n.Title, n.Phones, want[n.Version])
			}
			delete(want, n.Version)
		}
		for v, n := range want {
			if n > 0 {
				t.Errorf("%s: %d phones on %s in no box", stats[i].path, n, v)
			}
		}
	}
	if len(stats) != 2 {
		t.Errorf("%d device paths, want 2 (the phone without a model is left out)", len(stats))
	}
}

// TestFleetIndexVersionFilter: a text filter finds the versions as the
// rows show them, which the index no longer keeps as text: "–" before a
// first check-in and for no offer, 0.0.0.0 when a beta phone reported it.
func TestFleetIndexVersionFilter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	devs := makeFleet(60, now)
	for i := range devs {
		switch i % 4 {
		case 1: // never checked in
			devs[i].CheckIns, devs[i].FirstVersion, devs[i].Version, devs[i].Offered = 0, images.Version{}, images.Version{}, images.Version{}
		case 2: // a beta phone that cannot name its image, nothing offered
			devs[i].FirstVersion, devs[i].Version, devs[i].Offered = images.Version{}, images.Version{}, images.Version{}
		}
	}
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	for _, text := range []string{"–", "0.0.0.0", "1.0.522", "522.103", "1.0.199", ".0", "cx700", "99"} {
		var want []string
		for i := range devs {
			d := &devs[i]
			shown := []string{d.MAC, d.ID, d.Serial, modelName(d.DevicePath), d.IP, reported(d, d.FirstVersion), reported(d, d.Version), ver(d.Offered), stageLabels[d.Stage]}
			if slices.ContainsFunc(shown, func(s string) bool { return strings.Contains(strings.ToLower(s), text) }) {
				want = append(want, d.ID)
			}
		}
		got := ix.page(fleetQuery{Stage: -1, Text: text}, len(devs)).IDs
		if !slices.Equal(got, want) {
			t.Errorf("filter %q:\n got %v\nwant %v", text, got, want)
		}
	}
}

// TestFleetIndexSharesPaths: phones at one device path share one entry
// for it, and a path goes with the last phone at it.
func TestFleetIndexSharesPaths(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	devs := makeFleet(10, now)
	ix := newFleetIndex()
	ix.rebuild(seqOf(devs), now)
	if len(ix.paths) != 2 {
		t.Fatalf("%d paths for CX700 and IP8540 phones, want 2", len(ix.paths))
	}
	ms := mapStore{devs: map[string]store.Device{}}
	var ids []string
	for i, d := range devs {
		ids = append(ids, d.ID)
		if i%2 == 0 { // every CX700 moves to a forged path
			d.DevicePath.Model = "forged"
			ms.devs[d.ID] = d
		}
	}
	ix.update(ms, ids, now) // the IP8540 phones are gone
	if len(ix.paths) != 1 || ix.paths[devs[0].DevicePath] != nil {
		t.Errorf("paths after the update: %v, want only the forged one", ix.paths)
	}
	for s := range ix.slots {
		if e := &ix.slots[s]; e.live && (e.path == nil || e.path.path.Model != "forged" || e.path.refs != 5) {
			t.Errorf("slot %d: path %+v, want the forged one held by 5", s, e.path)
		}
	}
}
