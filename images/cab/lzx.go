package cab

import (
	"encoding/binary"
	"fmt"
	"io"
)

// LZX as Microsoft Cabinets use it (the format libmspack's lzxd.c decodes,
// without the DELTA extensions): a bit stream of 16-bit little-endian words
// read most significant bit first, continuous across a folder's data blocks;
// output in frames of 32 KiB, one frame per data block, the input realigned
// to 16 bits after each frame; Intel E8 call translation applied to each
// frame's output after it is decoded.

const (
	lzxFrameSize     = 32768
	lzxNumChars      = 256
	lzxMinMatch      = 2
	lzxPretreeSyms   = 20
	lzxAlignedSyms   = 8
	lzxLengthSyms    = 249
	lzxMaxMainSyms   = lzxNumChars + 50*8
	lzxLenSafety     = 64 // pretree runs may write past the end, as in lzxd.c
	lzxMaxCodeLen    = 16
	lzxBlockVerbatim = 1
	lzxBlockAligned  = 2
	lzxBlockStored   = 3
	lzxE8Frames      = 32768 // E8 translation stops after 1 GiB
	lzxInputPadding  = 4     // zero bytes allowed past the end of the input
)

// lzxPositionSlots is the number of position slots per window size (bits).
var lzxPositionSlots = [22]int{15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50}

var lzxExtraBits, lzxPositionBase = lzxTables()

func lzxTables() (extra [51]uint8, base [51]uint32) {
	for i := range extra {
		if i >= 4 {
			extra[i] = uint8(min(i/2-1, 17))
		}
	}
	var b uint32
	for i := range base {
		base[i] = b
		b += 1 << extra[i]
	}
	return extra, base
}

type lzxDecoder struct {
	in      lzxBits
	window  []byte
	wpos    int   // next write position in window
	decoded int64 // bytes output so far, before the current frame
	frame   int
	numMain int

	r0, r1, r2   uint32
	headerRead   bool
	intelSize    int32
	intelStarted bool

	blockType   int
	blockLength int
	blockLeft   int

	mainLens   [lzxMaxMainSyms + lzxLenSafety]byte
	lengthLens [lzxLengthSyms + lzxLenSafety]byte
	alignLens  [lzxAlignedSyms]byte
	preLens    [lzxPretreeSyms]byte

	main, length, aligned, pre huffman
}

func newLZXDecoder(windowBits int) *lzxDecoder {
	return &lzxDecoder{
		window:  make([]byte, 1<<windowBits), // windowBits is checked at Open: 15..21
		numMain: lzxNumChars + lzxPositionSlots[windowBits]*8,
		r0:      1, r1: 1, r2: 1,
	}
}

func (d *lzxDecoder) decode(src *blockSource, out []byte) error {
	d.in.src = src
	if err := d.decodeFrame(out); err != nil {
		return invalidf("%s", blockMsg(src.folder, d.frame, "LZX: %v", err))
	}
	return nil
}

func (d *lzxDecoder) decodeFrame(out []byte) error {
	if !d.headerRead {
		d.headerRead = true
		intel, err := d.in.bits(1)
		if err != nil {
			return err
		}
		if intel == 1 {
			hi, err := d.in.bits(16)
			if err != nil {
				return err
			}
			lo, err := d.in.bits(16)
			if err != nil {
				return err
			}
			d.intelSize = int32(hi<<16 | lo)
		}
	}
	if d.wpos == len(d.window) {
		d.wpos = 0 // frames are 32 KiB and the window a multiple of that
	}
	start := d.wpos
	for todo := len(out); todo > 0; {
		if d.blockLeft == 0 {
			if err := d.readBlockHeader(); err != nil {
				return err
			}
			continue
		}
		run := min(d.blockLeft, todo)
		var err error
		if d.blockType == lzxBlockStored {
			err = d.copyStored(run)
		} else {
			err = d.decodeSymbols(run)
		}
		if err != nil {
			return err
		}
		d.blockLeft -= run
		todo -= run
	}
	copy(out, d.window[start:d.wpos])
	d.translateE8(out)
	d.decoded += int64(len(out))
	d.frame++
	d.in.alignWord()
	return nil
}

