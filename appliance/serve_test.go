package appliance

import (
	"slices"
	"testing"
)

// TestClosersDeferred: Run defers close before the steps add what they
// open; every one of them must still be closed, newest first.
func TestClosersDeferred(t *testing.T) {
	var got []string
	func() {
		var cl closers
		defer cl.close()
		for _, name := range []string{"store", "oplog", "listener"} {
			cl.add(func() { got = append(got, name) })
		}
	}()
	if want := []string{"listener", "oplog", "store"}; !slices.Equal(got, want) {
		t.Fatalf("closed %v, want %v", got, want)
	}
}
