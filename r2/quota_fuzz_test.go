package r2

import (
	"bufio"
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var normalMAC = regexp.MustCompile(`^[0-9A-F]{12}$`)

// FuzzUpload sends any path, query and body, declared honestly, falsely or
// not at all, to an upload handler with small caps. Whatever comes in, the
// answer is one of the expected statuses, a 200 stored exactly the body,
// and the caps' count matches the disk and stays within the caps.
func FuzzUpload(f *testing.F) {
	f.Add("CELog.txt", "MacAddress=00-1b-9e-4b-5b-10", []byte("ce log"), int64(6))
	f.Add("RoundTableConfig", "", []byte(`<Config><MAC>00:0F:EA:11:22:33</MAC></Config>`), int64(-1))
	f.Add("x", "mac=zz&MAC=000FEA112233", []byte("\xef\xbb\xbf <?xml version=\"1.0\"?><a MacAddress=\"000FEA112233\"/>"), int64(3))
	f.Add("big", "", bytes.Repeat([]byte("0123456789abcdef"), 8<<10), int64(10))
	f.Add("bad%zz", "%zz", []byte{}, int64(0))
	caps := Caps{PhoneFiles: 2, PhoneBytes: 96 << 10, TotalFiles: 3, TotalBytes: 128 << 10}
	f.Fuzz(func(t *testing.T, name, query string, body []byte, declared int64) {
		p := newPhoneFilesHandler(t, t.TempDir(), caps, Caps{}, nil, nil)
		target := "/RequestHandler/" + strings.NewReplacer("?", "", "#", "", " ", "").Replace(name)
		if query != "" {
			target += "?" + strings.NewReplacer("#", "", " ", "").Replace(query)
		}
		if !validTarget(target) {
			return
		}
		if declared < -1 {
			declared = -1
		}
		// Twice: the second upload meets the first one's count.
		for range 2 {
			w := p.upload("192.0.2.7", target, body, declared)
			switch w.Code {
			case 200, 400, 404, 413, 507:
			default:
				t.Fatalf("status %d for %q (%d bytes, declared %d)", w.Code, target, len(body), declared)
			}
		}
		on := files(t, p.uploadDir)
		st := p.uploads.Stats()
		if st.Files != len(on) || st.Bytes != total(on) {
			t.Fatalf("quota counts %d files, %d bytes; disk holds %v", st.Files, st.Bytes, on)
		}
		if st.Files > caps.PhoneFiles || st.Bytes > caps.PhoneBytes {
			t.Fatalf("one client stored %d files, %d bytes: over the caps", st.Files, st.Bytes)
		}
		for rel, size := range on {
			if strings.Contains(rel, ".tmp-") || size != int64(len(body)) {
				t.Fatalf("stored %s (%d bytes) for a %d-byte body", rel, size, len(body))
			}
		}
		for _, u := range p.obs.uploads {
			if u.MAC != "" && !normalMAC.MatchString(u.MAC) {
				t.Fatalf("Upload.MAC %q is not normalised", u.MAC)
			}
		}
	})
}

// validTarget reports whether httptest.NewRequest accepts target (it
// panics on a request line no client could send).
func validTarget(target string) bool {
	_, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
	return err == nil
}

// FuzzCaptureClient: any name found in captures/ at start-up maps to one
// non-empty phone key that is a single path element.
func FuzzCaptureClient(f *testing.F) {
	f.Add("20090504T172339.000000000Z_192.0.2.1_unidentified.xml")
	f.Add("20090504T172339.000000000Z___1_malformed-2.xml")
	f.Add("x")
	f.Fuzz(func(t *testing.T, name string) {
		got := captureClient(name)
		if got == "" || strings.ContainsAny(got, "/") {
			t.Fatalf("captureClient(%q) = %q", name, got)
		}
	})
}
