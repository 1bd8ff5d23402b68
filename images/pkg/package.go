package pkg

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/cab"
)

// Limits against decompression bombs; see cab.Limits for the fields and
// their defaults (1 GiB per file, 4 GiB in total, expansion ratio 200,
// 10,000 files). A zero field takes its default.
type Limits = cab.Limits

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits { return cab.DefaultLimits() }

// Hints are the operator's --device-path, --version and --update-type.
// They fill in what the package does not say; a hint that contradicts
// what the package says is refused.
type Hints struct {
	DevicePath *images.DevicePath
	Version    *images.Version
	UpdateType string
}

// Package is a vendor firmware package, read and checked, ready to import:
// nothing has been decompressed yet except its metadata XML.
type Package struct {
	// Source is the name the operator gave the file; SourceSHA256 the hex
	// SHA-256 of all its bytes.
	Source       string
	SourceSHA256 string
	Size         int64
	// Kind is "cabinet" or "self-extracting executable".
	Kind string
	// CabinetOffset is where the cabinet starts in Source (0 for a .cab).
	CabinetOffset int64
	// Updates, ordered by rule and version.
	Updates []Update
	// Ignored lists the cabinet's files that belong to no update
	// (updateInfo.xml, descriptions, readmes…), by path in the cabinet.
	Ignored []string
	// Warnings are things the operator should see that did not stop the
	// import, e.g. metadata XML that could not be parsed.
	Warnings []string
}

// Update is one firmware image for one rule.
type Update struct {
	Path       images.DevicePath
	UpdateType string
	Version    images.Version
	// Interim is set when the metadata says so or the path is OCInterim/<Locale>.
	Interim bool
	// Files: the image (.nbt) first, then its signed catalog (.cat) if the
	// package has one beside it.
	Files []PackageFile
	// Description is the cabinet path of the .xml that described the image,
	// if there was one.
	Description string
	// Origin says where each part of the identity came from.
	Origin Origin
}

// Origin names the sources of an update's identity: a file in the cabinet
// ("updateInfo.xml", "…/CPE.xml"), "folder names", "file name", or a flag
// ("--version").
type Origin struct {
	DevicePath string
	Version    string
	UpdateType string
}

// PackageFile is one file of an update.
type PackageFile struct {
	// Name is the name the phone asks for (CPE.nbt, CPE.cat); it passes
	// images.CheckFileName.
	Name string
	// Path is where the file is in the cabinet.
	Path string
	Size int64
	// Open streams the content: exactly Size bytes, then io.EOF, every byte
	// from checksummed, size-checked blocks. Any other error means the file
	// is bad (errors.Is(err, ErrRefused) when the package is to blame);
	// discard what was read. Files may be opened concurrently; opening them
	// in Updates order is fastest.
	Open func() (io.ReadCloser, error)
}

// Key is the rule the update is for.
func (u Update) Key() images.RuleKey {
	return images.RuleKey{DevicePath: u.Path, UpdateType: u.UpdateType}
}

// Image is the images.Image of u once its files are stored, files in the
// order of u.Files, with the package's provenance.
func (p *Package) Image(u Update, files []images.File, importedAt time.Time) images.Image {
	return images.Image{
		Key:          u.Key(),
		Version:      u.Version,
		Interim:      u.Interim,
		Files:        files,
		Source:       p.Source,
		SourceSHA256: p.SourceSHA256,
		ImportedAt:   importedAt,
	}
}

// Open reads a vendor firmware package: a cabinet (UCUpdates.cab) or a
// self-extracting executable that holds one (UCUpdates.exe). name is used
// in messages and as provenance. Every refusal names the file and matches
// ErrRefused.
func Open(r io.ReaderAt, size int64, name string, lim Limits, hints Hints) (*Package, error) {
	p := &Package{Source: name, Size: size}
	sum, err := hashAll(r, size)
	if err != nil {
		return nil, named(name, err)
	}
	p.SourceSHA256 = sum
	c, err := p.openCabinet(r, size, lim)
	if err != nil {
		return nil, named(name, err)
	}
	entries, err := checkNames(c.Files)
	if err != nil {
		return nil, named(name, err)
	}
	if err := p.identify(entries, hints); err != nil {
		return nil, named(name, err)
	}
	return p, nil
}

func hashAll(r io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// openCabinet finds the cabinet: at offset 0 of a .cab, or inside an
// executable.
func (p *Package) openCabinet(r io.ReaderAt, size int64, lim Limits) (*cab.Cabinet, error) {
	var magic [4]byte
	n, _ := r.ReadAt(magic[:], 0)
	switch {
	case n >= 4 && string(magic[:]) == cab.Signature:
		p.Kind = "cabinet"
		c, err := cab.Open(r, size, lim)
		if err != nil {
			return nil, err
		}
		if c.Size != size {
			return nil, refusef("the cabinet header says %d bytes but the file has %d (trailing data)", c.Size, size)
		}
		return c, nil
	case n >= 2 && string(magic[:2]) == "MZ":
		p.Kind = "self-extracting executable"
		found, err := cab.Find(r, size, lim)
		switch {
		case len(found) == 0 && errors.Is(err, cab.ErrInvalid):
			return nil, &refusal{msg: fmt.Sprintf("%s is an executable but contains no valid cabinet: %v", p.Source, err), cause: err, named: true}
		case err != nil:
			return nil, err
		case len(found) == 0:
			return nil, &refusal{msg: p.Source + " is an executable but contains no cabinet", named: true}
		}
		best := found[0]
		for _, e := range found[1:] {
			if e.Cabinet.Size > best.Cabinet.Size {
				best = e
			}
		}
		if len(found) > 1 {
			p.Warnings = append(p.Warnings, fmt.Sprintf("the executable holds %d cabinets; using the largest, at offset %d", len(found), best.Offset))
		}
		p.CabinetOffset = best.Offset
		return best.Cabinet, nil
	}
	return nil, &refusal{msg: p.Source + " is neither a cabinet (.cab, starting with MSCF) nor a self-extracting executable (.exe, starting with MZ)", named: true}
}

// readSmall reads a metadata file whole, refusing one over maxMetadataSize.
func readSmall(e entry) ([]byte, error) {
	if e.file.Size > maxMetadataSize {
		return nil, refusef("%s is %d bytes; metadata files may have at most %d", e.path, e.file.Size, maxMetadataSize)
	}
	rc, err := e.file.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// packageFile wraps a cabinet file; read errors name the package.
func packageFile(source, name string, e entry) PackageFile {
	return PackageFile{
		Name: name,
		Path: e.path,
		Size: e.file.Size,
		Open: func() (io.ReadCloser, error) {
			rc, err := e.file.Open()
			if err != nil {
				return nil, named(source, err)
			}
			return &namedReader{rc: rc, source: source}, nil
		},
	}
}

type namedReader struct {
	rc     io.ReadCloser
	source string
}

func (r *namedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = named(r.source, err)
	}
	return n, err
}

func (r *namedReader) Close() error { return r.rc.Close() }

func sortUpdates(us []Update) {
	sort.Slice(us, func(i, j int) bool {
		a, b := us[i].Key().ID(), us[j].Key().ID()
		if a != b {
			return a < b
		}
		return us[i].Version.Less(us[j].Version)
	})
}

func listNames(es []entry, max int) string {
	var names []string
	for i, e := range es {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(es)-max))
			break
		}
		names = append(names, e.path)
	}
	return strings.Join(names, ", ")
}
