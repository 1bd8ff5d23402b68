package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

var (
	vBeta    = images.MustParseVersion("1.0.199.0")
	vInterim = images.MustParseVersion("1.0.522.103")
	vRelease = images.MustParseVersion("3.5.6907.37")
	t0       = time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	t1       = t0.Add(time.Minute)
	cx700    = images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
)

const mac = "0004F2AABBCC"

// offeredInterim is a beta phone that was offered the interim once.
func offeredInterim() Device {
	return Device{
		ID: mac, MAC: mac, IP: "10.0.0.5", DevicePath: cx700,
		FirstVersion: vBeta, Version: vBeta, Offered: vInterim, Target: vRelease,
		Path:  []images.Version{vInterim, vRelease},
		Stage: StageOffered, StageSince: t0,
		CheckIns: 1, SameOffer: 1, FirstSeen: t0, LastSeen: t0,
		Hops: []Hop{{Version: vBeta, At: t0}},
	}
}

// with returns d changed by fn, so each case states only what differs.
func withDevice(d Device, fn func(*Device)) Device {
	fn(&d)
	return d
}

func checkIn(reported, offered images.Version) Event {
	return Event{
		Time: t1, DeviceID: mac, Kind: EventCheckIn, IP: "10.0.0.5", MAC: mac, DevicePath: cx700,
		Reported: reported, Offered: offered, Target: vRelease, Path: []images.Version{vInterim, vRelease},
	}
}

func download(offset, n, total int64, complete bool) Event {
	return Event{Time: t1, DeviceID: mac, Kind: EventDownload, IP: "10.0.0.5",
		File: "CPE.nbt", Offset: offset, Bytes: n, Total: total, Complete: complete}
}

const (
	tech   = `LAB\tech`
	ua     = "OCPhone/1.0.199.0 (Microsoft Office Communicator Phone Edition)"
	handed = "http://10.77.0.1/RequestHandler/ucdevice.upx, https://10.77.0.1/RequestHandlerExt/ucdevice.upx (flat)"
)

// sip is a step of a sign-in from 10.0.0.5 at t0, before the phone said
// who it is.
func sip(step string) Event {
	ev := Event{Time: t0, DeviceID: "IP:10.0.0.5", Kind: EventSIP, IP: "10.0.0.5", SIPStep: step, User: tech, UserAgent: ua}
	switch step {
	case SIPSignedIn:
		ev.Detail = "NTLMv2, protocol version 3"
	case SIPAuthFailed:
		ev.Detail = `wrong password for LAB\tech (2 of 3)`
	case SIPProvisioned:
		ev.Handed = handed
	}
	return ev
}

// signedInBeta is a beta phone known only by its address that signed in
// over SIP at t0.
func signedInBeta() Device {
	return Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", SIPUser: tech, SignedInAt: t0, UserAgent: ua,
		Stage: StageSignedIn, StageSince: t0, FirstSeen: t0, LastSeen: t0}
}

