package pkg

import (
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// BenchmarkImport64MiBMSZIP measures the import path on a 64 MiB MSZIP
// package made by gcab: Open, then every file streamed through SHA-256 into
// a file on disk, as the blob store takes it (without its fsync). In the
// same run it times `cabextract` extracting the same cabinet and reports
// our throughput over cabextract's as "ratio" (issue 4 aims at >= 0.5).
func BenchmarkImport64MiBMSZIP(b *testing.B) {
	const size = 64 << 20
	// Firmware-like content: mostly incompressible, some text and padding.
	var img []byte
	for len(img) < size-4<<20 {
		img = append(img, cabtest.Random(3<<20, uint64(len(img)))...)
		img = append(img, cabtest.Text(512<<10, uint64(len(img)))...)
		img = append(img, make([]byte, 256<<10)...)
	}
	files := []cabtest.File{
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.nbt`, Data: img},
		{Name: cx700 + `\3.5.6907.37\CPE\CPE.cat`, Data: cabtest.Random(size-len(img), 9)},
	}
	raw := cabtest.Gcab(b, files, true)
	dir := b.TempDir()
	in := filepath.Join(dir, "UCUpdates.cab")
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	var ours, theirs time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		importOnce(b, in, filepath.Join(dir, "blobs"))
		ours += time.Since(start)

		b.StopTimer()
		out := filepath.Join(dir, "cabextract")
		os.RemoveAll(out)
		start = time.Now()
		if msg, err := exec.Command("cabextract", "-q", "-d", out, in).CombinedOutput(); err != nil {
			b.Skipf("cabextract: %v %s", err, msg)
		}
		theirs += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/ours.Seconds()*float64(b.N)/(1<<20), "MiB/s")
	b.ReportMetric(float64(size)/theirs.Seconds()*float64(b.N)/(1<<20), "cabextract-MiB/s")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "ratio")
}

func importOnce(b *testing.B, in, blobs string) {
	f, err := os.Open(in)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	p, err := Open(f, st.Size(), "UCUpdates.cab", Limits{}, Hints{})
	if err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(blobs)
	os.MkdirAll(blobs, 0o755)
	for _, u := range p.Updates {
		for _, pf := range u.Files {
			rc, err := pf.Open()
			if err != nil {
				b.Fatal(err)
			}
			tmp, err := os.CreateTemp(blobs, ".put-*")
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(io.MultiWriter(tmp, h), rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
			tmp.Close()
		}
	}
}
