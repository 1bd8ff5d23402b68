package r2

import (
	"context"
	"io"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// Planner decides what a phone is offered. r2 never decides: the appliance
// plugs legacy's planner in here.
type Planner interface {
	PlanNextHop(ctx context.Context, req *Request, clientIP string) (Offer, error)
}

// PlannerFunc adapts a function to Planner (for tests).
type PlannerFunc func(ctx context.Context, req *Request, clientIP string) (Offer, error)

// PlanNextHop calls f.
func (f PlannerFunc) PlanNextHop(ctx context.Context, req *Request, clientIP string) (Offer, error) {
	return f(ctx, req, clientIP)
}

// Offer is the planner's answer to one check-in.
type Offer struct {
	// Updates offered now; empty means "nothing to do" (NumOfFiles 0).
	Updates []OfferedUpdate
	// LangList is the locales the appliance holds for this model.
	LangList []string
	// For the phone's timeline: where it ends, the hops still to take (the
	// first is Updates[0] when there is one), why nothing is offered, and
	// whether the phone is a test device.
	Target   images.Version
	Path     []images.Version
	Reason   string
	IsTest   bool
	Interim  bool // the phone's reported version is an interim build
	DeviceID string
}

// OfferedUpdate is one image offered to a phone. BaseURL and
// ExternalBaseURL are never empty: old firmware never downloads otherwise.
type OfferedUpdate struct {
	UpdateType      string
	Version         images.Version
	BaseURL         string // e.g. http://10.0.0.1/DeviceUpdateFiles_Int/OCInterim/ENU/1.0.522.103/CPE
	ExternalBaseURL string // the DeviceUpdateFiles_Ext twin
	ImageFile       string // CPE.nbt
	SignatureFile   string // CPE.cat, or "" when the image has none
	TimeStamp       time.Time
}

// Files resolves the part of a file URL after DeviceUpdateFiles_Int/ or
// DeviceUpdateFiles_Ext/ (for example
// "OCInterim/ENU/1.0.522.103/CPE/CPE.nbt"), case-insensitively. The
// appliance implements it with the store and the blob store.
type Files interface {
	OpenFile(path string) (File, error)
}

// File is one servable file. Content is closed by the handler.
type File struct {
	Name    string
	ModTime time.Time
	Size    int64
	Content io.ReadSeekCloser
}

// ErrNoFile is returned by Files.OpenFile for a path it does not serve.
var ErrNoFile = errNoFile{}

type errNoFile struct{}

func (errNoFile) Error() string { return "no such firmware file" }

// Observer is told what phones did. The appliance records each call as an
// event in the store. Calls happen on the request's goroutine and must not
// block.
type Observer interface {
	CheckedIn(CheckIn)
	Downloaded(Download)
	Uploaded(Upload)
}

// CheckIn is one answered check-in (status 200): identified or not. An
// unidentified one (Request.Identified() false) has an empty Offer and was
// not planned.
type CheckIn struct {
	At       time.Time
	ClientIP string
	Request  *Request
	Offer    Offer
	// Captured is the path of the raw body under captures/, when kept.
	Captured string
}

// Download reports progress of one file transfer. The handler calls
// Downloaded when a transfer starts, every DownloadProgressInterval while
// it runs (when the file is an *os.File, whose position sendfile
// advances), and once when it ends (Done set, Err when cut off). Calls for
// one transfer never overlap.
type Download struct {
	At       time.Time
	ClientIP string
	Path     string // URL path as requested
	File     string // file name served
	Offset   int64  // first byte of this transfer (Range start)
	Sent     int64  // bytes of this transfer sent so far
	Total    int64  // size of the whole file
	Done     bool
	Err      string
}

// Upload reports a device log a phone POSTed to the handler: stored, or
// refused with 507 by a cap (Refused set, nothing stored). Refusals by the
// free-space floor are not reported: below it nothing more is written.
type Upload struct {
	At       time.Time
	ClientIP string
	// MAC is the phone the upload names (query or XML body), normalised;
	// "" when it names none. The upload belongs to that phone, whatever
	// phone last used ClientIP.
	MAC     string
	Path    string // URL path as requested
	Stored  string // where the body was written
	Size    int64
	Refused string // why a cap refused it
}
