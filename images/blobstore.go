package images

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// Put copies r into the store and returns its SHA-256 and size, and whether
// this call created the blob. A blob that is already there is not written
// again.
func (b *BlobStore) Put(r io.Reader) (sum string, size int64, created bool, err error) {
	tmp, err := os.CreateTemp(b.dir, tempPrefix+"*")
	if err != nil {
		return "", 0, false, fmt.Errorf("blob store: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	// Writes of PutWriteSize whatever pieces r hands over, each at a
	// multiple of it (bufio.Writer flushes only a full buffer, and the
	// last piece); r's own errors, a truncated upload's included, come
	// back as they are.
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), PutWriteSize)
	if size, err = io.Copy(bw, r); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("blob store: writing: %w", err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	final := b.Path(sum)
	if _, err := os.Stat(final); err == nil {
		return sum, size, false, nil // dedupe: the temp file is removed by the defer
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, false, fmt.Errorf("blob store: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, false, fmt.Errorf("blob store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", 0, false, fmt.Errorf("blob store: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, false, fmt.Errorf("blob store: %w", err)
	}
	tmp = nil
	return sum, size, true, syncDir(filepath.Dir(final))
}

// tempPrefix starts the names of blobs being written.
const tempPrefix = ".put-"

// PutWriteSize is the size of the writes Put makes, whatever pieces its
// reader hands it (a multipart upload arrives in a few KiB at a time). The
// kernel gives a file's page cache folios the size of the writes that
// filled it (ext4 since Linux 6.16, XFS, up to 2 MiB): a blob written 4 KiB
// at a time stays cached in 4 KiB pages, and every download of it costs
// the kernel's sendfile up to twice the CPU per MiB that sending the same
// bytes from 1 MiB folios does.
const PutWriteSize = 1 << 20

// Remove deletes a blob; a missing one is not an error.
func (b *BlobStore) Remove(sum string) error {
	if !isHexSum(sum) {
		return fmt.Errorf("blob %q: not a SHA-256", sum)
	}
	if err := os.Remove(b.Path(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob store: %w", err)
	}
	return nil
}

// Sweep removes what an interrupted import left: temp files of unfinished
// writes, and blobs for which keep returns false (written by an import that
// never landed). Call it only while no import runs, e.g. at start under the
// data directory's lock. It returns how many files it removed.
func (b *BlobStore) Sweep(keep func(sum string) bool) (int, error) {
	var removed int
	err := filepath.WalkDir(b.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, tempPrefix) || isHexSum(name) && !keep(name) {
			if err := os.Remove(p); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("blob store: sweep: %w", err)
	}
	return removed, nil
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