func (d *lzxDecoder) readBlockHeader() error {
	if d.blockType == lzxBlockStored && d.blockLength&1 == 1 {
		if _, err := d.in.rawByte(); err != nil { // pad byte after an odd stored block
			return err
		}
	}
	t, err := d.in.bits(3)
	if err != nil {
		return err
	}
	n, err := d.in.bits(24)
	if err != nil {
		return err
	}
	d.blockType, d.blockLength, d.blockLeft = int(t), int(n), int(n)
	switch d.blockType {
	case lzxBlockAligned:
		for i := range d.alignLens {
			l, err := d.in.bits(3)
			if err != nil {
				return err
			}
			d.alignLens[i] = byte(l)
		}
		if err := d.aligned.build(d.alignLens[:]); err != nil {
			return fmt.Errorf("aligned tree: %w", err)
		}
		fallthrough
	case lzxBlockVerbatim:
		return d.readTrees()
	case lzxBlockStored:
		d.intelStarted = true
		return d.readStoredHeader()
	}
	return fmt.Errorf("block type %d", t)
}

func (d *lzxDecoder) readTrees() error {
	if err := d.readLengths(d.mainLens[:], 0, lzxNumChars); err != nil {
		return err
	}
	if err := d.readLengths(d.mainLens[:], lzxNumChars, d.numMain); err != nil {
		return err
	}
	if err := d.main.build(d.mainLens[:d.numMain]); err != nil {
		return fmt.Errorf("main tree: %w", err)
	}
	if d.mainLens[0xe8] != 0 {
		d.intelStarted = true
	}
	if err := d.readLengths(d.lengthLens[:], 0, lzxLengthSyms); err != nil {
		return err
	}
	if err := d.length.build(d.lengthLens[:lzxLengthSyms]); err != nil {
		return fmt.Errorf("length tree: %w", err)
	}
	return nil
}

// readLengths updates lens[first:last] from a pretree-coded delta list.
func (d *lzxDecoder) readLengths(lens []byte, first, last int) error {
	for i := range d.preLens {
		l, err := d.in.bits(4)
		if err != nil {
			return err
		}
		d.preLens[i] = byte(l)
	}
	if err := d.pre.build(d.preLens[:]); err != nil {
		return fmt.Errorf("pretree: %w", err)
	}
	for x := first; x < last; {
		z, err := d.pre.decode(&d.in)
		if err != nil {
			return err
		}
		var run int
		var val byte
		switch z {
		case 17, 18:
			extra, add := uint(4), 4
			if z == 18 {
				extra, add = 5, 20
			}
			y, err := d.in.bits(extra)
			if err != nil {
				return err
			}
			run, val = int(y)+add, 0
		case 19:
			y, err := d.in.bits(1)
			if err != nil {
				return err
			}
			z, err := d.pre.decode(&d.in)
			if err != nil {
				return err
			}
			if z > 16 {
				return fmt.Errorf("pretree code %d after a run code", z)
			}
			run, val = int(y)+4, byte((int(lens[x])-z+17)%17)
		default:
			run, val = 1, byte((int(lens[x])-z+17)%17)
		}
		for ; run > 0; run-- {
			lens[x] = val // x < last + 51 <= len(lens): lengths carry lzxLenSafety
			x++
		}
	}
	return nil
}

func (d *lzxDecoder) readStoredHeader() error {
	if err := d.in.alignStored(); err != nil {
		return err
	}
	var rb [12]byte
	for i := range rb {
		b, err := d.in.rawByte()
		if err != nil {
			return err
		}
		rb[i] = b
	}
	d.r0 = binary.LittleEndian.Uint32(rb[0:])
	d.r1 = binary.LittleEndian.Uint32(rb[4:])
	d.r2 = binary.LittleEndian.Uint32(rb[8:])
	return nil
}

func (d *lzxDecoder) copyStored(run int) error {
	for i := range run {
		b, err := d.in.rawByte()
		if err != nil {
			return err
		}
		d.window[d.wpos+i] = b
	}
	d.wpos += run
	return nil
}

// decodeSymbols decodes exactly run bytes of a verbatim or aligned block.
// A match may cross neither the end of the block nor of the frame.
func (d *lzxDecoder) decodeSymbols(run int) error {
	frameStart := d.wpos - d.wpos%lzxFrameSize
	for run > 0 {
		sym, err := d.main.decode(&d.in)
		if err != nil {
			return err
		}
		if sym < lzxNumChars {
			d.window[d.wpos] = byte(sym)
			d.wpos++
			run--
			continue
		}
		sym -= lzxNumChars
		length := sym & 7
		if length == 7 {
			more, err := d.length.decode(&d.in)
			if err != nil {
				return err
			}
			length += more
		}
		length += lzxMinMatch
		off, err := d.matchOffset(sym >> 3)
		if err != nil {
			return err
		}
		if length > run {
			return fmt.Errorf("match of %d bytes runs past the block or frame (%d left)", length, run)
		}
		have := d.decoded + int64(d.wpos-frameStart)
		if off == 0 || int64(off) > have || int(off) > len(d.window) {
			return fmt.Errorf("match offset %d with %d bytes decoded", off, have)
		}
		d.copyMatch(int(off), length)
		run -= length
	}
	return nil
}

