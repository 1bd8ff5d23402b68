package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
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

// TestBlobStorePutPieces stores data handed over in every shape of pieces
// (Put writes it in PutWriteSize writes whatever the pieces are): the blob
// is the data, whole.
func TestBlobStorePutPieces(t *testing.T) {
	big := make([]byte, 2*PutWriteSize+PutWriteSize/2+7)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	for _, tc := range []struct {
		name string
		data []byte
		wrap func(io.Reader) io.Reader
	}{
		{"empty", nil, nil},
		{"one byte", []byte("x"), nil},
		{"one write exactly", big[:PutWriteSize], nil},
		{"one write and a byte", big[:PutWriteSize+1], nil},
		{"one byte at a time", big, iotest.OneByteReader},
		{"half of what is asked", big, iotest.HalfReader},
		{"last piece with EOF", big, iotest.DataErrReader},
		{"4 KiB pieces, as multipart hands them", big, func(r io.Reader) io.Reader { return &pieceReader{r, 4096} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs, err := OpenBlobStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader = bytes.NewReader(tc.data)
			if tc.wrap != nil {
				r = tc.wrap(r)
			}
			sum, size, created, err := bs.Put(r)
			if err != nil || !created {
				t.Fatalf("Put: created %v, err %v", created, err)
			}
			want := sha256.Sum256(tc.data)
			if sum != hex.EncodeToString(want[:]) || size != int64(len(tc.data)) {
				t.Fatalf("Put = %s, %d bytes; want %x, %d", sum, size, want, len(tc.data))
			}
			got, err := os.ReadFile(bs.Path(sum))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("the blob holds %d bytes that differ from the %d put", len(got), len(tc.data))
			}
		})
	}
}

// TestBlobStorePutReaderError: a reader that fails, even with
// io.ErrUnexpectedEOF (a truncated multipart upload), fails the Put and
// leaves nothing behind, whether it fails in the first write's piece or a
// later one.
func TestBlobStorePutReaderError(t *testing.T) {
	data := bytes.Repeat([]byte("firmware"), PutWriteSize/8*2+100)
	for _, tc := range []struct {
		name  string
		after int
		err   error
	}{
		{"truncated upload at once", 0, io.ErrUnexpectedEOF},
		{"truncated upload in the first write", 1000, io.ErrUnexpectedEOF},
		{"truncated upload after two writes", len(data), io.ErrUnexpectedEOF},
		{"reader error in the second write's piece", PutWriteSize + 5, errors.New("input/output error")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bs, err := OpenBlobStore(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := io.MultiReader(bytes.NewReader(data[:tc.after]), iotest.ErrReader(tc.err))
			if _, _, _, err := bs.Put(r); !errors.Is(err, tc.err) {
				t.Fatalf("Put = %v, want %v", err, tc.err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) != 0 {
				t.Fatalf("left in the store: %v (%v)", entries, err)
			}
		})
	}
}

// pieceReader hands at most n bytes per Read, as the multipart reader of
// an import does (it reads through a 4 KiB buffer).
type pieceReader struct {
	r io.Reader
	n int
}

func (p *pieceReader) Read(b []byte) (int, error) { return p.r.Read(b[:min(len(b), p.n)]) }
