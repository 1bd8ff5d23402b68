package store

import (
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// Thresholds of the stage derivation. Phones check in every few minutes to
// hours, so three check-ins is long enough to call a hop stuck.
const (
	stallAfter = 3 // check-ins offered the same hop with nothing fetched
	failAfter  = 3 // check-ins after the offered image was fully fetched, version unchanged
)

// applyEvent is what ev does to d: the pure stage derivation. d is the zero
// Device (FirstSeen zero) for a phone never seen before. now is when the
// store applied the event; Observe passes the event's time so that replaying
// the journal derives the same stages. Slices of d are never written to.
func applyEvent(d Device, ev Event, now time.Time) Device {
	isNew := d.FirstSeen.IsZero()
	if isNew {
		d.FirstSeen = now
	}
	d.ID = ev.DeviceID
	d.LastSeen = ev.Time
	if d.LastSeen.IsZero() {
		d.LastSeen = now
	}
	if ev.IP != "" {
		d.IP = ev.IP
	}
	if ev.MAC != "" {
		d.MAC = ev.MAC
	}
	if ev.Serial != "" {
		d.Serial = ev.Serial
	}
	if ev.DevicePath != (images.DevicePath{}) {
		d.DevicePath = ev.DevicePath
	}
	if ev.Kind == EventDNS && ev.Name != "" {
		d.DNSName = ev.Name
	}
	if ev.UserAgent != "" {
		d.UserAgent = ev.UserAgent
	}

	switch ev.Kind {
	case EventCheckIn:
		return applyCheckIn(d, ev, now)
	case EventDownload:
		return applyDownload(d, ev, now)
	case EventSIP:
		return applySIP(d, ev, isNew, now)
	}
	if isNew {
		setStage(&d, StageDiscovered, "", now)
	}
	return d
}

// applySIP records a step of a SIP sign-in. A phone that signed in (or
// got the provisioning only a signed-in phone gets) and never checked in
// is signed in: one step further than discovered. Any other step is only
// a sighting. Once a phone has checked in, its check-ins and downloads
// alone say where it stands.
func applySIP(d Device, ev Event, isNew bool, now time.Time) Device {
	switch ev.SIPStep {
	case SIPSignedIn:
		d.SignedInAt = d.LastSeen
		if ev.User != "" {
			d.SIPUser = ev.User
		}
	case SIPProvisioned:
		if ev.User != "" {
			d.SIPUser = ev.User
		}
		if ev.Handed != "" {
			d.Handed = ev.Handed
		}
	default:
		if isNew {
			setStage(&d, StageDiscovered, "", now)
		}
		return d
	}
	if d.CheckIns == 0 {
		setStage(&d, StageSignedIn, "", now)
	}
	return d
}

// applyCheckIn counts the check-in, records a hop when the version changed
// and derives the stage from what was offered and fetched.
func applyCheckIn(d Device, ev Event, now time.Time) Device {
	prevVersion, prevOffered, firstCheckIn := d.Version, d.Offered, d.CheckIns == 0
	d.CheckIns++
	if firstCheckIn {
		d.FirstVersion = ev.Reported
	}
	d.Version = ev.Reported
	if n := len(d.Hops); n == 0 || d.Hops[n-1].Version != ev.Reported {
		// A new array, the old Device may share its array with readers;
		// of the exact size: a phone makes a handful of hops in its life,
		// and each is a new array anyway.
		hops := make([]Hop, len(d.Hops)+1)
		copy(hops, d.Hops)
		hops[len(d.Hops)] = Hop{Version: ev.Reported, At: d.LastSeen}
		d.Hops = hops
	}
	d.Offered, d.Target, d.Path, d.IsTest = ev.Offered, ev.Target, ev.Path, ev.IsTest
	d.OfferedFile = ev.File

	if ev.Offered.IsZero() {
		d.SameOffer, d.FetchedCount = 0, 0
		if ev.Target.IsZero() {
			setStage(&d, StageCheckedIn, ev.Detail, now)
		} else {
			setStage(&d, StageDone, "", now)
		}
		return d
	}

	if !firstCheckIn && d.SameOffer > 0 && ev.Offered == prevOffered && ev.Reported == prevVersion {
		d.SameOffer++
		if fetched(d) {
			d.FetchedCount++
		}
	} else {
		d.SameOffer, d.FetchedCount = 1, 0
		d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "", 0, 0
	}

	switch {
	case d.FetchedCount >= failAfter:
		setStage(&d, StageFailed, failedReason(d), now)
	case d.SameOffer >= stallAfter && d.DownloadBytes == 0:
		setStage(&d, StageStalled, stalledReason(d), now)
	case fetched(d):
		setStage(&d, StageWaiting, "", now)
	case ev.Interim:
		setStage(&d, StageOnInterim, "", now)
	default:
		setStage(&d, StageOffered, "", now)
	}
	return d
}

// applyDownload records transfer progress. Progress only grows for one file;
// a different file starts over. Only the offered image's file (when the
// check-in named it) moves progress: the small .cat fetched after it stays
// on the timeline. A phone that is stalled, failed or done keeps its stage:
// the next check-in re-derives it.
func applyDownload(d Device, ev Event, now time.Time) Device {
	if d.OfferedFile != "" && !strings.EqualFold(ev.File, d.OfferedFile) {
		return d
	}
	reached := ev.Offset + ev.Bytes
	if ev.File != d.DownloadFile {
		d.DownloadBytes = reached
	} else {
		d.DownloadBytes = max(d.DownloadBytes, reached)
	}
	d.DownloadFile, d.DownloadTotal = ev.File, ev.Total

	switch d.Stage {
	case StageStalled, StageFailed, StageDone:
		return d
	}
	if ev.Complete && fetched(d) {
		setStage(&d, StageWaiting, "", now)
	} else {
		setStage(&d, StageDownloading, "", now)
	}
	return d
}

// stalledReason is why d is stalled: "offered 1.0.522.103 3 times
// without fetching it". It is made again at each check-in of a stalled
// phone, in one allocation.
func stalledReason(d Device) string {
	var b [96]byte
	out := append(b[:0], "offered "...)
	out = appendVersionText(out, d.Offered)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(d.SameOffer), 10)
	return string(append(out, " times without fetching it"...))
}

// failedReason is why d failed: "fetched CPE.nbt for 1.0.522.103 but
// still reports 1.0.199.0 after 3 check-ins".
func failedReason(d Device) string {
	var b [160]byte
	out := append(b[:0], "fetched "...)
	out = append(out, d.DownloadFile...)
	out = append(out, " for "...)
	out = appendVersionText(out, d.Offered)
	out = append(out, " but still reports "...)
	out = appendVersionText(out, d.Version)
	out = append(out, " after "...)
	out = strconv.AppendInt(out, int64(d.FetchedCount), 10)
	return string(append(out, " check-ins"...))
}

// appendVersionText appends v as images.Version.String writes it.
func appendVersionText(b []byte, v images.Version) []byte {
	b = strconv.AppendUint(b, uint64(v[0]), 10)
	for _, p := range v[1:] {
		b = strconv.AppendUint(append(b, '.'), uint64(p), 10)
	}
	return b
}

// fetched reports whether the offered image was transferred completely.
func fetched(d Device) bool { return d.DownloadTotal > 0 && d.DownloadBytes >= d.DownloadTotal }

// setStage moves d to stage; StageSince changes only when the stage does.
func setStage(d *Device, stage Stage, reason string, now time.Time) {
	if d.Stage != stage {
		d.StageSince = now
	}
	d.Stage, d.StageReason = stage, reason
}
