package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// TestSnapshotFormatsLoadAlike: the same state written in format 3 and in
// format 2 loads to the same state, with every field of a device and of
// an event set somewhere (odd times included), and to the state that was
// live.
func TestSnapshotFormatsLoadAlike(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, lazy)
	populate(t, s)
	for _, ev := range richEvents() {
		s.Observe(ev)
	}
	noErr(t, s.Snapshot())
	want := dump(s)
	noErr(t, s.Close())
	three := must[[]byte](t)(os.ReadFile(snapshotPath(dir, 2)))
	if !bytes.HasPrefix(three, []byte(snapshotMagic)) {
		t.Fatalf("Snapshot wrote %q…, not format 3", three[:min(len(three), 40)])
	}
	got3 := dump(openStore(t, dir, lazy))
	if diff := cmp.Diff(want, got3); diff != "" {
		t.Errorf("format 3 (-live +loaded):\n%s", diff)
	}

	dir2 := t.TempDir()
	writeDir(t, dir2, readDir(t, dir))
	rewriteFormat2(t, dir2, 2)
	got2 := dump(openStore(t, dir2, lazy))
	if !reflect.DeepEqual(got2, got3) {
		t.Errorf("format 3 loads differently from format 2 (-2 +3):\n%s", cmp.Diff(got2, got3))
	}
	if two := must[[]byte](t)(os.ReadFile(snapshotPath(dir2, 2))); len(three)*2 > len(two) {
		t.Errorf("format 3 takes %d bytes, format 2 %d: want less than half", len(three), len(two))
	}
}

// richEvents set every field of an event, and of the devices they make.
func richEvents() []Event {
	t1 := time.Date(2026, 3, 4, 5, 6, 7, 891, time.UTC)
	east := time.FixedZone("", 5*3600+1800)
	return []Event{
		{Time: t1, Kind: EventCheckIn, IP: "10.1.0.1", MAC: "0004F2AA0001", Serial: "SN-R1", DevicePath: cx700,
			Reported: vBeta, Offered: vInterim, Target: vRelease, Path: []images.Version{vInterim, vRelease}, IsTest: true, File: "CPE.nbt",
			UserAgent: "OCPhone/1.0", Detail: "offered"},
		{Time: t1.Add(time.Second).In(east), Kind: EventDownload, IP: "10.1.0.1", File: "CPE.nbt", Offset: 10, Bytes: 20, Total: 1 << 40, Complete: true},
		{Time: t1.Add(2 * time.Second), Kind: EventCheckIn, IP: "10.1.0.1", MAC: "0004F2AA0001", Reported: vInterim, Target: vRelease, Interim: true},
		{Time: t1.Add(3 * time.Second), Kind: EventSIP, IP: "10.1.0.2", MAC: "0004F2AA0001", SIPStep: SIPProvisioned, User: `LAB\tech`,
			UserAgent: "OCPhone/2.0", Handed: "https://u/ext https://u/int"},
		{Time: t1.Add(4 * time.Second), Kind: EventDirectory, IP: "10.1.0.2", Serial: "SN-R1", DirectoryStep: DirectoryKerberos,
			DirectoryError: "wrong password", User: "alice@lab.test", Detail: "kinit"},
		{Time: t1.Add(5 * time.Second), Kind: EventDNS, IP: "10.1.0.3", Name: "ucupdates-r2.lab.test", Detail: "é ✓ \x00 \"q\""},
		{Time: t1.Add(6 * time.Second), Kind: EventUpload, IP: "10.1.0.3", File: "log.cab", Bytes: -5},
		{Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Hour), Kind: "custom-kind", MAC: "0004F2AA0002", Detail: "early"},
	}
}