func (d *lzxDecoder) matchOffset(slot int) (uint32, error) {
	switch slot {
	case 0:
		return d.r0, nil
	case 1:
		d.r0, d.r1 = d.r1, d.r0
		return d.r0, nil
	case 2:
		d.r0, d.r2 = d.r2, d.r0
		return d.r0, nil
	}
	extra := uint(lzxExtraBits[slot])
	off := lzxPositionBase[slot] - 2
	switch {
	case d.blockType == lzxBlockAligned && extra >= 3:
		if extra > 3 {
			v, err := d.in.bits(extra - 3)
			if err != nil {
				return 0, err
			}
			off += v << 3
		}
		a, err := d.aligned.decode(&d.in)
		if err != nil {
			return 0, err
		}
		off += uint32(a)
	case extra > 0:
		v, err := d.in.bits(extra)
		if err != nil {
			return 0, err
		}
		off += v
	}
	d.r0, d.r1, d.r2 = off, d.r0, d.r1
	return off, nil
}

func (d *lzxDecoder) copyMatch(off, length int) {
	src := d.wpos - off
	if src >= 0 && src+length <= d.wpos {
		copy(d.window[d.wpos:d.wpos+length], d.window[src:])
		d.wpos += length
		return
	}
	mask := len(d.window) - 1
	for i := range length {
		d.window[d.wpos+i] = d.window[(src+i)&mask]
	}
	d.wpos += length
}

// translateE8 undoes the encoder's Intel call translation in one frame's
// output: not in the last 10 bytes of a frame, not after the first 1 GiB.
func (d *lzxDecoder) translateE8(out []byte) {
	if !d.intelStarted || d.intelSize == 0 || d.frame >= lzxE8Frames || len(out) <= 10 {
		return
	}
	cur := int32(d.decoded)
	for i := 0; i < len(out)-10; {
		if out[i] != 0xe8 {
			i++
			cur++
			continue
		}
		abs := int32(binary.LittleEndian.Uint32(out[i+1:]))
		if abs >= -cur && abs < d.intelSize {
			rel := abs - cur
			if abs < 0 {
				rel = abs + d.intelSize
			}
			binary.LittleEndian.PutUint32(out[i+1:], uint32(rel))
		}
		i += 5
		cur += 5
	}
}

// lzxBits reads the LZX bit stream from a folder's verified payloads.
type lzxBits struct {
	src     *blockSource
	cur     []byte // rest of the current payload
	acc     uint64 // bits not yet consumed are the low n bits
	n       uint
	pending []byte // whole words read ahead when a stored block began
	padded  int    // zero bytes supplied past the end of the input
}

func (b *lzxBits) byte() (byte, error) {
	for len(b.cur) == 0 {
		p, err := b.src.payload()
		if err == io.EOF {
			if b.padded < lzxInputPadding {
				b.padded++
				return 0, nil
			}
			return 0, fmt.Errorf("input ends early")
		}
		if err != nil {
			return 0, err
		}
		b.cur = p
	}
	c := b.cur[0]
	b.cur = b.cur[1:]
	return c, nil
}

func (b *lzxBits) fill(need uint) error {
	for b.n < need {
		lo, err := b.byte()
		if err != nil {
			return err
		}
		hi, err := b.byte()
		if err != nil {
			return err
		}
		b.acc = b.acc<<16 | uint64(hi)<<8 | uint64(lo)
		b.n += 16
	}
	return nil
}

func (b *lzxBits) peek(k uint) uint32 { return uint32(b.acc>>(b.n-k)) & (1<<k - 1) }

func (b *lzxBits) bits(k uint) (uint32, error) {
	if err := b.fill(k); err != nil {
		return 0, err
	}
	v := b.peek(k)
	b.n -= k
	return v, nil
}

// alignWord skips to the next 16-bit boundary (0-15 bits), as after a frame.
func (b *lzxBits) alignWord() { b.n -= b.n % 16 }

// alignStored skips the 1-16 bits that follow a stored block's header and
// gives back whole words already read, which are raw bytes now.
func (b *lzxBits) alignStored() error {
	if b.n%16 == 0 {
		if err := b.fill(16); err != nil {
			return err
		}
		b.n -= 16
	} else {
		b.n -= b.n % 16
	}
	for b.n >= 16 {
		w := b.peek(16)
		b.n -= 16
		b.pending = append(b.pending, byte(w), byte(w>>8))
	}
	return nil
}

func (b *lzxBits) rawByte() (byte, error) {
	if len(b.pending) > 0 {
		c := b.pending[0]
		b.pending = b.pending[1:]
		return c, nil
	}
	return b.byte()
}
