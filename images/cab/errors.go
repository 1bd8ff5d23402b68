package cab

import (
	"errors"
	"fmt"
)

// Errors a caller can test for with errors.Is. Every error about the
// cabinet's content matches ErrInvalid; ErrChecksum, ErrTooLarge and
// ErrUnsupported also match ErrInvalid. Errors from the io.ReaderAt are
// passed through wrapped and match none of them.
var (
	ErrInvalid     = errors.New("invalid cabinet")
	ErrChecksum    = errors.New("checksum mismatch")
	ErrTooLarge    = errors.New("over the limits")
	ErrUnsupported = errors.New("unsupported cabinet feature")
)

// contentError is an error in the cabinet's bytes: its message is the whole
// story, and it matches its kind and ErrInvalid.
type contentError struct {
	kind error
	msg  string
}

func (e *contentError) Error() string { return "cabinet: " + e.msg }

func (e *contentError) Unwrap() []error {
	if e.kind == ErrInvalid {
		return []error{ErrInvalid}
	}
	return []error{e.kind, ErrInvalid}
}

func invalidf(format string, args ...any) error {
	return &contentError{ErrInvalid, fmt.Sprintf(format, args...)}
}

func tooLargef(format string, args ...any) error {
	return &contentError{ErrTooLarge, fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &contentError{ErrUnsupported, fmt.Sprintf(format, args...)}
}
