package images

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// BlobStore keeps files content-addressed by SHA-256 under one directory
// (<data>/blobs/ab/abcdef…). Writes go to a temp file, are fsynced and
// renamed into place, so a blob is either whole or absent.
type BlobStore struct {
	dir string
}

// OpenBlobStore creates dir if needed.
func OpenBlobStore(dir string) (*BlobStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	return &BlobStore{dir: dir}, nil
}

// Path is where the blob with that hex SHA-256 lives (whether or not it does).
func (b *BlobStore) Path(sum string) string {
	if len(sum) < 2 {
		return filepath.Join(b.dir, "_", sum)
	}
	return filepath.Join(b.dir, sum[:2], sum)
}

// Has reports whether the blob exists.
func (b *BlobStore) Has(sum string) bool {
	_, err := os.Stat(b.Path(sum))
	return err == nil
}

// Open opens a blob for reading.
func (b *BlobStore) Open(sum string) (*os.File, error) {
	if !isHexSum(sum) {
		return nil, fmt.Errorf("blob %q: not a SHA-256", sum)
	}
	return os.Open(b.Path(sum))
}

// Put copies r into the store and returns its SHA-256 and size. A blob that
// is already there is not written again.
func (b *BlobStore) Put(r io.Reader) (sum string, size int64, err error) {
	tmp, err := os.CreateTemp(b.dir, ".put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob store: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return "", 0, fmt.Errorf("blob store: writing: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	final := b.Path(sum)
	if _, err := os.Stat(final); err == nil {
		return sum, size, nil // dedupe: the temp file is removed by the defer
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("blob store: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("blob store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", 0, fmt.Errorf("blob store: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("blob store: %w", err)
	}
	tmp = nil
	return sum, size, syncDir(filepath.Dir(final))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("blob store: fsync %s: %w", dir, err)
	}
	return nil
}

func isHexSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
