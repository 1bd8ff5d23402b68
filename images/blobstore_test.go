package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBlobStorePutOpenDedupe(t *testing.T) {
	dir := t.TempDir()
	bs, err := OpenBlobStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("tanjay"), 10000)
	sum, size, created, err := bs.Put(bytes.NewReader(data))
	if err != nil || !created {
		t.Fatal(created, err)
	}
	want := sha256.Sum256(data)
	if sum != hex.EncodeToString(want[:]) || size != int64(len(data)) {
		t.Fatalf("Put = %s %d", sum, size)
	}
	if _, _, created, err := bs.Put(bytes.NewReader(data)); err != nil || created {
		t.Fatalf("second Put: created %v, err %v", created, err)
	}
	f, err := bs.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	// Only the blob is left: no temp files, one copy.
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("files in store: %v", files)
	}
	if _, err := bs.Open("../../etc/passwd"); err == nil {
		t.Fatal("Open accepted a path")
	}
}

func TestBlobStoreSweep(t *testing.T) {
	dir := t.TempDir()
	bs, _ := OpenBlobStore(dir)
	keepSum, _, _, _ := bs.Put(bytes.NewReader([]byte("referenced")))
	dropSum, _, _, _ := bs.Put(bytes.NewReader([]byte("left by an import that never landed")))
	if err := os.WriteFile(filepath.Join(dir, tempPrefix+"123"), []byte("half a blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := bs.Sweep(func(sum string) bool { return sum == keepSum })
	if err != nil || n != 2 {
		t.Fatalf("Sweep removed %d, err %v; want 2", n, err)
	}
	if !bs.Has(keepSum) || bs.Has(dropSum) {
		t.Errorf("after sweep: kept %v, dropped one still there %v", bs.Has(keepSum), bs.Has(dropSum))
	}
	if _, err := os.Stat(filepath.Join(dir, tempPrefix+"123")); !os.IsNotExist(err) {
		t.Errorf("temp file survived the sweep: %v", err)
	}
}
