package cab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Cabinet is an opened cabinet: its file list, checked against its folders
// and the Limits. Its files can be read concurrently.
type Cabinet struct {
	// Files in the order of the cabinet's file table.
	Files []*File
	// Size is cbCabinet: the cabinet's length in bytes from its start.
	Size int64

	r       io.ReaderAt
	reserve uint8 // cbCFData: reserved bytes in each CFDATA header
	folders []folder

	mu   sync.Mutex
	idle map[int]*folderReader // one parked reader per folder, for sequential opens
}

// File is one file of a cabinet.
type File struct {
	// Name as stored, decoded to UTF-8 (Latin-1 unless the UTF-8 attribute
	// is set). Separators are left as they are, usually backslashes.
	Name       string
	Size       int64
	Modified   time.Time // the DOS date and time, read as UTC
	Attributes uint16
	// Folder is the index of the folder holding the file, Offset its
	// position in the folder's uncompressed stream.
	Folder int
	Offset int64

	cab *Cabinet
}

// File attributes.
const (
	AttrReadOnly = 0x01
	AttrHidden   = 0x02
	AttrSystem   = 0x04
	AttrArchive  = 0x20
	AttrExec     = 0x40
	AttrNameUTF8 = 0x80
)

// folder is CFFOLDER with its data blocks, walked at Open.
type folder struct {
	comp   uint16 // typeCompress
	count  int    // cCFData
	start  int64  // coffCabStart
	end    int64  // end of its last data block
	blocks []block
	size   int64 // sum of cbUncomp
}

// block is one CFDATA: where its header is and what it declares.
type block struct {
	off      uint32 // offset of the CFDATA header in the cabinet
	csum     uint32
	cbData   uint16
	cbUncomp uint16
}

// region is a byte range of the cabinet that one structure owns.
type region struct {
	start, end int64
	what       string
}

// Open reads and checks a cabinet that starts at offset 0 of r, of which
// size bytes are available. The cabinet may be shorter than size (trailing
// bytes are ignored; Size says where it ends) but not longer.
func Open(r io.ReaderAt, size int64, lim Limits) (*Cabinet, error) {
	lim = lim.withDefaults()
	var hb [headerSize]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		if size < headerSize || errors.Is(err, io.EOF) {
			return nil, invalidf("%d bytes are too short for a cabinet header", size)
		}
		return nil, fmt.Errorf("cabinet: reading header: %w", err)
	}
	h := parseHeader(&hb)
	if err := h.check(&hb, size); err != nil {
		return nil, err
	}
	if h.flags&(flagPrevCabinet|flagNextCabinet) != 0 {
		return nil, unsupportedf("cabinet is part of a set spanning several files (flags %#04x)", h.flags)
	}
	if int(h.cFiles) > lim.MaxFiles {
		return nil, tooLargef("%d files, more than the limit of %d", h.cFiles, lim.MaxFiles)
	}
	c := &Cabinet{Size: int64(h.cbCabinet), r: r}
	p := &parser{r: io.NewSectionReader(r, 0, c.Size), size: c.Size}
	p.seek(headerSize)
	regions, err := c.readTables(p, h)
	if err != nil {
		return nil, err
	}
	var total int64
	for i := range c.folders {
		if err := c.walkBlocks(i, lim, &total); err != nil {
			return nil, err
		}
		f := &c.folders[i]
		regions = append(regions, region{f.start, f.end, fmt.Sprintf("folder %d's data", i)})
	}
	if err := checkOverlaps(regions); err != nil {
		return nil, err
	}
	if err := c.checkFiles(lim); err != nil {
		return nil, err
	}
	return c, nil
}

// readTables reads the reserve fields, the folder table and the file table,
// and returns the regions they occupy.
func (c *Cabinet) readTables(p *parser, h header) ([]region, error) {
	if h.flags&flagReservePresent != 0 {
		var rb [4]byte
		if err := p.full(rb[:], "reserve sizes"); err != nil {
			return nil, err
		}
		cbCFHeader := binary.LittleEndian.Uint16(rb[:])
		if cbCFHeader > maxHeaderReserve {
			return nil, invalidf("header reserve of %d bytes, more than %d", cbCFHeader, maxHeaderReserve)
		}
		c.reserve = rb[3]
		if err := p.skip(int64(cbCFHeader), "header reserve"); err != nil {
			return nil, err
		}
		p.folderReserve = rb[2]
	}
	entry := int64(folderEntrySize) + int64(p.folderReserve)
	if p.off+int64(h.cFolders)*entry > int64(h.coffFiles) {
		return nil, invalidf("%d folder entries run past coffFiles %d", h.cFolders, h.coffFiles)
	}
	c.folders = make([]folder, h.cFolders) // at most 65535, and they fit in the cabinet
	for i := range c.folders {
		var fb [folderEntrySize]byte
		if err := p.full(fb[:], "folder table"); err != nil {
			return nil, err
		}
		if err := p.skip(int64(p.folderReserve), "folder reserve"); err != nil {
			return nil, err
		}
		f := &c.folders[i]
		f.start = int64(binary.LittleEndian.Uint32(fb[:]))
		f.count = int(binary.LittleEndian.Uint16(fb[4:]))
		f.comp = binary.LittleEndian.Uint16(fb[6:])
		if err := checkCompression(i, f.comp); err != nil {
			return nil, err
		}
	}
	regions := []region{{0, p.off, "header and folder table"}}
	p.seek(int64(h.coffFiles))
	c.Files = make([]*File, 0, h.cFiles) // bounded by MaxFiles and by the bytes
	for range h.cFiles {
		f, err := c.readFileEntry(p)
		if err != nil {
			return nil, err
		}
		c.Files = append(c.Files, f)
	}
	return append(regions, region{int64(h.coffFiles), p.off, "file table"}), nil
}

