package images

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// TestBlobStorePutLargeFolios: a blob put from a reader that hands 4 KiB
// pieces (as the multipart reader of an import does) is cached in large
// page-cache folios, as a file written in large writes is, not in 4 KiB
// pages, which cost sendfile up to twice the CPU per MiB (issue 14). It
// needs root (/proc/kpageflags) and a kernel and filesystem that cache
// large writes in large folios (ext4 since Linux 6.16, XFS), and skips
// otherwise.
func TestBlobStorePutLargeFolios(t *testing.T) {
	const size = 4 * PutWriteSize
	dir := t.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	ref := filepath.Join(dir, "reference")
	if err := os.WriteFile(ref, data, 0o644); err != nil { // one write
		t.Fatal(err)
	}
	refShape, err := readFolioShape(ref)
	if err != nil {
		t.Skipf("cannot read the page cache's folios: %v", err)
	}
	if refShape.large*2 < refShape.pages {
		t.Skipf("this kernel or filesystem (under %s) cached a file written in one write in small pages (%s): there is no folio shape for Put to match", dir, refShape)
	}
	bs, err := OpenBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	sum, _, _, err := bs.Put(&pieceReader{bytes.NewReader(data), 4096})
	if err != nil {
		t.Fatal(err)
	}
	shape, err := readFolioShape(bs.Path(sum))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one write: %s; Put from 4 KiB pieces: %s", refShape, shape)
	if shape.large*2 < refShape.large {
		t.Errorf("Put from 4 KiB pieces left the blob in %s; the same bytes written at once: %s", shape, refShape)
	}
}

// folioShape is how a file's page cache is made up.
type folioShape struct {
	pages  int // 4 KiB pages of the file
	large  int // of them, in folios larger than a page
	folios int // large folios
}

func (s folioShape) String() string {
	return fmt.Sprintf("%d of %d pages in %d large folios", s.large, s.pages, s.folios)
}

// The bits of /proc/kpageflags that mark the pages of a large folio
// (Documentation/admin-guide/mm/pagemap.rst).
const (
	kpfCompoundHead = 1 << 15
	kpfCompoundTail = 1 << 16
)

// readFolioShape maps the file, touches every page (the page cache's own
// pages get mapped), and reads each page's frame from /proc/self/pagemap
// and its flags from /proc/kpageflags. Both need CAP_SYS_ADMIN; without
// it pagemap reads frame 0, and readFolioShape says so.
func readFolioShape(path string) (folioShape, error) {
	var s folioShape
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return s, fmt.Errorf("%s: empty or unreadable (%v)", path, err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return s, fmt.Errorf("mmap %s: %w", path, err)
	}
	defer syscall.Munmap(m)
	page := os.Getpagesize()
	var touch byte
	for i := 0; i < len(m); i += page {
		touch += m[i]
	}
	s.pages = (len(m) + page - 1) / page
	entries := make([]byte, 8*s.pages)
	if err := readProc("/proc/self/pagemap", entries, int64(uintptr(unsafe.Pointer(&m[0]))/uintptr(page)*8)); err != nil {
		return s, err
	}
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		return s, err
	}
	defer kf.Close()
	for i := range s.pages {
		frame := binary.LittleEndian.Uint64(entries[8*i:]) & (1<<55 - 1)
		if frame == 0 {
			return s, errors.New("/proc/self/pagemap hides page frames (no CAP_SYS_ADMIN)")
		}
		var flags [8]byte
		if _, err := kf.ReadAt(flags[:], int64(frame)*8); err != nil {
			return s, fmt.Errorf("/proc/kpageflags: %w", err)
		}
		switch fl := binary.LittleEndian.Uint64(flags[:]); {
		case fl&kpfCompoundHead != 0:
			s.large++
			s.folios++
		case fl&kpfCompoundTail != 0:
			s.large++
		}
	}
	runtime.KeepAlive(touch) // the loads that touched the pages stay
	return s, nil
}

func readProc(path string, buf []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
