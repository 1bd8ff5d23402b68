package cab

import "encoding/binary"

// Signature starts every cabinet.
const Signature = "MSCF"

// Sizes and caps from the MS-CAB specification.
const (
	headerSize       = 36
	folderEntrySize  = 8
	fileEntrySize    = 16
	dataHeaderSize   = 8
	maxHeaderReserve = 60000
	maxNameLen       = 256   // CB_MAX_FILENAME, without the terminating NUL
	maxBlockOut      = 32768 // cbUncomp of one CFDATA block
)

// Header flags.
const (
	flagPrevCabinet    = 0x0001
	flagNextCabinet    = 0x0002
	flagReservePresent = 0x0004
)

// Compression types (typeCompress; LZX keeps the window bits in bits 8-12).
const (
	compNone    = 0
	compMSZIP   = 1
	compQuantum = 2
	compLZX     = 3
	compMask    = 0x000f
)

// header is CFHEADER.
type header struct {
	reserved1, cbCabinet, reserved2, coffFiles, reserved3 uint32
	minor, major                                          uint8
	cFolders, cFiles, flags, setID, iCabinet              uint16
}

func parseHeader(b *[headerSize]byte) header {
	le := binary.LittleEndian
	return header{
		reserved1: le.Uint32(b[4:]),
		cbCabinet: le.Uint32(b[8:]),
		reserved2: le.Uint32(b[12:]),
		coffFiles: le.Uint32(b[16:]),
		reserved3: le.Uint32(b[20:]),
		minor:     b[24],
		major:     b[25],
		cFolders:  le.Uint16(b[26:]),
		cFiles:    le.Uint16(b[28:]),
		flags:     le.Uint16(b[30:]),
		setID:     le.Uint16(b[32:]),
		iCabinet:  le.Uint16(b[34:]),
	}
}

// check reports the first inconsistency of a header found avail bytes
// before the end of the input. It is what makes an "MSCF" inside an
// executable count as a cabinet.
func (h header) check(b *[headerSize]byte, avail int64) error {
	switch {
	case string(b[:4]) != Signature:
		return invalidf("no MSCF signature")
	case h.major != 1 || h.minor != 3:
		return invalidf("version %d.%d, want 1.3", h.major, h.minor)
	case h.reserved1 != 0 || h.reserved2 != 0 || h.reserved3 != 0:
		return invalidf("reserved header fields are not zero")
	case h.flags&^(flagPrevCabinet|flagNextCabinet|flagReservePresent) != 0:
		return invalidf("unknown header flags %#04x", h.flags)
	case h.cbCabinet < headerSize:
		return invalidf("cbCabinet %d is smaller than the header", h.cbCabinet)
	case int64(h.cbCabinet) > avail:
		return invalidf("header says %d bytes but only %d are there (truncated?)", h.cbCabinet, avail)
	case h.coffFiles < headerSize || h.coffFiles > h.cbCabinet:
		return invalidf("coffFiles %d is outside the cabinet (%d bytes)", h.coffFiles, h.cbCabinet)
	case h.cFiles > 0 && h.cFolders == 0:
		return invalidf("%d files but no folder", h.cFiles)
	case int64(h.cFiles)*(fileEntrySize+2) > int64(h.cbCabinet-h.coffFiles):
		return invalidf("%d files cannot fit in %d bytes after coffFiles", h.cFiles, h.cbCabinet-h.coffFiles)
	}
	return nil
}
