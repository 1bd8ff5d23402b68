package cab

import "fmt"

// Limits guard against decompression bombs. They are checked against the
// header fields before anything is decompressed; since every file is
// delivered at exactly its declared size and every block decodes to exactly
// its declared size (or fails), the headers bound the work too.
type Limits struct {
	// MaxFileSize caps one file. Default 1 GiB (a CX700 image is about
	// 30 MiB).
	MaxFileSize int64
	// MaxTotalSize caps both the sum of all files' sizes and the sum of all
	// folders' uncompressed sizes. Default 4 GiB.
	MaxTotalSize int64
	// MaxRatio caps the expansion: the folders' uncompressed bytes divided
	// by the cabinet's bytes. Default 200; firmware images compress poorly
	// (a ratio near 1), while MSZIP can reach about 1000 and LZX more.
	MaxRatio float64
	// MaxFiles caps the number of files in the cabinet. Default 10,000.
	MaxFiles int
}

// Defaults of Limits.
const (
	DefaultMaxFileSize  = 1 << 30
	DefaultMaxTotalSize = 4 << 30
	DefaultMaxRatio     = 200
	DefaultMaxFiles     = 10000
)

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxFileSize:  DefaultMaxFileSize,
		MaxTotalSize: DefaultMaxTotalSize,
		MaxRatio:     DefaultMaxRatio,
		MaxFiles:     DefaultMaxFiles,
	}
}

// withDefaults fills every zero or negative field with its default, so a
// zero Limits is never "unlimited".
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = d.MaxTotalSize
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	return l
}

// String is for messages: "1024 MiB per file, 4096 MiB in total, ratio 200, 10000 files".
func (l Limits) String() string {
	return fmt.Sprintf("%d MiB per file, %d MiB in total, expansion ratio %g, %d files",
		l.MaxFileSize>>20, l.MaxTotalSize>>20, l.MaxRatio, l.MaxFiles)
}
