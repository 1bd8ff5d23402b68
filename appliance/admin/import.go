package admin

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
	"github.com/tanjay-lab/tanjay/images"
	"github.com/tanjay-lab/tanjay/images/pkg"
)

// Limits on one import upload.
const (
	maxImportFile  = 1 << 30 // a CX700 image is about 30 MiB
	maxImportTotal = 4 << 30
)

// importFields are the form fields `tanjay import` sends ahead of the files.
// For a bare image the device path and version are required; for a vendor
// package they only fill what its metadata and folder names leave open.
type importFields struct {
	DevicePath *images.DevicePath
	Version    *images.Version
	UpdateType string
	Interim    bool
	MinFrom    images.Version
	// Force imports what looks like a mistake (importWarnings).
	Force bool
}

// ImportResult is what an import landed: every image and its rule,
// Pending, the warnings it was forced past and the package files that are
// not firmware. It is POST /api/v1/images's answer.
type ImportResult struct {
	Images   []images.Image `json:"images"`
	Rules    []images.Rule  `json:"rules"`
	Warnings []string       `json:"warnings,omitempty"`
	Ignored  []string       `json:"ignored,omitempty"`
}

// Import lands a multipart upload: the fields device_path, version,
// update_type, interim, min_from and force, then the files: either a bare
// image (one .nbt, at most one .cat) or vendor packages (UCUpdates.exe /
// .cab). The import lands whole — every image of the upload in one
// journal record — or not at all, and then leaves no blob behind. Imports
// run one at a time. Each image imported is recorded as act's, and so is
// a refusal.
func (a *Actions) Import(act oplog.Actor, upload *multipart.Reader) (ImportResult, error) {
	res, err := a.importUpload(upload)
	if err != nil {
		a.Record(act, "import", "upload", "", err)
		return res, err
	}
	for i, im := range res.Images {
		change := fmt.Sprintf("imported %s as %s; %s", im.Version, res.Rules[i].Key, ruleChange(res.Rules[i]))
		if len(res.Warnings) > 0 {
			change += "; warnings: " + strings.Join(res.Warnings, "; ")
		}
		a.Record(act, "import", im.Source, change, nil)
	}
	return res, nil
}

// ImportRequest is Import of an HTTP request's multipart/form-data body,
// at most maxImportTotal bytes: the admin API's POST /api/v1/images and
// the dashboard's upload form.
func (a *Actions) ImportRequest(act oplog.Actor, r *http.Request) (ImportResult, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxImportTotal)
	mr, err := r.MultipartReader()
	if err != nil {
		err = badRequest("import: want a multipart/form-data upload: %v", err)
		a.Record(act, "import", "upload", "", err)
		return ImportResult{}, err
	}
	return a.Import(act, mr)
}

func (a *Actions) importUpload(mr *multipart.Reader) (ImportResult, error) {
	a.importMu.Lock()
	defer a.importMu.Unlock()
	imp := &importer{a: a, now: time.Now().UTC().Truncate(time.Second)}
	defer imp.cleanup()
	res, err := imp.run(mr)
	if err != nil {
		imp.discard()
		return ImportResult{}, err
	}
	a.catalogChanged()
	for i, im := range res.Images {
		a.log.Info("image imported", "rule", res.Rules[i].Key.String(), "version", im.Version, "pending", res.Rules[i].Pending, "source", im.Source)
	}
	return res, nil
}

// importer is one import in progress: what it stored, so a failed import
// can take it back.
type importer struct {
	a       *Actions
	now     time.Time
	created []string // blobs this import wrote
	spooled []string // temp files of uploaded packages
}

