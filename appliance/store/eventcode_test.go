package store

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tanjay-lab/tanjay/images"
)

// roundTrip encodes ev against base and decodes it back.
func roundTrip(t testing.TB, ev Event, base eventBase) Event {
	t.Helper()
	buf := appendEvent([]byte("prefix"), &ev, &base)
	var got Event
	if end := decodeEvent(buf, len("prefix"), &base, &got); end != len(buf) {
		t.Fatalf("decoding stopped at %d of %d bytes", end, len(buf))
	}
	return got
}

func TestEventCodecRoundTrip(t *testing.T) {
	full := fullEvent(t)
	tests := []struct {
		name string
		ev   Event
		base eventBase
	}{
		{"every field", full, eventBase{deviceID: full.DeviceID, seq: 1}},
		{"every field, home address, serial and MAC", withEvent(full, func(e *Event) { e.MAC = e.DeviceID }),
			eventBase{deviceID: full.DeviceID, ip: full.IP, serial: full.Serial, seq: full.Seq + 5, nanos: full.Time.UnixNano() + 1e12}},
		{"nothing set", Event{}, eventBase{}},
		{"a check-in", *checkInEvent(7), eventBase{deviceID: mac, seq: 3, ip: "10.0.0.5"}},
		{"a download", download(1<<20, 4<<20, 30<<20, true), eventBase{deviceID: mac, seq: 3, ip: "10.0.0.9"}},
		{"negative numbers", withEvent(download(-1, -5, -9, false), func(e *Event) { e.Seq = 2 }), eventBase{deviceID: mac, seq: 1 << 60}},
		{"year 1500", withEvent(*checkInEvent(1), func(e *Event) { e.Time = time.Date(1500, 1, 1, 0, 0, 0, 5, time.UTC) }), eventBase{deviceID: mac}},
		{"year 9999", withEvent(*checkInEvent(1), func(e *Event) { e.Time = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) }), eventBase{deviceID: mac}},
		{"far from the base", withEvent(*checkInEvent(1), func(e *Event) { e.Time = time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC) }),
			eventBase{deviceID: mac, nanos: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}},
		{"zero time", withEvent(*checkInEvent(1), func(e *Event) { e.Time = time.Time{} }), eventBase{deviceID: mac}},
		{"long strings", withEvent(full, func(e *Event) { e.Detail, e.Handed = strings.Repeat("é", 600), strings.Repeat("u", 200) }), eventBase{deviceID: full.DeviceID}},
		{"relabelled", withEvent(*checkInEvent(1), func(e *Event) { e.DeviceID = "IP:10.0.0.5" }), eventBase{deviceID: mac}},
		{"empty hop list", withEvent(*checkInEvent(1), func(e *Event) { e.Path = []images.Version{} }), eventBase{deviceID: mac}},
		{"long hop list", withEvent(*checkInEvent(1), func(e *Event) { e.Path = make([]images.Version, 20) }), eventBase{deviceID: mac}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: a value is stored in full when first seen and interned
			// when seen again.
			for range 3 {
				if diff := cmp.Diff(tt.ev, roundTrip(t, tt.ev, tt.base)); diff != "" {
					t.Fatalf("round trip (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestInternTablesAreBounded: values seen once are not kept, values seen
// twice are, up to the bound; past it they are stored in full.
func TestInternTablesAreBounded(t *testing.T) {
	var in interner[string]
	once := []byte("seen once")
	if _, ok := in.id(once, sameString); ok {
		t.Fatal("a value seen once was interned")
	}
	if _, ok := in.id(once, sameString); !ok {
		t.Fatal("a value seen twice was not interned")
	}
	if _, ok := in.id([]byte(strings.Repeat("x", maxInternLen+1)), sameString); ok {
		t.Fatal("a long value was interned")
	}
	for i := 0; in.n < maxInternEntries; i++ {
		k := []byte(strings.Repeat("k", i%50) + string(rune(i)))
		in.id(k, sameString)
		in.id(k, sameString)
	}
	k := []byte("one more")
	in.id(k, sameString)
	if _, ok := in.id(k, sameString); ok || in.n != maxInternEntries {
		t.Errorf("a full table took another value (%d values)", in.n)
	}
	if in.bytes > maxInternBytes {
		t.Errorf("the table holds %d bytes, over %d", in.bytes, maxInternBytes)
	}
}

func FuzzEventCodec(f *testing.F) {
	f.Add(uint64(5), uint64(3), int64(1e18), int64(1e18-5), "checkin", "10.0.0.5", "10.0.0.5", "CPE.nbt", "", int64(0), int64(1<<20), true)
	f.Add(uint64(0), uint64(1<<63), int64(-1<<62), int64(1<<62), "", "", "x", strings.Repeat("d", 300), "é", int64(-1), int64(-1<<63), false)
	f.Fuzz(func(t *testing.T, seq, baseSeq uint64, nanos, baseNanos int64, kind, ip, homeIP, file, detail string, offset, n int64, complete bool) {
		ev := Event{
			Seq: seq, Time: time.Unix(0, nanos).UTC(), DeviceID: mac, Kind: EventKind(kind), IP: ip, MAC: ip, Serial: homeIP,
			File: file, Detail: detail, Offset: offset, Bytes: n, Total: offset ^ n, Complete: complete,
			Reported: images.Version{uint32(seq), uint32(nanos), 0, 1}, Path: []images.Version{{uint32(baseSeq)}},
		}
		base := eventBase{deviceID: mac, seq: baseSeq, nanos: baseNanos, ip: homeIP, serial: ip}
		if diff := cmp.Diff(ev, roundTrip(t, ev, base)); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// BenchmarkEventCodec: encoding and decoding one check-in.
func BenchmarkEventCodec(b *testing.B) {
	ev := checkInEvent(7)
	base := eventBase{deviceID: mac, seq: 3, ip: "10.0.0.5"}
	buf := appendEvent(nil, ev, &base)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = appendEvent(buf[:0], ev, &base)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		var e Event
		for b.Loop() {
			decodeEvent(buf, 0, &base, &e)
		}
	})
}
