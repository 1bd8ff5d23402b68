package cab

import "encoding/binary"

// checksum is CSUMCompute from the MS-CAB specification: the XOR of the
// little-endian 32-bit words of p, then of the 0-3 remaining bytes taken
// most significant first, starting from seed.
func checksum(p []byte, seed uint32) uint32 {
	var wide uint64
	for len(p) >= 32 {
		wide ^= binary.LittleEndian.Uint64(p) ^ binary.LittleEndian.Uint64(p[8:]) ^
			binary.LittleEndian.Uint64(p[16:]) ^ binary.LittleEndian.Uint64(p[24:])
		p = p[32:]
	}
	for len(p) >= 8 {
		wide ^= binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	csum := seed ^ uint32(wide) ^ uint32(wide>>32)
	if len(p) >= 4 {
		csum ^= binary.LittleEndian.Uint32(p)
		p = p[4:]
	}
	var ul uint32
	for _, b := range p {
		ul = ul<<8 | uint32(b)
	}
	return csum ^ ul
}

// blockChecksumOK reports whether a CFDATA header's csum matches: computed
// over the data, then over the header fields after csum. The specification
// includes the block's reserve area (abReserve) in that; libmspack
// (cabextract) leaves it out. Cabinets with a per-block reserve are rare, so
// both are accepted.
func blockChecksumOK(want uint32, data, headerRest []byte) (uint32, bool) {
	sum := checksum(data, 0)
	withReserve := checksum(headerRest, sum)
	return withReserve, withReserve == want || checksum(headerRest[:4], sum) == want
}
