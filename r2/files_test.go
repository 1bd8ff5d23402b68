package r2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var fileModTime = time.Date(2009, 5, 4, 20, 9, 14, 0, time.UTC)

type nopSeekCloser struct{ io.ReadSeeker }

func (nopSeekCloser) Close() error { return nil }

// memFiles serves files from memory; "broken" fails with a store error.
type memFiles map[string][]byte

func (m memFiles) OpenFile(p string) (File, error) {
	if p == "broken" {
		return File{}, errors.New("store closed")
	}
	data, ok := m[p]
	if !ok {
		return File{}, ErrNoFile
	}
	return File{Name: path.Base(p), ModTime: fileModTime, Size: int64(len(data)), Content: nopSeekCloser{bytes.NewReader(data)}}, nil
}

// dirFiles serves real files from a directory, as the blob store does.
type dirFiles string

func (d dirFiles) OpenFile(p string) (File, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(p)))
	if err != nil {
		return File{}, ErrNoFile
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return File{}, err
	}
	return File{Name: st.Name(), ModTime: st.ModTime(), Size: st.Size(), Content: f}, nil
}

func testImage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

const interimNBT = "OCInterim/ENU/1.0.522.103/CPE/CPE.nbt"

func TestServeFile(t *testing.T) {
	img := testImage(4500)
	files := memFiles{interimNBT: img, "OCInterim/ENU/1.0.522.103/CPE/CPE.cat": []byte("catalog")}
	type call struct {
		Offset, Sent, Total int64
		Done                bool
		Err                 string
	}
	for _, tc := range []struct {
		name       string
		method     string
		target     string
		header     map[string]string
		wantStatus int
		wantBody   []byte
		wantType   string
		wantCalls  []call
	}{
		{
			name: "whole file from memory: start and end", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			wantStatus: 200, wantBody: img, wantType: "application/octet-stream",
			wantCalls: []call{{0, 0, 4500, false, ""}, {0, 4500, 4500, true, ""}},
		},
		{
			name: "ext prefix in odd case, catalog", target: "/deviceupdatefiles_EXT/OCInterim/ENU/1.0.522.103/CPE/CPE.cat",
			wantStatus: 200, wantBody: []byte("catalog"), wantType: "application/vnd.ms-pki.seccat",
			wantCalls: []call{{0, 0, 7, false, ""}, {0, 7, 7, true, ""}},
		},
		{
			name: "range resumes at its start", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			header: map[string]string{"Range": "bytes=4000-"}, wantStatus: 206, wantBody: img[4000:],
			wantCalls: []call{{4000, 0, 4500, false, ""}, {4000, 500, 4500, true, ""}},
		},
		{
			name: "suffix range", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			header: map[string]string{"Range": "bytes=-100"}, wantStatus: 206, wantBody: img[4400:],
			wantCalls: []call{{4400, 0, 4500, false, ""}, {4400, 100, 4500, true, ""}},
		},
		{
			name: "If-Range that does not match sends the whole file", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			header:     map[string]string{"Range": "bytes=4000-", "If-Range": `"other"`},
			wantStatus: 200, wantBody: img, wantCalls: []call{{0, 0, 4500, false, ""}, {0, 4500, 4500, true, ""}},
		},
		{
			name: "unsatisfiable range", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			header: map[string]string{"Range": "bytes=9000-"}, wantStatus: 416,
		},
		{
			name: "not modified", target: "/DeviceUpdateFiles_Int/" + interimNBT,
			header: map[string]string{"If-Modified-Since": fileModTime.Format(http.TimeFormat)}, wantStatus: 304,
		},
		{name: "HEAD is not a download", method: http.MethodHead, target: "/DeviceUpdateFiles_Int/" + interimNBT, wantStatus: 200},
		{name: "POST", method: http.MethodPost, target: "/DeviceUpdateFiles_Int/" + interimNBT, wantStatus: 405},
		{name: "missing", target: "/DeviceUpdateFiles_Int/OCInterim/ENU/CPE.nbt", wantStatus: 404},
		{name: "store error", target: "/DeviceUpdateFiles_Int/broken", wantStatus: 500},
		{name: "prefix only", target: "/DeviceUpdateFiles_Int/", wantStatus: 404},
		{name: "dot-dot", target: "/DeviceUpdateFiles_Int/OCInterim/../OCInterim/ENU/1.0.522.103/CPE/CPE.nbt", wantStatus: 404},
		{name: "encoded dot-dot", target: "/DeviceUpdateFiles_Int/OCInterim/%2e%2e/OCInterim/ENU/1.0.522.103/CPE/CPE.nbt", wantStatus: 404},
		{name: "encoded slash", target: "/DeviceUpdateFiles_Int/OCInterim%2FENU/1.0.522.103/CPE/CPE.nbt", wantStatus: 404},
		{name: "backslash", target: `/DeviceUpdateFiles_Int/OCInterim\ENU/1.0.522.103/CPE/CPE.nbt`, wantStatus: 404},
		{name: "encoded backslash", target: "/DeviceUpdateFiles_Int/OCInterim%5cENU/1.0.522.103/CPE/CPE.nbt", wantStatus: 404},
		{name: "double slash", target: "/DeviceUpdateFiles_Int/OCInterim//ENU/1.0.522.103/CPE/CPE.nbt", wantStatus: 404},
		{name: "dot segment", target: "/DeviceUpdateFiles_Int/./" + interimNBT, wantStatus: 404},
		{name: "trailing slash", target: "/DeviceUpdateFiles_Int/OCInterim/ENU/", wantStatus: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &recorder{}
			h := NewHandler(Config{Planner: &fixedPlanner{}, Files: files, Observer: obs})
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "http://10.0.0.1"+tc.target, nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d", w.Code, tc.wantStatus)
			}
			if tc.wantBody != nil && !bytes.Equal(w.Body.Bytes(), tc.wantBody) {
				t.Errorf("body: got %d bytes, want %d", w.Body.Len(), len(tc.wantBody))
			}
			if tc.wantType != "" && w.Header().Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", w.Header().Get("Content-Type"), tc.wantType)
			}
			if tc.wantStatus == 405 && w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
			var got []call
			for _, d := range obs.downloads {
				got = append(got, call{d.Offset, d.Sent, d.Total, d.Done, d.Err})
				if d.Path != r.URL.Path || d.ClientIP != "192.0.2.1" || d.File == "" || d.At.IsZero() {
					t.Errorf("download report %+v lacks path, client, file or time", d)
				}
			}
			if diff := cmp.Diff(tc.wantCalls, got); diff != "" {
				t.Errorf("Downloaded calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFirstRangeStart(t *testing.T) {
	for _, tc := range []struct {
		h    string
		size int64
		want int64
		ok   bool
	}{
		{"bytes=500-", 1000, 500, true},
		{"bytes=500-999,0-10", 1000, 500, true},
		{"bytes=-300", 1000, 700, true},
		{"bytes=-3000", 1000, 0, true},
		{"bytes= 7-8", 1000, 7, true},
		{"items=1-2", 1000, 0, false},
		{"bytes=x-", 1000, 0, false},
		{"", 1000, 0, false},
	} {
		got, ok := firstRangeStart(tc.h, tc.size)
		if got != tc.want || ok != tc.ok {
			t.Errorf("firstRangeStart(%q, %d) = %d, %v; want %d, %v", tc.h, tc.size, got, ok, tc.want, tc.ok)
		}
	}
}

// servePhones serves h on a real loopback socket until the test ends.
func servePhones(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// doneObserver signals each finished download.
type doneObserver struct {
	recorder
	done chan Download
}

func (o *doneObserver) Downloaded(d Download) {
	o.recorder.Downloaded(d)
	if d.Done {
		o.done <- d
	}
}

func writeImageDir(tb testing.TB, size int) string {
	tb.Helper()
	dir := tb.TempDir()
	p := filepath.Join(dir, filepath.FromSlash(interimNBT))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, testImage(size), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func TestDownloadOverSocket(t *testing.T) {
	const size = 3<<20 + 123
	obs := &doneObserver{done: make(chan Download, 1)}
	base := servePhones(t, NewHandler(Config{Planner: &fixedPlanner{}, Files: dirFiles(writeImageDir(t, size)), Observer: obs}))
	resp, err := http.Get(base + "/DeviceUpdateFiles_Int/" + interimNBT)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, testImage(size)) {
		t.Fatalf("read %d bytes (%v), want the %d-byte image", len(got), err, size)
	}
	d := <-obs.done
	if d.Sent != size || d.Total != size || d.Err != "" || d.ClientIP != "127.0.0.1" {
		t.Errorf("final report %+v", d)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var sent []int64
	for _, d := range obs.downloads {
		sent = append(sent, d.Sent)
	}
	if sent[0] != 0 || sent[len(sent)-1] != size || !slices.IsSorted(sent) {
		t.Errorf("progress reports %v: want 0 first, %d last, never going back", sent, size)
	}
}

// TestDownloadProgressWhileRunning: a phone reading slowly is reported as it
// goes, from the file position sendfile advances, without the handler
// touching the bytes.
func TestDownloadProgressWhileRunning(t *testing.T) {
	const size = 16 << 20 // more than the loopback socket buffers hold
	obs := &doneObserver{done: make(chan Download, 1)}
	base := servePhones(t, NewHandler(Config{Planner: &fixedPlanner{}, Files: dirFiles(writeImageDir(t, size)), Observer: obs,
		DownloadProgressInterval: 5 * time.Millisecond}))
	resp, err := http.Get(base + "/DeviceUpdateFiles_Int/" + interimNBT)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	var n int
	for {
		m, err := resp.Body.Read(buf)
		n += m
		if err != nil {
			break
		}
		time.Sleep(time.Millisecond) // a phone on a slow link
	}
	resp.Body.Close()
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	d := <-obs.done
	if d.Sent != size || d.Err != "" {
		t.Errorf("final report %+v", d)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var sent []int64
	for _, d := range obs.downloads {
		sent = append(sent, d.Sent)
	}
	if !slices.IsSorted(sent) {
		t.Errorf("progress went back: %v", sent)
	}
	if len(sent) < 3 {
		t.Errorf("progress reports %v: want at least one between start and end", sent)
	}
}

func TestDownloadCutOff(t *testing.T) {
	const size = 64 << 20 // more than the socket buffers hold
	obs := &doneObserver{done: make(chan Download, 1)}
	base := servePhones(t, NewHandler(Config{Planner: &fixedPlanner{}, Files: dirFiles(writeImageDir(t, size)), Observer: obs}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /DeviceUpdateFiles_Int/%s HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-\r\n\r\n", interimNBT)
	if _, err := io.ReadFull(conn, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case d := <-obs.done:
		if d.Err == "" || d.Sent >= size-1000 || d.Offset != 1000 {
			t.Errorf("final report %+v, want an error, Offset 1000 and fewer bytes sent", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no final report after the client went away")
	}
}

// BenchmarkDownload32MiB compares a bare http.ServeContent with the file
// handler (path checks, Files, progress counting) over loopback sockets.
func BenchmarkDownload32MiB(b *testing.B) {
	const size = 32 << 20
	dir := writeImageDir(b, size)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(interimNBT)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, _ := f.Stat()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, st.Name(), st.ModTime(), f)
	})
	handler := NewHandler(Config{Planner: &fixedPlanner{}, Files: dirFiles(dir), Observer: &recorder{}})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"handler", handler}} {
		b.Run(bc.name, func(b *testing.B) {
			url := servePhones(b, bc.h) + "/DeviceUpdateFiles_Int/" + interimNBT
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			buf := make([]byte, 256<<10)
			b.SetBytes(size)
			for b.Loop() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}
