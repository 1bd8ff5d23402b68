package dashboard

import (
	"bufio"
	"net/http"
	"strconv"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// exportFleet is GET /export/fleet.csv: one row per phone — identity,
// versions before and after, and for each hop the version and when the
// phone was first seen running it (RFC 3339, UTC). Phones choose some of
// these strings, so every cell is neutralised against CSV injection
// (appendCSVRecord).
func (d *Dashboard) exportFleet(w http.ResponseWriter, r *http.Request, _ session) {
	devs := d.st.Devices(nil)
	hops := 0
	for i := range devs {
		hops = max(hops, len(devs[i].Hops))
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="fleet.csv"`)
	header := []string{"id", "mac", "serial", "ip", "device_path", "first_version", "version", "target", "stage", "stage_reason", "first_seen", "last_seen", "checkins"}
	for i := 1; i <= hops; i++ {
		n := strconv.Itoa(i)
		header = append(header, "hop"+n+"_version", "hop"+n+"_at")
	}
	bw := bufio.NewWriter(w)
	line := appendCSVRecord(nil, header)
	bw.Write(line)
	for i := range devs {
		line = appendCSVRecord(line[:0], csvRow(&devs[i], hops))
		bw.Write(line)
	}
	bw.Flush()
}

func csvRow(d *store.Device, hops int) []string {
	row := []string{d.ID, d.MAC, d.Serial, d.IP, devicePath(d), reportedCSV(d, d.FirstVersion.String()), reportedCSV(d, d.Version.String()),
		verCSV(d), string(d.Stage), d.StageReason, timeCSV(d.FirstSeen), timeCSV(d.LastSeen), strconv.Itoa(d.CheckIns)}
	for i := range hops {
		if i < len(d.Hops) {
			row = append(row, d.Hops[i].Version.String(), timeCSV(d.Hops[i].At))
		} else {
			row = append(row, "", "")
		}
	}
	return row
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
