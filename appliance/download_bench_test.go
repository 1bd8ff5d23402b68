package appliance

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDownload32MiB fetches a 32 MiB image over loopback through the
// whole phone-facing stack (access log, r2 file handler with progress
// events, store, blob store) and, in the same run, from a bare
// http.ServeContent server on the same file. The goal: at least 0.9 of the
// bare throughput (compare the MB/s of the two sub-benchmarks).
func BenchmarkDownload32MiB(b *testing.B) {
	const size = 32 << 20
	content := randomBytes(size, 7)
	ta := startApp(b, nil)
	ta.importBytes(b, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, content)
	applianceURL := "http://" + ta.HTTP + "/DeviceUpdateFiles_Int/UCPhone/Polycom/CX700/A/ENU/3.5.6907.0/CPE/CPE.nbt"

	path := filepath.Join(b.TempDir(), "CPE.nbt")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "CPE.nbt", time.Time{}, f)
	})}
	go bare.Serve(ln)
	defer bare.Close()
	bareURL := "http://" + ln.Addr().String() + "/CPE.nbt"

	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	fetch := func(b *testing.B, url string) {
		b.SetBytes(size)
		for b.Loop() {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != size || resp.StatusCode != http.StatusOK {
				b.Fatalf("got %d bytes, status %d, err %v", n, resp.StatusCode, err)
			}
		}
	}
	// Same bytes from both.
	for _, u := range []string{bareURL, applianceURL} {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, content) {
			b.Fatalf("%s served other bytes", u)
		}
	}
	b.Run("bare", func(b *testing.B) { fetch(b, bareURL) })
	b.Run("appliance", func(b *testing.B) { fetch(b, applianceURL) })
}
