package pkg

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// got is an Update as tests compare it: identity and file contents.
type got struct {
	Key     string
	Version string
	Interim bool
	Files   map[string]string // served name -> cabinet path
	Origin  Origin
	Desc    string
}

func summarize(t *testing.T, p *Package) []got {
	t.Helper()
	var out []got
	for _, u := range p.Updates {
		g := got{Key: u.Key().String(), Version: u.Version.String(), Interim: u.Interim,
			Files: map[string]string{}, Origin: u.Origin, Desc: u.Description}
		for _, f := range u.Files {
			g.Files[f.Name] = f.Path
		}
		out = append(out, g)
	}
	return out
}

// contents reads every file of every update: cabinet path -> bytes.
func contents(t *testing.T, p *Package) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, u := range p.Updates {
		for _, f := range u.Files {
			b, err := readFile(f)
			if err != nil {
				t.Fatalf("%s: %v", f.Path, err)
			}
			if int64(len(b)) != f.Size {
				t.Fatalf("%s: %d bytes, Size says %d", f.Path, len(b), f.Size)
			}
			out[f.Path] = b
		}
	}
	return out
}

func readFile(f PackageFile) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// checkContents compares what the package delivered with the inputs,
// cabinet paths written with backslashes in the inputs.
func checkContents(t *testing.T, p *Package, files []cabtest.File) {
	t.Helper()
	have := contents(t, p)
	for _, f := range files {
		path := string(bytes.ReplaceAll([]byte(f.Name), []byte(`\`), []byte("/")))
		if b, ok := have[path]; ok && !bytes.Equal(b, f.Data) {
			t.Errorf("%s: content differs from the input", path)
		}
	}
}

func openPkg(raw []byte, name string, hints Hints) (*Package, error) {
	return Open(bytes.NewReader(raw), int64(len(raw)), name, Limits{}, hints)
}

// exe wraps a cabinet in an MZ/PE-shaped prefix and trailing bytes, as a
// self-extracting executable holds it in its overlay.
func exe(cab []byte) []byte {
	stub := cabtest.Random(50000, 21)
	copy(stub, "MZ\x90\x00")
	binary.LittleEndian.PutUint32(stub[0x3c:], 0x80)
	copy(stub[0x80:], "PE\x00\x00")
	copy(stub[0x1000:], "MSCF but not a header")
	out := append(stub, cab...)
	return append(out, cabtest.Random(7000, 22)...)
}

func dp(s string) *images.DevicePath {
	p, err := images.ParseDevicePath(s)
	if err != nil {
		panic(err)
	}
	return &p
}

func ver(s string) *images.Version {
	v := images.MustParseVersion(s)
	return &v
}
