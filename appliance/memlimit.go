package appliance

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The appliance's state lives in memory and lives long: at 100,000 phones
// the live heap is a few hundred MiB, and Go's collector by default lets
// the heap grow to twice what is live (GOGC=100), and keeps much of what it
// freed mapped. Unless GOMEMLIMIT is set, tanjay serve therefore sets Go's
// soft memory limit after every collection to the live heap plus
// memHeadroom(live): half as much again, at least minHeadroom. Below about
// 100 MiB live Go's own pacing is the tighter one and rules; above it the
// limit does, so the process stays near one and a half times its state
// instead of twice, and the collector hands freed memory back to the
// system down to the limit. The price is more collector work on a large
// fleet (it collects after half the live heap is allocated, not all of
// it). The limit never exceeds memLimitShare of the memory the process may
// use (its cgroup's limit, else the machine's), so on a small VM the
// collector works harder as the heap nears that instead of growing past
// what the VM has. It is a soft limit: a live heap above it is still
// served, with more collector work (Go caps that at half the CPU).
const memLimitShare = 0.5

// minMemLimit keeps the ceiling sane on tiny machines.
const minMemLimit = 256 << 20

// minHeadroom is the least room above the live heap the adaptive limit
// leaves: the garbage of in-flight requests, goroutine stacks (a check-in
// connection's are a few KiB) and the runtime's own memory.
const minHeadroom = 64 << 20

// memHeadroom is how far above a live heap of live bytes the limit is set.
func memHeadroom(live int64) int64 { return max(live/2, minHeadroom) }

// adaptiveLimit is the soft limit for a live heap of live bytes, never
// above ceiling.
func adaptiveLimit(live, ceiling int64) int64 {
	return min(live+memHeadroom(live), ceiling)
}

// setMemoryLimit applies the default soft limit and says what it is, or
// says that GOMEMLIMIT rules.
func setMemoryLimit(getenv func(string) string) string {
	if v := getenv("GOMEMLIMIT"); v != "" {
		gcLimit.ceiling.Store(0)
		return "GOMEMLIMIT=" + v
	}
	total, from := availableMemory()
	if total <= 0 {
		gcLimit.ceiling.Store(0)
		return "Go's default (the memory available is unknown)"
	}
	ceiling := max(int64(float64(total)*memLimitShare), minMemLimit)
	gcLimit.start(ceiling)
	return fmt.Sprintf("soft limit of the live heap and half as much again (at least %d MiB more), set after each collection, at most %d MiB (half of %s's %d MiB); now %d MiB; GOMEMLIMIT overrides",
		minHeadroom>>20, ceiling>>20, from, total>>20, debug.SetMemoryLimit(-1)>>20)
}

// gcLimit is the process's adaptive limit: one per process, since Go's
// memory limit is.
var gcLimit adaptiveGCLimit

// adaptiveGCLimit sets the soft memory limit from the live heap after
// every collection: a cleanup attached to an object nobody references
// runs once the collector has found it unreachable, and attaches itself
// to a new one.
type adaptiveGCLimit struct {
	// ceiling is the highest limit; 0 stops the adaptation (GOMEMLIMIT
	// rules, or a test is done with it).
	ceiling atomic.Int64
	once    sync.Once
	live    []metrics.Sample // guarded by mu
	mu      sync.Mutex
}

// gcTick is what the cleanup hangs on. It holds a pointer so that it is
// never a tiny allocation, which cleanups are not guaranteed to run for.
type gcTick struct{ _ *int }

// start makes the limit adaptive with ceiling and applies it now.
func (a *adaptiveGCLimit) start(ceiling int64) {
	a.ceiling.Store(ceiling)
	a.adjust()
	a.once.Do(a.arm)
}

func (a *adaptiveGCLimit) arm() {
	runtime.AddCleanup(new(gcTick), func(a *adaptiveGCLimit) {
		a.adjust()
		a.arm()
	}, a)
}

// adjust sets the limit for the live heap the last collection found.
func (a *adaptiveGCLimit) adjust() {
	ceiling := a.ceiling.Load()
	if ceiling <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live == nil {
		a.live = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	}
	metrics.Read(a.live)
	live := int64(0)
	if a.live[0].Value.Kind() == metrics.KindUint64 {
		live = int64(a.live[0].Value.Uint64())
	}
	debug.SetMemoryLimit(adaptiveLimit(live, ceiling))
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
