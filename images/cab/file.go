package cab

import (
	"errors"
	"fmt"
	"io"
)

// Open returns a reader of the file's content. It reads exactly f.Size
// bytes and then io.EOF; every byte it returns came from data blocks whose
// checksums matched and that decoded to their declared size. Any other
// error (ErrChecksum, ErrInvalid, or the io.ReaderAt's) means the file is
// bad: discard what was read.
//
// Opening the files of a folder in the order of their offsets decodes the
// folder once; any other order works but decodes again from the folder's
// start.
func (f *File) Open() (io.ReadCloser, error) {
	c := f.cab
	c.mu.Lock()
	fr := c.idle[f.Folder]
	if fr != nil && fr.off <= f.Offset && fr.err == nil {
		delete(c.idle, f.Folder)
	} else {
		fr = nil
	}
	c.mu.Unlock()
	if fr == nil {
		fr = newFolderReader(c, f.Folder)
	}
	if err := fr.skip(f.Offset - fr.off); err != nil {
		return nil, f.wrap(err)
	}
	return &fileReader{f: f, fr: fr, left: f.Size}, nil
}

// fileReader is one file's window on its folder's stream.
type fileReader struct {
	f    *File
	fr   *folderReader
	left int64
	err  error
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.fr.read(p)
	r.left -= int64(n)
	if err != nil {
		r.err = r.f.wrap(err)
		return n, r.err
	}
	return n, nil
}

// Close parks the folder reader for the next file of the folder.
func (r *fileReader) Close() error {
	if r.fr == nil {
		return nil
	}
	fr := r.fr
	r.fr, r.err = nil, errClosed
	if fr.err == nil {
		c := r.f.cab
		c.mu.Lock()
		if c.idle == nil {
			c.idle = map[int]*folderReader{}
		}
		c.idle[r.f.Folder] = fr
		c.mu.Unlock()
	}
	return nil
}

var errClosed = errors.New("cabinet: read after Close")

// wrap names the file in an error; content errors keep their kinds.
func (f *File) wrap(err error) error {
	var ce *contentError
	if errors.As(err, &ce) {
		return &contentError{ce.kind, fmt.Sprintf("file %q: %s", f.Name, ce.msg)}
	}
	return fmt.Errorf("cabinet: file %q: %w", f.Name, err)
}

// readError is an error of the underlying io.ReaderAt while reading a block.
type readError struct {
	folder, block int
	err           error
}

func (e *readError) Error() string {
	return fmt.Sprintf("folder %d: reading data block %d: %v", e.folder, e.block, e.err)
}

func (e *readError) Unwrap() error { return e.err }

func blockMsg(folder, block int, format string, args ...any) string {
	return fmt.Sprintf("folder %d, data block %d: ", folder, block) + fmt.Sprintf(format, args...)
}