func checkCompression(i int, comp uint16) error {
	switch comp & compMask {
	case compNone, compMSZIP:
		if comp&^compMask != 0 {
			return invalidf("folder %d: compression type %#04x has unknown bits", i, comp)
		}
	case compLZX:
		if w := comp >> 8; w < 15 || w > 21 || comp&0x00f0 != 0 {
			return invalidf("folder %d: LZX window of 2^%d bytes, want 2^15 to 2^21", i, w)
		}
	case compQuantum:
		return unsupportedf("folder %d uses Quantum compression", i)
	default:
		return invalidf("folder %d: unknown compression type %#04x", i, comp)
	}
	return nil
}

// readFileEntry reads one CFFILE and its NUL-terminated name.
func (c *Cabinet) readFileEntry(p *parser) (*File, error) {
	var fb [fileEntrySize]byte
	if err := p.full(fb[:], "file table"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	f := &File{
		Size:       int64(le.Uint32(fb[0:])),
		Offset:     int64(le.Uint32(fb[4:])),
		Folder:     int(le.Uint16(fb[8:])),
		Modified:   dosTime(le.Uint16(fb[10:]), le.Uint16(fb[12:])),
		Attributes: le.Uint16(fb[14:]),
		cab:        c,
	}
	raw, err := p.cstring(maxNameLen)
	if err != nil {
		return nil, err
	}
	if f.Name, err = decodeName(raw, f.Attributes&AttrNameUTF8 != 0); err != nil {
		return nil, err
	}
	if f.Folder >= 0xfffd {
		return nil, unsupportedf("file %q continues from or into another cabinet", f.Name)
	}
	if f.Folder >= len(c.folders) {
		return nil, invalidf("file %q is in folder %d, but there are %d", f.Name, f.Folder, len(c.folders))
	}
	return f, nil
}

func decodeName(raw []byte, isUTF8 bool) (string, error) {
	if len(raw) == 0 {
		return "", invalidf("a file has an empty name")
	}
	if isUTF8 {
		if !utf8.Valid(raw) {
			return "", invalidf("file name %q is marked UTF-8 but is not", raw)
		}
		return string(raw), nil
	}
	rs := make([]rune, len(raw))
	for i, b := range raw {
		rs[i] = rune(b) // Latin-1: the code page is not recorded
	}
	return string(rs), nil
}

func dosTime(d, t uint16) time.Time {
	return time.Date(int(d>>9)+1980, time.Month(d>>5&0x0f), int(d&0x1f),
		int(t>>11), int(t>>5&0x3f), int(t&0x1f)*2, 0, time.UTC)
}

// walkBlocks reads the CFDATA headers of folder i, checks them and the
// running totals against the limits.
func (c *Cabinet) walkBlocks(i int, lim Limits, total *int64) error {
	f := &c.folders[i]
	count := f.count
	if f.start < headerSize || f.start > c.Size {
		return invalidf("folder %d: data offset %d is outside the cabinet (%d bytes)", i, f.start, c.Size)
	}
	off := f.start
	var hb [dataHeaderSize]byte
	for n := range count {
		if off+dataHeaderSize+int64(c.reserve) > c.Size {
			return invalidf("folder %d: data block %d of %d starts past the end of the cabinet", i, n, count)
		}
		if _, err := c.r.ReadAt(hb[:], off); err != nil {
			return fmt.Errorf("cabinet: folder %d: reading data block %d: %w", i, n, err)
		}
		b := block{
			off:      uint32(off),
			csum:     binary.LittleEndian.Uint32(hb[0:]),
			cbData:   binary.LittleEndian.Uint16(hb[4:]),
			cbUncomp: binary.LittleEndian.Uint16(hb[6:]),
		}
		if err := checkBlock(i, n, count, f.comp, b); err != nil {
			return err
		}
		off += dataHeaderSize + int64(c.reserve) + int64(b.cbData)
		if off > c.Size {
			return invalidf("folder %d: data block %d runs past the end of the cabinet", i, n)
		}
		f.blocks = append(f.blocks, b) // at most one per 8 bytes of the cabinet
		f.size += int64(b.cbUncomp)
		*total += int64(b.cbUncomp)
		if err := c.checkTotal(lim, *total); err != nil {
			return err
		}
	}
	f.end = off
	return nil
}

func checkBlock(i, n, count int, comp uint16, b block) error {
	switch {
	case b.cbUncomp == 0:
		return unsupportedf("folder %d: data block %d continues into another cabinet", i, n)
	case b.cbUncomp > maxBlockOut:
		return invalidf("folder %d: data block %d declares %d bytes, more than %d", i, n, b.cbUncomp, maxBlockOut)
	case comp&compMask == compNone && b.cbData != b.cbUncomp:
		return invalidf("folder %d: stored data block %d has %d bytes but declares %d", i, n, b.cbData, b.cbUncomp)
	case comp&compMask == compLZX && n < count-1 && b.cbUncomp != maxBlockOut:
		return invalidf("folder %d: LZX data block %d declares %d bytes; every block but the last must hold 32768", i, n, b.cbUncomp)
	}
	return nil
}

// checkTotal checks the folders' uncompressed bytes so far against the
// total and the expansion ratio.
func (c *Cabinet) checkTotal(lim Limits, total int64) error {
	if total > lim.MaxTotalSize {
		return tooLargef("folders expand to more than %d bytes (limit %d MiB)", lim.MaxTotalSize, lim.MaxTotalSize>>20)
	}
	if float64(total) > lim.MaxRatio*float64(c.Size) {
		return tooLargef("folders expand to at least %d bytes from a %d-byte cabinet, more than %g times (a decompression bomb?)", total, c.Size, lim.MaxRatio)
	}
	return nil
}

func checkOverlaps(all []region) error {
	var rs []region
	for _, r := range all {
		if r.end > r.start {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i := 1; i < len(rs); i++ {
		if rs[i].start < rs[i-1].end {
			return invalidf("%s (from %d) overlaps %s (%d to %d)", rs[i].what, rs[i].start, rs[i-1].what, rs[i-1].start, rs[i-1].end)
		}
	}
	return nil
}

// checkFiles checks every file's range and size against its folder and the
// limits.
func (c *Cabinet) checkFiles(lim Limits) error {
	var total int64
	for _, f := range c.Files {
		if f.Size > lim.MaxFileSize {
			return tooLargef("file %q is %d bytes, more than the limit of %d MiB", f.Name, f.Size, lim.MaxFileSize>>20)
		}
		if fs := c.folders[f.Folder].size; f.Offset+f.Size > fs {
			return invalidf("file %q (%d bytes at %d) runs past the end of folder %d (%d bytes)", f.Name, f.Size, f.Offset, f.Folder, fs)
		}
		if total += f.Size; total > lim.MaxTotalSize {
			return tooLargef("files add up to more than the limit of %d MiB", lim.MaxTotalSize>>20)
		}
	}
	return nil
}

// parser reads the cabinet's tables sequentially through a small buffer.
type parser struct {
	r             *io.SectionReader
	size          int64
	off           int64
	br            *bufio.Reader
	folderReserve uint8
}

func (p *parser) seek(off int64) {
	p.off = off
	p.br = bufio.NewReaderSize(io.NewSectionReader(p.r, off, p.size-off), 4096)
}

func (p *parser) full(b []byte, what string) error {
	n, err := io.ReadFull(p.br, b)
	p.off += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidf("%s runs past the end of the cabinet", what)
	}
	if err != nil {
		return fmt.Errorf("cabinet: reading %s: %w", what, err)
	}
	return nil
}

func (p *parser) skip(n int64, what string) error {
	if n > p.size-p.off {
		return invalidf("%s runs past the end of the cabinet", what)
	}
	d, err := p.br.Discard(int(n))
	p.off += int64(d)
	if err != nil {
		return invalidf("%s runs past the end of the cabinet", what)
	}
	return nil
}

// cstring reads a NUL-terminated string of at most max bytes.
func (p *parser) cstring(max int) ([]byte, error) {
	var out []byte
	for len(out) <= max {
		b, err := p.br.ReadByte()
		if err != nil {
			return nil, invalidf("file name runs past the end of the cabinet")
		}
		p.off++
		if b == 0 {
			return out, nil
		}
		out = append(out, b)
	}
	return nil, invalidf("file name %q… is longer than %d bytes", out[:32], max)
}
