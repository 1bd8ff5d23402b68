// Package cabtest writes Microsoft Cabinet files for tests: stored, MSZIP
// and LZX folders, several folders per cabinet, reserve areas, and the
// deliberately broken cabinets the reader must refuse (bad checksums,
// hostile names, bombs). Its LZX encoder emits verbatim, aligned-offset and
// uncompressed blocks, with optional Intel E8 translation, so the reader's
// decoder can be checked against cabextract.
//
// It is imported only by tests; nothing here is meant for production use.
package cabtest
