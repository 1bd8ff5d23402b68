package appliance

import (
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// TestAdaptiveLimit: the limit is the live heap plus half of it, at least
// 64 MiB more, never above the ceiling.
func TestAdaptiveLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                string
		live, ceiling, want int64
	}{
		{"empty heap", 0, 512 * mib, 64 * mib},
		{"small heap: the least headroom", 40 * mib, 512 * mib, 104 * mib},
		{"at 128 MiB half is the least headroom", 128 * mib, 512 * mib, 192 * mib},
		{"large heap: half as much again", 270 * mib, 12 << 30, 405 * mib},
		{"the ceiling rules", 400 * mib, 512 * mib, 512 * mib},
		{"a live heap above the ceiling", 600 * mib, 512 * mib, 512 * mib},
	} {
		if got := adaptiveLimit(tc.live, tc.ceiling); got != tc.want {
			t.Errorf("%s: adaptiveLimit(%d MiB, %d MiB) = %d MiB, want %d MiB", tc.name, tc.live/mib, tc.ceiling/mib, got/mib, tc.want/mib)
		}
	}
}

// TestMemoryLimit: without GOMEMLIMIT, serve sets a soft limit from the
// live heap after every collection, at most half the memory it may use
// (at least 256 MiB); GOMEMLIMIT, when set, rules and stops the
// adaptation.
func TestMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	defer gcLimit.ceiling.Store(0)
	if got := setMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "300MiB"}[k] }); got != "GOMEMLIMIT=300MiB" {
		t.Errorf("with GOMEMLIMIT: %q", got)
	}
	total, _ := availableMemory()
	if total <= 0 {
		t.Skip("this machine's memory is unknown: no /sys/fs/cgroup/memory.max or /proc/meminfo")
	}
	ceiling := max(total/2, minMemLimit)
	got := setMemoryLimit(func(string) string { return "" })
	if !strings.Contains(got, "soft limit") {
		t.Errorf("setMemoryLimit says %q", got)
	}
	limit := debug.SetMemoryLimit(-1)
	if limit < minHeadroom || limit > ceiling {
		t.Errorf("limit %d right after start, want between %d and the ceiling %d", limit, int64(minHeadroom), ceiling)
	}

	// Grow the live heap by 256 MiB (beyond the least headroom, so the
	// limit must move) and collect until the cleanup has adjusted it.
	keep := make([]byte, 256<<20)
	for i := range keep {
		if i%4096 == 0 {
			keep[i] = 1
		}
	}
	want := limit + 128<<20
	moved := int64(0)
	for range 20 {
		runtime.GC()
		if moved = debug.SetMemoryLimit(-1); moved >= want {
			break
		}
	}
	runtime.KeepAlive(keep)
	if moved < want || moved > ceiling {
		t.Errorf("with 256 MiB more live the limit is %d MiB, want at least %d MiB (was %d MiB)", moved>>20, want>>20, limit>>20)
	}

	// GOMEMLIMIT stops the adaptation: a collection leaves the limit as
	// Go set it from the environment.
	setMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "300MiB"}[k] })
	debug.SetMemoryLimit(old)
	for range 3 {
		runtime.GC()
	}
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("after GOMEMLIMIT the limit changed to %d, want %d (as set)", got, old)
	}
}

// TestIdleWatch: memory is returned after three quiet ticks in a row
// (each allocating less than 1 MiB) once a quarter of the live heap, at
// least 8 MiB, was allocated since it last was; never while off.
func TestIdleWatch(t *testing.T) {
	const mib = 1 << 20
	type tick struct {
		allocs, live uint64 // MiB, as the watcher reads them
		off          bool
	}
	for _, tc := range []struct {
		name  string
		ticks []tick
		want  []bool // whether each tick returns memory
	}{
		{"a burst, then quiet: returned on the third quiet tick",
			[]tick{{0, 40, false}, {100, 40, false}, {200, 40, false}, {200, 40, false}, {200, 40, false}, {200, 40, false}},
			[]bool{false, false, false, false, false, true}},
		{"a stall of two quiet ticks inside a burst returns nothing",
			[]tick{{0, 40, false}, {100, 40, false}, {100, 40, false}, {100, 40, false}, {200, 40, false}, {200, 40, false}},
			[]bool{false, false, false, false, false, false}},
		{"idle with too little garbage: a quarter of the live heap, at least 8 MiB",
			[]tick{{0, 4, false}, {0, 4, false}, {0, 4, false}, {0, 4, false}, {7, 4, false}, {7, 4, false}, {7, 4, false}, {7, 4, false}},
			[]bool{false, false, false, false, false, false, false, false}},
		{"a large heap wants a quarter of itself",
			[]tick{{0, 300, false}, {60, 300, false}, {60, 300, false}, {60, 300, false}, {60, 300, false}, {75, 300, false}, {75, 300, false}, {75, 300, false}, {75, 300, false}},
			[]bool{false, false, false, false, false, false, false, false, true}},
		{"off: a burst and quiet ticks return nothing, and turned on again it starts afresh",
			[]tick{{0, 40, false}, {100, 40, true}, {100, 40, true}, {100, 40, true}, {100, 40, true}, {100, 40, false}, {100, 40, false}, {100, 40, false}, {100, 40, false}},
			[]bool{false, false, false, false, false, false, false, false, false}},
	} {
		var w idleWatch
		for i, tk := range tc.ticks {
			got := w.tick(tk.allocs*mib, tk.live*mib, !tk.off)
			if got {
				w.returned(tk.allocs * mib)
			}
			if got != tc.want[i] {
				t.Errorf("%s: tick %d (%d MiB allocated, %d MiB live, off %v) returns %v, want %v", tc.name, i, tk.allocs, tk.live, tk.off, got, tc.want[i])
			}
		}
	}

	// A trickle of half a MiB a tick: every tick is quiet, and memory is
	// returned each time 8 MiB more have trickled in.
	var w idleWatch
	var returns []int
	for i := range 40 {
		allocs := uint64(i) * mib / 2
		if w.tick(allocs, 4*mib, true) {
			w.returned(allocs)
			returns = append(returns, i)
		}
	}
	if want := []int{16, 32}; !slices.Equal(returns, want) {
		t.Errorf("under a trickle of 512 KiB a tick memory is returned at ticks %v, want %v", returns, want)
	}
}

// TestIdleReleaseSetting: GOGC=off and GOMEMLIMIT turn the idle release
// off and the memory line says which; otherwise it is on.
func TestIdleReleaseSetting(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	defer gcLimit.ceiling.Store(0)
	defer gcLimit.release.Store(false)
	if total, _ := availableMemory(); total <= 0 {
		t.Skip("this machine's memory is unknown: no /sys/fs/cgroup/memory.max or /proc/meminfo")
	}
	for _, tc := range []struct {
		name, gogc, memlimit, says string
		release                    bool
	}{
		{"default", "", "", "memory returned when idle", true},
		{"GOGC=200", "200", "", "memory returned when idle", true},
		{"GOGC=off", "off", "", "GOGC=off: no collection when idle", false},
		{"GOMEMLIMIT", "", "300MiB", "GOMEMLIMIT=300MiB", false},
	} {
		env := map[string]string{"GOGC": tc.gogc, "GOMEMLIMIT": tc.memlimit}
		got := setMemoryLimit(func(k string) string { return env[k] })
		if !strings.Contains(got, tc.says) {
			t.Errorf("%s: the memory line says %q, want it to say %q", tc.name, got, tc.says)
		}
		if r := gcLimit.release.Load(); r != tc.release {
			t.Errorf("%s: idle release %v, want %v", tc.name, r, tc.release)
		}
	}
}
