package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// The exports are streamed phone by phone in the fleet index's ID order,
// exportBatch phones per turn of the render gate: a turn reads its phones
// from the store into a buffer, gives the slot back and only then writes
// the buffer, so memory is bounded by one batch (not the fleet, not the
// file) and a client that reads slowly holds no slot. Phones choose some
// of the strings, so every cell is neutralised against CSV injection
// (appendCSVRecord).
const exportBatch = 100

// fleetCSVHeader is fleet.csv's header: one row per phone, always these
// columns, however many hops the phones made. The store keeps the time a
// phone was first seen on each version (Device.Hops), not when it first
// entered each stage, so the "reached" columns are what the hops say: when
// the phone first reported a version (first_reported_at), its first
// version on the way that is neither where it started nor the target
// (interim_version, interim_reached_at), and when it first reported the
// target (target_reached_at). stage_since is when it entered its current
// stage.
var fleetCSVHeader = []string{"id", "mac", "serial", "ip", "model", "device_path", "test_device",
	"first_version", "version", "target", "stage", "stage_reason", "stage_since",
	"first_seen", "last_seen", "checkins", "hops",
	"first_reported_at", "interim_version", "interim_reached_at", "target_reached_at"}

// historyCSVHeader is history.csv's header: the long format, one row per
// phone per hop or per event, each phone's rows in time order. record is
// "hop" (the phone was first seen running version) or the event's kind
// (checkin, download, upload, dns, dhcp, sip, directory). Hops are every
// version change the appliance saw; events are the phone's timeline as
// the appliance keeps it in memory (its newest events, see
// store.Options.MaxEventsPerDevice).
var historyCSVHeader = []string{"id", "mac", "serial", "model", "time", "record", "seq", "ip",
	"version", "offered", "target", "file", "bytes", "total", "complete", "name", "user", "step", "detail", "error"}

// exportFleet is GET /export/fleet.csv.
func (d *Dashboard) exportFleet(w http.ResponseWriter, r *http.Request, _ session) {
	d.streamCSV(w, r, "fleet.csv", fleetCSVHeader, func(dst []byte, dev *store.Device) []byte {
		return appendCSVRecord(dst, fleetCSVRow(dev))
	})
}

// exportHistory is GET /export/history.csv.
func (d *Dashboard) exportHistory(w http.ResponseWriter, r *http.Request, _ session) {
	row := make([]string, len(historyCSVHeader))
	d.streamCSV(w, r, "history.csv", historyCSVHeader, func(dst []byte, dev *store.Device) []byte {
		return appendHistory(dst, row, dev, d.st.Events(nil, dev.ID))
	})
}

// streamCSV writes the header and then, batch by batch, rows(dev) for
// every phone in ID order. When the render gate has no slot for the first
// batch the client gets 503 with Retry-After, as for a page; later batches
// wait for a slot as long as the client waits.
func (d *Dashboard) streamCSV(w http.ResponseWriter, r *http.Request, name string, header []string, rows func(dst []byte, dev *store.Device) []byte) {
	d.hub.sync() // the index has every phone added before this request
	buf := appendCSVRecord(nil, header)
	after := ""
	for first := true; ; first = false {
		release, ok := d.exportTurn(r.Context(), first)
		if !ok {
			if first {
				busy(w)
			}
			return
		}
		ids := d.fleet.idsAfter(after, exportBatch)
		for _, id := range ids {
			if dev, ok := d.st.Device(id); ok { // gone since: not exported
				buf = rows(buf, &dev)
			}
		}
		release()
		if first {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
			w.Header().Set("Cache-Control", "no-store")
		}
		if _, err := w.Write(buf); err != nil || len(ids) < exportBatch {
			return
		}
		after, buf = ids[len(ids)-1], buf[:0]
	}
}

// exportTurn takes a render slot for one batch. The first is refused as a
// page would be; later ones retry until they get one or ctx ends, since
// the client already has part of the file.
func (d *Dashboard) exportTurn(ctx context.Context, first bool) (release func(), ok bool) {
	for {
		release, ok = d.renders.acquire(ctx)
		if ok || first || ctx.Err() != nil {
			return release, ok
		}
		t := time.NewTimer(d.renders.wait / 4) // the waiting room was full
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, false
		}
	}
}

