package cabtest

import "math/rand/v2"

// Text returns n bytes of deterministic text-like data with many repeats,
// which LZX and MSZIP compress well.
func Text(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"tanjay", "phone", "firmware", "CPE.nbt", "UCPhone", "Polycom", "CX700",
		"LG-Nortel", "IP8540", "update", "interim", "1.0.522.103", "3.5.6907.37", "\r\n", " ", " ", "  "}
	out := make([]byte, 0, n)
	for len(out) < n {
		if r.IntN(10) == 0 && len(out) > 64 { // copy an earlier stretch
			start := r.IntN(len(out) - 32)
			l := 3 + r.IntN(300)
			for i := 0; i < l && len(out) < n; i++ {
				out = append(out, out[start+i%(len(out)-start)])
			}
			continue
		}
		w := words[r.IntN(len(words))]
		out = append(out, w[:min(len(w), n-len(out))]...)
	}
	return out
}

// Random returns n bytes of deterministic noise, which does not compress.
func Random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

// Calls returns n bytes that look like x86 code: E8 call opcodes with
// small relative targets everywhere, also in the last bytes of frames,
// where LZX must leave them alone.
func Calls(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 3))
	out := Text(n, seed)
	for i := 0; i+5 <= n; i += 1 + r.IntN(40) {
		out[i] = 0xe8
		rel := int32(r.IntN(1<<16)) - 1<<15
		out[i+1], out[i+2], out[i+3], out[i+4] = byte(rel), byte(rel>>8), byte(rel>>16), byte(rel>>24)
	}
	for f := 32768; f < n; f += 32768 { // calls straddling frame ends
		for _, back := range []int{11, 10, 6, 3, 1} {
			if f-back >= 0 && f-back < n {
				out[f-back] = 0xe8
			}
		}
	}
	return out
}
