package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// lazy never group-commits on its own: only operator changes, Snapshot and
// Close write observations, which makes crash tests exact.
// Its logger drops what Open logs (cut torn tails); TestTornTailIsLogged
// checks that.
var lazy = Options{FlushInterval: time.Hour, MaxEventsPerDevice: 5, Logger: slog.New(slog.DiscardHandler)}

func openStore(t testing.TB, dir string, opt Options) *Store {
	t.Helper()
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	interimKey = images.RuleKey{DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "ENU"}, UpdateType: "CPE"}
	cx700Key   = images.RuleKey{DevicePath: cx700, UpdateType: "CPE"}
)

func testImage(key images.RuleKey, v images.Version) images.Image {
	return images.Image{
		Key: key, Version: v, Interim: key == interimKey,
		Files: []images.File{
			{Name: "CPE.nbt", SHA256: strings.Repeat("a", 64), Size: 1000},
			{Name: "CPE.cat", SHA256: strings.Repeat("b", 64), Size: 90},
		},
		Source: "UCUpdates.exe", ImportedAt: t0,
	}
}

// state is everything a Store holds, to compare a store with its reopened
// self.
type state struct {
	Rules       []images.Rule
	Images      []images.Image
	TestDevices []TestDevice
	Devices     []Device
	Events      map[string][]Event
	// Addresses is who DeviceByIP says was seen last at each device's
	// address.
	Addresses map[string]string
}

func dump(s *Store) state {
	st := state{Rules: s.Rules(nil), Images: s.Images(nil), TestDevices: s.TestDevices(nil), Devices: s.Devices(nil), Events: map[string][]Event{}}
	for _, d := range st.Devices {
		st.Events[d.ID] = s.Events(nil, d.ID)
		if at, ok := s.DeviceByIP(d.IP); ok {
			if st.Addresses == nil {
				st.Addresses = map[string]string{}
			}
			st.Addresses[d.IP] = at.ID
		}
	}
	return st
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// populate writes every kind of state: rules in every condition (a Restored
// one included), images, test devices (one removed again), a placeholder
// merged into a phone, a phone past the event bound, a serial-only phone.
func populate(t testing.TB, s *Store) {
	rule := must[images.Rule](t)
	rule(s.ImportImage(testImage(interimKey, vInterim)))
	rule(s.Approve(interimKey))
	v1, v2, v3 := vRelease, images.MustParseVersion("3.5.6907.83"), images.MustParseVersion("4.0.7577.0")
	rule(s.ImportImage(testImage(cx700Key, v1)))
	rule(s.Approve(cx700Key))
	rule(s.ImportImage(testImage(cx700Key, v2)))
	rule(s.Approve(cx700Key))
	rule(s.Restore(cx700Key))
	rule(s.ImportImage(testImage(cx700Key, v3)))
	noErr(t, s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC, Added: t0}))
	noErr(t, s.AddTestDevice(TestDevice{ID: "SN-42", Kind: TestDeviceSerial, Added: t0}))
	noErr(t, s.AddTestDevice(TestDevice{ID: "0004F2000001", Kind: TestDeviceMAC}))
	noErr(t, s.RemoveTestDevice("0004F2000001"))

	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	s.Observe(Event{Time: at(1), Kind: EventDNS, IP: "10.0.0.9", Detail: "ucupdates-r2.lab"})
	s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time, e.IP, e.MAC = at(2), "10.0.0.9", "0004F2000009" }))
	s.Observe(Event{Time: at(3), Kind: EventDownload, IP: "10.0.0.9", File: "CPE.nbt", Bytes: 1000, Total: 1000, Complete: true})
	for i := range 8 {
		s.Observe(withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time = at(10 + i) }))
	}
	s.Observe(Event{Time: at(30), Kind: EventCheckIn, IP: "10.0.0.7", Serial: "SN-42", Reported: vRelease, Target: vRelease})
	s.Observe(withEvent(sip(SIPSignedIn), func(e *Event) { e.Time, e.IP = at(40), "10.0.0.11" }))
	s.Observe(withEvent(sip(SIPProvisioned), func(e *Event) { e.Time, e.IP = at(41), "10.0.0.11" }))
}

func TestReopenRestoresEverything(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	want := dump(s)
	noErr(t, s.Close())

	s2 := openStore(t, dir, lazy)
	if diff := cmp.Diff(want, dump(s2)); diff != "" {
		t.Errorf("after reopen (-before +after):\n%s", diff)
	}
	if r, _ := s2.Rule(cx700Key); !r.Restored || r.Approved != vRelease || r.Pending.IsZero() {
		t.Errorf("rule after reopen = %+v, want Restored, Approved %s and a Pending version", r, vRelease)
	}
	if n := len(want.Events[mac]); n != lazy.MaxEventsPerDevice {
		t.Errorf("%s has %d events, want the bound %d", mac, n, lazy.MaxEventsPerDevice)
	}
	last := want.Events[mac][len(want.Events[mac])-1].Seq
	if d := s2.Observe(Event{Kind: EventDNS, IP: "10.0.0.5"}); d.ID != mac {
		t.Errorf("DNS from 10.0.0.5 went to %s, want %s", d.ID, mac)
	}
	if ev := s2.Events(nil, mac); ev[len(ev)-1].Seq <= last {
		t.Errorf("Seq after reopen = %d, want > %d", ev[len(ev)-1].Seq, last)
	}
}

