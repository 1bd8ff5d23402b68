package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testdata/state holds state directories older appliances wrote, each
// named after the commit that wrote it (a snapshot and the journal after
// it, or a journal alone), with the state the appliance of that time
// loaded from it in <name>.golden.json. They must load to the same state
// whatever the decoder: go test ./appliance/store -run TestOlderStateLoads
// -update rewrites the goldens (only ever from a tree whose loading is
// known good).
func TestOlderStateLoads(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "state", "*"))
	noErr(t, err)
	var n int
	for _, src := range dirs {
		if info, err := os.Stat(src); err != nil || !info.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(src), func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			s := openStore(t, dir, Options{FlushInterval: lazy.FlushInterval, Logger: lazy.Logger})
			st := dump(s)
			if len(st.Devices) == 0 || len(st.Rules) == 0 || len(st.TestDevices) == 0 {
				t.Fatalf("%s loaded to nearly nothing: %+v", src, st)
			}
			got, err := json.MarshalIndent(st, "", "\t")
			noErr(t, err)
			golden := src + ".golden.json"
			if *update {
				noErr(t, os.WriteFile(golden, append(got, '\n'), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(append(got, '\n'))); diff != "" {
				t.Errorf("%s loads differently (-golden +now):\n%s", src, diff)
			}
		})
	}
	if n < 8 {
		t.Errorf("found %d older state directories in testdata/state, want 8", n)
	}
}
