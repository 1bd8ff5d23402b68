package appliance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/images/cabtest"
)

// vendorCab is a cabinet laid out as OCS update packages are: the interim
// under OCInterim/ENU and a release for the CX700, each .nbt with its .cat.
func vendorCab(t testing.TB, compression cabtest.Compression, extra ...cabtest.File) ([]byte, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		`OCInterim\ENU\1.0.522.103\CPE\CPE.nbt`:                     cabtest.Random(200<<10, 1),
		`OCInterim\ENU\1.0.522.103\CPE\CPE.cat`:                     cabtest.Random(3000, 2),
		`UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.nbt`:       cabtest.Random(300<<10, 3),
		`UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.cat`:       cabtest.Random(3000, 4),
		`UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.nbt.notes`: []byte("not firmware"),
	}
	c := cabtest.Cabinet{Folders: []cabtest.Folder{{Compression: compression, LZXWindow: 16}}}
	for _, name := range []string{
		`OCInterim\ENU\1.0.522.103\CPE\CPE.nbt`, `OCInterim\ENU\1.0.522.103\CPE\CPE.cat`,
		`UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.nbt`, `UCPhone\Polycom\CX700\A\ENU\3.5.6907.37\CPE\CPE.cat`,
	} {
		c.Files = append(c.Files, cabtest.File{Name: name, Data: files[name]})
	}
	c.Files = append(c.Files, extra...)
	raw, _ := c.Build()
	return raw, files
}

// selfExtracting wraps a cabinet as UCUpdates.exe ships: an MZ stub, the
// cabinet, trailing bytes.
func selfExtracting(cab []byte) []byte {
	stub := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 1020)...)
	return append(append(stub, cab...), []byte("signature blob")...)
}

// uploadPackage posts one package through the admin API as `tanjay import`
// does.
func (ta *testApp) uploadPackage(t *testing.T, name string, content []byte) (importResult, error) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writeImportBody(mw, map[string]string{}, []uploadFile{memoryFile(name, content)}, newProgress(io.Discard, 0)); err != nil {
		t.Fatal(err)
	}
	var res importResult
	err := ta.api.do(context.Background(), "POST", "/api/v1/images", mw.FormDataContentType(), &body, &res)
	return res, err
}

