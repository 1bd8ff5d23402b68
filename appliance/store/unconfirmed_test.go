package store

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bounded keeps at most three unconfirmed devices.
var bounded = Options{FlushInterval: time.Hour, MaxEventsPerDevice: 5, MaxUnconfirmedDevices: 3, Logger: slog.New(slog.DiscardHandler)}

func deviceIDs(s *Store) []string {
	var ids []string
	for _, d := range s.Devices(nil) {
		ids = append(ids, d.ID)
	}
	return ids
}

func dnsFrom(s *Store, ip string, at time.Time) Device {
	return s.Observe(Event{Kind: EventDNS, IP: ip, Name: "ucupdates-r2.lab.test", Time: at})
}

func TestUnconfirmedDevicesAreBounded(t *testing.T) {
	tests := []struct {
		name    string
		observe func(s *Store)
		want    []string
	}{
		{"DNS from five addresses keeps the newest three", func(s *Store) {
			for i := 1; i <= 5; i++ {
				dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
			}
		}, []string{"IP:10.0.0.3", "IP:10.0.0.4", "IP:10.0.0.5"}},
		{"seeing a device again makes it the most recent", func(s *Store) {
			for i := 1; i <= 3; i++ {
				dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
			}
			dnsFrom(s, "10.0.0.1", t0)
			dnsFrom(s, "10.0.0.4", t0)
		}, []string{"IP:10.0.0.1", "IP:10.0.0.3", "IP:10.0.0.4"}},
		{"DHCP, uploads naming a MAC, SIP and directory events count too", func(s *Store) {
			s.Observe(Event{Kind: EventDHCP, MAC: "0004F2000001", IP: "10.0.0.1", Time: t0})
			s.Observe(Event{Kind: EventUpload, MAC: "0004F2000002", IP: "10.0.0.2", File: "a.log", Time: t0})
			s.Observe(Event{Kind: EventSIP, IP: "10.0.0.3", SIPStep: SIPAuthFailed, Time: t0})
			s.Observe(Event{Kind: EventDirectory, IP: "10.0.0.4", DirectoryStep: DirectoryPing, Time: t0})
			s.Observe(Event{Kind: EventDownload, IP: "10.0.0.5", File: "CPE.nbt", Time: t0})
		}, []string{"IP:10.0.0.3", "IP:10.0.0.4", "IP:10.0.0.5"}},
		{"checked-in and signed-in devices are not counted", func(s *Store) {
			s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.1.1" }))
			s.Observe(withEvent(sip(SIPSignedIn), func(e *Event) { e.IP = "10.0.1.2" }))
			for i := 1; i <= 5; i++ {
				dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
			}
		}, []string{mac, "IP:10.0.0.3", "IP:10.0.0.4", "IP:10.0.0.5", "IP:10.0.1.2"}},
		{"a check-in takes its placeholder out of the table", func(s *Store) {
			for i := 1; i <= 3; i++ {
				dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
			}
			s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.0.1" }))
			dnsFrom(s, "10.0.0.4", t0)
		}, []string{mac, "IP:10.0.0.2", "IP:10.0.0.3", "IP:10.0.0.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir(), bounded)
			tt.observe(s)
			if diff := cmp.Diff(tt.want, deviceIDs(s)); diff != "" {
				t.Errorf("devices (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvictedDeviceIsGone: an evicted device leaves no timeline, no
// address row and a change on the feed; its address starts afresh.
func TestEvictedDeviceIsGone(t *testing.T) {
	s := openStore(t, t.TempDir(), bounded)
	sub := s.Subscribe(64)
	defer sub.Close()
	for i := 1; i <= 4; i++ {
		dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
	}
	if _, ok := s.Device("IP:10.0.0.1"); ok {
		t.Error("the least recently seen device is still there")
	}
	if evs := s.Events(nil, "IP:10.0.0.1"); evs != nil {
		t.Errorf("its timeline is still there: %+v", evs)
	}
	if d, ok := s.DeviceByIP("10.0.0.1"); ok {
		t.Errorf("its address still names %s", d.ID)
	}
	var changed []string
	for len(sub.C) > 0 {
		c := <-sub.C
		changed = append(changed, c.Table+"/"+c.ID)
	}
	for _, want := range []string{"devices/IP:10.0.0.1", "events/IP:10.0.0.1"} {
		if !slices.Contains(changed, want) {
			t.Errorf("feed %v lacks %s", changed, want)
		}
	}
	if n := s.UnconfirmedDevices(); n != 3 {
		t.Errorf("UnconfirmedDevices = %d, want 3", n)
	}
	d := dnsFrom(s, "10.0.0.1", t1)
	if d.ID != "IP:10.0.0.1" || !d.FirstSeen.Equal(t1) || len(s.Events(nil, d.ID)) != 1 {
		t.Errorf("back after eviction: %s first seen %v with %d events, want a new device", d.ID, d.FirstSeen, len(s.Events(nil, d.ID)))
	}
}

// TestEvictionSurvivesRestart: neither the journal nor a snapshot brings
// an evicted device back, and a start with a lower bound evicts the least
// recently seen down to it.
func TestEvictionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, bounded)
	s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.1.1" }))
	for i := 1; i <= 6; i++ {
		dnsFrom(s, fmt.Sprintf("10.0.0.%d", i), t0)
	}
	dnsFrom(s, "10.0.0.4", t0) // 4 is now newer than 5 and 6
	want := []string{mac, "IP:10.0.0.4", "IP:10.0.0.5", "IP:10.0.0.6"}
	if diff := cmp.Diff(want, deviceIDs(s)); diff != "" {
		t.Fatalf("devices (-want +got):\n%s", diff)
	}
	before := dump(s)
	noErr(t, s.Close())

	s = openStore(t, dir, bounded) // from the journal
	if diff := cmp.Diff(before, dump(s)); diff != "" {
		t.Fatalf("after replaying the journal (-want +got):\n%s", diff)
	}
	noErr(t, s.Snapshot())
	dnsFrom(s, "10.0.0.7", t1) // evicts 5, the least recent
	noErr(t, s.Close())

	s = openStore(t, dir, bounded) // from the snapshot and the journal after it
	want = []string{mac, "IP:10.0.0.4", "IP:10.0.0.6", "IP:10.0.0.7"}
	if diff := cmp.Diff(want, deviceIDs(s)); diff != "" {
		t.Fatalf("after the snapshot (-want +got):\n%s", diff)
	}
	noErr(t, s.Close())

	lower := bounded
	lower.MaxUnconfirmedDevices = 1
	s = openStore(t, dir, lower)
	want = []string{mac, "IP:10.0.0.7"}
	if diff := cmp.Diff(want, deviceIDs(s)); diff != "" {
		t.Fatalf("with a bound of one (-want +got):\n%s", diff)
	}
	if _, ok := s.DeviceByIP("10.0.0.6"); ok {
		t.Error("an address row of an evicted device is left")
	}
}

// TestConfirmedPhoneKeepsItsDNSEvent: of many unconfirmed devices, one
// that is still in the table checks in and keeps its DNS query.
func TestConfirmedPhoneKeepsItsDNSEvent(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Hour, MaxUnconfirmedDevices: 100, Logger: slog.New(slog.DiscardHandler)})
	for i := range 1000 {
		dnsFrom(s, fmt.Sprintf("10.0.%d.%d", i>>8, i&0xff), t0)
	}
	s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.3.200" })) // 1000 = 3<<8 + 232: 3.200 is among the newest 100
	var kinds []EventKind
	for _, e := range s.Events(nil, mac) {
		kinds = append(kinds, e.Kind)
	}
	if diff := cmp.Diff([]EventKind{EventDNS, EventCheckIn}, kinds); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if n := len(s.Devices(nil)); n != 100 {
		t.Errorf("%d devices, want 99 unconfirmed and the phone", n)
	}
}
