package appliance

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// Limits on one import upload.
const (
	maxImportFile  = 1 << 30 // a CX700 image is about 30 MiB
	maxImportTotal = 2 << 30
)

// importMeta describes a bare image import: what `tanjay import` sends as
// multipart form fields ahead of the files.
type importMeta struct {
	DevicePath images.DevicePath
	UpdateType string
	Version    images.Version
	Interim    bool
	MinFrom    images.Version
}

// importImage takes a multipart upload: the fields device_path, version,
// update_type (default CPE), interim, min_from, then the files (one .nbt
// image, at most one .cat catalog). The image becomes its rule's Pending
// version. Vendor packages (.cab/.exe) will produce the same importMeta and
// files from the archive and join here.
func (a *app) importImage(_ http.ResponseWriter, r *http.Request) (any, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("import: want a multipart/form-data upload: %v", err)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxImportTotal)
	fields := map[string]string{}
	var meta *importMeta
	var files []images.File
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import: reading upload: %w", err)
		}
		if part.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(part, 4096))
			if err != nil {
				return nil, fmt.Errorf("import: reading field %s: %w", part.FormName(), err)
			}
			fields[part.FormName()] = strings.TrimSpace(string(b))
			continue
		}
		if meta == nil {
			m, err := parseImportMeta(fields)
			if err != nil {
				return nil, err
			}
			meta = &m
		}
		f, err := a.storeUploadedFile(part)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if meta == nil {
		return nil, badRequest("import: no files in the upload")
	}
	im, err := buildImage(*meta, files, time.Now())
	if err != nil {
		return nil, err
	}
	rule, err := a.store.ImportImage(im)
	if err != nil {
		return nil, err
	}
	a.refreshCatalog()
	a.log.Info("image imported", "rule", rule.Key.String(), "version", im.Version, "pending", rule.Pending, "source", im.Source)
	return importResult{Image: im, Rule: rule}, nil
}

type importResult struct {
	Image images.Image `json:"image"`
	Rule  images.Rule  `json:"rule"`
}

func parseImportMeta(fields map[string]string) (importMeta, error) {
	var m importMeta
	var err error
	if m.DevicePath, err = images.ParseDevicePath(fields["device_path"]); err != nil {
		return m, badRequest("import: --device-path: %v", err)
	}
	if m.Version, err = images.ParseVersion(fields["version"]); err != nil {
		return m, badRequest("import: --version: %v", err)
	}
	if m.Version.IsZero() {
		return m, badRequest("import: --version 0.0.0.0 is the unknown version, not a firmware version")
	}
	if m.UpdateType = fields["update_type"]; m.UpdateType == "" {
		m.UpdateType = images.DefaultUpdateType
	}
	if _, err := images.ParseRuleKey(m.DevicePath.String() + "/" + m.UpdateType); err != nil {
		return m, badRequest("import: --update-type: %v", err)
	}
	if v := fields["interim"]; v != "" {
		if m.Interim, err = strconv.ParseBool(v); err != nil {
			return m, badRequest("import: interim %q: want true or false", v)
		}
	}
	if v := fields["min_from"]; v != "" {
		if m.MinFrom, err = images.ParseVersion(v); err != nil {
			return m, badRequest("import: --min-from: %v", err)
		}
	}
	return m, nil
}

// storeUploadedFile streams one uploaded file into the blob store.
func (a *app) storeUploadedFile(part *multipart.Part) (images.File, error) {
	name := path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
	if err := images.CheckFileName(name); err != nil {
		return images.File{}, badRequest("import: %v", err)
	}
	lr := &io.LimitedReader{R: part, N: maxImportFile + 1}
	sum, size, err := a.blobs.Put(lr)
	if err != nil {
		return images.File{}, fmt.Errorf("import: %s: %w", name, err)
	}
	if size > maxImportFile {
		return images.File{}, apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("import: %s is larger than %d MiB", name, maxImportFile>>20)}
	}
	return images.File{Name: name, SHA256: sum, Size: size}, nil
}

// buildImage checks the files of a bare import: exactly one .nbt image, at
// most one .cat catalog, nothing else, no name twice.
func buildImage(m importMeta, files []images.File, now time.Time) (images.Image, error) {
	im := images.Image{
		Key:     images.RuleKey{DevicePath: m.DevicePath, UpdateType: m.UpdateType},
		Version: m.Version, Interim: m.Interim, MinFrom: m.MinFrom,
		ImportedAt: now.UTC().Truncate(time.Second),
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
			return im, badRequest("import: %s: a bare import takes one .nbt image and at most one .cat catalog", f.Name)
		}
	}
	if nbt != 1 || cat > 1 {
		return im, badRequest("import: want exactly one .nbt image and at most one .cat catalog, got %d and %d", nbt, cat)
	}
	im.Files = files
	return im, nil
}