func (imp *importer) run(mr *multipart.Reader) (ImportResult, error) {
	fields := map[string]string{}
	var meta *importFields
	var bare []images.File
	var res ImportResult
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("import: reading upload: %w", err)
		}
		if part.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return res, fmt.Errorf("import: reading field %s: %w", part.FormName(), err)
			}
			fields[part.FormName()] = strings.TrimSpace(string(b))
			continue
		}
		if meta == nil {
			m, err := parseImportFields(fields)
			if err != nil {
				return res, err
			}
			meta = &m
		}
		name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
		if err := images.CheckFileName(name); err != nil {
			return res, badRequest("import: %v", err)
		}
		if IsPackageName(name) {
			if err := imp.importPackage(part, name, *meta, &res); err != nil {
				return res, err
			}
			continue
		}
		f, err := imp.storeFile(part, name, maxImportFile)
		if err != nil {
			return res, err
		}
		bare = append(bare, f)
	}
	switch {
	case meta == nil:
		return res, badRequest("import: no files in the upload")
	case len(bare) > 0 && len(res.Images) > 0:
		return res, badRequest("import: give either a vendor package (.exe, .cab) or a bare image (.nbt, .cat), not both")
	case len(bare) > 0:
		im, err := bareImage(*meta, bare, imp.now)
		if err != nil {
			return res, err
		}
		res.Images = []images.Image{im}
	}
	if w := imp.a.importWarnings(res.Images); len(w) > 0 {
		if !meta.Force {
			return res, Error{http.StatusConflict, "import: nothing imported, because it looks like a mistake: " + strings.Join(w, "; ") +
				". If it is what you mean, import again with --force (on the Firmware page: tick “Import anyway”)"}
		}
		res.Warnings = append(res.Warnings, w...)
	}
	rules, err := imp.a.store.ImportImages(res.Images)
	if err != nil {
		return res, err
	}
	res.Rules = rules
	return res, nil
}

// IsPackageName reports whether an uploaded file is a vendor package.
func IsPackageName(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".exe" || ext == ".cab"
}

// importPackage spools one uploaded package to disk (the cabinet reader
// needs random access), reads it, and stores every file of every update.
func (imp *importer) importPackage(part io.Reader, name string, meta importFields, res *ImportResult) error {
	tmpDir := imp.a.tmpDir
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	imp.spooled = append(imp.spooled, f.Name())
	defer f.Close()
	size, err := io.Copy(f, io.LimitReader(part, maxImportTotal+1))
	if err != nil {
		return fmt.Errorf("import: receiving %s: %w", name, err)
	}
	p, err := pkg.Open(f, size, name, pkg.DefaultLimits(), pkg.Hints{DevicePath: meta.DevicePath, Version: meta.Version, UpdateType: meta.UpdateType})
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, p.Warnings...)
	res.Ignored = append(res.Ignored, p.Ignored...)
	for _, u := range p.Updates {
		var files []images.File
		for _, pf := range u.Files {
			file, err := imp.storePackageFile(pf)
			if err != nil {
				return err
			}
			files = append(files, file)
		}
		im := p.Image(u, files, imp.now)
		im.Interim = im.Interim || meta.Interim
		im.MinFrom = meta.MinFrom
		res.Images = append(res.Images, im)
	}
	return nil
}

func (imp *importer) storePackageFile(pf pkg.PackageFile) (images.File, error) {
	rc, err := pf.Open()
	if err != nil {
		return images.File{}, err
	}
	defer rc.Close()
	return imp.storeFile(rc, pf.Name, pf.Size)
}

// storeFile streams one file into the blob store, refusing more than max
// bytes.
func (imp *importer) storeFile(r io.Reader, name string, max int64) (images.File, error) {
	lr := &io.LimitedReader{R: r, N: max + 1}
	sum, size, created, err := imp.a.blobs.Put(lr)
	if err != nil {
		return images.File{}, fmt.Errorf("import: %s: %w", name, err)
	}
	if created {
		imp.created = append(imp.created, sum)
	}
	if size > max {
		return images.File{}, Error{http.StatusRequestEntityTooLarge, fmt.Sprintf("import: %s is larger than %d bytes", name, max)}
	}
	return images.File{Name: name, SHA256: sum, Size: size}, nil
}

// discard takes back the blobs a failed import created: no image refers to
// them (the store refused or was never asked). A process killed before this
// runs leaves them to the sweep at the next start.
func (imp *importer) discard() {
	for _, sum := range imp.created {
		if err := imp.a.blobs.Remove(sum); err != nil {
			imp.a.log.Warn("import: removing a blob of a failed import", "err", err)
		}
	}
}

