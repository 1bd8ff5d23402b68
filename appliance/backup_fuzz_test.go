package appliance

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadArchive feeds readArchive archives from outside and checks that
// every entry it hands restore lands inside the data directory, and that an
// archive it accepts is exactly its manifest. (The unit tests extract to
// disk; here the file system would cost most of each run.) Inputs
// that are not gzip are compressed first, so the fuzzer works on the tar
// and the manifest rather than on gzip's checksum.
func FuzzReadArchive(f *testing.F) {
	// Small seeds: the fuzzer minimizes what it finds, and a firmware-sized
	// input takes it minutes.
	tiny := filepath.Join(f.TempDir(), "data")
	for name, body := range map[string]string{"admin.token": "t", "state/snapshot-00000001.json": "s", "blobs/ab/abcd": "firmware", "logs/audit/a.csv": "a,b"} {
		os.MkdirAll(filepath.Dir(filepath.Join(tiny, name)), 0o750)
		os.WriteFile(filepath.Join(tiny, name), []byte(body), 0o600)
	}
	for _, seed := range [][]byte{
		backupBytes(f, tiny, true),
		craft(f, []entry{{name: "data/a", body: "1"}, {name: "data/d/", typeflag: '5'}}, nil, false),
		craft(f, []entry{{name: "data/../x", body: "1"}}, nil, false),
		craftAfterManifest(f),
	} {
		f.Add(seed)
		// And the tar inside, for the fuzzer to mutate.
		gz, err := gzip.NewReader(bytes.NewReader(seed))
		if err != nil {
			f.Fatal(err)
		}
		raw, err := io.ReadAll(gz)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			gz.Write(b)
			gz.Close()
			b = buf.Bytes()
		}
		// Where restore would write each entry: always under root.
		const root = "/restore/root"
		sizes := map[string]int64{}
		m, err := readArchive(bytes.NewReader(b), func(e archiveEntry, body io.Reader) error {
			full := filepath.Join(root, filepath.FromSlash(e.Rel))
			if !strings.HasPrefix(full, root+"/") {
				t.Fatalf("entry %q accepted: it would be written at %s", e.Rel, full)
			}
			n, err := io.Copy(io.Discard, body)
			if e.Dir {
				n = -1
			}
			sizes[e.Rel] = n
			return err
		})
		if err != nil {
			return
		}
		for _, mf := range m.Files {
			if err := checkRel(mf.Path); err != nil {
				t.Fatalf("accepted a manifest path: %v", err)
			}
			want := mf.Size
			if mf.Dir {
				want = -1
			}
			if got, ok := sizes[mf.Path]; !ok || got != want {
				t.Fatalf("accepted %s (%d bytes in the manifest) but read %d bytes (%v)", mf.Path, mf.Size, got, ok)
			}
		}
		if len(sizes) != len(m.Files) {
			t.Fatalf("accepted %d entries, the manifest lists %d", len(sizes), len(m.Files))
		}
	})
}
