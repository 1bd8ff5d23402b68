// Package cab reads Microsoft Cabinet files (MS-CAB) from untrusted input:
// the UCUpdates.cab that vendors ship phone firmware in, and cabinets
// embedded in self-extracting executables (Find).
//
// It reads stored, MSZIP and LZX folders, any number of folders per
// cabinet, and streams each file without ever sizing a buffer from a header
// field. What it checks, and where:
//
//   - Open: the header (signature MSCF, version 1.3, reserved fields zero,
//     cbCabinet within the bytes given, coffFiles and every folder's data
//     inside the cabinet, no two tables or folders overlapping), every
//     folder's data blocks (sizes, compression type, LZX window), every
//     file's range inside its folder, and the Limits: per-file size, total
//     size and expansion ratio, computed from the block headers before a
//     single byte is decompressed.
//   - File.Open and Read: each data block's checksum (MS-CAB CSUMCompute;
//     0 means "no checksum", as the specification says) before any of its
//     bytes is decoded, and that each block decodes to exactly the size its
//     header declares. A reader returns io.EOF only after the last byte of
//     its file came from blocks that passed both checks.
//
// Cabinet sets that span several files, Quantum compression and LZX
// DELTA are refused (ErrUnsupported): Microsoft's phone firmware packages
// use none of them.
//
// Why not github.com/secDre4mer/go-cab alone: it verifies block checksums
// only when a block is read to its end (so the last block of a file is
// usually never checked) and skips verification whenever the running sum is
// zero; it returns a short file without an error when the folder ends
// early; it checks no header field beyond signature and version; and its
// LZX decoder (github.com/secDre4mer/lzx) applies Intel E8 translation
// across frame boundaries, skips the frame realignment when a block ends on
// a frame boundary, keeps uncompressed blocks out of the window, rejects
// an empty length tree and panics on a window below 2^15. This package
// keeps MSZIP on the standard library's compress/flate and has its own LZX
// decoder, checked against cabextract (libmspack) in the tests; go-cab is
// used there as a second, independent reader.
package cab