// TestSnapshotCodecKnowsEveryField: a field added to Device or Event
// must be added to the format 3 codec (snapshot3.go) too, or it would be
// lost at the next restart.
func TestSnapshotCodecKnowsEveryField(t *testing.T) {
	for _, tt := range []struct {
		typ   reflect.Type
		known []string
	}{
		{reflect.TypeFor[Device](), []string{"ID", "MAC", "Serial", "IP", "DevicePath", "FirstVersion", "Version", "Offered",
			"OfferedFile", "Target", "Path", "IsTest", "DNSName", "SIPUser", "SignedInAt", "Handed", "UserAgent", "Stage",
			"StageReason", "StageSince", "DownloadFile", "DownloadBytes", "DownloadTotal", "CheckIns", "SameOffer",
			"FetchedCount", "FirstSeen", "LastSeen", "Hops"}},
		{reflect.TypeFor[Event](), []string{"Seq", "Time", "DeviceID", "Kind", "IP", "MAC", "Serial", "DevicePath", "Reported",
			"Offered", "Target", "Path", "Interim", "IsTest", "File", "Offset", "Bytes", "Total", "Complete", "Name", "SIPStep",
			"User", "UserAgent", "Handed", "DirectoryStep", "DirectoryError", "Detail"}},
		{reflect.TypeFor[Hop](), []string{"Version", "At"}},
		{reflect.TypeFor[images.DevicePath](), []string{"DeviceType", "Vendor", "Model", "Revision", "Locale"}},
	} {
		var fields []string
		for f := range tt.typ.Fields() {
			fields = append(fields, f.Name)
		}
		if !slices.Equal(fields, tt.known) {
			t.Errorf("%s has the fields %q; the snapshot codec knows %q: teach phoneEncoder and phoneDecoder the new ones", tt.typ, fields, tt.known)
		}
	}
}

// TestTimelineOfMatchesAdding: a timeline built at once holds what adding
// its events one by one holds.
func TestTimelineOfMatchesAdding(t *testing.T) {
	evs := richEvents()
	for i := range evs {
		evs[i].Seq, evs[i].DeviceID = uint64(100+i), "0004F2AA0001"
		evs[i].Time = evs[i].Time.UTC()
	}
	for _, bound := range []int{0, 1, 3, len(evs), 500} {
		var added *timeline
		for i := range evs {
			added = added.add("0004F2AA0001", &evs[i], max(bound, len(evs)), 0)
		}
		built := timelineOf("0004F2AA0001", slices.Clone(evs), bound)
		want := added.events(len(evs))
		if bound > 0 {
			want = want[max(len(want)-bound, 0):]
		}
		if diff := cmp.Diff(want, built.events(len(evs))); diff != "" {
			t.Errorf("bound %d (-added +built):\n%s", bound, diff)
		}
		if built.n != len(want) || string(built.key) != "0004F2AA0001\x00" || cap(built.buf) <= len(built.buf) {
			t.Errorf("bound %d: n %d, key %q, buf %d of %d", bound, built.n, built.key, len(built.buf), cap(built.buf))
		}
	}
	if timelineOf("x", nil, 5) != nil {
		t.Error("a timeline of no events")
	}
}

