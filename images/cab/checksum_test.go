package cab

import (
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

func TestChecksumMatchesSpecification(t *testing.T) {
	data := cabtest.Random(300, 9)
	for n := range len(data) {
		for _, seed := range []uint32{0, 0xdeadbeef} {
			if got, want := checksum(data[:n], seed), cabtest.Checksum(data[:n], seed); got != want {
				t.Fatalf("checksum of %d bytes, seed %#x = %#x, want %#x", n, seed, got, want)
			}
		}
	}
}
