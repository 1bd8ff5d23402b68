package cab

import (
	"errors"
	"io"
)

// maxBlockIn is the most one CFDATA can occupy: header, reserve, data.
const maxBlockIn = dataHeaderSize + 255 + 65535

// blockSource hands out the payloads of one folder's data blocks, each
// checked against its checksum before anyone sees a byte of it.
type blockSource struct {
	c      *Cabinet
	folder int
	next   int // index of the next block to read
	buf    []byte
}

// payload reads block src.next, verifies it and returns its data; the slice
// is valid until the next call. At the end of the folder it returns io.EOF.
func (s *blockSource) payload() ([]byte, error) {
	f := &s.c.folders[s.folder]
	if s.next >= len(f.blocks) {
		return nil, io.EOF
	}
	b := f.blocks[s.next]
	n := dataHeaderSize + int(s.c.reserve) + int(b.cbData)
	if s.buf == nil {
		s.buf = make([]byte, maxBlockIn) // fixed: never sized from a header
	}
	raw := s.buf[:n]
	if _, err := s.c.r.ReadAt(raw, int64(b.off)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, invalidf("folder %d: data block %d is truncated", s.folder, s.next)
		}
		return nil, &readError{s.folder, s.next, err}
	}
	data := raw[dataHeaderSize+int(s.c.reserve):]
	if b.csum != 0 { // 0: "no checksum" (MS-CAB CFDATA.csum)
		if got, ok := blockChecksumOK(b.csum, data, raw[4:dataHeaderSize+int(s.c.reserve)]); !ok {
			return nil, &contentError{ErrChecksum, blockMsg(s.folder, s.next,
				"checksum %#08x does not match the header's %#08x", got, b.csum)}
		}
	}
	s.next++
	return data, nil
}

// decoder turns a folder's verified payloads into its uncompressed stream,
// one block at a time.
type decoder interface {
	// decode fills out, whose length is the block's cbUncomp, pulling the
	// payloads it needs from src.
	decode(src *blockSource, out []byte) error
}

// folderReader is the uncompressed stream of one folder.
type folderReader struct {
	src   blockSource
	dec   decoder
	out   []byte // the current block's output
	pos   int    // next unread byte of out
	block int    // index of the block out holds, -1 before the first
	off   int64  // folder offset of out[pos]
	err   error  // sticky
}

func newFolderReader(c *Cabinet, i int) *folderReader {
	f := &c.folders[i]
	fr := &folderReader{src: blockSource{c: c, folder: i}, block: -1}
	switch f.comp & compMask {
	case compNone:
		fr.dec = storedDecoder{}
	case compMSZIP:
		fr.dec = &mszipDecoder{}
	case compLZX:
		fr.dec = newLZXDecoder(int(f.comp >> 8))
	}
	return fr
}

// fill decodes the next block; io.EOF at the end of the folder.
func (fr *folderReader) fill() error {
	f := &fr.src.c.folders[fr.src.folder]
	if fr.block+1 >= len(f.blocks) {
		return io.EOF
	}
	fr.block++
	if fr.out == nil {
		fr.out = make([]byte, maxBlockOut)
	}
	fr.out = fr.out[:f.blocks[fr.block].cbUncomp]
	fr.pos = 0
	if err := fr.dec.decode(&fr.src, fr.out); err != nil {
		return err
	}
	return nil
}

// read copies the next bytes of the folder's stream into p.
func (fr *folderReader) read(p []byte) (int, error) {
	if fr.err != nil {
		return 0, fr.err
	}
	for fr.pos == len(fr.out) {
		if err := fr.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // files never pass the end of their folder
			}
			fr.err = err
			return 0, err
		}
	}
	n := copy(p, fr.out[fr.pos:])
	fr.pos += n
	fr.off += int64(n)
	return n, nil
}

// skip discards n bytes.
func (fr *folderReader) skip(n int64) error {
	for n > 0 {
		if fr.pos == len(fr.out) {
			if _, err := fr.read(nil); err != nil {
				return err
			}
			continue
		}
		k := min(n, int64(len(fr.out)-fr.pos))
		fr.pos += int(k)
		fr.off += k
		n -= k
	}
	return nil
}

// storedDecoder copies stored blocks (cbData == cbUncomp, checked at Open).
type storedDecoder struct{}

func (storedDecoder) decode(src *blockSource, out []byte) error {
	data, err := src.payload()
	if err != nil {
		return eofIsTruncation(src, err)
	}
	copy(out, data)
	return nil
}

func eofIsTruncation(src *blockSource, err error) error {
	if err == io.EOF {
		return invalidf("folder %d: data ends before its declared size", src.folder)
	}
	return err
}
