package cabtest

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// LZX block types.
const (
	Verbatim     = 1
	Aligned      = 2
	Uncompressed = 3
)

// LZXBlock is one block of the encoder's plan.
type LZXBlock struct {
	Type int
	Size int
}

// LZXOptions steer the encoder.
type LZXOptions struct {
	// Blocks is the block plan; data past it goes into one verbatim block.
	Blocks []LZXBlock
	// IntelFileSize, when nonzero, sets the Intel header bit and translates
	// E8 calls in the input so the decoder's translation restores them.
	IntelFileSize int32
	// NoMatches emits literals only.
	NoMatches bool
}

// LZXFrame is one data block's payload and how many bytes it decodes to.
type LZXFrame struct {
	Data         []byte
	Uncompressed int
}

const frameSize = 32768

var extraBits, positionBase = tables()

func tables() (extra [51]uint8, base [51]uint32) {
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

var slotsFor = map[int]int{15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50}

type token struct {
	lit    byte
	length int // 0: literal
	slot   int
	vbits  uint32 // offset + 2 - positionBase[slot], for slot >= 3
}

type lzxEncoder struct {
	data       []byte
	window     int
	numMain    int
	w          bitWriter
	cuts       []int
	r0, r1, r2 int
	prevMain   []byte
	prevLength []byte
	hash       map[uint32]int
	intel      bool
	noMatches  bool
}

// EncodeLZX compresses data as one LZX folder and cuts it into frames.
func EncodeLZX(data []byte, windowBits int, opt LZXOptions) []LZXFrame {
	if len(data) == 0 {
		return nil
	}
	e := &lzxEncoder{
		data:    data,
		window:  1 << windowBits,
		numMain: 256 + slotsFor[windowBits]*8,
		r0:      1, r1: 1, r2: 1,
		prevMain:   make([]byte, 256+50*8),
		prevLength: make([]byte, 249),
		hash:       map[uint32]int{},
		intel:      opt.IntelFileSize != 0,
		noMatches:  opt.NoMatches,
	}
	if e.intel {
		e.data = translateE8(data, opt.IntelFileSize)
		e.w.bits(1, 1)
		e.w.bits(uint32(opt.IntelFileSize)>>16, 16)
		e.w.bits(uint32(opt.IntelFileSize)&0xffff, 16)
	} else {
		e.w.bits(0, 1)
	}
	pos := 0
	plan := append([]LZXBlock(nil), opt.Blocks...)
	for _, b := range plan {
		n := min(b.Size, len(data)-pos)
		if n <= 0 {
			break
		}
		e.block(b.Type, pos, pos+n)
		pos += n
	}
	if pos < len(data) {
		e.block(Verbatim, pos, len(data))
	}
	e.w.align()
	e.cuts = append(e.cuts, len(e.w.out))
	var frames []LZXFrame
	prev := 0
	for i, cut := range e.cuts {
		n := min(frameSize, len(data)-i*frameSize)
		frames = append(frames, LZXFrame{Data: e.w.out[prev:cut], Uncompressed: n})
		if cut-prev > 65535 {
			panic(fmt.Sprintf("cabtest: LZX frame %d compressed to %d bytes", i, cut-prev))
		}
		prev = cut
	}
	if len(frames) != (len(data)+frameSize-1)/frameSize {
		panic(fmt.Sprintf("cabtest: %d frames for %d bytes", len(frames), len(data)))
	}
	return frames
}

// frameDone aligns (unless raw) and records a cut when pos ends a frame.
func (e *lzxEncoder) frameDone(pos int, raw bool) {
	if pos%frameSize != 0 || pos == len(e.data) {
		return // the last frame is cut after the final alignment
	}
	if !raw {
		e.w.align()
	}
	e.cuts = append(e.cuts, len(e.w.out))
}

func (e *lzxEncoder) block(typ, start, end int) {
	e.w.bits(uint32(typ), 3)
	e.w.bits(uint32(end-start), 24)
	if typ == Uncompressed {
		e.stored(start, end)
		return
	}
	toks := e.tokens(start, end)
	mainFreq := make([]int, e.numMain)
	lenFreq := make([]int, 249)
	alignFreq := make([]int, 8)
	for _, t := range toks {
		if t.length == 0 {
			mainFreq[t.lit]++
			continue
		}
		mainFreq[256+t.slot*8+min(t.length-2, 7)]++
		if t.length-2 >= 7 {
			lenFreq[t.length-9]++
		}
		if typ == Aligned && t.slot >= 3 && extraBits[t.slot] >= 3 {
			alignFreq[t.vbits&7]++
		}
	}
	if e.intel && mainFreq[0xe8] == 0 {
		mainFreq[0xe8] = 1 // starts the decoder's E8 translation
	}
	ensureTwo(mainFreq)
	ensureTwo(alignFreq)
	if used(lenFreq) == 1 {
		ensureTwo(lenFreq)
	}
	mainLens := huffLengths(mainFreq, 16)
	lenLens := huffLengths(lenFreq, 16)
	var alignLens []byte
	if typ == Aligned {
		alignLens = huffLengths(alignFreq, 7)
		for _, l := range alignLens {
			e.w.bits(uint32(l), 3)
		}
	}
	e.writeLengths(e.prevMain, mainLens, 0, 256)
	e.writeLengths(e.prevMain, mainLens, 256, e.numMain)
	e.writeLengths(e.prevLength, lenLens, 0, 249)
	mainCodes := canonical(mainLens)
	lenCodes := canonical(lenLens)
	alignCodes := canonical(alignLens)
	pos := start
	for _, t := range toks {
		if t.length == 0 {
			e.w.bits(mainCodes[t.lit], uint(mainLens[t.lit]))
			pos++
			e.frameDone(pos, false)
			continue
		}
		sym := 256 + t.slot*8 + min(t.length-2, 7)
		e.w.bits(mainCodes[sym], uint(mainLens[sym]))
		if t.length-2 >= 7 {
			e.w.bits(lenCodes[t.length-9], uint(lenLens[t.length-9]))
		}
		if t.slot >= 3 {
			extra := uint(extraBits[t.slot])
			if typ == Aligned && extra >= 3 {
				e.w.bits(t.vbits>>3, extra-3)
				e.w.bits(alignCodes[t.vbits&7], uint(alignLens[t.vbits&7]))
			} else if extra > 0 {
				e.w.bits(t.vbits, extra)
			}
		}
		pos += t.length
		e.frameDone(pos, false)
	}
}

func (e *lzxEncoder) stored(start, end int) {
	if e.w.n == 0 {
		e.w.bits(0, 16)
	} else {
		e.w.align()
	}
	var r [12]byte
	binary.LittleEndian.PutUint32(r[0:], uint32(e.r0))
	binary.LittleEndian.PutUint32(r[4:], uint32(e.r1))
	binary.LittleEndian.PutUint32(r[8:], uint32(e.r2))
	e.w.raw(r[:]...)
	for pos := start; pos < end; pos++ {
		e.w.raw(e.data[pos])
		e.index(pos)
		e.frameDone(pos+1, true)
	}
	if (end-start)&1 == 1 {
		e.w.raw(0)
	}
}

func (e *lzxEncoder) key(pos int) (uint32, bool) {
	if pos+3 > len(e.data) {
		return 0, false
	}
	return uint32(e.data[pos]) | uint32(e.data[pos+1])<<8 | uint32(e.data[pos+2])<<16, true
}

func (e *lzxEncoder) index(pos int) {
	if k, ok := e.key(pos); ok {
		e.hash[k] = pos
	}
}

func (e *lzxEncoder) matchLen(pos, off, limit int) int {
	if off <= 0 || off > pos || off > e.window-3 {
		return 0
	}
	n := 0
	for n < limit && e.data[pos+n] == e.data[pos+n-off] {
		n++
	}
	return n
}

// tokens greedily parses data[start:end]; no match crosses the block's end
// or a frame boundary.
func (e *lzxEncoder) tokens(start, end int) []token {
	var toks []token
	for pos := start; pos < end; {
		limit := min(end, (pos/frameSize+1)*frameSize, pos+257) - pos
		best, bestOff := 0, 0
		if !e.noMatches && limit >= 2 {
			for _, off := range []int{e.r0, e.r1, e.r2} {
				if n := e.matchLen(pos, off, limit); n >= 2 && n > best {
					best, bestOff = n, off
				}
			}
			if k, ok := e.key(pos); ok {
				if cand, ok := e.hash[k]; ok {
					if n := e.matchLen(pos, pos-cand, limit); n >= 3 && n > best+1 {
						best, bestOff = n, pos-cand
					}
				}
			}
		}
		if best == 0 {
			toks = append(toks, token{lit: e.data[pos]})
			e.index(pos)
			pos++
			continue
		}
		toks = append(toks, e.match(best, bestOff))
		for i := range best {
			e.index(pos + i)
		}
		pos += best
	}
	return toks
}

// match encodes one match and updates the repeated offsets as the decoder will.
func (e *lzxEncoder) match(length, off int) token {
	t := token{length: length}
	switch off {
	case e.r0:
		t.slot = 0
	case e.r1:
		t.slot = 1
		e.r0, e.r1 = e.r1, e.r0
	case e.r2:
		t.slot = 2
		e.r0, e.r2 = e.r2, e.r0
	default:
		f := uint32(off + 2)
		s := 3
		for s+1 < len(positionBase) && positionBase[s+1] <= f {
			s++
		}
		t.slot, t.vbits = s, f-positionBase[s]
		e.r0, e.r1, e.r2 = off, e.r0, e.r1
	}
	return t
}

// writeLengths codes lens[first:last] as pretree deltas from prev, and
// makes them prev for the next block.
func (e *lzxEncoder) writeLengths(prev, lens []byte, first, last int) {
	type ptok struct {
		sym, extra int
		bits       uint
		sym2       int
	}
	var toks []ptok
	freq := make([]int, 20)
	delta := func(x int, v byte) int { return (int(prev[x]) - int(v) + 17) % 17 }
	for x := first; x < last; {
		run := 1
		for x+run < last && lens[x+run] == lens[x] {
			run++
		}
		switch {
		case lens[x] == 0 && run >= 20:
			run = min(run, 51)
			toks = append(toks, ptok{sym: 18, extra: run - 20, bits: 5, sym2: -1})
		case lens[x] == 0 && run >= 4:
			run = min(run, 19)
			toks = append(toks, ptok{sym: 17, extra: run - 4, bits: 4, sym2: -1})
		case run >= 4:
			run = min(run, 5)
			toks = append(toks, ptok{sym: 19, extra: run - 4, bits: 1, sym2: delta(x, lens[x])})
		default:
			run = 1
			toks = append(toks, ptok{sym: delta(x, lens[x]), sym2: -1})
		}
		t := toks[len(toks)-1]
		freq[t.sym]++
		if t.sym2 >= 0 {
			freq[t.sym2]++
		}
		x += run
	}
	ensureTwo(freq)
	preLens := huffLengths(freq, 15)
	codes := canonical(preLens)
	for _, l := range preLens {
		e.w.bits(uint32(l), 4)
	}
	for _, t := range toks {
		e.w.bits(codes[t.sym], uint(preLens[t.sym]))
		if t.bits > 0 {
			e.w.bits(uint32(t.extra), t.bits)
		}
		if t.sym2 >= 0 {
			e.w.bits(codes[t.sym2], uint(preLens[t.sym2]))
		}
	}
	copy(prev[first:last], lens[first:last])
}

// translateE8 is the encoder's half of Intel E8 translation: relative call
// targets become absolute, per 32 KiB frame, not in a frame's last 10 bytes.
func translateE8(in []byte, size int32) []byte {
	out := append([]byte(nil), in...)
	for f := 0; f*frameSize < len(out) && f < 32768; f++ {
		frame := out[f*frameSize : min(len(out), (f+1)*frameSize)]
		if len(frame) <= 10 {
			continue
		}
		for i := 0; i < len(frame)-10; {
			if frame[i] != 0xe8 {
				i++
				continue
			}
			cur := int32(f*frameSize + i)
			rel := int32(binary.LittleEndian.Uint32(frame[i+1:]))
			if rel >= -cur && rel < size {
				abs := rel + cur
				if rel >= size-cur {
					abs = rel - size
				}
				binary.LittleEndian.PutUint32(frame[i+1:], uint32(abs))
			}
			i += 5
		}
	}
	return out
}

func used(freq []int) int {
	n := 0
	for _, f := range freq {
		if f > 0 {
			n++
		}
	}
	return n
}

// ensureTwo gives a tree at least two symbols so its code is complete.
func ensureTwo(freq []int) {
	for i := 0; used(freq) < 2 && i < len(freq); i++ {
		if freq[i] == 0 {
			freq[i] = 1
		}
	}
}

// huffLengths returns Huffman code lengths of at most maxLen bits.
func huffLengths(freq []int, maxLen int) []byte {
	f := append([]int(nil), freq...)
	for {
		lens := huffman(f)
		longest := byte(0)
		for _, l := range lens {
			longest = max(longest, l)
		}
		if int(longest) <= maxLen {
			return lens
		}
		for i := range f {
			if f[i] > 0 {
				f[i] = (f[i] + 1) / 2
			}
		}
	}
}

func huffman(freq []int) []byte {
	type node struct {
		w      int
		parent int
	}
	var nodes []node
	var live []int
	leaf := map[int]int{}
	for s, w := range freq {
		if w > 0 {
			leaf[s] = len(nodes)
			live = append(live, len(nodes))
			nodes = append(nodes, node{w, -1})
		}
	}
	for len(live) > 1 {
		sort.Slice(live, func(i, j int) bool { return nodes[live[i]].w < nodes[live[j]].w })
		a, b := live[0], live[1]
		nodes = append(nodes, node{nodes[a].w + nodes[b].w, -1})
		nodes[a].parent, nodes[b].parent = len(nodes)-1, len(nodes)-1
		live = append(live[2:], len(nodes)-1)
	}
	lens := make([]byte, len(freq))
	for s, n := range leaf {
		d := 0
		for p := nodes[n].parent; p >= 0; p = nodes[p].parent {
			d++
		}
		lens[s] = byte(d)
	}
	return lens
}

// canonical assigns codes: by length, then by symbol.
func canonical(lens []byte) []uint32 {
	var count [17]uint32
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [17]uint32
	code := uint32(0)
	for l := 1; l <= 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes := make([]uint32, len(lens))
	for s, l := range lens {
		if l > 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes
}

// bitWriter writes 16-bit little-endian words, most significant bit first.
type bitWriter struct {
	out []byte
	acc uint32
	n   uint
}

func (w *bitWriter) bits(v uint32, k uint) {
	for k > 0 {
		take := min(k, 16-w.n)
		w.acc = w.acc<<take | (v>>(k-take))&(1<<take-1)
		w.n += take
		k -= take
		if w.n == 16 {
			w.out = append(w.out, byte(w.acc), byte(w.acc>>8))
			w.acc, w.n = 0, 0
		}
	}
}

func (w *bitWriter) align() {
	if w.n > 0 {
		w.bits(0, 16-w.n)
	}
}

func (w *bitWriter) raw(b ...byte) {
	if w.n != 0 {
		panic("cabtest: raw bytes off a word boundary")
	}
	w.out = append(w.out, b...)
}
