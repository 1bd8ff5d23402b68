package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cab"
	"github.com/tanjay-lab/tanjay/images/pkg"
)

// Error is an error the admin API answers with its own status.
type Error struct {
	Status int
	Msg    string
}

func (e Error) Error() string { return e.Msg }

func badRequest(format string, a ...any) error {
	return Error{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

// Status is the HTTP status an action's error answers with: the Error's
// own, 413 for an upload too large, 400 for a refused package, 404 for
// what the store does not have, 409 for a rule transition that does not
// apply, else 500. The admin API maps errors here and only here.
func Status(err error) int {
	var ae Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.Status
	case errors.As(err, &mbe), errors.Is(err, cab.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, pkg.ErrRefused):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, images.ErrNoPending), errors.Is(err, images.ErrNoRestore),
		errors.Is(err, images.ErrAlreadyCurrent), errors.Is(err, images.ErrZeroVersion):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
