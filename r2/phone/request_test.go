package phone

import (
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/images"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the code")

// TestRequestGolden pins the exact bytes of a beta phone's check-in: the
// seed's sample row, in our inferred element names.
func TestRequestGolden(t *testing.T) {
	got := appendRequest(nil, testIdentity, testTime, images.Version{}, time.Time{})
	golden := filepath.Join("testdata", "request.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("request body (-%s +got):\n%s", golden, diff)
	}
}

// TestRequestRoundTrip checks that any identity comes back intact through a
// standard XML parser (or with U+FFFD where XML cannot carry a character).
func TestRequestRoundTrip(t *testing.T) {
	installed := time.Date(2009, 5, 4, 20, 9, 14, 0, time.UTC)
	tests := []struct {
		name      string
		id        Identity
		wantID    Identity // when it differs from id
		version   images.Version
		installed time.Time
		wantStamp string
	}{
		{name: "seed sample", id: testIdentity, wantStamp: "01.01.1601 00:00:00"},
		{name: "installed", id: testIdentity, version: images.MustParseVersion("1.0.522.103"),
			installed: installed, wantStamp: "05.04.2009 20:09:14"},
		{name: "markup in values", id: Identity{Vendor: `A&B <"x">`, Model: "it's", Serial: "a\tb\nc\rd"},
			wantStamp: "01.01.1601 00:00:00"},
		{name: "blank identity", wantStamp: "01.01.1601 00:00:00"},
		{name: "unicode and junk", id: Identity{Vendor: "Pölycom 電話", Model: "x\x00y", Locale: "\xffENU"},
			wantID: Identity{Vendor: "Pölycom 電話", Model: "x\uFFFDy", Locale: "\uFFFDENU"}, wantStamp: "01.01.1601 00:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := appendRequest(nil, tt.id, testTime, tt.version, tt.installed)
			var got checkInRequest
			if err := xml.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q does not parse: %v", body, err)
			}
			want := tt.id
			if tt.wantID != (Identity{}) {
				want = tt.wantID
			}
			gotID := Identity{DeviceType: got.DeviceType, MAC: got.MacAddress, Serial: got.SerialNumber,
				Vendor: got.Vendor, Model: got.Model, Revision: got.Revision, Locale: got.Locale}
			if diff := cmp.Diff(want, gotID); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if len(got.Modules) != 1 {
				t.Fatalf("modules: %+v", got.Modules)
			}
			m := got.Modules[0]
			if m.FileName != "cpe.nbt" || m.Version != tt.version.String() || m.TimeStamp != tt.wantStamp || got.RequestTime != "04.05.2009 07:30:04" {
				t.Errorf("module %+v, RequestTime %q", m, got.RequestTime)
			}
		})
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	buf := make([]byte, 0, 640)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRequest(buf[:0], testIdentity, testTime, images.Version{1, 0, 522, 103}, testTime)
	}
}
