package pkg

import (
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// fields is what one source says about an update; empty means silent.
type fields struct {
	deviceType, vendor, model, revision, locale string
	updateType                                  string
	version                                     images.Version
	interim                                     *bool
}

func (f *fields) setPath(p images.DevicePath) {
	f.deviceType, f.vendor, f.model, f.revision, f.locale = p.DeviceType, p.Vendor, p.Model, p.Revision, p.Locale
}

func (f fields) hasPath() bool { return f.deviceType != "" || f.locale != "" }

// fromLayout reads an update's identity from the names in the cabinet: the
// folders above the image, or else its file name split at underscores. The
// elements are matched from the end, so a prefix (DeviceUpdateFiles_Int/…)
// does not matter:
//
//	…/<DeviceType>/<Vendor>/<Model>/<Revision>/<Locale>/<Version>/<UpdateType>/<x>.nbt
//	…/<DeviceType>/<Vendor>/<Model>/<Revision>/<Locale>/<Version>/<UpdateType>.nbt
//	…/<DeviceType>/<Vendor>/<Model>/<Revision>/<Locale>/<UpdateType>/<UpdateType>.nbt
//	…/<DeviceType>/<Vendor>/<Model>/<Revision>/<Locale>/<UpdateType>.nbt
//	…/OCInterim/<Locale>[/<Version>][/<UpdateType>]/<x>.nbt
//	<DeviceType>_<Vendor>_<Model>_<Revision>_<Locale>[_<Version>]_<UpdateType>.nbt
//	OCInterim_<Locale>[_<Version>]_<UpdateType>.nbt
//
// The locale must be three letters (ENU, DEU), the version four numbers;
// the folders may also give only a version. The second result is true when
// the identity came from the file name: the image is then served as
// <UpdateType>.nbt, the name phones know.
func fromLayout(e entry) (fields, bool) {
	var dirs []string
	if e.dir != "" {
		dirs = strings.Split(e.dir, "/")
	}
	if f, ok := fromSegments(dirs, e.stem); ok {
		return f, false
	}
	if parts := strings.Split(e.stem, "_"); len(parts) >= 3 {
		if f, ok := fromSegments(append(dirs, parts...), ""); ok && f.hasPath() {
			return f, true
		}
	}
	return fields{}, false
}

// fromSegments matches path elements against the layouts. With stem == ""
// the last element is the update type.
func fromSegments(segs []string, stem string) (f fields, ok bool) {
	dev := segs
	if v := lastVersion(segs); v >= 0 {
		f.version, _ = images.ParseVersion(segs[v])
		dev = segs[:v]
		switch after := segs[v+1:]; len(after) {
		case 0:
		case 1:
			f.updateType = after[0]
		default:
			return fields{}, false // more after the update type: not a layout we know
		}
	} else if n := len(dev); n > 0 && (stem == "" || strings.EqualFold(dev[n-1], stem)) {
		f.updateType, dev = dev[n-1], dev[:n-1]
	}
	if stem == "" && f.updateType == "" {
		return fields{}, false
	}
	if p, ok := devicePathSuffix(dev); ok {
		f.setPath(p)
	}
	return f, f.hasPath() || !f.version.IsZero()
}

func lastVersion(segs []string) int {
	for i := len(segs) - 1; i >= 0; i-- {
		if v, err := images.ParseVersion(segs[i]); err == nil && !v.IsZero() {
			return i
		}
	}
	return -1
}

// devicePathSuffix reads a device path from the end of dev.
func devicePathSuffix(dev []string) (images.DevicePath, bool) {
	n := len(dev)
	var s string
	switch {
	case n >= 2 && strings.EqualFold(dev[n-2], images.InterimDeviceType):
		s = images.InterimDeviceType + "/" + dev[n-1]
	case n >= 5:
		s = strings.Join(dev[n-5:], "/")
	default:
		return images.DevicePath{}, false
	}
	p, err := images.ParseDevicePath(s)
	if err != nil || !isLocale(p.Locale) {
		return images.DevicePath{}, false
	}
	return p, true
}

// isLocale accepts the three-letter Windows language codes phones report.
func isLocale(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
