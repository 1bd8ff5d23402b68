package r2

import "github.com/tanjay-lab/tanjay/images"

// Request is what a phone said in one check-in, as far as the lenient parser
// could find it. Strings are trimmed; missing items are empty.
type Request struct {
	DeviceType  string // UCPhone, RoundTable
	MAC         string // normalised: 12 upper-case hex digits, or "" when absent or malformed
	RawMAC      string // as sent
	Serial      string
	Vendor      string // LG-Nortel, Polycom
	Model       string // IP8540, CX700
	Revision    string // A
	Locale      string // ENU, DEU
	RequestTime string // the phone's own clock, verbatim (04.05.2009 07:30:04)
	UserID      string
	Modules     []Module
	// RawModules is the modules as the audit log writes them:
	// FileName;Version;TimeStamp joined by #.
	RawModules string
}

// Module is one image the phone reports it runs.
type Module struct {
	FileName    string         // cpe.nbt
	Version     images.Version // zero when 0.0.0.0 or unparsable
	VersionText string         // verbatim
	TimeStamp   string         // verbatim (01.01.1601 00:00:00)
}

// UpdateType is the module's update type: its file name without extension,
// upper-cased (cpe.nbt → CPE).
func (m Module) UpdateType() string {
	name := m.FileName
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			name = name[:i]
			break
		}
	}
	return upperASCII(name)
}

func upperASCII(s string) string {
	if s == "cpe" { // the module every phone reports (cpe.nbt), without allocating
		return "CPE"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'a' <= c && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// DevicePath is the phone's identity as a device path.
func (r *Request) DevicePath() images.DevicePath {
	return images.DevicePath{DeviceType: r.DeviceType, Vendor: r.Vendor, Model: r.Model, Revision: r.Revision, Locale: r.Locale}
}

// Identified reports whether the request names a model the planner can look
// up: device type, vendor, model, revision and locale are all present.
func (r *Request) Identified() bool {
	return r.DeviceType != "" && r.Vendor != "" && r.Model != "" && r.Revision != "" && r.Locale != ""
}