// cleanup removes the spooled uploads.
func (imp *importer) cleanup() {
	for _, p := range imp.spooled {
		os.Remove(p)
	}
}

func parseImportFields(fields map[string]string) (importFields, error) {
	var m importFields
	if v := fields["device_path"]; v != "" {
		p, err := images.ParseDevicePath(v)
		if err != nil {
			return m, badRequest("import: device path %q: %v", v, err)
		}
		m.DevicePath = &p
	}
	if v := fields["version"]; v != "" {
		ver, err := images.ParseVersion(v)
		if err != nil {
			return m, badRequest("import: version %q: %v", v, err)
		}
		if ver.IsZero() {
			return m, badRequest("import: version 0.0.0.0 is the unknown version, not a firmware version")
		}
		m.Version = &ver
	}
	m.UpdateType = fields["update_type"]
	if m.UpdateType != "" && m.DevicePath != nil {
		if _, err := images.ParseRuleKey(m.DevicePath.String() + "/" + m.UpdateType); err != nil {
			return m, badRequest("import: update type %q: %v", m.UpdateType, err)
		}
	}
	if v := fields["interim"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return m, badRequest("import: interim %q: want true or false", v)
		}
		m.Interim = b
	}
	if v := fields["min_from"]; v != "" {
		ver, err := images.ParseVersion(v)
		if err != nil {
			return m, badRequest("import: lowest version to take it (min from) %q: %v", v, err)
		}
		m.MinFrom = ver
	}
	if v := fields["force"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return m, badRequest("import: force %q: want true or false", v)
		}
		m.Force = b
	}
	return m, nil
}

// bareImage checks the files of a bare import: exactly one .nbt image, at
// most one .cat catalog, nothing else, no name twice; the device path and
// version must be given.
func bareImage(m importFields, files []images.File, now time.Time) (images.Image, error) {
	if m.DevicePath == nil || m.Version == nil {
		return images.Image{}, badRequest("import: a bare image (.nbt) needs its device path (e.g. UCPhone/Polycom/CX700/A/ENU, or OCInterim/ENU for an interim) and its version (e.g. 4.0.7577.4066): the vendor package (.exe, .cab) carries both")
	}
	ut := m.UpdateType
	if ut == "" {
		ut = images.DefaultUpdateType
	}
	im := images.Image{
		Key:     images.RuleKey{DevicePath: *m.DevicePath, UpdateType: ut},
		Version: *m.Version, Interim: m.Interim, MinFrom: m.MinFrom, ImportedAt: now,
	}
	var nbt, cat int
	for i, f := range files {
		for _, g := range files[:i] {
			if strings.EqualFold(f.Name, g.Name) {
				return im, badRequest("import: %s is given twice", f.Name)
			}
		}
		switch strings.ToLower(path.Ext(f.Name)) {
		case ".nbt":
			nbt++
			im.Source, im.SourceSHA256 = f.Name, f.SHA256
		case ".cat":
			cat++
		default:
			return im, badRequest("import: %s: a bare import takes one .nbt image and at most one .cat catalog (or a vendor .exe/.cab package)", f.Name)
		}
	}
	if nbt != 1 || cat > 1 {
		return im, badRequest("import: want exactly one .nbt image and at most one .cat catalog, got %d and %d", nbt, cat)
	}
	im.Files = files
	return im, nil
}

// SweepInterruptedImports removes what an import killed mid-way left: its
// spooled uploads (TmpDir, emptied) and the blobs no image refers to. The
// appliance runs it at start, under the data directory's lock, before
// anything serves.
func (a *Actions) SweepInterruptedImports() error {
	if err := os.RemoveAll(a.tmpDir); err != nil {
		return fmt.Errorf("import sweep: %w", err)
	}
	used := map[string]bool{}
	for _, im := range a.store.Images(nil) {
		for _, f := range im.Files {
			used[f.SHA256] = true
		}
	}
	n, err := a.blobs.Sweep(func(sum string) bool { return used[sum] })
	if n > 0 {
		a.log.Info("removed what an interrupted import left", "files", n)
	}
	return err
}
