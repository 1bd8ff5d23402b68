package appliance

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestMemoryLimit: without GOMEMLIMIT, serve sets a soft limit of half the
// memory it may use, at least 256 MiB; GOMEMLIMIT, when set, rules.
func TestMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	if got := setMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "300MiB"}[k] }); got != "GOMEMLIMIT=300MiB" {
		t.Errorf("with GOMEMLIMIT: %q", got)
	}
	total, _ := availableMemory()
	if total <= 0 {
		t.Skip("this machine's memory is unknown: no /sys/fs/cgroup/memory.max or /proc/meminfo")
	}
	got := setMemoryLimit(func(string) string { return "" })
	limit := debug.SetMemoryLimit(-1)
	if want := max(total/2, minMemLimit); limit != want || !strings.Contains(got, "soft limit") {
		t.Errorf("limit %d (%q), want %d", limit, got, want)
	}
}
