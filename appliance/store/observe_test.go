package store

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

func TestDeviceIdentity(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(Event{Kind: EventDHCP, IP: "10.0.0.5", MAC: mac, Time: t0})
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"MAC wins", Event{Kind: EventCheckIn, IP: "10.0.0.6", MAC: "0004F2000001", Serial: "SN-1"}, "0004F2000001"},
		{"serial without MAC", Event{Kind: EventCheckIn, IP: "10.0.0.7", Serial: "SN-1"}, "SN:SN-1"},
		{"address of a known phone", Event{Kind: EventDNS, IP: "10.0.0.5"}, mac},
		{"unknown address", Event{Kind: EventDNS, IP: "10.0.0.8"}, "IP:10.0.0.8"},
		{"caller's DeviceID is ignored", Event{Kind: EventDNS, IP: "10.0.0.5", DeviceID: "bogus"}, mac},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Observe(tt.ev).ID; got != tt.want {
				t.Errorf("device = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestObserveAssignsSeqAndTime(t *testing.T) {
	now := t0.Add(42 * time.Second)
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Hour, Now: func() time.Time { return now }})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5"})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5", Time: t1})
	got := s.Events(nil, "IP:10.0.0.5")
	want := []Event{
		{Seq: 1, Time: now, DeviceID: "IP:10.0.0.5", Kind: EventDNS, IP: "10.0.0.5"},
		{Seq: 2, Time: t1, DeviceID: "IP:10.0.0.5", Kind: EventDNS, IP: "10.0.0.5"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestEventBound(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Hour, MaxEventsPerDevice: 3})
	for i := range 10 {
		s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5", Time: t0.Add(time.Duration(i) * time.Second)})
	}
	var seqs []uint64
	for _, ev := range s.Events(nil, "IP:10.0.0.5") {
		seqs = append(seqs, ev.Seq)
	}
	if diff := cmp.Diff([]uint64{8, 9, 10}, seqs); diff != "" {
		t.Errorf("kept events (-want +got):\n%s", diff)
	}
}

func TestMergePlaceholder(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{FlushInterval: time.Hour, MaxEventsPerDevice: 4})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.9", Time: t0})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.9", Time: t0.Add(time.Second)})
	d := s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.0.9" }))

	if _, ok := s.Device("IP:10.0.0.9"); ok {
		t.Error("placeholder still there after the merge")
	}
	if d.ID != mac || !d.FirstSeen.Equal(t0) || d.Stage != StageOffered || d.CheckIns != 1 {
		t.Errorf("merged device = %s first seen %v, stage %s, %d check-ins; want %s, %v, %s, 1",
			d.ID, d.FirstSeen, d.Stage, d.CheckIns, mac, t0, StageOffered)
	}
	if got, _ := s.DeviceByIP("10.0.0.9"); got.ID != mac {
		t.Errorf("DeviceByIP(10.0.0.9) = %s, want %s", got.ID, mac)
	}
	wantEvents := []string{"dns", "dns", "checkin"}
	var got []string
	for _, ev := range s.Events(nil, mac) {
		got = append(got, string(ev.Kind))
		if ev.DeviceID != mac {
			t.Errorf("event %d still names %s", ev.Seq, ev.DeviceID)
		}
	}
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}

	// The phone moves; a DNS query from its new address before it checks
	// in again makes a new placeholder, merged into the known phone, and
	// the bound holds across the merge.
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.10", Time: t1})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.10", Time: t1})
	d = s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP, e.Time = "10.0.0.10", t1.Add(time.Second) }))
	if d.IP != "10.0.0.10" || d.SameOffer != 2 || !d.FirstSeen.Equal(t0) {
		t.Errorf("after the second merge: IP %s, SameOffer %d, FirstSeen %v", d.IP, d.SameOffer, d.FirstSeen)
	}
	if n := len(s.Events(nil, mac)); n != 4 {
		t.Errorf("%d events after the merge, want the bound 4", n)
	}
	if got := s.Devices(nil); len(got) != 1 {
		t.Errorf("devices = %v, want only %s", got, mac)
	}
}

