package images

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Image is one imported firmware version for one rule: the files a phone
// downloads for it and where they came from.
type Image struct {
	Key     RuleKey `json:"key"`
	Version Version `json:"version"`
	// Interim marks a stepping-stone build (1.0.522.10x) that phones below a
	// target's minimum starting version are sent to first.
	Interim bool `json:"interim,omitempty"`
	// MinFrom is the lowest version a phone must run to take this image
	// directly. Zero means "use DefaultMinFrom".
	MinFrom Version `json:"min_from,omitempty"`
	Files   []File  `json:"files"`
	// Provenance: the file the operator imported, its SHA-256 and when.
	Source       string    `json:"source,omitempty"`
	SourceSHA256 string    `json:"source_sha256,omitempty"`
	ImportedAt   time.Time `json:"imported_at"`
}

// File is one file of an image, stored in the blob store under its SHA-256.
type File struct {
	Name   string `json:"name"` // as the phone asks for it: CPE.nbt, CPE.cat
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ID is the image's table key: the rule's ID and the version.
func (im Image) ID() string { return im.Key.ID() + "@" + im.Version.String() }

// EffectiveMinFrom is MinFrom, or the default table's value when unset.
func (im Image) EffectiveMinFrom() Version {
	if !im.MinFrom.IsZero() {
		return im.MinFrom
	}
	return DefaultMinFrom(im.Version)
}

// Dir is the path of the image's files below DeviceUpdateFiles_Int (and
// _Ext): <DevicePath>/<Version>/<UpdateType>, as OCS lays them out.
func (im Image) Dir() string {
	return path.Join(im.Key.DevicePath.String(), im.Version.String(), im.Key.UpdateType)
}

// File returns the image's file of that name, case-insensitively.
func (im Image) File(name string) (File, bool) {
	for _, f := range im.Files {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return File{}, false
}

// ImageFile is the image file (.nbt) a phone installs; SignatureFile is its
// signed catalog (.cat), when the image has one.
func (im Image) ImageFile() (File, bool)     { return im.fileWithExt(".nbt") }
func (im Image) SignatureFile() (File, bool) { return im.fileWithExt(".cat") }

func (im Image) fileWithExt(ext string) (File, bool) {
	for _, f := range im.Files {
		if strings.EqualFold(path.Ext(f.Name), ext) {
			return f, true
		}
	}
	return File{}, false
}

// minFromTable is the documented default: which releases a phone may not take
// straight from beta firmware. OCS 2007 R2 (3.5.x) and Lync Phone Edition
// (4.0.x) images need at least the 1.0.522.x interim first (Microsoft
// Consulting, "OCPE R2 device upgrade process (199 to 522 to 6907)").
var minFromTable = []struct {
	major, minor uint32
	min          Version
}{
	{3, 5, Version{1, 0, 522, 0}},
	{4, 0, Version{1, 0, 522, 0}},
}

// DefaultMinFrom is the minimum starting version for v by the default table;
// zero when any phone may take v directly.
func DefaultMinFrom(v Version) Version {
	for _, row := range minFromTable {
		if v[0] == row.major && v[1] == row.minor {
			return row.min
		}
	}
	return Version{}
}

// CheckFileName refuses a file name that cannot be served as one element of
// an image's directory: empty, a dot name, separators or reserved characters.
func CheckFileName(name string) error {
	if !plainName(name) {
		return fmt.Errorf("file name %q is not a plain file name", name)
	}
	return nil
}
