package appliance

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The appliance's state lives in memory, and Go's collector by default
// lets the heap grow to twice what is live: at 100,000 phones the live
// heap of ~320 MiB became 1.25 GiB resident. Unless GOMEMLIMIT is set,
// tanjay serve sets Go's soft memory limit to memLimitShare of the memory
// it may use (its cgroup's limit, else the machine's), so on a small VM
// the collector works harder as the heap nears it instead of growing past
// what the VM has. It is a soft limit: a live heap above it is still
// served, with more collector work.
const memLimitShare = 0.5

// minMemLimit keeps the limit sane on tiny machines.
const minMemLimit = 256 << 20

// setMemoryLimit applies the default soft limit and says what it is, or
// says that GOMEMLIMIT rules.
func setMemoryLimit(getenv func(string) string) string {
	if v := getenv("GOMEMLIMIT"); v != "" {
		return "GOMEMLIMIT=" + v
	}
	total, from := availableMemory()
	if total <= 0 {
		return "Go's default (the memory available is unknown)"
	}
	limit := max(int64(float64(total)*memLimitShare), minMemLimit)
	debug.SetMemoryLimit(limit)
	return fmt.Sprintf("%d MiB soft limit, half of %s's %d MiB (GOMEMLIMIT overrides)", limit>>20, from, total>>20)
}

// availableMemory is the cgroup's memory limit when there is one, else the
// machine's memory.
func availableMemory() (int64, string) {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n, "the cgroup"
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
				return kb << 10, "the machine"
			}
		}
	}
	return 0, ""
}