func TestApplyEvent(t *testing.T) {
	fetchedInterim := withDevice(offeredInterim(), func(d *Device) {
		d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 1000, 1000
		d.Stage = StageWaiting
	})
	tests := []struct {
		name string
		d    Device
		ev   Event
		want Device
	}{
		{
			name: "dns query from a new address is discovered",
			ev: Event{Time: t0, DeviceID: "IP:10.0.0.5", Kind: EventDNS, IP: "10.0.0.5", Name: "ucupdates-r2.lab",
				Detail: "A ucupdates-r2.lab → NOERROR"},
			want: Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", DNSName: "ucupdates-r2.lab", Stage: StageDiscovered,
				StageSince: t0, FirstSeen: t0, LastSeen: t0},
		},
		{
			name: "a later dns query keeps the stage and names the last name asked",
			d:    offeredInterim(),
			ev:   Event{Time: t1, DeviceID: mac, Kind: EventDNS, IP: "10.0.0.5", Name: "pool01.corp.example"},
			want: withDevice(offeredInterim(), func(d *Device) { d.LastSeen, d.DNSName = t1, "pool01.corp.example" }),
		},
		{
			name: "dhcp of a known device changes only LastSeen",
			d:    offeredInterim(),
			ev:   Event{Time: t1, DeviceID: mac, Kind: EventDHCP, IP: "10.0.0.5", MAC: mac},
			want: withDevice(offeredInterim(), func(d *Device) { d.LastSeen = t1 }),
		},
		{
			name: "a directory event from a new address is discovered",
			ev: Event{Time: t0, DeviceID: "IP:10.0.0.5", Kind: EventDirectory, IP: "10.0.0.5", DirectoryStep: DirectoryKerberos,
				User: "tech@LAB.LOCAL", Detail: "Kerberos KDC, ENC-TS Pre-authentication"},
			want: Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", Stage: StageDiscovered, StageSince: t0, FirstSeen: t0, LastSeen: t0},
		},
		{
			name: "a refused directory bind after check-in changes only LastSeen",
			d:    offeredInterim(),
			ev: Event{Time: t1, DeviceID: mac, Kind: EventDirectory, IP: "10.0.0.5", DirectoryStep: DirectoryLDAPBind,
				User: "tech@lab.local", DirectoryError: "wrong password"},
			want: withDevice(offeredInterim(), func(d *Device) { d.LastSeen = t1 }),
		},
		{
			name: "a directory event keeps a signed-in beta signed in",
			d:    signedInBeta(),
			ev:   Event{Time: t1, DeviceID: "IP:10.0.0.5", Kind: EventDirectory, IP: "10.0.0.5", DirectoryStep: DirectoryLDAPBind},
			want: withDevice(signedInBeta(), func(d *Device) { d.LastSeen = t1 }),
		},
		{
			name: "sip sign-in from a new address is signed in",
			ev:   sip(SIPSignedIn),
			want: signedInBeta(),
		},
		{
			name: "sip challenge from a new address is discovered",
			ev:   sip(SIPAttempt),
			want: Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", UserAgent: ua, Stage: StageDiscovered, StageSince: t0, FirstSeen: t0, LastSeen: t0},
		},
		{
			name: "wrong password leaves a discovered phone discovered, signed in as nobody",
			d:    Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", Stage: StageDiscovered, StageSince: t0, FirstSeen: t0, LastSeen: t0},
			ev:   withEvent(sip(SIPAuthFailed), func(e *Event) { e.Time = t1 }),
			want: Device{ID: "IP:10.0.0.5", IP: "10.0.0.5", UserAgent: ua, Stage: StageDiscovered, StageSince: t0, FirstSeen: t0, LastSeen: t1},
		},
		{
			name: "provisioning records what the phone was handed and keeps StageSince",
			d:    signedInBeta(),
			ev:   withEvent(sip(SIPProvisioned), func(e *Event) { e.Time = t1 }),
			want: withDevice(signedInBeta(), func(d *Device) { d.Handed, d.LastSeen = handed, t1 }),
		},
		{
			name: "provisioning moves a phone that only leased an address to signed in",
			d:    Device{ID: mac, MAC: mac, IP: "10.0.0.5", Stage: StageDiscovered, StageSince: t0, FirstSeen: t0, LastSeen: t0},
			ev:   withEvent(sip(SIPProvisioned), func(e *Event) { e.Time, e.DeviceID = t1, mac }),
			want: Device{ID: mac, MAC: mac, IP: "10.0.0.5", SIPUser: tech, Handed: handed, UserAgent: ua,
				Stage: StageSignedIn, StageSince: t1, FirstSeen: t0, LastSeen: t1},
		},
		{
			name: "a signed-in phone that signs out stays signed in",
			d:    signedInBeta(),
			ev:   withEvent(sip(SIPUnregistered), func(e *Event) { e.Time = t1 }),
			want: withDevice(signedInBeta(), func(d *Device) { d.LastSeen = t1 }),
		},
		{
			name: "signing in again updates the user and the time, not StageSince",
			d:    signedInBeta(),
			ev:   withEvent(sip(SIPSignedIn), func(e *Event) { e.Time, e.User = t1, "alice@lab.test" }),
			want: withDevice(signedInBeta(), func(d *Device) { d.SIPUser, d.SignedInAt, d.LastSeen = "alice@lab.test", t1, t1 }),
		},
		{
			name: "a phone that has checked in keeps its stage when it signs in",
			d:    offeredInterim(),
			ev:   withEvent(sip(SIPSignedIn), func(e *Event) { e.Time, e.DeviceID = t1, mac }),
			want: withDevice(offeredInterim(), func(d *Device) { d.SIPUser, d.SignedInAt, d.UserAgent, d.LastSeen = tech, t1, ua, t1 }),
		},
		{
			name: "a phone that has checked in keeps its stage when provisioned",
			d:    withDevice(offeredInterim(), func(d *Device) { d.Stage = StageStalled }),
			ev:   withEvent(sip(SIPProvisioned), func(e *Event) { e.Time, e.DeviceID = t1, mac }),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.Stage, d.SIPUser, d.Handed, d.UserAgent, d.LastSeen = StageStalled, tech, handed, ua, t1
			}),
		},
		{
			name: "the first check-in of a signed-in phone moves it on and keeps the sign-in",
			d:    withDevice(signedInBeta(), func(d *Device) { d.ID, d.Handed = mac, handed }),
			ev:   checkIn(vBeta, vInterim),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.SIPUser, d.SignedInAt, d.Handed, d.UserAgent = tech, t0, handed, ua
				d.StageSince, d.LastSeen = t1, t1
				d.Hops = []Hop{{Version: vBeta, At: t1}}
			}),
		},
		{
			name: "any event's user agent is the last one seen",
			d:    withDevice(offeredInterim(), func(d *Device) { d.UserAgent = ua }),
			ev:   withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.UserAgent = "Polycom CX700 HTTP" }),
			want: withDevice(offeredInterim(), func(d *Device) { d.CheckIns, d.SameOffer, d.LastSeen, d.UserAgent = 2, 2, t1, "Polycom CX700 HTTP" }),
		},
		{
			name: "check-in without a rule is checked in with the reason",
			ev: Event{Time: t0, DeviceID: mac, Kind: EventCheckIn, IP: "10.0.0.5", MAC: mac, DevicePath: cx700,
				Reported: vBeta, Detail: "no rule for UCPhone/Polycom/CX700/A/ENU/CPE"},
			want: Device{ID: mac, MAC: mac, IP: "10.0.0.5", DevicePath: cx700, FirstVersion: vBeta, Version: vBeta,
				Stage: StageCheckedIn, StageReason: "no rule for UCPhone/Polycom/CX700/A/ENU/CPE", StageSince: t0,
				CheckIns: 1, FirstSeen: t0, LastSeen: t0, Hops: []Hop{{Version: vBeta, At: t0}}},
		},
		{
			name: "first check-in offered a hop is offered",
			ev:   withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.Time = t0 }),
			want: offeredInterim(),
		},
		{
			name: "partial download is downloading",
			d:    offeredInterim(),
			ev:   download(0, 400, 1000, false),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 400, 1000
				d.Stage, d.StageSince, d.LastSeen = StageDownloading, t1, t1
			}),
		},
		{
			name: "resumed download keeps the highest byte reached",
			d: withDevice(offeredInterim(), func(d *Device) {
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal, d.Stage = "CPE.nbt", 700, 1000, StageDownloading
			}),
			ev: download(200, 100, 1000, false),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 700, 1000
				d.Stage, d.LastSeen = StageDownloading, t1
			}),
		},
		{
			name: "download of another file starts over",
			d: withDevice(offeredInterim(), func(d *Device) {
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal, d.Stage = "CPE.cat", 90, 90, StageDownloading
			}),
			ev: download(0, 10, 1000, false),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 10, 1000
				d.Stage, d.LastSeen = StageDownloading, t1
			}),
		},
		{
			name: "complete download is waiting to install",
			d:    offeredInterim(),
			ev:   download(400, 600, 1000, true),
			want: withDevice(fetchedInterim, func(d *Device) { d.StageSince, d.LastSeen = t1, t1 }),
		},
		{
			name: "same offer after a full fetch counts and waits",
			d:    fetchedInterim,
			ev:   checkIn(vBeta, vInterim),
			want: withDevice(fetchedInterim, func(d *Device) { d.CheckIns, d.SameOffer, d.FetchedCount, d.LastSeen = 2, 2, 1, t1 }),
		},
		{
			name: "third check-in after a full fetch has failed",
			d:    withDevice(fetchedInterim, func(d *Device) { d.CheckIns, d.SameOffer, d.FetchedCount = 3, 3, 2 }),
			ev:   checkIn(vBeta, vInterim),
			want: withDevice(fetchedInterim, func(d *Device) {
				d.CheckIns, d.SameOffer, d.FetchedCount, d.LastSeen = 4, 4, 3, t1
				d.Stage, d.StageSince = StageFailed, t1
				d.StageReason = "fetched CPE.nbt for 1.0.522.103 but still reports 1.0.199.0 after 3 check-ins"
			}),
		},
		{
			name: "third offer without a fetch is stalled",
			d:    withDevice(offeredInterim(), func(d *Device) { d.CheckIns, d.SameOffer = 2, 2 }),
			ev:   checkIn(vBeta, vInterim),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.CheckIns, d.SameOffer, d.LastSeen = 3, 3, t1
				d.Stage, d.StageSince, d.StageReason = StageStalled, t1, "offered 1.0.522.103 3 times without fetching it"
			}),
		},
		{
			name: "download while stalled is recorded, stage kept",
			d:    withDevice(offeredInterim(), func(d *Device) { d.Stage, d.SameOffer = StageStalled, 3 }),
			ev:   download(0, 10, 1000, false),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.Stage, d.SameOffer, d.LastSeen = StageStalled, 3, t1
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 10, 1000
			}),
		},
		{
			name: "new version resets the offer count and records a hop",
			d:    withDevice(fetchedInterim, func(d *Device) { d.CheckIns, d.SameOffer, d.FetchedCount = 3, 3, 2 }),
			ev:   withEvent(checkIn(vInterim, vRelease), func(e *Event) { e.Interim, e.Path = true, []images.Version{vRelease} }),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.CheckIns, d.SameOffer, d.LastSeen, d.Version, d.Offered = 4, 1, t1, vInterim, vRelease
				d.Path = []images.Version{vRelease}
				d.Stage, d.StageSince = StageOnInterim, t1
				d.Hops = append(d.Hops, Hop{Version: vInterim, At: t1})
			}),
		},
		{
			name: "nothing offered with a target is done",
			d:    withDevice(offeredInterim(), func(d *Device) { d.Version, d.SameOffer = vInterim, 2 }),
			ev:   withEvent(checkIn(vRelease, images.Version{}), func(e *Event) { e.Path = nil }),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.CheckIns, d.SameOffer, d.LastSeen, d.Version, d.Offered, d.Path = 2, 0, t1, vRelease, images.Version{}, nil
				d.Stage, d.StageSince = StageDone, t1
				d.Hops = append(d.Hops, Hop{Version: vRelease, At: t1})
			}),
		},
		{
			name: "download after done is recorded, stage kept",
			d:    withDevice(offeredInterim(), func(d *Device) { d.Stage = StageDone }),
			ev:   download(0, 1000, 1000, true),
			want: withDevice(offeredInterim(), func(d *Device) {
				d.Stage, d.LastSeen = StageDone, t1
				d.DownloadFile, d.DownloadBytes, d.DownloadTotal = "CPE.nbt", 1000, 1000
			}),
		},
		{
			name: "catalog fetched after the image leaves the image's progress",
			d:    withDevice(fetchedInterim, func(d *Device) { d.OfferedFile = "CPE.nbt" }),
			ev:   withEvent(download(0, 4096, 4096, true), func(e *Event) { e.File = "CPE.cat" }),
			want: withDevice(fetchedInterim, func(d *Device) { d.OfferedFile, d.LastSeen = "CPE.nbt", t1 }),
		},
		{
			name: "check-in names the offered image file",
			d:    offeredInterim(),
			ev:   withEvent(checkIn(vBeta, vInterim), func(e *Event) { e.File = "CPE.nbt" }),
			want: withDevice(offeredInterim(), func(d *Device) { d.CheckIns, d.SameOffer, d.LastSeen, d.OfferedFile = 2, 2, t1, "CPE.nbt" }),
		},
		{
			name: "on the interim with the next image fetched is waiting to install",
			d: withDevice(fetchedInterim, func(d *Device) {
				d.Version, d.Offered, d.Path, d.Stage = vInterim, vRelease, []images.Version{vRelease}, StageWaiting
				d.Hops = append(d.Hops, Hop{Version: vInterim, At: t0})
			}),
			ev: withEvent(checkIn(vInterim, vRelease), func(e *Event) { e.Interim, e.Path = true, []images.Version{vRelease} }),
			want: withDevice(fetchedInterim, func(d *Device) {
				d.Version, d.Offered, d.Path, d.Stage = vInterim, vRelease, []images.Version{vRelease}, StageWaiting
				d.Hops = append(d.Hops, Hop{Version: vInterim, At: t0})
				d.CheckIns, d.SameOffer, d.FetchedCount, d.LastSeen = 2, 2, 1, t1
			}),
		},
		{
			name: "same stage keeps StageSince",
			d:    offeredInterim(),
			ev:   checkIn(vBeta, vInterim),
			want: withDevice(offeredInterim(), func(d *Device) { d.CheckIns, d.SameOffer, d.LastSeen = 2, 2, t1 }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := applyEvent(tt.d, tt.ev, tt.ev.Time)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("applyEvent (-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplyEventLeavesInputAlone: stored devices share slices with readers.
func TestApplyEventLeavesInputAlone(t *testing.T) {
	d := offeredInterim()
	d.Hops = make([]Hop, 1, 8)
	d.Hops[0] = Hop{Version: vBeta, At: t0}
	_ = applyEvent(d, checkIn(vInterim, vRelease), t1)
	if got := d.Hops[:2][1]; got != (Hop{}) {
		t.Errorf("applyEvent wrote %v into the input's Hops backing array", got)
	}
}

func withEvent(e Event, fn func(*Event)) Event {
	fn(&e)
	return e
}
