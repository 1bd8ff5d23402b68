package store

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tanjay-lab/tanjay/images"
)

func TestSlowSubscriberNeverBlocks(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	slow := s.Subscribe(1)
	defer slow.Close()
	for i := range 10_000 {
		s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff), Time: t0})
	}
	s.Devices(nil) // a read applies the last batch of observations
	c := <-slow.C
	if !c.Lagged {
		t.Errorf("after 10,000 changes a 1-slot subscriber got %+v, want Lagged", c)
	}
	if c.Table != tableEvents || c.ID != "IP:10.0.39.15" {
		t.Errorf("got %s/%s, want the newest change, events/IP:10.0.39.15", c.Table, c.ID)
	}
	noErr(t, s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC})) // one change: fits
	if c := <-slow.C; c.Lagged {
		t.Errorf("a change after catching up is %+v, want not Lagged", c)
	}
}

func TestFeedOrder(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	sub := s.Subscribe(16)
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.9", Time: t0})
	s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.IP = "10.0.0.9" }))
	must[images.Rule](t)(s.ImportImage(testImage(cx700Key, vRelease)))
	noErr(t, s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}))
	noErr(t, s.RemoveTestDevice(mac))
	sub.Close()
	var got []Change
	for c := range sub.C {
		got = append(got, c)
	}
	want := []Change{
		{Table: "devices", ID: "IP:10.0.0.9"},
		{Table: "events", ID: "IP:10.0.0.9"},
		{Table: "devices", ID: "IP:10.0.0.9"}, // merged away
		{Table: "devices", ID: mac},
		{Table: "events", ID: mac},
		{Table: "rules", ID: cx700Key.ID()},
		{Table: "images", ID: testImage(cx700Key, vRelease).ID()},
		{Table: "testdevices", ID: mac},
		{Table: "testdevices", ID: mac},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Change{}, "Seq")); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Errorf("Seq %d follows %d", got[i].Seq, got[i-1].Seq)
		}
	}
	sub.Close()
}