// idsAfter is at most n phone IDs that sort after the ID after ("": from
// the first), in ID order. Paging by the last ID seen rather than by
// position keeps an export whole while phones are added between batches:
// none is skipped, none repeated.
func (ix *fleetIndex) idsAfter(after string, n int) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i, _ := slices.BinarySearchFunc(ix.order, after, func(s int32, id string) int {
		return strings.Compare(ix.slots[s].id, id)
	})
	if i < len(ix.order) && ix.slots[ix.order[i]].id == after {
		i++
	}
	ids := make([]string, 0, min(n, len(ix.order)-i))
	for ; i < len(ix.order) && len(ids) < n; i++ {
		ids = append(ids, ix.slots[ix.order[i]].id)
	}
	return ids
}

func fleetCSVRow(d *store.Device) []string {
	var firstAt, interimVer, interimAt, targetAt string
	if len(d.Hops) > 0 {
		firstAt = timeCSV(d.Hops[0].At)
	}
	for _, h := range d.Hops {
		switch {
		case !d.Target.IsZero() && h.Version == d.Target:
			if targetAt == "" {
				targetAt = timeCSV(h.At)
			}
		case h.Version != d.Hops[0].Version && interimVer == "":
			interimVer, interimAt = h.Version.String(), timeCSV(h.At)
		}
	}
	model := ""
	if d.DevicePath.Model != "" {
		model = modelName(d.DevicePath)
	}
	return []string{d.ID, d.MAC, d.Serial, d.IP, model, devicePath(d), strconv.FormatBool(d.IsTest),
		reportedCSV(d, d.FirstVersion.String()), reportedCSV(d, d.Version.String()), verCSV(d),
		string(d.Stage), d.StageReason, timeCSV(d.StageSince),
		timeCSV(d.FirstSeen), timeCSV(d.LastSeen), strconv.Itoa(d.CheckIns), strconv.Itoa(len(d.Hops)),
		firstAt, interimVer, interimAt, targetAt}
}

// appendHistory appends dev's rows to dst: its hops and events merged in
// time order (an event before a hop at the same instant: the check-in
// that reported the version comes first). row is scratch space of
// len(historyCSVHeader).
func appendHistory(dst []byte, row []string, dev *store.Device, evs []store.Event) []byte {
	model := ""
	if dev.DevicePath.Model != "" {
		model = modelName(dev.DevicePath)
	}
	hops := dev.Hops
	for len(hops) > 0 || len(evs) > 0 {
		clear(row)
		row[0], row[1], row[2], row[3] = dev.ID, dev.MAC, dev.Serial, model
		if len(evs) > 0 && (len(hops) == 0 || !hops[0].At.Before(evs[0].Time)) {
			eventCells(row, &evs[0])
			evs = evs[1:]
		} else {
			row[4], row[5], row[8] = timeCSV(hops[0].At), "hop", hops[0].Version.String()
			hops = hops[1:]
		}
		dst = appendCSVRecord(dst, row)
	}
	return dst
}

// eventCells fills the event columns of a history row (from "time" on).
func eventCells(row []string, ev *store.Event) {
	row[4], row[5], row[6], row[7] = timeCSV(ev.Time), string(ev.Kind), strconv.FormatUint(ev.Seq, 10), ev.IP
	if ev.Kind == store.EventCheckIn {
		row[8] = ev.Reported.String()
	}
	row[9], row[10] = versionCSV(ev.Offered.IsZero(), ev.Offered.String()), versionCSV(ev.Target.IsZero(), ev.Target.String())
	row[11] = ev.File
	if ev.Kind == store.EventDownload || ev.Kind == store.EventUpload {
		row[12], row[13], row[14] = strconv.FormatInt(ev.Bytes, 10), strconv.FormatInt(ev.Total, 10), strconv.FormatBool(ev.Complete)
	}
	row[15] = ev.Name
	row[16] = ev.User
	row[17] = ev.SIPStep
	if ev.DirectoryStep != "" {
		row[17] = ev.DirectoryStep
	}
	row[18], row[19] = ev.Detail, ev.DirectoryError
}

func versionCSV(zero bool, v string) string {
	if zero {
		return ""
	}
	return v
}

func devicePath(d *store.Device) string {
	if d.DevicePath.DeviceType == "" {
		return ""
	}
	return d.DevicePath.String()
}

func reportedCSV(d *store.Device, v string) string {
	if d.CheckIns == 0 {
		return ""
	}
	return v
}

func verCSV(d *store.Device) string {
	if d.Target.IsZero() {
		return ""
	}
	return d.Target.String()
}

func timeCSV(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