// TestOperatorChangesSurviveCrash copies the state directory while the
// store is open, as a crash would leave it, and opens the copy.
func TestOperatorChangesSurviveCrash(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s) // its last operator change came before its observations
	before := s.Observe(Event{Kind: EventDNS, IP: "10.0.0.50", Time: t1})
	noErr(t, s.AddTestDevice(TestDevice{ID: "SN-77", Kind: TestDeviceSerial, Added: t0}))
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.51", Time: t1}) // not yet group-committed
	want := dump(s)

	crashed := filepath.Join(t.TempDir(), "state")
	copyDir(t, dir, crashed)
	s2 := openStore(t, crashed, lazy)
	got := dump(s2)
	if diff := cmp.Diff(want.Rules, got.Rules); diff != "" {
		t.Errorf("rules after crash (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(want.Images, got.Images); diff != "" {
		t.Errorf("images after crash (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(want.TestDevices, got.TestDevices); diff != "" {
		t.Errorf("test devices after crash (-before +after):\n%s", diff)
	}
	if _, ok := s2.Device(before.ID); !ok {
		t.Errorf("observation made before an operator change is lost")
	}
	if _, ok := s2.Device("IP:10.0.0.51"); ok {
		t.Errorf("observation after the last commit survived; the test no longer simulates a crash")
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	noErr(t, os.MkdirAll(to, 0o750))
	entries, err := os.ReadDir(from)
	noErr(t, err)
	for _, e := range entries {
		in, err := os.Open(filepath.Join(from, e.Name()))
		noErr(t, err)
		out, err := os.Create(filepath.Join(to, e.Name()))
		noErr(t, err)
		_, err = io.Copy(out, in)
		noErr(t, err)
		in.Close()
		noErr(t, out.Close())
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	_, err := Open(dir, lazy)
	if err == nil || !strings.Contains(err.Error(), "another tanjay is already using") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v, want an error naming %s and saying another tanjay is using it", err, dir)
	}
	noErr(t, s.Close())
	openStore(t, dir, lazy)
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	s := openStore(t, t.TempDir(), lazy)
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5"})
	sub := s.Subscribe(1)
	noErr(t, s.Close())
	noErr(t, s.Close())
	if err := s.AddTestDevice(TestDevice{ID: mac, Kind: TestDeviceMAC}); !errors.Is(err, errClosed) {
		t.Errorf("AddTestDevice after Close = %v, want %v", err, errClosed)
	}
	for range sub.C { // Close closed it
	}
	sub.Close()
}

func TestCloseWritesPendingObservations(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5", Time: t0})
	noErr(t, s.Close())
	if _, ok := openStore(t, dir, lazy).Device("IP:10.0.0.5"); !ok {
		t.Error("observation not written by Close")
	}
}

func TestGroupCommitWritesInTheBackground(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{FlushInterval: time.Millisecond})
	s.Observe(Event{Kind: EventDNS, IP: "10.0.0.5", Time: t0})
	waitFor(t, "the observation in the journal", func() bool {
		info, err := os.Stat(segmentPath(dir, 1))
		return err == nil && info.Size() > 0
	})
}

// waitFor polls a condition the store reaches in the background.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentUse runs phones, operators, readers and snapshots at once
// (for the race detector and lock order), then checks that a reopen
// rebuilds what the store showed.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{FlushInterval: time.Millisecond, SnapshotBytes: 16 << 10, MaxEventsPerDevice: 20})
	sub := s.Subscribe(4)
	defer sub.Close()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 300 {
				ev := checkIn(vBeta, vInterim)
				ev.MAC, ev.IP, ev.Time = fmt.Sprintf("0004F20000%02X", p*16+i%16), fmt.Sprintf("10.0.%d.%d", p, i%16), t0.Add(time.Duration(i)*time.Second)
				s.Observe(ev)
				s.Observe(Event{Kind: EventDNS, IP: fmt.Sprintf("10.1.%d.%d", p, i%7), Time: ev.Time})
			}
		})
	}
	wg.Go(func() {
		for i := range 30 {
			v := images.Version{3, 5, 6907, uint32(i + 1)}
			if _, err := s.ImportImage(testImage(cx700Key, v)); err != nil {
				t.Error(err)
			}
			if _, err := s.Approve(cx700Key); err != nil {
				t.Error(err)
			}
			if err := s.AddTestDevice(TestDevice{ID: fmt.Sprintf("SN-%d", i), Kind: TestDeviceSerial, Added: t0}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			if err := s.Snapshot(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 200 {
			for _, d := range s.Devices(nil) {
				s.Events(nil, d.ID)
			}
			s.ImageByDir("UCPhone/Polycom/CX700/A/ENU/3.5.6907.1/CPE")
		}
	})
	wg.Wait()
	want := dump(s)
	noErr(t, s.Close())
	noErr(t, s.Err())
	if diff := cmp.Diff(want, dump(openStore(t, dir, Options{MaxEventsPerDevice: 20}))); diff != "" {
		t.Errorf("reopened (-before +after):\n%s", diff)
	}
}
