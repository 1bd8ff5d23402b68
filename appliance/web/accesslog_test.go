package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccessLogIsW3CExtended serves real requests on 127.0.0.1 and parses
// the file as a W3C extended log: directives first, then lines with exactly
// as many space-separated fields as #Fields names.
func TestAccessLogIsW3CExtended(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAccessLog(dir, "tanjay test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	})))
	defer srv.Close()
	for _, p := range []string{"/RequestHandler/ucdevice.upx", "/missing?a=b%20c", "/with%20space"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("User-Agent", "Microsoft UCPhone Device")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "u_ex*.log"))
	if len(files) != 1 {
		t.Fatalf("log files: %v", files)
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	sc := bufio.NewScanner(f)
	var fields []string
	directives := map[string]bool{}
	var rows [][]string
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") {
			name, value, _ := strings.Cut(line[1:], ": ")
			directives[name] = true
			if name == "Fields" {
				fields = strings.Fields(value)
			}
			continue
		}
		if fields == nil {
			t.Fatalf("data line before #Fields: %q", line)
		}
		cols := strings.Split(line, " ")
		if len(cols) != len(fields) {
			t.Fatalf("line has %d fields, #Fields names %d: %q", len(cols), len(fields), line)
		}
		rows = append(rows, cols)
	}
	for _, d := range []string{"Software", "Version", "Date", "Fields"} {
		if !directives[d] {
			t.Errorf("missing #%s directive", d)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3", len(rows))
	}
	col := func(row []string, name string) string {
		for i, f := range fields {
			if f == name {
				return row[i]
			}
		}
		t.Fatalf("no field %s", name)
		return ""
	}
	if got := col(rows[0], "cs(User-Agent)"); got != "Microsoft+UCPhone+Device" {
		t.Errorf("user agent = %q", got)
	}
	if got := col(rows[1], "sc-status"); got != "404" {
		t.Errorf("status = %q", got)
	}
	if got := col(rows[1], "cs-uri-query"); got != "a=b%20c" {
		t.Errorf("query = %q", got)
	}
	if got := col(rows[0], "cs-uri-query"); got != "-" {
		t.Errorf("empty query = %q", got)
	}
	if got := col(rows[0], "c-ip"); got != "127.0.0.1" {
		t.Errorf("c-ip = %q", got)
	}
}
