package appliance

import (
	"runtime"
	"runtime/debug"
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
