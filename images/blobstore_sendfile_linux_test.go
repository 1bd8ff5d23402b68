package images

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBlobSendfile sends a 32 MiB blob that Put stored from 4 KiB
// pieces (as an import's multipart reader hands them) and a cp of the same
// bytes (copy_file_range, what an operator's cp makes) over loopback with
// sendfile, as the phone listener sends a download, the two alternating
// which goes first every iteration, both with a warm page cache. It
// reports the CPU time the sending thread spent per MiB (its sendfile
// calls and the loopback's work the kernel charges to them) for each, and
// the ratio Put÷cp per iteration (min, median, max). Issue 14: a blob
// cached in 4 KiB pages cost sendfile 1.2–1.9× a cp's CPU per MiB.
//
//	go test -run '^$' -bench BlobSendfile -benchtime 20x ./images
func BenchmarkBlobSendfile(b *testing.B) {
	const size = 32 << 20
	dir := b.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	src := filepath.Join(dir, "image")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	bs, err := OpenBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	sum, _, _, err := bs.Put(&pieceReader{r: bytes.NewReader(data), n: 4096})
	if err != nil {
		b.Fatal(err)
	}
	cp := filepath.Join(dir, "cp")
	if err := copyFile(cp, src); err != nil {
		b.Fatal(err)
	}
	blob := bs.Path(sum)
	for _, p := range []string{blob, cp} { // warm: both cached, both mapped once
		if _, err := sendfileCPU(b, p, size); err != nil {
			b.Fatal(err)
		}
	}
	var ratios []float64
	var putCPU, cpCPU time.Duration
	i := 0
	for b.Loop() {
		order := []string{blob, cp}
		if i%2 == 1 {
			order = []string{cp, blob}
		}
		i++
		got := map[string]time.Duration{}
		for _, p := range order {
			c, err := sendfileCPU(b, p, size)
			if err != nil {
				b.Fatal(err)
			}
			got[p] = c
		}
		putCPU, cpCPU = putCPU+got[blob], cpCPU+got[cp]
		ratios = append(ratios, got[blob].Seconds()/got[cp].Seconds())
	}
	slices.Sort(ratios)
	mib := float64(i) * size / (1 << 20)
	b.ReportMetric(float64(putCPU.Microseconds())/mib, "cpu-µs/MiB-put")
	b.ReportMetric(float64(cpCPU.Microseconds())/mib, "cpu-µs/MiB-cp")
	b.ReportMetric(ratios[0], "put/cp-min")
	b.ReportMetric(ratios[len(ratios)/2], "put/cp-median")
	b.ReportMetric(ratios[len(ratios)-1], "put/cp-max")
}

// sendfileCPU sends the file at path over a loopback TCP connection by
// ReadFrom (sendfile) from a goroutine locked to its thread, a reader
// taking every byte, and returns the CPU time of the sending thread.
func sendfileCPU(b *testing.B, path string, size int64) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		cpu time.Duration
		err error
	}
	sent := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c, err := ln.Accept()
		if err != nil {
			sent <- result{err: err}
			return
		}
		defer c.Close()
		f, err := os.Open(path)
		if err != nil {
			sent <- result{err: err}
			return
		}
		defer f.Close()
		cpu0 := threadCPU()
		n, err := c.(*net.TCPConn).ReadFrom(f)
		cpu := threadCPU() - cpu0
		if err == nil && n != size {
			err = io.ErrShortWrite
		}
		sent <- result{cpu, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, c)
	c.Close()
	r := <-sent
	if err == nil && n != size {
		b.Fatalf("received %d of %d bytes", n, size)
	}
	if err == nil {
		err = r.err
	}
	return r.cpu, err
}

// threadCPU is the CPU time of the calling thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// copyFile copies src to dst as cp does (io.Copy between two files is
// copy_file_range on Linux).
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
