package r2

import (
	"testing"
)

// BenchmarkKeepCapture measures what the caps and the free-space floor
// (a statfs per capture) add to keeping a check-in body, against keeping it
// with the caps only. Compare the two in one run, alternating:
//
//	go test -run X -bench KeepCapture -count 6 ./r2
func BenchmarkKeepCapture(b *testing.B) {
	body := []byte(`<Request><DeviceType>UCPhone</DeviceType></Request>`)
	for _, floor := range []bool{false, true} {
		name := "caps"
		if floor {
			name = "caps+floor"
		}
		b.Run(name, func(b *testing.B) {
			var disk *DiskFloor
			if floor {
				disk = NewDiskFloor(DiskFloorConfig{Dir: b.TempDir(), Percent: 0, Bytes: 1 << 20})
			}
			p := newPhoneFilesHandler(b, b.TempDir(), Caps{}, Caps{PhoneFiles: 1000, TotalFiles: 1000}, disk, nil)
			h := p.Handler.(*updateHandler)
			clock := &tickClock{}
			b.ReportAllocs()
			for b.Loop() {
				if path, err := h.keepCapture(clock.now(), "192.0.2.7", CaptureAll, body); err != nil || path == "" {
					b.Fatalf("capture not kept: %v", err)
				}
			}
		})
	}
}

// BenchmarkDiskFloorCheck is the floor's own cost per accepted body: one
// statfs(2) of the data directory under the floor's lock.
func BenchmarkDiskFloorCheck(b *testing.B) {
	d := NewDiskFloor(DiskFloorConfig{Dir: b.TempDir(), Percent: 0, Bytes: 1 << 20})
	for b.Loop() {
		if err := d.Check(64 << 10); err != nil {
			b.Fatal(err)
		}
	}
}
