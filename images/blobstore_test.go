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
	sum, size, err := bs.Put(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if sum != hex.EncodeToString(want[:]) || size != int64(len(data)) {
		t.Fatalf("Put = %s %d", sum, size)
	}
	if _, _, err := bs.Put(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
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
