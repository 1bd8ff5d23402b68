package cab

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
)

// mszipDecoder decodes MSZIP blocks: "CK", then a deflate stream whose
// dictionary is the last 32 KiB of the folder's output so far.
type mszipDecoder struct {
	in   bytes.Reader
	zr   io.ReadCloser
	hist []byte // the last 32 KiB of output, the next block's dictionary
}

func (d *mszipDecoder) decode(src *blockSource, out []byte) error {
	n := src.next
	data, err := src.payload()
	if err != nil {
		return eofIsTruncation(src, err)
	}
	if len(data) < 2 || data[0] != 'C' || data[1] != 'K' {
		return invalidf("%s", blockMsg(src.folder, n, "MSZIP block does not start with CK"))
	}
	d.in.Reset(data[2:])
	if d.zr == nil {
		d.zr = flate.NewReaderDict(&d.in, d.hist)
	} else if err := d.zr.(flate.Resetter).Reset(&d.in, d.hist); err != nil {
		return err
	}
	if got, err := io.ReadFull(d.zr, out); err != nil {
		return invalidf("%s", blockMsg(src.folder, n, "MSZIP data gives %d of its %d bytes: %v", got, len(out), err))
	}
	// The block must not hold more than it declares. A stream that stops
	// without its final-block bit after exactly cbUncomp bytes is accepted,
	// as cabextract does.
	var one [1]byte
	if extra, err := d.zr.Read(one[:]); extra > 0 || (err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF)) {
		return invalidf("%s", blockMsg(src.folder, n, "MSZIP data holds more than its declared %d bytes", len(out)))
	}
	d.remember(out)
	return nil
}

// remember keeps the last 32 KiB of output as the next dictionary.
func (d *mszipDecoder) remember(out []byte) {
	const window = 32 << 10
	if d.hist == nil {
		d.hist = make([]byte, 0, 2*window)
	}
	d.hist = append(d.hist, out...)
	if len(d.hist) > window {
		d.hist = d.hist[:copy(d.hist, d.hist[len(d.hist)-window:])]
	}
}