func TestImportVendorPackage(t *testing.T) {
	for _, tt := range []struct {
		name        string
		compression cabtest.Compression
		exe         bool
	}{
		{"LZX cabinet inside UCUpdates.exe", cabtest.LZX, true},
		{"MSZIP cabinet", cabtest.MSZIP, false},
		{"stored cabinet", cabtest.Stored, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ta := startApp(t, nil)
			raw, files := vendorCab(t, tt.compression)
			name := "UCUpdates.cab"
			if tt.exe {
				raw, name = selfExtracting(raw), "UCUpdates.exe"
			}
			res, err := ta.uploadPackage(t, name, raw)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, im := range res.Images {
				got = append(got, fmt.Sprintf("%s %s pending=%s interim=%v source=%s", res.Rules[i].Key, im.Version, res.Rules[i].Pending, im.Interim, im.Source))
			}
			want := []string{
				"OCInterim/ENU/CPE 1.0.522.103 pending=1.0.522.103 interim=true source=" + name,
				"UCPhone/Polycom/CX700/A/ENU/CPE 3.5.6907.37 pending=3.5.6907.37 interim=false source=" + name,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("imported:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Every file is served byte-identical at the URL a phone is given.
			for path, content := range files {
				if strings.HasSuffix(path, ".notes") {
					continue
				}
				url := "http://" + ta.HTTP + "/DeviceUpdateFiles_Int/" + strings.ReplaceAll(path, `\`, "/")
				resp, err := http.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.Equal(b, content) {
					t.Errorf("%s: served %d bytes (status %d), not the %d imported", path, len(b), resp.StatusCode, len(content))
				}
			}
		})
	}
}

// TestImportRefusalsLeaveNothing: each refused package names the problem,
// and neither the store nor the blob store changes.
func TestImportRefusalsLeaveNothing(t *testing.T) {
	ta := startApp(t, nil)
	good, _ := vendorCab(t, cabtest.MSZIP)
	traversal, _ := vendorCab(t, cabtest.Stored, cabtest.File{Name: `..\..\etc\passwd`, Data: []byte("x")})
	duplicate, _ := vendorCab(t, cabtest.Stored, cabtest.File{Name: `ocinterim\enu\1.0.522.103\cpe\cpe.NBT`, Data: []byte("x")})
	badSum := bytes.Clone(good)
	badSum[len(badSum)-10] ^= 0xff
	noMeta, _ := cabtest.Cabinet{Files: []cabtest.File{{Name: "CPE.nbt", Data: cabtest.Random(1000, 9)}}}.Build()
	for _, tt := range []struct {
		name, file string
		content    []byte
		want       string
	}{
		{"path traversal", "UCUpdates.cab", traversal, ".."},
		{"duplicate names", "UCUpdates.cab", duplicate, "twice"},
		{"bad checksum", "UCUpdates.cab", badSum, "checksum"},
		{"executable without a cabinet", "UCUpdates.exe", selfExtracting([]byte("no cabinet here")), "no cabinet"},
		{"no identity anywhere", "UCUpdates.cab", noMeta, "--device-path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ta.uploadPackage(t, tt.file, tt.content)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			assertNothingImported(t, ta.data, ta.api)
		})
	}
}

// TestCutUploadLeavesNothing: a client that goes away halfway through the
// upload leaves no blob and no rule.
func TestCutUploadLeavesNothing(t *testing.T) {
	ta := startApp(t, nil)
	raw, _ := vendorCab(t, cabtest.Stored)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	writeImportBody(mw, map[string]string{}, []uploadFile{memoryFile("UCUpdates.cab", raw)}, newProgress(io.Discard, 0))
	conn, err := net.Dial("tcp", ta.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		ta.api.token, mw.FormDataContentType(), body.Len())
	conn.Write(body.Bytes()[:body.Len()/2])
	// Half-close: the server sees the body end early and answers.
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a cut upload was accepted")
	}
	assertNothingImported(t, ta.data, ta.api)
}

func assertNothingImported(t *testing.T, data string, api *apiClient) {
	t.Helper()
	var rules []any
	if err := api.do(context.Background(), "GET", "/api/v1/rules", "", nil, &rules); err != nil {
		t.Fatal(err)
	}
	if len(rules) != 0 {
		t.Errorf("rules after a refused import: %v", rules)
	}
	for _, dir := range []string{"blobs", "tmp"} {
		var left []string
		filepath.WalkDir(filepath.Join(data, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Errorf("%s/ keeps files after a refused import: %v", dir, left)
		}
	}
}

// TestKillMidImportRestartsClean kills the real server with SIGKILL while a
// package is being uploaded into it, restarts it on the same data
// directory, and finds nothing of the import: no rule, no image, no spooled
// upload, no stray blob. Stray files planted as if the kill had come later
// (after some blobs were written) are swept too.
func TestKillMidImportRestartsClean(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	srv := startServe(t, data)
	raw, _ := vendorCab(t, cabtest.Stored)
	raw = append(raw[:len(raw):len(raw)], make([]byte, 8<<20)...) // large enough to be caught mid-way
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	tok, err := readToken(clientConfig{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+srv.addrs.Dashboard+"/api/v1/images", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go http.DefaultClient.Do(req)
	part, _ := mw.CreateFormFile("file", "UCUpdates.cab")
	if _, err := part.Write(raw[:len(raw)/2]); err != nil {
		t.Fatal(err)
	}
	// Wait until the server is spooling the upload, then kill it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if spooled, _ := filepath.Glob(filepath.Join(data, "tmp", "upload-*")); len(spooled) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never started spooling the upload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill()
	pw.CloseWithError(io.ErrUnexpectedEOF)
	// As if the kill had come after some blobs were written.
	stray := filepath.Join(data, "blobs", "ab", "ab"+strings.Repeat("0", 62))
	os.MkdirAll(filepath.Dir(stray), 0o755)
	os.WriteFile(stray, []byte("a blob no image refers to"), 0o644)
	os.WriteFile(filepath.Join(data, "blobs", ".put-123"), []byte("half a blob"), 0o644)

	again := startServe(t, data)
	if out := again.tanjay(t, "rules"); strings.Count(out, "\n") != 1 {
		t.Errorf("rules after the killed import:\n%s", out)
	}
	api, err := newAPIClient(clientConfig{Server: "http://" + again.addrs.Dashboard, Data: data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	assertNothingImported(t, data, api)
	// And the next import works.
	out := again.tanjay(t, "import", writeFile(t, t.TempDir(), "UCUpdates.exe", selfExtracting(raw[:len(raw)-8<<20])))
	if !strings.Contains(out, "OCInterim/ENU/CPE") || !strings.Contains(out, "3.5.6907.37") {
		t.Errorf("import after restart:\n%s", out)
	}
}
