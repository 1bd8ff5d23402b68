package store

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// countDevices is FleetCounts the slow way.
func countDevices(s *Store) FleetCounts {
	c := FleetCounts{Stages: map[Stage]int{}, Models: map[string]int{}}
	for _, d := range s.Devices(nil) {
		c.Devices++
		c.Stages[d.Stage]++
		c.Models[d.DevicePath.Model]++
	}
	return c
}

func checkCounts(t *testing.T, s *Store, when string) {
	t.Helper()
	got := s.FleetCounts()
	if got.Stages == nil {
		got.Stages = map[Stage]int{}
	}
	if got.Models == nil {
		got.Models = map[string]int{}
	}
	if diff := cmp.Diff(countDevices(s), got); diff != "" {
		t.Fatalf("%s: counts (-Devices +FleetCounts):\n%s", when, diff)
	}
	if diff := cmp.Diff(countDevices(s).Stages, s.StageCounts()); diff != "" {
		t.Fatalf("%s: StageCounts (-Devices +StageCounts):\n%s", when, diff)
	}
}

// randomEvent is something one of a few phones, or a stranger, does: DNS
// lookups and DHCP from addresses that make placeholders, check-ins that
// take them over, downloads, sign-ins.
func randomEvent(r *rand.Rand, now time.Time) Event {
	phone := r.IntN(12)
	mac := fmt.Sprintf("0004F2%06X", phone)
	ip := fmt.Sprintf("10.0.0.%d", r.IntN(8)+1)
	models := []string{"CX700", "IP8540", "RoundTable"}
	path := images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: models[phone%3], Locale: "ENU"}
	versions := []images.Version{vBeta, vInterim, vRelease}
	switch r.IntN(6) {
	case 0:
		return Event{Time: now, Kind: EventDNS, IP: ip, Name: "ucupdates-r2.lab.test"}
	case 1:
		return Event{Time: now, Kind: EventDHCP, IP: ip, MAC: mac}
	case 2:
		return Event{Time: now, Kind: EventSIP, IP: ip, SIPStep: SIPSignedIn, User: tech}
	case 3:
		return Event{Time: now, Kind: EventDownload, IP: ip, File: "CPE.nbt", Offset: int64(r.IntN(2)) << 20, Bytes: 1 << 20, Total: 2 << 20, Complete: r.IntN(2) == 0}
	}
	ev := Event{Time: now, Kind: EventCheckIn, IP: ip, MAC: mac, DevicePath: path, Reported: versions[r.IntN(3)], Target: vRelease}
	if r.IntN(3) > 0 {
		ev.Offered, ev.File = vInterim, "CPE.nbt"
	}
	return ev
}

// TestFleetCountsMatchDevices: after random observations, evictions of
// unconfirmed devices, placeholder merges, an aborted batch and a
// restart, the counts are what counting Devices gives.
func TestFleetCountsMatchDevices(t *testing.T) {
	dir := t.TempDir()
	opt := Options{FlushInterval: time.Hour, MaxEventsPerDevice: 5, MaxUnconfirmedDevices: 4, Logger: slog.New(slog.DiscardHandler)}
	s := openStore(t, dir, opt)
	r := rand.New(rand.NewPCG(1, 14))
	now := t0
	for i := range 2000 {
		now = now.Add(time.Second)
		s.Observe(randomEvent(r, now))
		if i%37 == 0 {
			checkCounts(t, s, fmt.Sprintf("after %d events", i+1))
		}
		if i%500 == 0 {
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	checkCounts(t, s, "at the end")

	// A batch thrown away (what a bug in applying one does) takes what it
	// changed with it; the counts follow memdb.
	for range 50 {
		now = now.Add(time.Second)
		s.Observe(randomEvent(r, now))
	}
	before := countDevices(s)
	for range 50 {
		now = now.Add(time.Second)
		s.Observe(randomEvent(r, now))
	}
	s.mu.Lock()
	s.abortBatchLocked()
	s.mu.Unlock()
	if diff := cmp.Diff(before, countDevices(s)); diff != "" {
		t.Fatalf("the aborted batch is still in memdb (-before +after):\n%s", diff)
	}
	checkCounts(t, s, "after an aborted batch")
	for range 200 {
		now = now.Add(time.Second)
		s.Observe(randomEvent(r, now))
	}
	checkCounts(t, s, "after an aborted batch and more events")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, opt)
	checkCounts(t, s, "after a restart")
	for range 300 {
		now = now.Add(time.Second)
		s.Observe(randomEvent(r, now))
	}
	checkCounts(t, s, "after a restart and more events")
}
