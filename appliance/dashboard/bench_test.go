package dashboard

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

const benchFleet = 1000 // phones the check-in loop cycles through

// BenchmarkCheckInWithStreams is the producer — store.Observe of check-ins,
// as the r2 check-in path records them — with no event stream open, and
// with 100 open streams of which 10 never read. The two must be within 10%.
func BenchmarkCheckInWithStreams(b *testing.B) {
	for _, streams := range []int{0, 100} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			e := newEnv(b, nil)
			e.seedFirmware(b)
			t0 := time.Now()
			for i := range benchFleet {
				checkIn(e.st, i, cx700, beta, t0)
			}
			var streamed atomic.Int64
			stop := openStreams(b, e, streams, &streamed)
			defer stop()
			versions := []images.Version{beta, interim}
			b.ResetTimer()
			for i := range b.N {
				checkIn(e.st, i%benchFleet, cx700, versions[(i/benchFleet)%2], t0.Add(time.Duration(i)*time.Millisecond))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkins/s")
			b.ReportMetric(float64(e.d.hub.streams()), "streams-at-end")
			b.ReportMetric(float64(streamed.Load())/(1<<20), "MiB-streamed")
		})
	}
}

// openStreams opens n fleet streams; a tenth of them never read a byte.
// Readers add what they read to streamed.
func openStreams(b *testing.B, e *env, n int, streamed *atomic.Int64) (stop func()) {
	b.Helper()
	var wg sync.WaitGroup
	var closers []io.Closer
	stuck := n / 10
	for i := range n {
		if i < stuck {
			conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /events?topic=fleet HTTP/1.1\r\nHost: bench\r\n\r\n")
			closers = append(closers, conn)
			continue
		}
		resp, err := http.Get(e.srv.URL + "/events?topic=fleet")
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, resp.Body)
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(countingWriter{streamed}, bufio.NewReader(resp.Body))
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); e.d.hub.streams() < n; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d streams open", e.d.hub.streams(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() {
		for _, c := range closers {
			c.Close()
		}
		e.d.Close()
		wg.Wait()
	}
}

// countingWriter counts and drops what a reading stream receives.
type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// makeFleet is n phones in every stage, sorted by ID, for index tests.
func makeFleet(n int, now time.Time) []store.Device {
	stages := store.Stages
	devs := make([]store.Device, n)
	for i := range devs {
		v := beta
		if i%3 == 1 {
			v = interim
		}
		devs[i] = store.Device{
			ID: mac(i), MAC: mac(i), Serial: fmt.Sprintf("SN%05d", i), IP: fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256),
			DevicePath: []images.DevicePath{cx700, ip8540}[i%2], FirstVersion: beta, Version: v, Offered: interim, Target: target,
			Path: []images.Version{interim, target}, Stage: stages[i%len(stages)], StageSince: now.Add(-time.Duration(i%600) * time.Second),
			DownloadFile: "CPE.nbt", DownloadBytes: int64(i%9) << 20, DownloadTotal: 8 << 20, CheckIns: 3,
			FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Duration(i%300) * time.Second),
		}
		if devs[i].Stage == store.StageStalled {
			devs[i].StageReason = "offered 1.0.522.103 3 times without fetching it"
		}
	}
	return devs
}

// discardResponse is a ResponseWriter that counts and drops the body.
type discardResponse struct {
	h http.Header
	n int
}

func (w *discardResponse) Header() http.Header         { return w.h }
func (w *discardResponse) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardResponse) WriteHeader(int)             {}
