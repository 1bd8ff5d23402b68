package pkg

import (
	"path"
	"strings"

	"github.com/tanjay-lab/tanjay/images/cab"
)

// entry is one cabinet file under a checked, slash-separated name.
type entry struct {
	path string // e.g. UCPhone/Polycom/CX700/A/ENU/3.5.6907.37/CPE/CPE.nbt
	dir  string // "" at the top
	base string
	stem string
	ext  string // lower case, with the dot
	file *cab.File
}

func newEntry(p string, f *cab.File) entry {
	e := entry{path: p, dir: path.Dir(p), base: path.Base(p), file: f}
	if e.dir == "." {
		e.dir = ""
	}
	e.ext = strings.ToLower(path.Ext(e.base))
	e.stem = strings.TrimSuffix(e.base, e.base[len(e.base)-len(e.ext):])
	return e
}

// checkNames turns every cabinet name into an entry, refusing names that
// could escape a directory or collide: absolute names (leading / or \,
// drive letters, any colon), "..", "." or empty elements, control
// characters, and two names equal but for case.
func checkNames(files []*cab.File) ([]entry, error) {
	seen := make(map[string]string, len(files))
	entries := make([]entry, 0, len(files))
	for _, f := range files {
		p, err := cleanName(f.Name)
		if err != nil {
			return nil, err
		}
		key := strings.ToLower(p)
		if prev, ok := seen[key]; ok {
			return nil, refusef("the cabinet holds %q twice (as %q and %q; names are compared without case)", p, prev, f.Name)
		}
		seen[key] = f.Name
		entries = append(entries, newEntry(p, f))
	}
	return entries, nil
}

func cleanName(name string) (string, error) {
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", refusef("file name %q holds a control character", name)
		}
	}
	p := strings.ReplaceAll(name, `\`, "/")
	switch {
	case strings.HasPrefix(p, "/"):
		return "", refusef("file name %q is absolute", name)
	case strings.Contains(p, ":"):
		return "", refusef("file name %q names a drive or a stream (it holds a colon)", name)
	}
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "..":
			return "", refusef("file name %q climbs out of the package (path traversal)", name)
		case "", ".":
			return "", refusef("file name %q has an empty or \".\" element", name)
		}
	}
	return p, nil
}