// FuzzPhoneRecord: a phone record decodes to the device and the events
// it was written from, whatever their contents (times as the same
// instants; format 2 gave invalid UTF-8 back as U+FFFD, format 3 keeps
// every byte); and a record cut short or with a byte changed fails to
// decode or decodes, never panics.
func FuzzPhoneRecord(f *testing.F) {
	f.Add("0004F2AA0001", "10.1.0.1", "CPE.nbt", "é\x00", int64(1_700_000_000), uint32(5), int32(0), uint64(0xffff), int64(7), 3, 11)
	f.Add("SN:x", "", "", "", int64(-62135596800), uint32(0), int32(3600), uint64(1), int64(-1), 0, 0)
	f.Add("IP:10.0.0.1", "10.0.0.1", "a", "b", int64(253402300799), uint32(999999999), int32(-45000), uint64(1<<40-1), int64(1<<62), 20, 64)
	f.Fuzz(func(t *testing.T, id, ip, file, text string, sec int64, nsec uint32, zone int32, bits uint64, n int64, events, cut int) {
		if id == "" || events < 0 || events > 40 || zone <= -86400 || zone >= 86400 {
			return
		}
		// RFC 3339 (and so encoding/json, as format 2) keeps whole
		// minutes of an offset: any other time loses its seconds.
		zone -= zone % 60
		at := time.Unix(sec, int64(nsec%1e9)).In(time.FixedZone("", int(zone)))
		if _, err := at.MarshalText(); err != nil {
			return // encoding/json refuses it too
		}
		on := func(i int) bool { return bits>>(i%64)&1 != 0 }
		str := func(i int, s string) string {
			if on(i) {
				return s
			}
			return ""
		}
		v := images.Version{uint32(n), uint32(sec), nsec, uint32(zone)}
		d := &Device{ID: id, MAC: str(0, id), Serial: str(1, text), IP: str(2, ip), OfferedFile: str(3, file),
			DNSName: str(4, text), SIPUser: str(5, text), Handed: str(6, text), UserAgent: str(7, text), Stage: Stage(str(8, text)),
			StageReason: str(9, text), DownloadFile: str(10, file), DownloadBytes: n, DownloadTotal: -n, CheckIns: int(int32(n)),
			SameOffer: int(nsec), FetchedCount: events, IsTest: on(11), StageSince: at, LastSeen: at.UTC()}
		if on(12) {
			d.DevicePath = images.DevicePath{DeviceType: text, Vendor: file, Model: ip, Locale: id}
		}
		if on(13) {
			d.FirstVersion, d.Version, d.Offered, d.Target = v, v, v, v
			d.Path = []images.Version{v, {}}
			d.Hops = []Hop{{Version: v, At: at}, {At: at.UTC()}}
			d.SignedInAt = at
		}
		evs := make([]Event, events)
		for i := range evs {
			e := &evs[i]
			b := bits >> (i % 8)
			*e = Event{Seq: uint64(n) + uint64(i)*uint64(nsec%7), Time: at.Add(time.Duration(i) * time.Duration(n%1e12)).UTC(),
				DeviceID: id, Kind: EventKind(str(i, "checkin")), IP: str(i+1, ip), MAC: str(i+2, id), Serial: str(i+3, text),
				File: str(i+4, file), Offset: n * int64(i), Bytes: -n, Total: int64(nsec), Complete: b&1 != 0, Interim: b&2 != 0,
				IsTest: b&4 != 0, Name: str(i+5, text), SIPStep: str(i+6, text), User: str(i+7, text), UserAgent: str(i+8, text),
				Handed: str(i+9, text), DirectoryStep: str(i+10, text), DirectoryError: str(i+11, text), Detail: str(i+12, text)}
			if b&8 != 0 {
				e.DevicePath, e.Reported, e.Offered, e.Target = d.DevicePath, v, images.Version{}, v
				e.Path = []images.Version{v}
			}
			if b&16 != 0 {
				e.DeviceID = ip // relabelled: the record says so
			}
		}
		tl := timelineOf(id, evs, 0)

		var enc phoneEncoder
		payload, err := enc.phone(id, d, tl)
		if err != nil {
			// Only what format 2 could not write either.
			_, derr := json.Marshal(d)
			_, eerr := json.Marshal(tl.events(tl.len()))
			if derr == nil && eerr == nil {
				t.Fatalf("format 3 refuses what encoding/json writes: %v", err)
			}
			return
		}
		frame := appendFrame(nil, payload)
		var dec phoneDecoder
		n3, it := frame3At(frame, 0, &dec)
		if n3 != len(frame) || it.tag != tagPhone || it.id != id {
			t.Fatalf("the record of %q does not decode: %d of %d bytes, %+v", id, n3, len(frame), it)
		}
		if diff := cmp.Diff(*d, it.row.Device); diff != "" {
			t.Fatalf("device (-written +read):\n%s", diff)
		}
		if diff := cmp.Diff(tl.events(tl.len()), it.tl.events(it.tl.len())); diff != "" {
			t.Fatalf("events (-written +read):\n%s", diff)
		}

		// Damaged: never a panic, and a change the checksum misses is
		// one the decoder survives.
		cut = cut % (len(payload) + 1)
		if cut < 0 {
			cut = -cut
		}
		dec.decode(payload[:cut])
		bad := slices.Clone(payload)
		bad[cut%len(bad)] ^= byte(nsec) | 1
		dec.decode(bad)
	})
}

// FuzzScanSnapshot3: no input panics, damage lies inside the file, and a
// format 3 snapshot whose scan finds no damage loads.
func FuzzScanSnapshot3(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, lazy)
	if err != nil {
		f.Fatal(err)
	}
	populate(f, s)
	for _, ev := range richEvents() {
		s.Observe(ev)
	}
	noErr(f, s.Snapshot())
	noErr(f, s.Close())
	good, err := os.ReadFile(snapshotPath(dir, 2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	empty := []byte(snapshotMagic)
	empty = appendFrame(empty, binary.AppendUvarint([]byte{tagHeader, 3}, 7))
	f.Add(appendFrame(empty, []byte{tagTrailer, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := scanSnapshot3(b, 5, nil)
		noErr(t, err)
		if bytes.HasPrefix(b, []byte(snapshotMagic)) {
			// Open reads the file as a stream up to the first damage:
			// the same scan.
			fsc, err := scanSnapshot3File(bytes.NewReader(b), int64(len(b)), 5, nil)
			noErr(t, err)
			if !reflect.DeepEqual(sc, fsc) {
				t.Fatalf("scanning the file finds %+v, scanning its bytes %+v", fsc, sc)
			}
		}
		checkScan(t, b, sc)
	})
}

func isCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}
