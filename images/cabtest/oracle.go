package cabtest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Cabextract extracts raw with Debian's cabextract (libmspack), the oracle
// the reader is checked against, and returns the files keyed by
// slash-separated path. It skips the test when cabextract is missing.
func Cabextract(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	if _, err := exec.LookPath("cabextract"); err != nil {
		t.Skip("cabextract is not installed (apt-get install cabextract); the oracle check is skipped")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.cab")
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if b, err := exec.Command("cabextract", "-q", "-d", out, in).CombinedOutput(); err != nil {
		t.Fatalf("cabextract: %v\n%s", err, b)
	}
	got := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(out, p)
		got[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Gcab builds a cabinet with GNOME's `gcab -c` (MSZIP with zip, stored
// without) from files written under a temporary directory. It skips the
// test when gcab is missing.
func Gcab(t testing.TB, files []File, zip bool) []byte {
	t.Helper()
	if _, err := exec.LookPath("gcab"); err != nil {
		t.Skip("gcab is not installed (apt-get install gcab); gcab-made fixtures are skipped")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	out := filepath.Join(dir, "out.cab")
	args := []string{"-c"}
	if zip {
		args = append(args, "-z")
	}
	args = append(args, out)
	for _, f := range files {
		rel := filepath.Join(strings.Split(f.Name, `\`)...)
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, rel)
	}
	cmd := exec.Command("gcab", args...)
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcab: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
