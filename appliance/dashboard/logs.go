package dashboard

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
)

// Logs page limits.
const (
	opsShown    = 200
	tailBytes   = 64 << 10
	tailLines   = 60
	capturesMax = 100
)

// logsData is the logs page.
type logsData struct {
	page
	// The operator log: the newest opsShown entries the filter selects.
	Ops      []oplog.Entry
	OpFilter string
	MoreOps  int
	OpError  string

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
	data.OpFilter = strings.TrimSpace(r.URL.Query().Get("op"))
	if len(data.OpFilter) > maxFilterLen {
		data.OpFilter = data.OpFilter[:maxFilterLen]
	}
	ops, err := d.act.OperatorLog(oplog.Filter{Text: data.OpFilter}, opsShown+1)
	if err != nil {
		data.OpError = "the operator log cannot be read: " + err.Error()
	}
	if len(ops) > opsShown {
		ops, data.MoreOps = ops[:opsShown], opsShown
	}
	data.Ops = ops
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

// exportOperatorLog is GET /export/operator.csv: every operator action,
// oldest first. Clients choose none of these strings but the file names
// and test device IDs, so every cell is neutralised against CSV injection
// like fleet.csv's.
func (d *Dashboard) exportOperatorLog(w http.ResponseWriter, r *http.Request, _ session) {
	ops, err := d.act.OperatorLog(oplog.Filter{Text: strings.TrimSpace(r.URL.Query().Get("op"))}, 0)
	if err != nil {
		http.Error(w, "the operator log cannot be read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="operator.csv"`)
	line := appendCSVRecord(nil, []string{"time", "who", "from", "action", "target", "change", "error"})
	w.Write(line)
	for i := len(ops) - 1; i >= 0; i-- {
		e := &ops[i]
		line = appendCSVRecord(line[:0], []string{e.Time.UTC().Format(time.RFC3339), e.Who, e.From, e.Action, e.Target, e.Change, e.Error})
		w.Write(line)
	}
}
