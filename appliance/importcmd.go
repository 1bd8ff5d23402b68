package appliance

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tanjay-lab/tanjay/images"
)

// progressThreshold is the upload size above which import shows progress.
const progressThreshold = 4 << 20

func runImport(ctx context.Context, e env, args []string) error {
	var devicePath, version, minFrom, updateType string
	var interim bool
	c, files, err := clientCommand("import", e, args, func(fs *flag.FlagSet) {
		fs.StringVar(&devicePath, "device-path", "", "DeviceType/Vendor/Model/Revision/Locale, or OCInterim/<Locale> for an interim serving every model of that locale")
		fs.StringVar(&version, "version", "", "the image's four-part version, e.g. 1.0.522.103")
		fs.BoolVar(&interim, "interim", false, "the image is an interim build phones pass through on the way to a release")
		fs.StringVar(&minFrom, "min-from", "", "lowest version a phone must run to take this image directly (default: 1.0.522.0 for 3.5.x and 4.0.x, else none)")
		fs.StringVar(&updateType, "update-type", images.DefaultUpdateType, "update type of the rule")
	})
	if err != nil {
		return err
	}
	// Check locally first so a typo costs no upload.
	if _, err := images.ParseDevicePath(devicePath); err != nil {
		return usagef("--device-path: %v", err)
	}
	if _, err := images.ParseVersion(version); err != nil {
		return usagef("--version: %v", err)
	}
	if minFrom != "" {
		if _, err := images.ParseVersion(minFrom); err != nil {
			return usagef("--min-from: %v", err)
		}
	}
	if len(files) == 0 {
		return usagef("name the image file (CPE.nbt) and, if you have it, its catalog (CPE.cat)")
	}
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", f)
		}
		total += st.Size()
	}
	fields := map[string]string{"device_path": devicePath, "version": version, "update_type": updateType,
		"interim": strconv.FormatBool(interim), "min_from": minFrom}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeImportBody(mw, fields, diskFiles(files), newProgress(e.stderr, total))) }()
	var res importResult
	if err := c.do(ctx, "POST", "/api/v1/images", mw.FormDataContentType(), pr, &res); err != nil {
		pr.CloseWithError(err)
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s %s (%d files): now Pending for %s\n", res.Image.Key.DevicePath, res.Image.Version, len(res.Image.Files), res.Rule.Key)
	fmt.Fprintf(e.stdout, "approve it with: tanjay approve %s\n", res.Rule.Key)
	return nil
}

// uploadFile is one file of an import upload.
type uploadFile struct {
	name string
	open func() (io.ReadCloser, error)
}

func diskFiles(paths []string) []uploadFile {
	out := make([]uploadFile, len(paths))
	for i, p := range paths {
		out[i] = uploadFile{name: filepath.Base(p), open: func() (io.ReadCloser, error) { return os.Open(p) }}
	}
	return out
}

func memoryFile(name string, b []byte) uploadFile {
	return uploadFile{name: name, open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// writeImportBody streams the form fields and then the files.
func writeImportBody(mw *multipart.Writer, fields map[string]string, files []uploadFile, p *progress) error {
	for _, k := range []string{"device_path", "version", "update_type", "interim", "min_from"} {
		if err := mw.WriteField(k, fields[k]); err != nil {
			return err
		}
	}
	for _, uf := range files {
		f, err := uf.open()
		if err != nil {
			return err
		}
		part, err := mw.CreateFormFile("file", uf.name)
		if err == nil {
			_, err = io.Copy(io.MultiWriter(part, p), f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	p.done()
	return mw.Close()
}

// progress prints how much of an upload has been sent, every tenth, for
// uploads large enough to take a while.
type progress struct {
	w          io.Writer
	total, n   int64
	lastTenths int64
}

func newProgress(w io.Writer, total int64) *progress {
	if total < progressThreshold {
		w = nil
	}
	return &progress{w: w, total: total}
}

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.w != nil && p.total > 0 {
		if t := p.n * 10 / p.total; t > p.lastTenths {
			p.lastTenths = t
			fmt.Fprintf(p.w, "uploading: %3d%% %s of %s\n", t*10, mib(p.n), mib(p.total))
		}
	}
	return len(b), nil
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprintf(p.w, "uploaded %s; the appliance is storing it\n", mib(p.total))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
