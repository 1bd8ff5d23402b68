package appliance

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestSoakMixed is issue 13's soak: for TANJAY_SOAK_DURATION (at most
// 10 minutes, default 10) tanjay serve, its data on a small tmpfs, gets
// check-ins, downloads, log uploads, DNS queries and dashboard reads from
// several goroutines while test devices are added through the admin API.
// In every round the disk fills for a while and empties again, and at the
// end of the round serve is killed with SIGKILL and started again: every
// test device the API said it added must be there, none more. The peak
// RSS of serve must stay under soakMaxRSS. Run it with TANJAY_SOAK=1
// (root: it mounts a tmpfs).
func TestSoakMixed(t *testing.T) {
	if os.Getenv("TANJAY_SOAK") == "" {
		t.Skip("a soak of up to 10 minutes: TANJAY_SOAK=1 runs it")
	}
	duration := 10 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("TANJAY_SOAK_DURATION")); err == nil && d > 0 && d < duration {
		duration = d
	}
	// 4 workers × soakPhones phones check in as fast as serve answers
	// (about 750 a second here), so every timeline reaches its 500-event
	// cap within minutes. Peak RSS grows with the run: 239 MiB after 45 s,
	// 562 MiB after 10 minutes (23 restarts, each replaying a longer
	// journal). The limit is that measurement with some room; issue 14
	// (smaller events, a compact snapshot, a fast restart) is to bring it
	// down.
	const (
		round      = 20 * time.Second
		soakPhones = 100
		soakMaxRSS = 640 << 20
	)
	tanjayBinary(t)
	// Room for what ten minutes of traffic write (logs, journal, uploads);
	// the filler makes the disk full, not the traffic.
	mnt := mountTinyTmpfs(t, 256<<20)
	data := filepath.Join(mnt, "data")
	flags := []string{"--disk-floor-mib", "0", "--disk-floor-percent", "0"}
	srv := startServe(t, data, flags...)
	fw := t.TempDir()
	srv.tanjay(t, "import", "--device-path", "OCInterim/ENU", "--version", "1.0.522.103", "--interim", writeFile(t, fw, "i/CPE.nbt", randomBytes(256<<10, 1)))
	srv.tanjay(t, "import", "--device-path", "UCPhone/Polycom/CX700/A/ENU", "--version", "3.5.6907.0", writeFile(t, fw, "t/CPE.nbt", randomBytes(256<<10, 2)))
	srv.tanjay(t, "approve", "--all")

	var (
		added                                        int // test devices the API said it added
		rounds, kills                                int
		checkins, failedCheckins, downloads, uploads atomic.Int64
		dnsAnswers, pages, refusedOps, fullIntervals atomic.Int64
		peakRSS                                      atomic.Int64
	)
	start := time.Now()
	for time.Since(start) < duration {
		rounds++
		addrs := readServeInfo(t, data)
		ctx, cancel := context.WithTimeout(context.Background(), round)
		var wg sync.WaitGroup
		worker := func(f func(i int)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					f(i)
				}
			}()
		}
		client := &http.Client{Timeout: 5 * time.Second}
		// The offered image: <BaseURL> + /CPE.nbt, its path fetched from this serve.
		nbt := regexp.MustCompile(`<BaseURL>https?://[^/<]+(/[^<]+)</BaseURL>`)
		for w := range 4 {
			worker(func(i int) { // check-ins, and the download offered
				mac := fmt.Sprintf("0004F2C%01X%04X", w, i%soakPhones)
				body := fmt.Sprintf(`<Request><DeviceType>UCPhone</DeviceType><MacAddress>%s</MacAddress><SerialNumber>SN%s</SerialNumber><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><Modules><Module><FileName>cpe.nbt</FileName><Version>1.0.199.0</Version></Module></Modules></Request>`, mac, mac)
				resp, err := client.Post("http://"+addrs.HTTP+"/RequestHandler/ucdevice.upx", "text/xml", strings.NewReader(body))
				if err != nil {
					failedCheckins.Add(1)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failedCheckins.Add(1)
					return
				}
				checkins.Add(1)
				if m := nbt.FindStringSubmatch(string(b)); m != nil && i%10 == 0 {
					if r, err := client.Get("http://" + addrs.HTTP + m[1] + "/CPE.nbt"); err == nil {
						if n, _ := io.Copy(io.Discard, r.Body); n > 0 && r.StatusCode == http.StatusOK {
							downloads.Add(1)
						}
						r.Body.Close()
					}
				}
			})
		}
		worker(func(i int) { // log uploads
			r, err := client.Post(fmt.Sprintf("http://%s/RequestHandler/CELog.txt?MacAddress=0004F2C0%04X", addrs.HTTP, i%50), "text/plain", strings.NewReader(strings.Repeat("CE log line\n", 200)))
			if err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				uploads.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		})
		worker(func(i int) { // DNS, from many loopback addresses
			c := &dns.Client{Timeout: time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 20, byte(i>>8), byte(i))}}}
			m := new(dns.Msg)
			m.SetQuestion("ucupdates-r2.lab.local.", dns.TypeA)
			if _, _, err := c.Exchange(m, addrs.DNS); err == nil {
				dnsAnswers.Add(1)
			}
		})
		worker(func(i int) { // dashboard reads
			for _, p := range []string{"/", "/kiosk", "/firmware", "/healthz"} {
				if r, err := client.Get("http://" + addrs.Dashboard + p); err == nil {
					io.Copy(io.Discard, r.Body)
					r.Body.Close()
					pages.Add(1)
				}
			}
		})
		worker(func(int) { // the server's RSS
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid)); err == nil {
				if m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b); m != nil {
					kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
					for old := peakRSS.Load(); kb<<10 > old && !peakRSS.CompareAndSwap(old, kb<<10); old = peakRSS.Load() {
					}
				}
			}
			time.Sleep(200 * time.Millisecond)
		})
		// The operator, on this goroutine: a test device every 200 ms; the
		// disk is full during the middle third of the round.
		filler := filepath.Join(mnt, "filler")
		roundStart := time.Now()
		full := false
		for ctx.Err() == nil {
			switch since := time.Since(roundStart); {
			case !full && since > round/3 && since < 2*round/3:
				fillDisk(t, filler)
				full = true
				fullIntervals.Add(1)
			case full && since >= 2*round/3:
				os.Remove(filler)
				full = false
			}
			id := fmt.Sprintf("SOAK-%d-%d", rounds, added+int(refusedOps.Load()))
			if _, err := srv.tanjayErr("testdevice", "add", id); err == nil {
				added++
			} else {
				refusedOps.Add(1)
			}
			time.Sleep(200 * time.Millisecond)
		}
		os.Remove(filler)
		cancel()
		wg.Wait()
		// SIGKILL, and everything the operator was told is done is there.
		srv.kill()
		kills++
		// serve.json of the killed process stays behind: the next round
		// must read the new one.
		os.Remove(filepath.Join(data, serveInfoFile))
		srv = startServe(t, data, flags...)
		ls := srv.tanjay(t, "testdevice", "ls")
		if found := strings.Count(ls, "SOAK-"); found != added {
			t.Fatalf("round %d: %d test devices after kill -9, the API added %d:\n%s", rounds, found, added, ls)
		}
		if v, _ := checkIn(t, srv.addrs.HTTP, "CX700", "0004F2CFFFFF", "SNX", "1.0.199.0"); v != "1.0.522.103" {
			t.Fatalf("round %d: after the restart a phone is offered %q", rounds, v)
		}
	}
	t.Logf("soak: %s, %d rounds, %d kill -9, %d disk-full intervals; operator: %d test devices added and all found after every restart, %d refused (disk full)",
		time.Since(start).Round(time.Second), rounds, kills, fullIntervals.Load(), added, refusedOps.Load())
	t.Logf("soak: %d check-ins answered (%d not), %d downloads, %d uploads, %d DNS answers, %d dashboard pages; peak RSS %d MiB (limit %d MiB)",
		checkins.Load(), failedCheckins.Load(), downloads.Load(), uploads.Load(), dnsAnswers.Load(), pages.Load(), peakRSS.Load()>>20, soakMaxRSS>>20)
	if peakRSS.Load() > soakMaxRSS {
		t.Errorf("peak RSS %d MiB, want under %d MiB", peakRSS.Load()>>20, soakMaxRSS>>20)
	}
	if checkins.Load() == 0 || downloads.Load() == 0 || dnsAnswers.Load() == 0 || pages.Load() == 0 || uploads.Load() == 0 || added == 0 || refusedOps.Load() == 0 {
		t.Errorf("some traffic never happened")
	}
	// Phones are answered on a full disk too: only a rare check-in may
	// fail (one in flight when a round ends is not counted at all).
	if f := failedCheckins.Load(); f*1000 > checkins.Load() {
		t.Errorf("%d check-ins not answered, against %d answered", f, checkins.Load())
	}
}
