package cab

import (
	"errors"
	"fmt"
)

// huffman is a canonical Huffman code decoded by one table lookup of
// maxLen bits. Codes are assigned in order of length, then of symbol, and
// read most significant bit first.
type huffman struct {
	lens   []byte
	maxLen uint
	table  []uint16 // symbol for every maxLen-bit prefix
	empty  bool
}

var errEmptyTree = errors.New("symbol from an empty tree")

// build makes the table for lens. A complete code is required, except that
// all lengths zero is an empty code (LZX allows it for the length tree).
func (h *huffman) build(lens []byte) error {
	var count [lzxMaxCodeLen + 1]int
	maxLen := uint(0)
	for _, l := range lens {
		if l > lzxMaxCodeLen {
			return fmt.Errorf("code length %d", l)
		}
		count[l]++
		maxLen = max(maxLen, uint(l))
	}
	h.lens, h.maxLen, h.empty = lens, maxLen, maxLen == 0
	if h.empty {
		return nil
	}
	// Kraft sum in units of 2^-maxLen must be exactly 1.
	var kraft int
	for l := uint(1); l <= maxLen; l++ {
		kraft += count[l] << (maxLen - l)
	}
	if kraft != 1<<maxLen {
		return errors.New("code lengths do not form a complete prefix code")
	}
	if cap(h.table) < 1<<maxLen {
		h.table = make([]uint16, 1<<maxLen) // at most 2^16 entries, whatever the stream says
	}
	h.table = h.table[:1<<maxLen]
	var next [lzxMaxCodeLen + 2]int
	code := 0
	for l := uint(1); l <= maxLen; l++ {
		next[l] = code << (maxLen - l)
		code = (code + count[l]) << 1
	}
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		span := 1 << (maxLen - uint(l))
		at := next[l]
		for i := at; i < at+span; i++ {
			h.table[i] = uint16(sym)
		}
		next[l] += span
	}
	return nil
}

func (h *huffman) decode(b *lzxBits) (int, error) {
	if h.empty {
		return 0, errEmptyTree
	}
	if err := b.fill(h.maxLen); err != nil {
		return 0, err
	}
	sym := h.table[b.peek(h.maxLen)]
	b.n -= uint(h.lens[sym])
	return int(sym), nil
}
