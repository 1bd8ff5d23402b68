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
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tanjay-lab/tanjay/appliance/admin"
	"github.com/tanjay-lab/tanjay/images"
)

// progressThreshold is the upload size above which import shows progress.
const progressThreshold = 4 << 20

func runImport(ctx context.Context, e env, args []string) error {
	var devicePath, version, minFrom, updateType string
	var interim, force bool
	c, files, err := clientCommand("import", e, args, func(fs *flag.FlagSet) {
		fs.StringVar(&devicePath, "device-path", "", "DeviceType/Vendor/Model/Revision/Locale, or OCInterim/<Locale> for an interim serving every model of that locale (needed for a bare .nbt; for a package, fills what its metadata leaves open)")
		fs.StringVar(&version, "version", "", "the image's four-part version, e.g. 1.0.522.103 (needed for a bare .nbt)")
		fs.BoolVar(&interim, "interim", false, "the image is an interim build phones pass through on the way to a release")
		fs.StringVar(&minFrom, "min-from", "", "lowest version a phone must run to take this image directly (default: 1.0.522.0 for 3.5.x and 4.0.x, else none)")
		fs.StringVar(&updateType, "update-type", "", "update type of the rule (default CPE)")
		fs.BoolVar(&force, "force", false, "import even what looks like a mistake: a model no phone has reported and no rule serves, a version below the approved one, or a second Pending replacing another")
	})
	if err != nil {
		return err
	}
	if err := checkImportArgs(devicePath, version, minFrom, files); err != nil {
		return err
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
		"interim": strconv.FormatBool(interim), "min_from": minFrom, "force": strconv.FormatBool(force)}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() { pw.CloseWithError(writeImportBody(mw, fields, diskFiles(files), newProgress(e.stderr, total))) }()
	var res importResult
	if err := c.do(ctx, "POST", "/api/v1/images", mw.FormDataContentType(), pr, &res); err != nil {
		pr.CloseWithError(err)
		return err
	}
	printImportSummary(e.stdout, res)
	return nil
}

// checkImportArgs checks the command line before anything is uploaded, so
// a typo costs no upload.
func checkImportArgs(devicePath, version, minFrom string, files []string) error {
	if len(files) == 0 {
		return usagef("name a vendor package (UCUpdates.exe or .cab), or an image file (CPE.nbt) and its catalog (CPE.cat)")
	}
	packages := 0
	for _, f := range files {
		if admin.IsPackageName(f) {
			packages++
		}
	}
	if packages > 0 && packages < len(files) {
		return usagef("give either vendor packages (.exe, .cab) or a bare image (.nbt, .cat), not both")
	}
	if packages == 0 && (devicePath == "" || version == "") {
		return usagef("a bare image needs --device-path and --version")
	}
	if devicePath != "" {
		if _, err := images.ParseDevicePath(devicePath); err != nil {
			return usagef("--device-path: %v", err)
		}
	}
	for flag, v := range map[string]string{"--version": version, "--min-from": minFrom} {
		if v == "" {
			continue
		}
		if _, err := images.ParseVersion(v); err != nil {
			return usagef("%s: %v", flag, err)
		}
	}
	return nil
}

// printImportSummary says what became Pending and how to approve it.
func printImportSummary(w io.Writer, res importResult) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PENDING NOW\tVERSION\tFILES\tFROM")
	var names []string
	for i, im := range res.Images {
		var files []string
		for _, f := range im.Files {
			files = append(files, fmt.Sprintf("%s (%s)", f.Name, byteSize(f.Size)))
		}
		interim := ""
		if im.Interim {
			interim = " (interim)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\n", res.Rules[i].Key, im.Version, interim, strings.Join(files, ", "), im.Source)
		if !slices.Contains(names, res.Rules[i].Key.String()) {
			names = append(names, res.Rules[i].Key.String())
		}
	}
	tw.Flush()
	for _, wng := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wng)
	}
	if len(res.Ignored) > 0 {
		fmt.Fprintf(w, "not imported (not firmware): %s\n", strings.Join(res.Ignored, ", "))
	}
	fmt.Fprintf(w, "test devices get these now; approve them for every phone with: tanjay approve %s\n", strings.Join(names, " "))
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
	for _, k := range []string{"device_path", "version", "update_type", "interim", "min_from", "force"} {
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

// byteSize writes a file size the way a person reads it.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return mib(n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
