package appliance

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/r2/phone"
)

// TestBenchPrintsTheTable runs the real `tanjay bench` with tiny settings
// (it starts tanjay serve and the baseline as processes of their own, or
// two baselines with --noise) and checks the shape of what it prints,
// never the figures.
func TestBenchPrintsTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tanjay and runs three processes")
	}
	num, ratio, lat := `[0-9]+`, `[0-9]+\.[0-9]{2}`, `[0-9.]+[nµm]?s`
	for _, tc := range []struct {
		name, flag, first, header string
	}{
		{"appliance", "--noise=false", "appliance",
			`^tanjay bench: tanjay serve \(pid [0-9]+\) against a fixed-answer net/http baseline \(pid [0-9]+\), both on loopback$`},
		{"noise", "--noise", "baseline2",
			`^tanjay bench --noise: a fixed-answer net/http baseline \(pid [0-9]+\) against another \(pid [0-9]+\), both on loopback: the noise of this machine$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tanjayBinary(t), "bench", tc.flag, "--rounds", "2", "--duration", "300ms", "--warmup", "100ms",
				"--concurrency", "4", "--downloads", "2", "--download-size", "1048576")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("tanjay bench: %v\n%s", err, out)
			}
			roundRow := func(n int, first string) string {
				return `^ +` + fmt.Sprint(n) + ` +` + first + ` +` + num + ` +` + num + ` +` + ratio + ` +` + lat + ` +` + lat + ` +` + ratio +
					` +` + lat + ` +` + lat + ` +` + ratio + ` +` + num + ` +` + num + ` +` + ratio + ` +` + lat + ` +` + lat + ` +` + ratio + ` *$`
			}
			want := []string{
				tc.header,
				`^  2 rounds, alternating which server goes first; per server and round: 300ms of check-ins by 4 phones at once, 2 downloads of a 1\.0 MiB image, one from each server in turn$`,
				`^  a check-in is answered with an offer of the interim: [0-9]+ bytes from the ` + tc.first + `, [0-9]+ from the baseline$`,
				`^  load average at start: [0-9.]+ [0-9.]+ [0-9.]+ \(1, 5, 15 min\)$`,
				`^$`,
				`^ +round +first +check-ins/s ` + tc.first + ` +baseline +ratio +p99 ` + tc.first + ` +baseline +ratio +CPU/check-in ` + tc.first + ` +baseline +ratio +download MiB/s ` + tc.first + ` +baseline +ratio +CPU/MiB ` + tc.first + ` +baseline +ratio *$`,
				roundRow(1, tc.first),
				roundRow(2, "baseline"),
				`^$`,
				`^` + tc.first + `/baseline +min +median +max +goal +met$`,
				`^check-ins/s +` + ratio + ` +` + ratio + ` +` + ratio + ` +≥ 0\.80 \(median\) +(yes|no)$`,
				`^p99 latency +` + ratio + ` +` + ratio + ` +` + ratio + ` +≤ 1\.50 \(median\) +(yes|no)$`,
				`^server CPU/check-in +` + ratio + ` +` + ratio + ` +` + ratio + ` +none: the work behind check-ins/s +-$`,
				`^download throughput +` + ratio + ` +` + ratio + ` +` + ratio + ` +≥ 0\.95 \(every round\) +(yes|no)$`,
				`^server CPU/MiB +` + ratio + ` +` + ratio + ` +` + ratio + ` +none: the work behind downloads +-$`,
				`^$`,
				`^load average at end: [0-9.]+ [0-9.]+ [0-9.]+ \(1, 5, 15 min\)$`,
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
			}
			for i, re := range want {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d %q does not match %s", i+1, lines[i], re)
				}
			}
		})
	}
}

func TestBenchFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rounds", "0"}, "--rounds 0: want at least 1"},
		{[]string{"--duration", "0s"}, "--duration 0s: want a positive duration"},
		{[]string{"--warmup", "-1s"}, "--warmup -1s: must not be negative"},
		{[]string{"--concurrency", "0"}, "--concurrency 0: want 1 to 10000 phones"},
		{[]string{"--downloads", "0"}, "--downloads 0: want at least 1"},
		{[]string{"--download-size", "0"}, "--download-size 0: want at least 1 byte"},
		{[]string{"extra"}, `bench takes no arguments, got ["extra"]`},
		{[]string{benchBaselineArg}, "bench serve-baseline needs --image and --catalog"},
	} {
		code, out, errOut := runTanjay(t, nil, append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("tanjay bench %s: exit %d, stderr %q, stdout %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errOut, out, tc.want)
		}
	}
}

// TestBenchTableRatios: the summary's min, median and max of each ratio,
// and whether each goal is met (medians for check-ins and p99, every
// round for downloads).
func TestBenchTableRatios(t *testing.T) {
	round := func(ciA, ciB float64, p99A, p99B, cpuA, cpuB time.Duration, dlA, dlB float64) benchRoundResult {
		return benchRoundResult{first: "appliance",
			checkIns:   [2]phone.Summary{{CheckInsPerSec: ciA, P99: p99A}, {CheckInsPerSec: ciB, P99: p99B}},
			cpu:        [2]time.Duration{cpuA, cpuB},
			throughput: [2]float64{dlA * (1 << 20), dlB * (1 << 20)},
			dlCPU:      [2]time.Duration{cpuA * 10, cpuB * 10}}
	}
	ms, us := time.Millisecond, time.Microsecond
	var b strings.Builder
	printBenchTable(&b, [2]string{"appliance", "baseline"}, []benchRoundResult{
		round(800, 1000, 3*ms, 2*ms, 60*us, 40*us, 96, 100),
		round(900, 1000, 2*ms, 2*ms, 44*us, 40*us, 90, 100),
		round(700, 1000, 4*ms, 2*ms, 80*us, 40*us, 100, 100),
		round(850, 1000, 3*ms, 2*ms, 50*us, 40*us, 99, 100),
	})
	for _, want := range []string{
		"check-ins/s          0.70  0.82    0.90  ≥ 0.80 (median)                    yes\n",
		"p99 latency          1.00  1.50    2.00  ≤ 1.50 (median)                    yes\n",
		"server CPU/check-in  1.10  1.38    2.00  none: the work behind check-ins/s  -\n",
		"download throughput  0.90  0.97    1.00  ≥ 0.95 (every round)               no\n",
		"server CPU/MiB       1.10  1.38    2.00  none: the work behind downloads    -\n",
		"    3  appliance                    700      1000   0.70            4ms       2ms   2.00                    80µs      40µs   2.00                       100       100   1.00              800µs     400µs   2.00\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestProcessCPU: the CPU time read from /proc grows as the process works,
// and a process that does not exist is an error naming its stat file.
func TestProcessCPU(t *testing.T) {
	start, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	for deadline := time.Now().Add(30 * time.Second); ; {
		for range 10000 {
			sum = sha256.Sum256(sum[:])
		}
		now, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > start {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %s for 30 s of hashing", start)
		}
	}
	if _, err := processCPU(-1); err == nil || !strings.Contains(err.Error(), "/proc/-1/task") {
		t.Errorf("processCPU(-1) = %v, want an error naming /proc/-1/task", err)
	}
}
