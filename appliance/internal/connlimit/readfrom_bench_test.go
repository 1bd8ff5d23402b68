package connlimit

import (
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSendfile sends a 32 MiB file over loopback by ReadFrom, as
// net/http sends a download, from a bare TCP connection and from one the
// limiter admitted (whose ReadFrom gives each writeChunk its own
// deadline), alternating which goes first every iteration. It reports the
// ratio of the two times (limited/bare: min, median, max), the MiB/s of
// each, and the CPU time of the whole process (both ends) per MiB of each.
//
//	go test -run '^$' -bench Sendfile -benchtime 20x ./appliance/internal/connlimit
func BenchmarkSendfile(b *testing.B) {
	const size = 32 << 20
	path := filepath.Join(b.TempDir(), "image")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	l, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	bare, limited := sendfileServer(b, path, size, nil), sendfileServer(b, path, size, l)
	fetch := func(addr string) (time.Duration, time.Duration) {
		cpu0 := processCPUTime(b)
		start := time.Now()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, c)
		c.Close()
		if err != nil || n != size {
			b.Fatalf("got %d bytes, err %v", n, err)
		}
		return time.Since(start), processCPUTime(b) - cpu0
	}
	var ratios, bareMiBs, limitedMiBs []float64
	var bareCPU, limitedCPU time.Duration
	i := 0
	for b.Loop() {
		var tb, tl, cb, cl time.Duration
		if i%2 == 0 {
			tb, cb = fetch(bare)
			tl, cl = fetch(limited)
		} else {
			tl, cl = fetch(limited)
			tb, cb = fetch(bare)
		}
		i++
		ratios = append(ratios, tl.Seconds()/tb.Seconds())
		bareMiBs = append(bareMiBs, size/(1<<20)/tb.Seconds())
		limitedMiBs = append(limitedMiBs, size/(1<<20)/tl.Seconds())
		bareCPU, limitedCPU = bareCPU+cb, limitedCPU+cl
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[0], "time-ratio-min")
	b.ReportMetric(ratios[len(ratios)/2], "time-ratio-median")
	b.ReportMetric(ratios[len(ratios)-1], "time-ratio-max")
	b.ReportMetric(medianOf(bareMiBs), "MiB/s-bare")
	b.ReportMetric(medianOf(limitedMiBs), "MiB/s-limited")
	mib := float64(i) * size / (1 << 20)
	b.ReportMetric(float64(bareCPU.Microseconds())/mib, "cpu-µs/MiB-bare")
	b.ReportMetric(float64(limitedCPU.Microseconds())/mib, "cpu-µs/MiB-limited")
}

func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// processCPUTime is the user and system time of this process so far.
func processCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sendfileServer answers every connection with the file at path, by
// ReadFrom on the connection (through l when set), and closes it.
func sendfileServer(b *testing.B, path string, size int64, l *Limiter) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := ln
	if l != nil {
		served = l.Listen(ln)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := served.Accept()
			if err != nil {
				return
			}
			f, err := os.Open(path)
			if err != nil {
				c.Close()
				continue
			}
			c.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: f, N: size})
			f.Close()
			c.Close()
		}
	}()
	return ln.Addr().String()
}
