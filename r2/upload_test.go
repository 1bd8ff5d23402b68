package r2

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUpload(t *testing.T) {
	big := bytes.Repeat([]byte("log line\n"), 30<<10) // 270 KiB: more than the peek
	for _, tc := range []struct {
		name       string
		target     string
		body       []byte
		chunked    bool
		maxUpload  int64
		wantStatus int
		wantStored string // relative to UploadDir; "" nothing stored
		wantMAC    string
	}{
		{name: "MAC in the query", target: "/RequestHandler/CELog.txt?MacAddress=00-1b-9e-4b-5b-10", body: []byte("ce log"),
			wantStatus: 200, wantStored: "001B9E4B5B10/20090504T172339.000000000Z_CELog.txt", wantMAC: "001B9E4B5B10"},
		{name: "MAC in an XML body", target: "/requestHandlerExt/RoundTableConfig", body: []byte(`<Config><MAC>00:0F:EA:11:22:33</MAC></Config>`),
			wantStatus: 200, wantStored: "000FEA112233/20090504T172339.000000000Z_RoundTableConfig", wantMAC: "000FEA112233"},
		{name: "no MAC: client IP", target: "/RequestHandler/watson/dump.cab", body: []byte("MSCF\x00\x00"),
			wantStatus: 200, wantStored: "192.0.2.1/20090504T172339.000000000Z_dump.cab"},
		{name: "name sanitised", target: "/RequestHandler/bad%20name;x%3C%3E.txt", body: []byte("x"),
			wantStatus: 200, wantStored: "192.0.2.1/20090504T172339.000000000Z_bad_name_x__.txt"},
		{name: "larger than the peek, streamed", target: "/RequestHandler/big.log", body: big, chunked: true,
			wantStatus: 200, wantStored: "192.0.2.1/20090504T172339.000000000Z_big.log"},
		{name: "too large by Content-Length", target: "/RequestHandler/big.log", body: big, maxUpload: 100 << 10, wantStatus: 413},
		{name: "too large, chunked", target: "/RequestHandler/big.log", body: big, chunked: true, maxUpload: 100 << 10, wantStatus: 413},
		{name: "too large, chunked, within the peek", target: "/RequestHandler/small.log", body: []byte("0123456789"), chunked: true, maxUpload: 5, wantStatus: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			obs := &recorder{}
			h := NewHandler(Config{Planner: &fixedPlanner{}, Files: noFiles{}, Observer: obs, UploadDir: dir,
				MaxUpload: tc.maxUpload, Now: func() time.Time { return seedNow }})
			r := httptest.NewRequest(http.MethodPost, tc.target, bytes.NewReader(tc.body))
			if tc.chunked {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.wantStatus, w.Body)
			}
			var stored []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(dir, p)
					stored = append(stored, filepath.ToSlash(rel))
				}
				return nil
			})
			var want []string
			if tc.wantStored != "" {
				want = []string{tc.wantStored}
			}
			if diff := cmp.Diff(want, stored); diff != "" {
				t.Fatalf("stored files (-want +got):\n%s", diff)
			}
			if tc.wantStored == "" {
				if len(obs.uploads) != 0 {
					t.Errorf("observer told of a refused upload: %+v", obs.uploads)
				}
				return
			}
			full := filepath.Join(dir, filepath.FromSlash(tc.wantStored))
			if got, _ := os.ReadFile(full); !bytes.Equal(got, tc.body) {
				t.Errorf("stored %d bytes, want the %d-byte body", len(got), len(tc.body))
			}
			wantUpload := []Upload{{At: seedNow, ClientIP: "192.0.2.1", MAC: tc.wantMAC, Path: r.URL.Path, Stored: full, Size: int64(len(tc.body))}}
			if diff := cmp.Diff(wantUpload, obs.uploads); diff != "" {
				t.Errorf("Uploaded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUploadDisabled(t *testing.T) {
	h := NewHandler(Config{Planner: &fixedPlanner{}, Files: noFiles{}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/RequestHandler/log.txt", strings.NewReader("x")))
	if w.Code != 404 {
		t.Errorf("status = %d, want 404 without an UploadDir", w.Code)
	}
}
