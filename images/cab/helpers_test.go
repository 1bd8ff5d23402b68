package cab

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// openBytes opens a cabinet held in memory.
func openBytes(raw []byte, lim Limits) (*Cabinet, error) {
	return Open(bytes.NewReader(raw), int64(len(raw)), lim)
}

// readFiles reads every file, in the cabinet's order, keyed by name.
func readFiles(c *Cabinet) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range c.Files {
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		out[f.Name] = b
	}
	return out, nil
}

// wantFiles is the cabtest input as readFiles returns it.
func wantFiles(files []cabtest.File) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range files {
		out[f.Name] = append([]byte{}, f.Data...)
	}
	return out
}

// sameFiles reports the first difference between two file sets.
func sameFiles(t *testing.T, label string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", label, len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s missing", label, name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: %s differs (%d bytes, want %d)", label, name, len(g), len(w))
		}
	}
}

// fixChecksum recomputes the checksum of a block after a test changed it.
func fixChecksum(raw []byte, b cabtest.Block, reserve int) {
	end := b.Data + int(binary.LittleEndian.Uint16(raw[b.Header+4:]))
	hdr := raw[b.Header : b.Header+8+reserve]
	binary.LittleEndian.PutUint32(hdr, cabtest.Checksum(hdr[4:], cabtest.Checksum(raw[b.Data:end], 0)))
}

// cabextract is cabtest.Cabextract keyed by path with backslashes, as the
// cabinet names its files.
func cabextract(t *testing.T, raw []byte) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range cabtest.Cabextract(t, raw) {
		out[strings.ReplaceAll(k, "/", `\`)] = v
	}
	return out
}
