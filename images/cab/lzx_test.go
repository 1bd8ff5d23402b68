package cab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// TestLZXAgainstCabextract encodes data with the test encoder in the block
// layouts that matter and checks that this decoder and cabextract
// (libmspack) both give the input back. Each case names what it covers;
// github.com/secDre4mer/lzx fails or silently differs on the marked ones.
func TestLZXAgainstCabextract(t *testing.T) {
	text, calls, noise := cabtest.Text(200000, 7), cabtest.Calls(200000, 8), cabtest.Random(100000, 9)
	type plan = []cabtest.LZXBlock
	const V, A, U = cabtest.Verbatim, cabtest.Aligned, cabtest.Uncompressed
	blk := func(typ, size int) cabtest.LZXBlock { return cabtest.LZXBlock{Type: typ, Size: size} }
	tests := []struct {
		name   string
		window int
		data   []byte
		opt    cabtest.LZXOptions
	}{
		{"one verbatim block", 17, text, cabtest.LZXOptions{}},
		{"aligned offsets, 2 MiB window", 21, text, cabtest.LZXOptions{Blocks: plan{blk(A, 1<<20)}}},
		{"literals only: empty length tree (go-lzx refuses)", 16, text, cabtest.LZXOptions{NoMatches: true}},
		{"block ends on a frame boundary (go-lzx fails)", 17, text, cabtest.LZXOptions{Blocks: plan{blk(V, 32768), blk(A, 32768), blk(V, 65536)}}},
		{"match into an uncompressed block (go-lzx differs)", 17, text, cabtest.LZXOptions{Blocks: plan{blk(V, 1000), blk(U, 20000)}}},
		{"odd uncompressed block and its pad byte (go-lzx fails)", 17, text, cabtest.LZXOptions{Blocks: plan{blk(V, 1000), blk(U, 1001), blk(A, 3), blk(U, 7)}}},
		{"uncompressed block across frames", 16, noise, cabtest.LZXOptions{Blocks: plan{blk(U, 70001)}}},
		{"Intel E8 translation per frame (go-lzx differs)", 17, calls, cabtest.LZXOptions{IntelFileSize: 12000000}},
		{"Intel E8 with every block type", 17, calls, cabtest.LZXOptions{IntelFileSize: 1 << 20,
			Blocks: plan{blk(U, 5), blk(V, 40000), blk(A, 25531), blk(U, 3001), blk(V, 50000), blk(U, 77)}}},
		{"last frame shorter than 10 bytes", 16, text[:32768+7], cabtest.LZXOptions{IntelFileSize: 12000000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := []cabtest.File{{Name: "a.bin", Data: tt.data}}
			raw, _ := cabtest.Cabinet{
				Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: tt.window, LZX: tt.opt}},
				Files:   files,
			}.Build()
			c, err := openBytes(raw, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := readFiles(c)
			if err != nil {
				t.Fatal(err)
			}
			sameFiles(t, "reader", got, wantFiles(files))
			sameFiles(t, "cabextract", cabextract(t, raw), wantFiles(files))
		})
	}
}

// TestRealLZXCabinet reads the LZX cabinet made by Microsoft's tools that
// github.com/secDre4mer/go-cab ships as test data (yara.exe, window 2^21,
// 27 blocks), from the module cache, and compares it with cabextract and
// with the hash go-cab's own test expects.
func TestRealLZXCabinet(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/secDre4mer/go-cab").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go-cab's module directory is not available (%v); the Microsoft-made LZX fixture is skipped", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "testdata", "lzx.cab"))
	if err != nil {
		t.Skipf("no lzx.cab in go-cab's test data: %v", err)
	}
	c, err := openBytes(raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readFiles(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(got["yara.exe"])
	if h := strings.ToUpper(hex.EncodeToString(sum[:])); h != "ACB2F8E42147DE389D9D5172CE97CE2782E564A01A8E9E636CF981A81D36884C" {
		t.Errorf("yara.exe hashes to %s", h)
	}
	sameFiles(t, "cabextract", cabextract(t, raw), got)
	if c.folders[0].comp>>8 != 21 {
		t.Errorf("window bits %d, want 21", c.folders[0].comp>>8)
	}
}

// TestLZXCorruptStream flips bits through an LZX stream, checksums fixed
// up: decoding must end (an error, or some output of the declared size),
// and most flips must be caught. Some flips give another valid stream, as
// one in the block size field of a last block does.
func TestLZXCorruptStream(t *testing.T) {
	data := cabtest.Text(100000, 3)
	raw, lay := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: cabtest.LZX, LZXWindow: 16}},
		Files: []cabtest.File{{Name: "a", Data: data}}}.Build()
	caught := 0
	const flips = 200
	for i := range flips {
		bad := bytes.Clone(raw)
		b := lay.Blocks[i%len(lay.Blocks)]
		bad[b.Data+i*7919%b.CbData] ^= 1 << (i % 8)
		fixChecksum(bad, b, 0)
		c, err := openBytes(bad, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readFiles(c)
		switch {
		case err != nil:
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("flip %d: %v is not ErrInvalid", i, err)
			}
			caught++
		case len(got["a"]) != len(data):
			t.Errorf("flip %d: %d bytes without an error", i, len(got["a"]))
		}
	}
	if caught < flips/2 {
		t.Errorf("only %d of %d corruptions caught", caught, flips)
	}
	t.Logf("%d of %d bit flips caught by the LZX decoder", caught, flips)
}
