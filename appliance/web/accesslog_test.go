package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestAccessLogServerAddress: s-ip and s-port are the address of the
// listener each request came in on, also when one log serves two.
func TestAccessLogServerAddress(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAccessLog(dir, "tanjay test")
	if err != nil {
		t.Fatal(err)
	}
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	a, b := httptest.NewServer(h), httptest.NewServer(h)
	defer a.Close()
	defer b.Close()
	var want []string
	for _, srv := range []*httptest.Server{a, b, a, b} {
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want = append(want, strings.Replace(srv.Listener.Addr().String(), ":", " ", 1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range accessRows(t, dir) {
		got = append(got, row[2]+" "+row[6]) // s-ip, s-port
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("s-ip s-port:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAccessLogOneFilePerUTCDay: lines go to the file of their UTC day,
// whatever the time zone of the times written, each file with its
// directives.
func TestAccessLogOneFilePerUTCDay(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAccessLog(dir, "tanjay test")
	if err != nil {
		t.Fatal(err)
	}
	east := time.FixedZone("UTC+3", 3*3600)
	for _, at := range []time.Time{
		time.Date(2024, 5, 1, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 5, 2, 1, 0, 0, 0, east), // 2024-05-01 22:00 UTC
		time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC), // the same month and day a year on
	} {
		if err := l.Write(Entry{Time: at, Method: "GET", URIStem: "/", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"u_ex240501.log": {"2024-05-01 23:59:59", "2024-05-01 22:00:00"},
		"u_ex240502.log": {"2024-05-02 00:00:00"},
		"u_ex250502.log": {"2025-05-02 00:00:00"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
			if !strings.HasPrefix(line, "#") {
				got = append(got, line[:len("2006-01-02 15:04:05")])
			}
		}
		if !strings.HasPrefix(string(b), "#Software: tanjay test\r\n") || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s:\n%s\nwant directives, then lines at %v", name, b, want)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "u_ex*.log")); len(files) != 3 {
		t.Errorf("log files %v, want 3", files)
	}
}

// accessRows are the data lines of the one access log file in dir, split
// into fields.
func accessRows(t *testing.T, dir string) [][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "u_ex*.log"))
	if len(files) != 1 {
		t.Fatalf("log files: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		if !strings.HasPrefix(line, "#") {
			rows = append(rows, strings.Split(line, " "))
		}
	}
	return rows
}
