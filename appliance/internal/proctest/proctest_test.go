package proctest

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestOwnProcess(t *testing.T) {
	pids, err := NamespacePIDs(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if !slices.Contains(pids, os.Getpid()) {
		t.Errorf("NamespacePIDs of this process %v does not hold it (%d)", pids, os.Getpid())
	}
	if !Alive(os.Getpid()) {
		t.Error("this process is not Alive")
	}
	if rss, pss := Memory([]int{os.Getpid()}); rss <= 0 || pss <= 0 || pss > rss {
		t.Errorf("Memory of this process: rss %d KiB, pss %d KiB", rss, pss)
	}
}

func TestExitedProcessIsNotAlive(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	if Alive(cmd.Process.Pid) {
		t.Errorf("pid %d of an exited, reaped process is Alive", cmd.Process.Pid)
	}
}
