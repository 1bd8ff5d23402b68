package store

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tanjay-lab/tanjay/images"
)

// BenchmarkFleetMemory: the live heap of a store holding phones phones
// with events events each, built through Observe as a fleet walking the
// upgrade path makes them (DHCP, DNS, check-ins offered a hop, downloads
// in parts, check-ins at the target), after the journal is written and
// the garbage collector has run. heap-B/event is the whole heap over the
// events (devices, tables and indexes included); timeline-B/event what
// the timelines alone take (buffers and rows); rss-MiB the process's
// resident memory then. The builds are large: run with -benchtime 1x.
func BenchmarkFleetMemory(b *testing.B) {
	for _, bc := range []struct{ phones, events int }{{10_000, 100}, {100_000, 20}} {
		b.Run(fmt.Sprintf("phones=%d,events=%d", bc.phones, bc.events), func(b *testing.B) {
			var heap uint64
			var rss int64
			var timelines int
			for b.Loop() {
				dir := b.TempDir()
				var s *Store
				heap = heapAfter(func() any {
					var err error
					s, err = Open(dir, Options{SnapshotBytes: 1 << 40, Logger: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					buildMemFleet(s, bc.phones, bc.events)
					// Write what waits for the journal, as the flusher
					// does every FlushInterval: what is left is the state.
					if _, err := s.flush(true); err != nil {
						b.Fatal(err)
					}
					return s
				})
				rss = residentBytes(b)
				timelines = timelinesBytes(s)
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
			b.ReportMetric(float64(heap)/float64(bc.phones), "heap-B/phone")
			b.ReportMetric(float64(heap)/float64(bc.phones*bc.events), "heap-B/event")
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			b.ReportMetric(float64(timelines)/float64(bc.phones*bc.events), "timeline-B/event")
		})
	}
}

// buildMemFleet observes events events of each of phones phones,
// interleaved as a fleet's are, five minutes apart for each phone.
func buildMemFleet(s *Store, phones, events int) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for step := range events {
		for p := range phones {
			ev := memFleetEvent(p, step)
			ev.Time = start.Add(time.Duration(step)*5*time.Minute + time.Duration(p)*time.Millisecond)
			s.Observe(ev)
		}
	}
}

// memFleetEvent is what phone p does at step: DHCP, DNS, a check-in
// offered the interim, its download in four parts, a check-in on the
// interim offered the release, its download, then check-ins at the
// release with a DNS lookup now and then. Strings are made afresh for
// each event, as a request's are.
func memFleetEvent(p, step int) Event {
	mac := fmt.Sprintf("0004F2%06X", p)
	ip := fmt.Sprintf("10.%d.%d.%d", p>>16, p>>8&255, p&255)
	path := images.DevicePath{DeviceType: "UCPhone", Vendor: strings.Clone("Polycom"), Model: strings.Clone("CX700"), Revision: "A", Locale: "ENU"}
	serial := strconv.Itoa(1108000000 + p)
	beta, interim, release := images.MustParseVersion("1.0.199.0"), images.MustParseVersion("1.0.522.103"), images.MustParseVersion("4.0.7577.4398")
	checkIn := func(reported, offered images.Version, file string) Event {
		ev := Event{Kind: EventCheckIn, IP: ip, MAC: mac, Serial: serial, DevicePath: path, Reported: reported, Offered: offered, Target: release}
		if !offered.IsZero() {
			ev.Path, ev.File, ev.Interim = []images.Version{offered, release}[:1+btoi(offered != release)], strings.Clone(file), reported == interim
		}
		return ev
	}
	const total = 30 << 20
	part := func(i int) Event {
		return Event{Kind: EventDownload, IP: ip, File: strings.Clone("CPE.nbt"), Offset: int64(i) * total / 4, Bytes: total / 4, Total: total, Complete: i == 3}
	}
	switch {
	case step == 0:
		return Event{Kind: EventDHCP, IP: ip, MAC: mac, Detail: strings.Clone("ACK")}
	case step == 1:
		return Event{Kind: EventDNS, IP: ip, Name: strings.Clone("ucupdates-r2.lab.test"), Detail: strings.Clone("A ucupdates-r2.lab.test → NOERROR")}
	case step == 2:
		return checkIn(beta, interim, "CPE.nbt")
	case step <= 6:
		return part(step - 3)
	case step == 7:
		return checkIn(interim, release, "CPE.nbt")
	case step <= 11:
		return part(step - 8)
	case step%10 == 5:
		return Event{Kind: EventDNS, IP: ip, Name: strings.Clone("ucupdates-r2.lab.test"), Detail: strings.Clone("A ucupdates-r2.lab.test → NOERROR")}
	}
	return checkIn(release, images.Version{}, "")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// timelinesBytes is the memory the timelines take: their buffers and
// rows.
func timelinesBytes(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.view.devices {
		if tl := d.tl; tl != nil {
			n += tl.size() + int(unsafe.Sizeof(*tl)) + len(tl.key)
		}
	}
	return n
}

// residentBytes is the process's resident memory now.
func residentBytes(b *testing.B) int64 {
	runtime.GC()
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Skipf("no resident size here: %v", err)
	}
	f := strings.Fields(string(statm))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatalf("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}
