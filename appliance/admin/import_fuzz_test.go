package admin

import (
	"bytes"
	"mime/multipart"
	"testing"

	"github.com/tanjay-lab/tanjay/appliance/oplog"
)

// fuzzBoundary is the multipart boundary of every fuzzed upload: the
// fuzzer mutates the body, not the header.
const fuzzBoundary = "tanjayfuzzboundary"

// FuzzImport feeds arbitrary upload bodies (fields, file names, bare
// images, vendor packages) to Import. Whatever the bytes, it must not
// panic, and an import either lands whole (every file of every image in
// the blob store) or leaves the store and the blob store as they were.
func FuzzImport(f *testing.F) {
	seed := func(fields map[string]string, files map[string]string) []byte {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary(fuzzBoundary)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		for name, content := range files {
			w, _ := mw.CreateFormFile("file", name)
			w.Write([]byte(content))
		}
		mw.Close()
		return b.Bytes()
	}
	f.Add(seed(map[string]string{"device_path": cx700.DevicePath.String(), "version": "4.0.7577.4066"}, map[string]string{"CPE.nbt": "image", "CPE.cat": "catalog"}))
	f.Add(seed(map[string]string{"device_path": "OCInterim/ENU", "version": "1.0.522.103", "interim": "true", "force": "true"}, map[string]string{"CPE.nbt": "interim"}))
	f.Add(seed(map[string]string{"device_path": cx700.DevicePath.String(), "version": "4.0.7577.4066", "min_from": "1.0.522.0", "update_type": "CPE"}, map[string]string{"CPE.nbt": "a"}))
	f.Add(seed(nil, map[string]string{"UCUpdates.cab": "MSCF\x00\x00\x00\x00garbage"}))
	f.Add(seed(nil, map[string]string{"UCUpdates.exe": "MZ\x90\x00MSCF"}))
	f.Add(seed(map[string]string{"version": "x"}, nil))
	f.Add([]byte{})
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		imagesBefore, blobsBefore := len(fx.st.Images(nil)), fx.blobFiles(t)
		res, err := fx.Import(oplog.Actor{Who: "fuzz"}, multipart.NewReader(bytes.NewReader(body), fuzzBoundary))
		if err != nil {
			if n := len(fx.st.Images(nil)); n != imagesBefore {
				t.Fatalf("a refused import (%v) changed the images: %d, was %d", err, n, imagesBefore)
			}
			if n := fx.blobFiles(t); n != blobsBefore {
				t.Fatalf("a refused import (%v) left blobs: %d, was %d", err, n, blobsBefore)
			}
			return
		}
		if len(res.Images) == 0 || len(res.Rules) != len(res.Images) {
			t.Fatalf("an import that landed nothing: %+v", res)
		}
		for _, im := range res.Images {
			for _, file := range im.Files {
				if !fx.blobs.Has(file.SHA256) {
					t.Fatalf("imported %s without its blob %s", file.Name, file.SHA256)
				}
			}
		}
	})
}
