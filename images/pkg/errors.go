package pkg

import (
	"errors"
	"fmt"

	"github.com/tanjay-lab/tanjay/images/cab"
)

// ErrRefused matches (errors.Is) every error that the package's content, or
// the hints given with it, are to blame for: the admin API answers those
// with 4xx. Errors from the io.ReaderAt do not match it.
var ErrRefused = errors.New("package refused")

// refusal is a content error: its message is complete, and it matches
// ErrRefused and whatever it wraps (cab.ErrChecksum, cab.ErrTooLarge…).
type refusal struct {
	msg   string
	cause error
	named bool // msg already names the package file
}

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Unwrap() []error {
	if r.cause == nil {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, r.cause}
}

func refusef(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// named prefixes an error with the package's file name; cabinet content
// errors become refusals.
func named(source string, err error) error {
	if err == nil {
		return nil
	}
	var r *refusal
	switch {
	case errors.As(err, &r) && r.named:
		return r
	case errors.As(err, &r):
		return &refusal{msg: source + ": " + r.msg, cause: r.cause, named: true}
	case errors.Is(err, cab.ErrInvalid):
		return &refusal{msg: source + ": " + err.Error(), cause: err}
	}
	return fmt.Errorf("%s: %w", source, err)
}
