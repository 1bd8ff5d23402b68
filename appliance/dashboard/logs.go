package dashboard

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Logs page limits.
const (
	tailBytes   = 64 << 10
	tailLines   = 60
	capturesMax = 100
)

// logsData is the logs page.
type logsData struct {
	page
	Audit, Access logTail
	Captures      []fileRow
	CaptureDir    string
	MoreCaptures  int
}

// logTail is the end of the newest file of a log folder.
type logTail struct {
	Dir   string
	File  string
	Lines []string
	Note  string // why there is nothing to show
}

type fileRow struct {
	Name, Size, Modified string
}

func (d *Dashboard) logsPage(w http.ResponseWriter, r *http.Request, s session) {
	data := logsData{page: newPage(r, s, "Logs", "logs"), CaptureDir: d.cfg.CaptureDir}
	data.Audit = tailNewest(filepath.Join(d.cfg.LogDir, "audit"))
	data.Access = tailNewest(filepath.Join(d.cfg.LogDir, "access"))
	files := newestFiles(d.cfg.CaptureDir)
	if len(files) > capturesMax {
		data.MoreCaptures = len(files) - capturesMax
		files = files[:capturesMax]
	}
	for _, f := range files {
		data.Captures = append(data.Captures, fileRow{Name: f.name, Size: byteSize(f.size), Modified: f.mod.Local().Format("2006-01-02 15:04:05")})
	}
	d.render(w, "logs", data)
}

type fileInfo struct {
	name string
	size int64
	mod  time.Time
}

// newestFiles lists the regular files of dir, newest first.
func newestFiles(dir string) []fileInfo {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []fileInfo
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			out = append(out, fileInfo{e.Name(), info.Size(), info.ModTime()})
		}
	}
	slices.SortFunc(out, func(a, b fileInfo) int { return b.mod.Compare(a.mod) })
	return out
}

// tailNewest reads the last lines of the newest file in dir.
func tailNewest(dir string) logTail {
	t := logTail{Dir: dir}
	files := newestFiles(dir)
	if len(files) == 0 {
		t.Note = "no log files yet"
		return t
	}
	t.File = files[0].name
	f, err := os.Open(filepath.Join(dir, t.File))
	if err != nil {
		t.Note = err.Error()
		return t
	}
	defer f.Close()
	start := max(0, files[0].size-tailBytes)
	buf, err := io.ReadAll(io.NewSectionReader(f, start, tailBytes))
	if err != nil {
		t.Note = err.Error()
		return t
	}
	if start > 0 { // drop the partial first line
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	lines := bytes.Split(bytes.TrimRight(buf, "\r\n"), []byte("\n"))
	for _, l := range lines[max(0, len(lines)-tailLines):] {
		if len(l) > 0 {
			t.Lines = append(t.Lines, string(bytes.TrimRight(l, "\r")))
		}
	}
	if len(t.Lines) == 0 {
		t.Note = "empty"
	}
	return t
}

func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return mib(n)
}
