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
	"time"
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
//
// A fleet comes in bursts, and between them the appliance idles for
// minutes or days. Go collects only when the heap reaches its goal (or
// every two minutes) and returns freed memory slowly, so after a burst
// the process would keep the burst's garbage and its peak's pages. With
// the adaptive limit on, and unless GOGC=off, a watcher therefore returns
// memory when the process goes quiet: once a second it reads how much
// was allocated, and after quietTicks seconds in a row with less than
// idleAllocBytes each, if at least releaseBytes(live) were allocated
// since it last returned memory, it collects and hands every free page
// back (debug.FreeOSMemory). Several quiet seconds, not one, so that a
// stall in the middle of a burst (a snapshot being written, a starved
// CPU) does not collect while the stall's transient memory is live. That
// costs one collection after each burst and nothing while idle. Under a
// slow trickle (quiet seconds, but something allocated) it collects at
// most once per releaseBytes(live) allocated: a quarter of the live heap,
// so up to a few times as often as Go would, on an allocation rate that
// is small by definition (at 100,000 phones, a collection of two to
// three CPU-seconds at most once a minute).
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
		gcLimit.release.Store(false)
		return "GOMEMLIMIT=" + v
	}
	total, from := availableMemory()
	if total <= 0 {
		gcLimit.ceiling.Store(0)
		gcLimit.release.Store(false)
		return "Go's default (the memory available is unknown)"
	}
	ceiling := max(int64(float64(total)*memLimitShare), minMemLimit)
	release := getenv("GOGC") != "off"
	gcLimit.start(ceiling, release)
	idle := "; memory returned when idle"
	if !release {
		idle = "; GOGC=off: no collection when idle"
	}
	return fmt.Sprintf("soft limit of the live heap and half as much again (at least %d MiB more), set after each collection, at most %d MiB (half of %s's %d MiB); now %d MiB%s; GOMEMLIMIT overrides",
		minHeadroom>>20, ceiling>>20, from, total>>20, debug.SetMemoryLimit(-1)>>20, idle)
}

// idleTick is how often the idle watcher looks.
const idleTick = time.Second

// idleAllocBytes: a second in which less than this was allocated is a
// quiet one (an idle appliance allocates a few KiB a second; a check-in
// over HTTP allocates some KiB, a fleet's burst tens of MiB a second).
const idleAllocBytes = 1 << 20

// quietTicks is how many quiet ticks in a row make the process idle.
const quietTicks = 3

// minRelease is the least garbage worth a collection to return.
const minRelease = 8 << 20

// releaseBytes is how much must have been allocated since memory was
// last returned before an idle process returns it again, for a live heap
// of live bytes.
func releaseBytes(live uint64) uint64 { return max(live/4, minRelease) }

// idleWatch decides, tick by tick, when to return memory. Its zero value
// has seen nothing; its first tick only takes the counts.
type idleWatch struct {
	started  bool
	prev     uint64 // bytes allocated at the last tick
	released uint64 // bytes allocated when memory was last returned
	quiet    int    // quiet ticks in a row
}

// tick takes the bytes allocated since the process started and the live
// heap, and says whether to return memory now; on is false while the
// watcher is off, which forgets what was allocated meanwhile.
func (w *idleWatch) tick(allocs, live uint64, on bool) bool {
	if !w.started || !on {
		*w = idleWatch{started: true, prev: allocs, released: allocs}
		return false
	}
	if allocs-w.prev < idleAllocBytes {
		w.quiet++
	} else {
		w.quiet = 0
	}
	w.prev = allocs
	return w.quiet >= quietTicks && allocs-w.released >= releaseBytes(live)
}

// returned records that memory was returned when allocs bytes had been
// allocated.
func (w *idleWatch) returned(allocs uint64) {
	w.prev, w.released, w.quiet = allocs, allocs, 0
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
	// release turns the idle watcher on.
	release   atomic.Bool
	once      sync.Once
	live      []metrics.Sample // guarded by mu
	mu        sync.Mutex
	watchOnce sync.Once
}

// gcTick is what the cleanup hangs on. It holds a pointer so that it is
// never a tiny allocation, which cleanups are not guaranteed to run for.
type gcTick struct{ _ *int }

// start makes the limit adaptive with ceiling and applies it now; with
// release, memory is also returned when the process goes quiet.
func (a *adaptiveGCLimit) start(ceiling int64, release bool) {
	a.ceiling.Store(ceiling)
	a.release.Store(release)
	a.adjust()
	a.once.Do(a.arm)
	if release {
		a.watchOnce.Do(func() { go a.watchIdle(time.NewTicker(idleTick).C) })
	}
}

// watchIdle returns memory to the system when the process goes idle
// after enough was allocated (see idleWatch), for as long as the process
// runs; it does nothing while the adaptation or release is off.
func (a *adaptiveGCLimit) watchIdle(ticks <-chan time.Time) {
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var w idleWatch
	look := func() bool {
		metrics.Read(samples)
		on := a.ceiling.Load() > 0 && a.release.Load()
		return w.tick(samples[0].Value.Uint64(), samples[1].Value.Uint64(), on)
	}
	look() // counts from now: a burst before the first tick is one too
	for range ticks {
		if look() {
			debug.FreeOSMemory()
			metrics.Read(samples)
			w.returned(samples[0].Value.Uint64())
		}
	}
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
