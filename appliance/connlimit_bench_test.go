package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/internal/connlimit"
	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/appliance/web"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/legacy"
	"github.com/tanjay-lab/tanjay/r2"
)

// BenchmarkCheckinConnLimit compares check-ins over real loopback sockets
// through the phone listener with the caps (connlimit, default
// configuration) and without them, on the same appliance. On a shared,
// noisy machine the two must see the same noise, so they alternate check-in
// by check-in (four clients at once, each timing one of each in turn, the
// order swapped every pair); each iteration is one round, and the ratio of
// the round's summed times capped/plain is reported (min, median, max),
// with the median microseconds per check-in of each. Run it with a fixed
// count:
//
//	go test -run '^$' -bench CheckinConnLimit -benchtime 20x ./appliance
func BenchmarkCheckinConnLimit(b *testing.B) {
	h := benchPhoneHandler(b)
	plain := benchServe(b, web.NewServer(h, context.Background(), slog.New(slog.DiscardHandler)), nil)
	l, err := connlimit.New(connlimit.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	capped := benchServe(b, l.Server(web.NewServer(h, context.Background(), slog.New(slog.DiscardHandler))), l)
	for _, mode := range []struct {
		name      string
		keepAlive bool
		perRound  int
	}{
		{"new connection each", false, 200},
		{"keep-alive", true, 400},
	} {
		b.Run(mode.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: !mode.keepAlive, MaxIdleConnsPerHost: 8}}
			defer client.CloseIdleConnections()
			var ratios, plainUS, cappedUS []float64
			for b.Loop() {
				tp, tc := benchRound(b, client, plain, capped, mode.perRound)
				ratios = append(ratios, float64(tc)/float64(tp))
				plainUS = append(plainUS, float64(tp.Microseconds())/float64(mode.perRound))
				cappedUS = append(cappedUS, float64(tc.Microseconds())/float64(mode.perRound))
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[0], "ratio-min")
			b.ReportMetric(ratios[len(ratios)/2], "ratio-median")
			b.ReportMetric(ratios[len(ratios)-1], "ratio-max")
			b.ReportMetric(median(plainUS), "µs/checkin-plain")
			b.ReportMetric(median(cappedUS), "µs/checkin-capped")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchRound posts n check-ins to each of plain and capped from four
// clients at once, alternating, and returns the summed time of each.
func benchRound(b *testing.B, client *http.Client, plain, capped string, n int) (tp, tc time.Duration) {
	body := checkInBody("001B9E4B5B10")
	post := func(addr string) time.Duration {
		start := time.Now()
		resp, err := client.Post("http://"+addr+"/RequestHandler/ucdevice.upx", "text/xml", strings.NewReader(body))
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %s", resp.Status)
		}
		return time.Since(start)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var p, c time.Duration
			for i := w; i < n; i += 4 {
				if i%8 < 4 {
					p += post(plain)
					c += post(capped)
				} else {
					c += post(capped)
					p += post(plain)
				}
			}
			mu.Lock()
			tp, tc = tp+p, tc+c
			mu.Unlock()
		})
	}
	wg.Wait()
	return tp, tc
}

// benchServe serves srv on a loopback listener, wrapped by l when set, and
// returns its address.
func benchServe(b *testing.B, srv *http.Server, l *connlimit.Limiter) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var served net.Listener = ln
	if l != nil {
		served = l.Listen(ln)
	}
	done := make(chan struct{})
	go func() { srv.Serve(served); close(done) }()
	b.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// benchPhoneHandler is the phone-facing handler of an appliance with the
// interim and a release approved, for BenchmarkCheckin and the connlimit
// benchmarks.
func benchPhoneHandler(b *testing.B) http.Handler {
	cfg := DefaultConfig()
	cfg.Data = b.TempDir()
	st, err := store.Open(cfg.stateDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), store: st}
	if a.urls, err = legacy.DeriveURLs("http://192.0.2.10", "", legacy.URLs{}); err != nil {
		b.Fatal(err)
	}
	for _, im := range []images.Image{
		{Key: mustKey("OCInterim/ENU/CPE"), Version: images.MustParseVersion("1.0.522.103"), Interim: true, Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
		{Key: mustKey("UCPhone/Polycom/CX700/A/ENU/CPE"), Version: images.MustParseVersion("3.5.6907.0"), Files: []images.File{{Name: "CPE.nbt"}, {Name: "CPE.cat"}}},
	} {
		if _, err := st.ImportImage(im); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Approve(im.Key); err != nil {
			b.Fatal(err)
		}
	}
	a.refreshCatalog()
	audit, err := r2.OpenAuditLog(cfg.auditDir(), "bench", time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { audit.Close() })
	return a.phoneRoutes(audit)
}

// BenchmarkDownloadConnLimit compares 32 MiB downloads over loopback
// (http.ServeContent from a file: sendfile through the connection's
// ReadFrom) with the caps and without them, in alternating rounds; it
// reports the ratio capped/plain of the download times (min, median, max).
//
//	go test -run '^$' -bench DownloadConnLimit -benchtime 20x ./appliance
func BenchmarkDownloadConnLimit(b *testing.B) {
	const size = 32 << 20
	path := filepath.Join(b.TempDir(), "CPE.nbt")
	if err := os.WriteFile(path, randomBytes(size, 9), 0o644); err != nil {
		b.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "CPE.nbt", time.Time{}, f)
	})
	log := slog.New(slog.DiscardHandler)
	plain := benchServe(b, web.NewServer(h, context.Background(), log), nil)
	l, err := connlimit.New(connlimit.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	capped := benchServe(b, l.Server(web.NewServer(h, context.Background(), log)), l)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	fetch := func(addr string) time.Duration {
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/CPE.nbt")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("got %d bytes, err %v", n, err)
		}
		return time.Since(start)
	}
	b.SetBytes(2 * size)
	var ratios []float64
	round := 0
	for b.Loop() {
		var tp, tc time.Duration
		if round%2 == 0 {
			tp, tc = fetch(plain), fetch(capped)
		} else {
			tc, tp = fetch(capped), fetch(plain)
		}
		round++
		ratios = append(ratios, float64(tc)/float64(tp))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[0], "ratio-min")
	b.ReportMetric(ratios[len(ratios)/2], "ratio-median")
	b.ReportMetric(ratios[len(ratios)-1], "ratio-max")
}
