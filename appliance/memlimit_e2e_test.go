package appliance

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeReturnsMemoryWhenIdle: a real `tanjay serve` returns memory
// once a burst of phones is over. After `tanjay phone --count 1000
// --rounds 3` its idle watcher collects (gctrace reports a forced
// collection; Go's own forced one comes only after two minutes without
// any) and the heap then keeps less than 8 MiB of free memory from the
// system, where Go alone would keep the burst's garbage and pages.
func TestServeReturnsMemoryWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tanjay serve and a fleet of phones")
	}
	bin := tanjayBinary(t)
	data := t.TempDir()
	serve := exec.Command(bin, "serve", "--data", data, "--http-addr", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0",
		"--dns-addr", "off", "--https-addr", "off", "--sip-addr", "off", "--sip-tls-addr", "off", "--host", "idle")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOGC" && k != "GOMEMLIMIT" && k != "GODEBUG" && k != "TANJAY_TOKEN" {
			serve.Env = append(serve.Env, kv)
		}
	}
	serve.Env = append(serve.Env, "GODEBUG=gctrace=1", "TANJAY_TOKEN=")
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Kill(); serve.Wait() }()
	forced := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "gc ") && strings.HasSuffix(line, "(forced)") {
				select {
				case forced <- line:
				default:
				}
			}
		}
	}()
	var addrs Addrs
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(data, serveInfoFile)); err == nil && json.Unmarshal(b, &addrs) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tanjay serve did not start in 30 s")
		}
	}

	fleet := exec.Command(bin, "phone", "--server", "http://"+addrs.HTTP, "--count", "1000", "--rounds", "3", "--quiet")
	if out, err := fleet.CombinedOutput(); err != nil {
		t.Fatalf("tanjay phone: %v\n%s", err, out)
	}
	for len(forced) > 0 { // a quiet moment during start-up may have had one
		<-forced
	}
	select {
	case line := <-forced:
		t.Logf("after the fleet: %s", line)
	case <-time.After(30 * time.Second):
		t.Fatal("30 s after the fleet serve has not collected to return memory")
	}
	// FreeOSMemory returns the pages right after its collection; the
	// watcher's collection is over once gctrace reports it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, m := getText(t, "http://"+addrs.Dashboard+"/metrics")
		idle, ok1 := metricValue(m, "go_memstats_heap_idle_bytes")
		released, ok2 := metricValue(m, "go_memstats_heap_released_bytes")
		if !ok1 || !ok2 {
			t.Fatalf("/metrics lacks go_memstats_heap_idle_bytes or go_memstats_heap_released_bytes:\n%s", m)
		}
		if kept := idle - released; kept < 8<<20 {
			t.Logf("free heap kept from the system: %.2f MiB", kept/(1<<20))
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("10 s after the collection %.1f MiB of free heap are still kept from the system, want less than 8 MiB", kept/(1<<20))
		}
	}
}
