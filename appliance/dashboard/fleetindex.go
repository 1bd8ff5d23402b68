package dashboard

import (
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// The fleet index is the dashboard's own compact copy of what the fleet
// page counts, filters and sorts by: a 160-byte entry a phone, about 200
// bytes with its map and order (9.5 MiB at 50,000; 18.4 MiB when each
// entry had its own device path and version texts), its strings shared
// with the store's Device and its device path and model with every phone
// at the path, instead of the store's whole Device and its timeline. The
// hub keeps it up to date from the change feed
// (one store lookup per changed phone), so neither a page request nor a
// live frame ever copies the whole fleet out of the store: a page request
// filters and sorts the index and then reads only the phones on its page.
// It is rebuilt from the store only at start and when the hub's feed
// lagged (changes were dropped), by one walk of the store in place
// (EachDevice), never a copy of the fleet.

// attentionEvery is how often the time-driven part of the summary (the
// per-stage medians behind "slow", and "no check-in") is recomputed over
// the whole index. Both flags have minute-scale thresholds (slowMin,
// silentAfter); between recounts a changed phone is judged against the
// last medians as it changes.
const attentionEvery = 10 * time.Second

// fleetEntry is one phone in the index. Its strings are the store's (a
// Device's are never written to); the versions are shown as the row shows
// them only when a filter asks (versionTexts).
type fleetEntry struct {
	id, mac, serial, ip     string
	model                   string   // modelName of the path, the path's
	path                    *pathRef // shared by every phone at the path
	first, version, offered images.Version
	stageSince, lastSeen    int64
	checkedIn, isTest       bool
	stage                   int8 // index in store.Stages
	pct                     int8 // download progress, 0 without a download
	staticAttn              bool // stalled or failed with a reason
	attn                    bool // counted in Attention
	live                    bool // the slot holds a phone
}

// pathRef is one device path in the index with its model's name, and how
// many entries hold it: gone with the last of them, so that forged paths
// do not stay.
type pathRef struct {
	path  images.DevicePath
	model string
	refs  int
}

// newEntry is d's entry, holding a reference to its path. Called with mu
// held for writing.
func (ix *fleetIndex) newEntry(d *store.Device) fleetEntry {
	ref := ix.paths[d.DevicePath]
	if ref == nil {
		ref = &pathRef{path: d.DevicePath, model: modelName(d.DevicePath)}
		ix.paths[d.DevicePath] = ref
	}
	ref.refs++
	e := fleetEntry{
		id: d.ID, mac: d.MAC, serial: d.Serial, ip: d.IP, model: ref.model, path: ref,
		first: d.FirstVersion, version: d.Version, offered: d.Offered,
		checkedIn: d.CheckIns > 0, isTest: d.IsTest,
		stage: int8(stageIndex(d.Stage)), stageSince: d.StageSince.UnixNano(), lastSeen: d.LastSeen.Unix(),
		live: true,
	}
	if d.DownloadTotal > 0 {
		e.pct = int8(min(100, d.DownloadBytes*100/d.DownloadTotal))
	}
	e.staticAttn = (d.Stage == store.StageStalled || d.Stage == store.StageFailed) && d.StageReason != ""
	return e
}

// modelCount is one model's counts in the index.
type modelCount struct {
	total, done int
	counts      []int // per store.Stages
}

// release drops e's reference to its path. Called with mu held for
// writing.
func (ix *fleetIndex) release(e *fleetEntry) {
	if e.path == nil {
		return
	}
	if e.path.refs--; e.path.refs <= 0 {
		delete(ix.paths, e.path.path)
	}
	e.path = nil
}

// fleetIndex is safe for concurrent use: the hub writes, page requests read.
type fleetIndex struct {
	mu     sync.RWMutex
	slots  []fleetEntry
	paths  map[images.DevicePath]*pathRef
	byID   map[string]int32
	free   []int32 // empty slots, in no order
	freed  []int32 // slots emptied since order was last merged
	order  []int32 // live slots sorted by ID
	added  []int32 // slots filled since order was last merged
	counts []int   // per store.Stages
	models map[string]*modelCount
	done   int
	attn   int
	// medianSince is, per peer-stall stage, the StageSince (UnixNano) of
	// the median phone at the last recount: the median age is now minus it.
	medianSince map[store.Stage]int64
	recountAt   time.Time
	// needRecount: a phone entered a peer-stall stage that had no median
	// (e.g. the first phones after start), so recount at the next tick
	// rather than up to attentionEvery later.
	needRecount bool
}

func newFleetIndex() *fleetIndex {
	return &fleetIndex{byID: map[string]int32{}, paths: map[images.DevicePath]*pathRef{}, counts: make([]int, len(store.Stages)),
		models: map[string]*modelCount{}, medianSince: map[store.Stage]int64{}}
}

// rebuild replaces the index with the phones devs yields (in ID order,
// as the store's EachDevice walks them) and recounts. It reads each phone
// in place, keeping only its entry, and reuses the index's arrays: a
// rebuild follows a lagged feed, at the fleet's busiest, and neither a
// copy of the fleet (some 50 MB at 100,000 phones) nor a second index
// should be garbage at once.
func (ix *fleetIndex) rebuild(devs iter.Seq[*store.Device], now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.slots = reuse(ix.slots)
	ix.order = reuse(ix.order)
	clear(ix.byID)
	clear(ix.paths)
	ix.free, ix.freed, ix.added = nil, nil, nil
	clear(ix.counts)
	ix.models = map[string]*modelCount{}
	ix.done, ix.attn = 0, 0
	for d := range devs {
		e := ix.newEntry(d)
		slot := int32(len(ix.slots))
		ix.slots = append(ix.slots, e)
		ix.byID[e.id] = slot
		ix.order = append(ix.order, slot)
		ix.count(&ix.slots[slot], 1)
	}
	// The store walks in ID order already; a stub store in a test may not.
	if !slices.IsSortedFunc(ix.order, ix.byIDOrder) {
		slices.SortFunc(ix.order, ix.byIDOrder)
	}
	ix.recountLocked(now)
}

// reuse is s emptied, in s's array (cleared, so that it holds on to no
// strings).
func reuse[T any](s []T) []T {
	clear(s[:cap(s)])
	return s[:0]
}

func (ix *fleetIndex) byIDOrder(a, b int32) int {
	return strings.Compare(ix.slots[a].id, ix.slots[b].id)
}

// update applies what the store says now of the phones in ids: found
// phones are put, missing ones removed. Its cost is one store lookup per
// phone, plus a merge of the 4-byte-per-phone ID order when phones came or
// went. It reports the phones new to the index.
func (ix *fleetIndex) update(st Store, ids []string, now time.Time) (added []string) {
	type change struct {
		id  string
		dev store.Device
		ok  bool
	}
	changes := make([]change, len(ids))
	for i, id := range ids { // outside the lock: readers go on meanwhile
		changes[i].id = id
		changes[i].dev, changes[i].ok = st.Device(id)
	}
	med := ix.medians(now)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range changes {
		c := &changes[i]
		if c.ok && ix.put(&c.dev, med, now) {
			added = append(added, c.id)
		} else if !c.ok {
			ix.remove(c.id)
		}
	}
	ix.mergeOrderLocked()
	return added
}

// put puts d in the index and reports whether it is new.
func (ix *fleetIndex) put(d *store.Device, med map[store.Stage]time.Duration, now time.Time) bool {
	e := ix.newEntry(d)
	if _, ok := ix.medianSince[d.Stage]; peerStallStages[d.Stage] && !ok {
		ix.needRecount = true
	}
	why, _ := dynamicReason(d, med, now)
	e.attn = e.staticAttn || why != ""
	slot, ok := ix.byID[d.ID]
	if ok {
		ix.count(&ix.slots[slot], -1)
		ix.release(&ix.slots[slot])
		ix.slots[slot] = e
		ix.count(&ix.slots[slot], 1)
		return false
	}
	if n := len(ix.free); n > 0 {
		slot, ix.free = ix.free[n-1], ix.free[:n-1]
		ix.slots[slot] = e
	} else {
		slot = int32(len(ix.slots))
		ix.slots = append(ix.slots, e)
	}
	ix.byID[d.ID] = slot
	ix.added = append(ix.added, slot)
	ix.count(&ix.slots[slot], 1)
	return true
}

func (ix *fleetIndex) remove(id string) {
	slot, ok := ix.byID[id]
	if !ok {
		return
	}
	ix.count(&ix.slots[slot], -1)
	ix.release(&ix.slots[slot])
	delete(ix.byID, id)
	ix.slots[slot] = fleetEntry{}
	ix.freed = append(ix.freed, slot)
}

// mergeOrderLocked drops removed slots from the ID order, merges the
// added ones in, and only then lets the removed slots be reused (so a slot
// is never in the order twice).
func (ix *fleetIndex) mergeOrderLocked() {
	if len(ix.added) == 0 && len(ix.freed) == 0 {
		return
	}
	added := slices.DeleteFunc(ix.added, func(s int32) bool { return !ix.slots[s].live })
	slices.SortFunc(added, ix.byIDOrder)
	merged := make([]int32, 0, len(ix.order)+len(added))
	i := 0
	for _, s := range ix.order {
		if !ix.slots[s].live {
			continue
		}
		for i < len(added) && ix.byIDOrder(added[i], s) < 0 {
			merged = append(merged, added[i])
			i++
		}
		merged = append(merged, s)
	}
	merged = append(merged, added[i:]...)
	ix.order, ix.added = merged, ix.added[:0]
	ix.free, ix.freed = append(ix.free, ix.freed...), ix.freed[:0]
}

// count adds (sign 1) or takes away (sign -1) e from the counts.
func (ix *fleetIndex) count(e *fleetEntry, sign int) {
	ix.counts[e.stage] += sign
	m := ix.models[e.model]
	if m == nil {
		m = &modelCount{counts: make([]int, len(store.Stages))}
		ix.models[e.model] = m
	}
	m.total += sign
	m.counts[e.stage] += sign
	if store.Stages[e.stage] == store.StageDone {
		ix.done += sign
		m.done += sign
	}
	if e.attn {
		ix.attn += sign
	}
	if m.total == 0 {
		delete(ix.models, e.model)
	}
}

// recount recomputes the medians and every phone's attention flag when
// attentionEvery has passed since the last time, or a stage got its first
// phones.
func (ix *fleetIndex) recount(now time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.needRecount || now.Sub(ix.recountAt) >= attentionEvery {
		ix.recountLocked(now)
	}
}

func (ix *fleetIndex) recountLocked(now time.Time) {
	since := map[store.Stage][]int64{}
	for _, s := range ix.order {
		e := &ix.slots[s]
		if st := store.Stages[e.stage]; peerStallStages[st] {
			since[st] = append(since[st], e.stageSince)
		}
	}
	clear(ix.medianSince)
	for st, v := range since {
		// The median age sorts ages ascending, that is StageSince descending.
		slices.Sort(v)
		ix.medianSince[st] = v[len(v)-1-len(v)/2]
	}
	med := ix.mediansLocked(now)
	ix.attn = 0
	for _, s := range ix.order {
		e := &ix.slots[s]
		e.attn = e.staticAttn || entryFlagged(e, med, now)
		if e.attn {
			ix.attn++
		}
	}
	ix.recountAt, ix.needRecount = now, false
}

// entryFlagged is dynamicReason's test on an index entry: whether the
// phone is silent or slow.
func entryFlagged(e *fleetEntry, med map[store.Stage]time.Duration, now time.Time) bool {
	st := store.Stages[e.stage]
	age := now.Sub(time.Unix(0, e.stageSince))
	if (st == store.StageDiscovered || st == store.StageSignedIn) && age > silentAfter {
		return true
	}
	m, ok := med[st]
	return ok && age > slowMin && age > slowFactor*m
}

// medians is the median time in stage per peer-stall stage, as of the last
// recount, aged to now.
func (ix *fleetIndex) medians(now time.Time) map[store.Stage]time.Duration {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.mediansLocked(now)
}

func (ix *fleetIndex) mediansLocked(now time.Time) map[store.Stage]time.Duration {
	med := make(map[store.Stage]time.Duration, len(ix.medianSince))
	for st, since := range ix.medianSince {
		med[st] = now.Sub(time.Unix(0, since))
	}
	return med
}

// phones is how many phones the index holds.
func (ix *fleetIndex) phones() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

// summary is the top of the fleet and kiosk pages.
func (ix *fleetIndex) summary() fleetSummary {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := fleetSummary{Total: len(ix.byID), Done: ix.done, Attention: ix.attn}
	s.Pct = pct(s.Done, s.Total)
	for i, st := range store.Stages {
		s.Stages = append(s.Stages, stageCount{Stage: st, Label: stageLabels[st], N: ix.counts[i]})
	}
	for name, m := range ix.models {
		s.Models = append(s.Models, modelSummary{Model: name, Total: m.total, Done: m.done, Pct: pct(m.done, m.total), Counts: slices.Clone(m.counts)})
	}
	slices.SortFunc(s.Models, func(a, b modelSummary) int { return strings.Compare(a.Model, b.Model) })
	return s
}

// phonesNamed maps each test device's ID (a MAC or a serial) to the
// phone with that MAC or serial, the last in ID order when several have
// it, without copying the fleet.
func (ix *fleetIndex) phonesNamed(tds []store.TestDevice) map[string]string {
	out := map[string]string{}
	if len(tds) == 0 {
		return out
	}
	want := make(map[string]bool, len(tds))
	for _, td := range tds {
		want[td.ID] = true
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for _, s := range ix.order {
		e := &ix.slots[s]
		if e.mac != "" && want[e.mac] {
			out[e.mac] = e.id
		}
		if e.serial != "" && want[e.serial] {
			out[e.serial] = e.id
		}
	}
	return out
}

// pathStat is what the Firmware page counts of the phones at one device
// path: how many there are, how many of them are test devices, and of
// those that checked in, how many run each version and how many of those
// are offered a next hop.
type pathStat struct {
	path          images.DevicePath
	phones, tests int
	running       map[images.Version]int
	moving        map[images.Version]int
}

// pathStats counts the index by device path, phones without a model left
// out, sorted by path. tests holds the test devices' IDs in upper case
// (testIDs). The work is one pass over the index; the memory is one entry
// per path and version, never per phone.
func (ix *fleetIndex) pathStats(tests map[string]bool) []pathStat {
	byPath := map[images.DevicePath]*pathStat{}
	ix.mu.RLock()
	for _, s := range ix.order {
		e := &ix.slots[s]
		if e.path.path.Model == "" {
			continue
		}
		ps := byPath[e.path.path]
		if ps == nil {
			ps = &pathStat{path: e.path.path, running: map[images.Version]int{}, moving: map[images.Version]int{}}
			byPath[e.path.path] = ps
		}
		ps.phones++
		if e.isTest || (e.mac != "" && tests[strings.ToUpper(e.mac)]) || (e.serial != "" && tests[strings.ToUpper(e.serial)]) {
			ps.tests++
		}
		if e.checkedIn {
			ps.running[e.version]++
			if !e.offered.IsZero() {
				ps.moving[e.version]++
			}
		}
	}
	ix.mu.RUnlock()
	out := make([]pathStat, 0, len(byPath))
	for _, ps := range byPath {
		out = append(out, *ps)
	}
	slices.SortFunc(out, func(a, b pathStat) int { return strings.Compare(a.path.String(), b.path.String()) })
	return out
}

// fleetPageResult is one page of the fleet: the phones' IDs in order, how
// many phones matched the filter, and how many there are in all.
type fleetPageResult struct {
	IDs     []string
	Matched int
	Total   int
}

// page filters and sorts the index and cuts one page of at most size
// phones at q.Offset. Filtering and sorting are applied to the whole fleet
// before the cut. Unfiltered in ID order it only slices the ID order.
func (ix *fleetIndex) page(q fleetQuery, size int) fleetPageResult {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	res := fleetPageResult{Total: len(ix.byID)}
	sel := ix.order
	if q.Stage >= 0 || q.Text != "" {
		sel = make([]int32, 0, 256)
		vt := versionTexts{sub: q.Text}
		for _, s := range ix.order {
			if ix.slots[s].matches(q, &vt) {
				sel = append(sel, s)
			}
		}
	}
	res.Matched = len(sel)
	if q.Sort != sortByID {
		if len(sel) > 0 && &sel[0] == &ix.order[0] {
			sel = slices.Clone(sel)
		}
		cmp, sign := sortColumns[q.Sort].cmp, 1
		if q.Desc {
			sign = -1
		}
		// Stable on the ID order: phones that tie stay in ID order.
		slices.SortStableFunc(sel, func(a, b int32) int { return sign * cmp(&ix.slots[a], &ix.slots[b]) })
	}
	from := min(q.Offset, len(sel))
	to := min(from+size, len(sel))
	for i := from; i < to; i++ {
		j := i
		if q.Desc && q.Sort == sortByID {
			j = len(sel) - 1 - i
		}
		res.IDs = append(res.IDs, ix.slots[sel[j]].id)
	}
	return res
}

// matches is the server-side filter: the stage, and a case-insensitive
// substring of the MAC, ID, serial, model, IP, the versions as the row
// shows them (vt, of q.Text) or the stage's label.
func (e *fleetEntry) matches(q fleetQuery, vt *versionTexts) bool {
	if q.Stage >= 0 && int(e.stage) != q.Stage {
		return false
	}
	if q.Text == "" {
		return true
	}
	for _, f := range [...]string{e.mac, e.id, e.serial, e.model, e.ip, stageLabels[store.Stages[e.stage]]} {
		if containsFold(f, q.Text) {
			return true
		}
	}
	if vt.contain(e.offered, false) {
		return true
	}
	if !e.checkedIn { // "–" for what it reported, as for no offer
		return vt.contain(images.Version{}, false)
	}
	return vt.contain(e.first, true) || vt.contain(e.version, true)
}

// versionTexts says whether a version's text as the row shows it contains
// sub, making each text once per filter: a fleet runs a handful of
// versions, and the index keeps none of their texts.
type versionTexts struct {
	sub  string
	memo map[versionText]bool
}

// versionText is a version as a reported one (0.0.0.0 shown as such) or
// as an offer (ver: "–" for none).
type versionText struct {
	v        images.Version
	reported bool
}

func (vt *versionTexts) contain(v images.Version, reported bool) bool {
	k := versionText{v, reported}
	in, ok := vt.memo[k]
	if !ok {
		text := ver(v)
		if reported {
			text = v.String()
		}
		if vt.memo == nil {
			vt.memo = map[versionText]bool{}
		}
		in = containsFold(text, vt.sub)
		vt.memo[k] = in
	}
	return in
}

// containsFold reports whether s contains the lower-case sub, ASCII case
// folded, without allocating.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
