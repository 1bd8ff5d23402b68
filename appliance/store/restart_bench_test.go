package store

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// BenchmarkRestart is the appliance's start-up: Open (the newest snapshot
// plus the journal after it) and Close, over a fleet built through the
// store API. Each phone walks the whole chain in fleetEvents events (DHCP,
// DNS, check-ins, downloads in four steps, the interim, the release); the
// first fleetSnapshotted of them are in the snapshot, the rest in the
// journal, as after a restart between two compactions. It reports the
// snapshot's and the journal's sizes. Run it with the state on the disk
// the appliance uses (TMPDIR) and -benchtime=3x or so: the 100,000-phone
// fleet takes a minute or more to build. With TANJAY_RESTART_STATE set to
// a directory, each fleet is built there once (phones-<n>) and reused by
// later runs, so that two trees can be compared on the same files in
// alternating rounds (nothing in it changes while the format does not).
func BenchmarkRestart(b *testing.B) {
	for _, phones := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("phones=%d", phones), func(b *testing.B) {
			dir := fleetDir(b, phones)
			snap, journal := stateSizes(b, dir)
			opt := restartOptions()
			var cpu time.Duration
			b.ResetTimer()
			for b.Loop() {
				before := processCPU(b)
				s, err := Open(dir, opt)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(s.Devices(nil)); n != phones {
					b.Fatalf("%d phones after restart, want %d", n, phones)
				}
				cpu += processCPU(b) - before
				b.StopTimer()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(snap)/1e6, "snapshot-MB")
			b.ReportMetric(float64(journal)/1e6, "journal-MB")
			// The CPU the process spent (every goroutine, the GC's too):
			// on a busy machine a steadier figure than the time.
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// fleetEvents per phone, the first fleetSnapshotted of them in the
// snapshot: at 100,000 phones the journal after it is about 69 MB, a
// little past the default SnapshotBytes, as an appliance stopped just
// before its next compaction leaves it (Open then compacts in the
// background; restartOptions never does, so that rounds read the same
// files).
const (
	fleetEvents      = 20
	fleetSnapshotted = 18
)

// fleetDir is a state directory holding phones phones: a new one, or the
// one kept under $TANJAY_RESTART_STATE.
func fleetDir(b *testing.B, phones int) string {
	keep := os.Getenv("TANJAY_RESTART_STATE")
	if keep == "" {
		dir := b.TempDir()
		buildFleet(b, dir, phones)
		return dir
	}
	dir := filepath.Join(keep, fmt.Sprintf("phones-%d", phones))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	buildFleet(b, dir, phones)
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// restartOptions never compacts at Open, so that every round reads the
// same files.
func restartOptions() Options {
	return Options{FlushInterval: time.Hour, SnapshotBytes: 1 << 40, Logger: slog.New(slog.DiscardHandler)}
}

// buildFleet fills dir with phones phones, their events interleaved as a
// fleet's are.
func buildFleet(tb testing.TB, dir string, phones int) {
	tb.Helper()
	s, err := Open(dir, restartOptions())
	if err != nil {
		tb.Fatal(err)
	}
	interim := images.RuleKey{DevicePath: images.DevicePath{DeviceType: images.InterimDeviceType, Locale: "ENU"}, UpdateType: "CPE"}
	release := images.RuleKey{DevicePath: fleetPath, UpdateType: "CPE"}
	for _, im := range []images.Image{fleetImage(interim, fleetInterim), fleetImage(release, fleetRelease)} {
		if _, err := s.ImportImage(im); err != nil {
			tb.Fatal(err)
		}
		if _, err := s.Approve(im.Key); err != nil {
			tb.Fatal(err)
		}
	}
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for step := range fleetEvents {
		if step == fleetSnapshotted {
			if err := s.Snapshot(); err != nil {
				tb.Fatal(err)
			}
		}
		for p := range phones {
			ev := fleetEvent(p, step)
			ev.Time = start.Add(time.Duration(step*phones+p) * 997 * time.Microsecond)
			s.Observe(ev)
		}
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

var (
	fleetPath    = images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	fleetBeta    = images.MustParseVersion("1.0.199.0")
	fleetInterim = images.MustParseVersion("1.0.522.103")
	fleetRelease = images.MustParseVersion("4.0.7577.4398")
)

func fleetImage(key images.RuleKey, v images.Version) images.Image {
	return images.Image{
		Key: key, Version: v, Interim: key.DevicePath.DeviceType == images.InterimDeviceType,
		Files:  []images.File{{Name: "CPE.nbt", SHA256: fmt.Sprintf("%064x", v[3]), Size: 30 << 20}},
		Source: "UCUpdates.exe",
	}
}

// fleetEvent is what phone p does at step: DHCP, DNS, a check-in offered
// the interim, its download in four parts, a check-in on the interim
// offered the release, its download, then check-ins at the release.
func fleetEvent(p, step int) Event {
	mac := fmt.Sprintf("0004F2%06X", p)
	ip := fmt.Sprintf("10.%d.%d.%d", p>>16, p>>8&255, p&255)
	const total = 30 << 20
	checkIn := func(reported, offered images.Version, interim bool) Event {
		ev := Event{Kind: EventCheckIn, IP: ip, MAC: mac, Serial: fmt.Sprintf("SN%08d", p), DevicePath: fleetPath,
			Reported: reported, Target: fleetRelease, Interim: interim}
		if !offered.IsZero() {
			ev.Offered, ev.File, ev.Path = offered, "CPE.nbt", []images.Version{fleetRelease}
		}
		return ev
	}
	download := func(part int) Event {
		return Event{Kind: EventDownload, IP: ip, File: "CPE.nbt", Offset: int64(part) * total / 4, Bytes: total / 4, Total: total, Complete: part == 3}
	}
	switch {
	case step == 0:
		return Event{Kind: EventDHCP, MAC: mac, Detail: "DISCOVER vendor class CPE-OCPHONE"}
	case step == 1:
		return Event{Kind: EventDNS, IP: ip, Name: "ucupdates-r2.lab.test", Detail: "A ucupdates-r2.lab.test → NOERROR"}
	case step == 2:
		return checkIn(fleetBeta, fleetInterim, false)
	case step < 7:
		return download(step - 3)
	case step == 7:
		return checkIn(fleetInterim, fleetRelease, true)
	case step < 12:
		return download(step - 8)
	default:
		return checkIn(fleetRelease, images.Version{}, false)
	}
}

// stateSizes is the bytes of the snapshots and of the journal segments in
// dir.
func stateSizes(tb testing.TB, dir string) (snapshots, journal int64) {
	tb.Helper()
	st, err := listState(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, seq := range st.snapshots {
		snapshots += fileBytes(tb, snapshotPath(dir, seq))
	}
	for _, seq := range st.journals {
		journal += fileBytes(tb, segmentPath(dir, seq))
	}
	return snapshots, journal
}

func fileBytes(tb testing.TB, path string) int64 {
	info, err := os.Stat(filepath.Clean(path))
	if err != nil {
		tb.Fatal(err)
	}
	return info.Size()
}