// TestSignedInPhoneChecksIn: a beta phone signs in over SIP before it
// says who it is (the events name its address only); its first check-in,
// with its MAC, from the same address takes the sign-in over: one device,
// its SIP events on its timeline, its sign-in facts kept.
func TestSignedInPhoneChecksIn(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	s.Observe(withEvent(sip(SIPAttempt), func(e *Event) { e.Time = at(0) }))
	s.Observe(withEvent(sip(SIPSignedIn), func(e *Event) { e.Time = at(1) }))
	d := s.Observe(withEvent(sip(SIPProvisioned), func(e *Event) { e.Time = at(2) }))
	if d.ID != "IP:10.0.0.5" || d.Stage != StageSignedIn {
		t.Fatalf("after the sign-in: device %s in stage %s, want IP:10.0.0.5 signed in", d.ID, d.Stage)
	}
	d = s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time = at(60) }))

	want := withDevice(offeredInterim(), func(d *Device) {
		d.SIPUser, d.SignedInAt, d.Handed, d.UserAgent = tech, at(1), handed, ua
		d.StageSince, d.LastSeen, d.Hops = at(60), at(60), []Hop{{Version: vBeta, At: at(60)}}
	})
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("phone after its first check-in (-want +got):\n%s", diff)
	}
	if devs := s.Devices(nil); len(devs) != 1 {
		t.Errorf("%d devices, want the phone alone: %v", len(devs), devs)
	}
	var got []string
	for _, ev := range s.Events(nil, mac) {
		got = append(got, string(ev.Kind)+" "+ev.SIPStep+" "+ev.DeviceID)
	}
	wantEvents := []string{"sip attempt " + mac, "sip signed-in " + mac, "sip provisioned " + mac, "checkin  " + mac}
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
}

// TestMovedPhoneSignsInAgain: a phone known by its MAC moves to a new
// address and signs in there before it checks in from it: the merge gives
// the known phone the newer sign-in.
func TestMovedPhoneSignsInAgain(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time, e.IP = t0, "10.0.0.4" }))
	later := t1.Add(time.Minute)
	s.Observe(withEvent(sip(SIPSignedIn), func(e *Event) { e.Time, e.User = t1, "alice@lab.test" }))
	s.Observe(withEvent(sip(SIPProvisioned), func(e *Event) { e.Time, e.User = t1, "alice@lab.test" }))
	d := s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time = later }))
	if d.ID != mac || d.SIPUser != "alice@lab.test" || !d.SignedInAt.Equal(t1) || d.Handed != handed || d.UserAgent != ua || !d.FirstSeen.Equal(t0) {
		t.Errorf("after the merge: %s user %q at %v, handed %q, agent %q, first seen %v",
			d.ID, d.SIPUser, d.SignedInAt, d.Handed, d.UserAgent, d.FirstSeen)
	}
	if _, ok := s.Device("IP:10.0.0.5"); ok {
		t.Error("placeholder still there after the merge")
	}
}

func TestDeviceByIPPicksLastSeen(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(Event{Kind: EventDHCP, MAC: "0004F2000001", IP: "10.0.0.5", Time: t0})
	s.Observe(Event{Kind: EventDHCP, MAC: "0004F2000002", IP: "10.0.0.5", Time: t1})
	if d, _ := s.DeviceByIP("10.0.0.5"); d.ID != "0004F2000002" {
		t.Errorf("DeviceByIP = %s, want the one seen last", d.ID)
	}
	if _, ok := s.DeviceByIP("10.0.0.6"); ok {
		t.Error("DeviceByIP found a device at an unused address")
	}
	// The phone seen last moves away: its old address is nobody's now.
	s.Observe(Event{Kind: EventDHCP, MAC: "0004F2000002", IP: "10.0.0.6", Time: t1})
	if d, ok := s.DeviceByIP("10.0.0.5"); ok {
		t.Errorf("DeviceByIP(10.0.0.5) = %s after it moved to 10.0.0.6", d.ID)
	}
	if d, _ := s.DeviceByIP("10.0.0.6"); d.ID != "0004F2000002" {
		t.Errorf("DeviceByIP(10.0.0.6) = %s, want 0004F2000002", d.ID)
	}
}

// BenchmarkObserveCheckIn is the check-in hot path in steady state: 1,000
// phones checking in round-robin, every timeline full (500 events), group
// commit and compaction running.
func BenchmarkObserveCheckIn(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{})
	const phones = 1000
	evs := make([]Event, phones)
	for i := range evs {
		evs[i] = Event{
			Kind: EventCheckIn, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), MAC: fmt.Sprintf("0004F2%06X", i),
			DevicePath: cx700, Reported: vBeta, Offered: vInterim, Target: vRelease,
			Path: []images.Version{vInterim, vRelease},
		}
	}
	for i := range phones * s.opt.MaxEventsPerDevice {
		s.Observe(evs[i%phones])
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU(b)
	n := 0
	for ; b.Loop(); n++ {
		s.Observe(evs[n%phones])
	}
	// CPU time of the whole process (GC and the flusher's JSON included)
	// per Observe: unlike ns/op, it does not grow when other work on the
	// machine takes the CPU away.
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(n), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
