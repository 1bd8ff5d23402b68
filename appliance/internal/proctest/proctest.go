// Package proctest reads what tests need to know about processes from
// /proc (Linux): the members of a PID namespace, whether a process still
// runs, and how much memory a group of processes takes.
package proctest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// NamespacePIDs are the processes in the PID namespace of pid, as this
// process sees them.
func NamespacePIDs(pid int) ([]int, error) {
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// Alive reports whether pid runs; a zombie waiting for its parent does
// not.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(b, []byte(") Z "))
}

// Memory sums the resident (Rss) and proportional (Pss: shared pages
// divided among their sharers) set sizes of pids, in KiB. Processes that
// share most of their pages, like Samba's, make the Rss sum count them
// many times; the Pss sum is what they take together. Processes gone
// meanwhile count nothing.
func Memory(pids []int) (rssKiB, pssKiB int) {
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			n, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "Rss:":
				rssKiB += n
			case "Pss:":
				pssKiB += n
			}
		}
	}
	return rssKiB, pssKiB
}
