package cabtest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
)

// Compression of a folder.
type Compression int

// Compressions.
const (
	Stored Compression = iota
	MSZIP
	LZX
)

// Folder describes one folder: how its data is compressed.
type Folder struct {
	Compression Compression
	// LZXWindow is the LZX window in bits (15-21); 0 means 16.
	LZXWindow int
	LZX       LZXOptions
	// BlockSize splits stored and MSZIP data; 0 means 32768.
	BlockSize int
}

// File is one file; its data goes into Folder in the order files are given.
type File struct {
	Name   string
	Data   []byte
	Folder int
	Attrs  uint16
}

// Cabinet is what Build writes.
type Cabinet struct {
	Folders []Folder // none: one stored folder
	Files   []File
	// Reserve areas (the reserve flag is set when any is nonzero).
	ReserveHeader, ReserveFolder, ReserveData int
	// NoChecksums writes 0 ("no checksum") in every data block.
	NoChecksums bool
	// ChecksumSkipsReserve leaves the data blocks' reserve areas out of
	// their checksums, as libmspack (cabextract) computes them; by default
	// they are included, as the specification says.
	ChecksumSkipsReserve bool
	SetID                uint16
}

// Block is where Build put one data block.
type Block struct {
	Folder, Index    int
	Header, Data     int // offsets in the cabinet
	CbData, CbUncomp int
}

// Layout tells tests where things are, to break them on purpose.
type Layout struct {
	FolderTable int // offset of the first CFFOLDER
	FileTable   int // coffFiles
	Files       []int
	Blocks      []Block
}

type payload struct {
	data   []byte
	uncomp int
}

// Build writes the cabinet.
func (c Cabinet) Build() ([]byte, Layout) {
	folders := c.Folders
	if len(folders) == 0 {
		folders = []Folder{{}}
	}
	streams := make([][]byte, len(folders))
	offsets := make([]int, len(c.Files))
	for i, f := range c.Files {
		offsets[i] = len(streams[f.Folder])
		streams[f.Folder] = append(streams[f.Folder], f.Data...)
	}
	blocks := make([][]payload, len(folders))
	for i, f := range folders {
		blocks[i] = f.compress(streams[i])
	}

	reserve := c.ReserveHeader > 0 || c.ReserveFolder > 0 || c.ReserveData > 0
	var lay Layout
	size := 36
	if reserve {
		size += 4 + c.ReserveHeader
	}
	lay.FolderTable = size
	size += len(folders) * (8 + c.ReserveFolder)
	lay.FileTable = size
	for _, f := range c.Files {
		lay.Files = append(lay.Files, size)
		size += 16 + len(f.Name) + 1
	}
	dataStart := make([]int, len(folders))
	for i := range folders {
		dataStart[i] = size
		for j, p := range blocks[i] {
			lay.Blocks = append(lay.Blocks, Block{Folder: i, Index: j, Header: size,
				Data: size + 8 + c.ReserveData, CbData: len(p.data), CbUncomp: p.uncomp})
			size += 8 + c.ReserveData + len(p.data)
		}
	}

	var b bytes.Buffer
	le := binary.LittleEndian
	w16 := func(v int) { b.Write(le.AppendUint16(nil, uint16(v))) }
	w32 := func(v int) { b.Write(le.AppendUint32(nil, uint32(v))) }
	b.WriteString("MSCF")
	w32(0)
	w32(size)
	w32(0)
	w32(lay.FileTable)
	w32(0)
	b.Write([]byte{3, 1})
	w16(len(folders))
	w16(len(c.Files))
	flags := 0
	if reserve {
		flags |= 4
	}
	w16(flags)
	w16(int(c.SetID))
	w16(0)
	if reserve {
		w16(c.ReserveHeader)
		b.Write([]byte{byte(c.ReserveFolder), byte(c.ReserveData)})
		b.Write(bytes.Repeat([]byte{0xa5}, c.ReserveHeader))
	}
	for i, f := range folders {
		w32(dataStart[i])
		w16(len(blocks[i]))
		w16(f.typeCompress())
		b.Write(bytes.Repeat([]byte{0x5a}, c.ReserveFolder))
	}
	for i, f := range c.Files {
		w32(len(f.Data))
		w32(offsets[i])
		w16(f.Folder)
		w16(0x5b3c) // 2025-09-28
		w16(0x6000) // 12:00:00
		w16(int(f.Attrs))
		b.WriteString(f.Name)
		b.WriteByte(0)
	}
	for i := range folders {
		for _, p := range blocks[i] {
			hdr := make([]byte, 8+c.ReserveData)
			le.PutUint16(hdr[4:], uint16(len(p.data)))
			le.PutUint16(hdr[6:], uint16(p.uncomp))
			for k := 8; k < len(hdr); k++ {
				hdr[k] = 0xc3
			}
			covered := hdr[4:]
			if c.ChecksumSkipsReserve {
				covered = hdr[4:8]
			}
			if !c.NoChecksums {
				le.PutUint32(hdr, Checksum(covered, Checksum(p.data, 0)))
			}
			b.Write(hdr)
			b.Write(p.data)
		}
	}
	if b.Len() != size {
		panic(fmt.Sprintf("cabtest: wrote %d bytes, planned %d", b.Len(), size))
	}
	return b.Bytes(), lay
}

func (f Folder) window() int {
	if f.LZXWindow == 0 {
		return 16
	}
	return f.LZXWindow
}

func (f Folder) typeCompress() int {
	switch f.Compression {
	case MSZIP:
		return 1
	case LZX:
		return 3 | f.window()<<8
	}
	return 0
}

func (f Folder) compress(data []byte) []payload {
	if f.Compression == LZX {
		var out []payload
		for _, fr := range EncodeLZX(data, f.window(), f.LZX) {
			out = append(out, payload{fr.Data, fr.Uncompressed})
		}
		return out
	}
	size := f.BlockSize
	if size == 0 {
		size = 32768
	}
	var out []payload
	var dict []byte
	for len(data) > 0 {
		n := min(size, len(data))
		chunk := data[:n]
		data = data[n:]
		if f.Compression == Stored {
			out = append(out, payload{chunk, n})
			continue
		}
		var z bytes.Buffer
		z.WriteString("CK")
		zw, err := flate.NewWriterDict(&z, flate.BestCompression, dict)
		if err != nil {
			panic(err)
		}
		zw.Write(chunk)
		zw.Close()
		out = append(out, payload{z.Bytes(), n})
		dict = append(dict, chunk...)
		if len(dict) > 32768 {
			dict = dict[len(dict)-32768:]
		}
	}
	return out
}

// Checksum is CSUMCompute as the MS-CAB specification writes it, byte by
// byte, independent of the reader's faster version.
func Checksum(p []byte, seed uint32) uint32 {
	csum := seed
	for len(p) >= 4 {
		csum ^= uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
		p = p[4:]
	}
	var ul uint32
	switch len(p) {
	case 3:
		ul = uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
	case 2:
		ul = uint32(p[0])<<8 | uint32(p[1])
	case 1:
		ul = uint32(p[0])
	}
	return csum ^ ul
}
