package store

import (
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// TestDownloadsBehindOneAddress: two phones check in from one address (a
// NAT, or the simulator's fleet) and are offered different files; each
// download goes to the phone that was offered its file, whichever checked
// in last.
func TestDownloadsBehindOneAddress(t *testing.T) {
	const cx, lg = "0004F2000001", "001B9E000002"
	ip8540 := images.DevicePath{DeviceType: "UCPhone", Vendor: "LG-Nortel", Model: "IP8540", Revision: "A", Locale: "ENU"}
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(Event{Time: t0, Kind: EventCheckIn, IP: "10.0.0.5", MAC: cx, DevicePath: cx700, Reported: vBeta, Offered: vInterim, Target: vRelease, File: "CPE.nbt"})
	s.Observe(Event{Time: t1, Kind: EventCheckIn, IP: "10.0.0.5", MAC: lg, DevicePath: ip8540, Reported: vBeta, Offered: vInterim, Target: vRelease, File: "CPE8540.nbt"})

	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Bytes: 100, Total: 100, Complete: true})
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE8540.nbt", Bytes: 40, Total: 200})
	for _, want := range []struct {
		id    string
		stage Stage
		bytes int64
	}{{cx, StageWaiting, 100}, {lg, StageDownloading, 40}} {
		d, _ := s.Device(want.id)
		if d.Stage != want.stage || d.DownloadBytes != want.bytes {
			t.Errorf("%s: %s with %d bytes fetched, want %s with %d", want.id, d.Stage, d.DownloadBytes, want.stage, want.bytes)
		}
		evs := s.Events(nil, want.id)
		if last := evs[len(evs)-1]; last.Kind != EventDownload || last.DeviceID != want.id {
			t.Errorf("%s: newest event is %s of %s, want its download", want.id, last.Kind, last.DeviceID)
		}
	}
	// A file nobody there was offered goes to the phone seen last.
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "other.cat", Bytes: 10, Total: 10})
	if evs := s.Events(nil, lg); evs[len(evs)-1].File != "other.cat" {
		t.Errorf("a download of a file nobody was offered went elsewhere than to the phone seen last")
	}
	// Once the first phone moves away, the address is the second's alone.
	s.Observe(Event{Time: t1, Kind: EventCheckIn, IP: "10.0.0.7", MAC: cx, DevicePath: cx700, Reported: vInterim, Target: vRelease})
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Bytes: 1, Total: 100})
	if evs := s.Events(nil, lg); evs[len(evs)-1].File != "CPE.nbt" {
		t.Errorf("a download from the second phone's address after the first moved went elsewhere")
	}
}

// TestDownloadsOfOneFileBehindOneAddress: phones behind one address offered
// the same file: a download that goes on from where one phone's stopped is
// that phone's, a new one goes to a phone that has yet to fetch the file.
func TestDownloadsOfOneFileBehindOneAddress(t *testing.T) {
	const a, b = "0004F2000001", "0004F2000002"
	s := openStore(t, t.TempDir(), lazy)
	for i, id := range []string{a, b} {
		s.Observe(Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: EventCheckIn, IP: "10.0.0.5", MAC: id, DevicePath: cx700, Reported: vBeta, Offered: vInterim, Target: vRelease, File: "CPE.nbt"})
	}
	// b checked in last: the first part goes to it, then a's first part
	// to a (b has started), then b's second part to b.
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Offset: 0, Bytes: 50, Total: 100})
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Offset: 0, Bytes: 30, Total: 100})
	s.Observe(Event{Time: t1, Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Offset: 50, Bytes: 50, Total: 100, Complete: true})
	for id, want := range map[string]int64{a: 30, b: 100} {
		if d, _ := s.Device(id); d.DownloadBytes != want {
			t.Errorf("%s fetched %d bytes, want %d", id, d.DownloadBytes, want)
		}
	}
}
