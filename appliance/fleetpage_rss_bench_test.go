package appliance

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkServeFleetRSS measures the real `tanjay serve` with 50,000 phones
// in its store: the bytes and time of one anonymous GET / and /kiosk, and
// the server's RSS before and at its peak (VmHWM, reset through
// /proc/PID/clear_refs) while eight GET / run at once. With
// TANJAY_BASELINE_TANJAY set to another build of tanjay (e.g. one built
// from `git archive HEAD`), each round runs that binary too, alternating.
//
//	go test -run XXX -bench BenchmarkServeFleetRSS -benchtime 1x ./appliance/
func BenchmarkServeFleetRSS(b *testing.B) {
	data := b.TempDir()
	seedStoreTB(b, data, 50000)
	bins := [][2]string{{"current", buildTanjay(b)}}
	if base := os.Getenv("TANJAY_BASELINE_TANJAY"); base != "" {
		bins = append(bins, [2]string{"baseline", base})
	}
	for round := 1; round <= 3; round++ {
		for _, bin := range bins {
			b.Run(fmt.Sprintf("%s/round=%d", bin[0], round), func(b *testing.B) {
				for b.Loop() {
					measureServe(b, bin[1], data)
				}
			})
		}
	}
}

func measureServe(b *testing.B, bin, data string) {
	b.StopTimer()
	defer b.StartTimer() // b.Loop wants the timer running
	cmd := exec.Command(bin, "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0",
		"--dns-addr", "127.0.0.1:0", "--https-addr", "off", "--sip-addr", "127.0.0.1:0", "--sip-tls-addr", "off", "--host", "rss")
	cmd.Env = append(os.Environ(), "TANJAY_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	dash := ""
	sc := bufio.NewScanner(stdout)
	for dash == "" && sc.Scan() {
		if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && m[1] == "dashboard" {
			dash = m[2]
		}
	}
	go io.Copy(io.Discard, stdout)
	if dash == "" {
		b.Fatal("tanjay serve did not say where the dashboard listens")
	}
	get := func(path string) (int, time.Duration) {
		start := time.Now()
		resp, err := http.Get("http://" + dash + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
		return int(n), time.Since(start)
	}
	get("/") // warm: the first request may wait for the server's start-up
	pid := cmd.Process.Pid
	before := procKB(b, pid, "VmRSS")
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	b.StartTimer()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); get("/") }()
	}
	wg.Wait()
	b.StopTimer()
	peak := procKB(b, pid, "VmHWM")
	fleetBytes, fleetTime := get("/")
	kioskBytes, kioskTime := get("/kiosk")
	b.ReportMetric(float64(before)/1024, "MiB-RSS-before")
	b.ReportMetric(float64(peak)/1024, "MiB-RSS-peak-8-GETs")
	b.ReportMetric(float64(fleetBytes)/1024, "KiB-GET/")
	b.ReportMetric(fleetTime.Seconds()*1000, "ms-GET/")
	b.ReportMetric(float64(kioskBytes)/1024, "KiB-GET/kiosk")
	b.ReportMetric(kioskTime.Seconds()*1000, "ms-GET/kiosk")
}

var procLine = regexp.MustCompile(`(?m)^(\w+):\s+(\d+) kB`)

// procKB reads a "… kB" line of /proc/PID/status.
func procKB(b *testing.B, pid int, name string) int {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range procLine.FindAllStringSubmatch(string(st), -1) {
		if m[1] == name {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", name, pid)
	return 0
}

// buildTanjay builds the tanjay command for a benchmark.
func buildTanjay(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "tanjay")
	if msg, err := exec.Command("go", "build", "-o", out, "github.com/tanjay-lab/tanjay/cmd/tanjay").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}
