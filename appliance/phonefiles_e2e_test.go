package appliance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// loopbackClient is an HTTP client whose connections come from ip (any
// 127.0.0.0/8 address), so the server sees several phones.
func loopbackClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// postFrom POSTs body from ip and returns the status.
func postFrom(t *testing.T, ip, url string, body []byte) int {
	t.Helper()
	resp, err := loopbackClient(ip).Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s from %s: %v", url, ip, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// checkInFrom checks a CX700 in from ip and fails the test unless it is
// answered.
func checkInFrom(t *testing.T, httpAddr, ip, mac string) {
	t.Helper()
	body := fmt.Sprintf(`<Request><DeviceType>UCPhone</DeviceType><MacAddress>%s</MacAddress><Vendor>Polycom</Vendor><Model>CX700</Model><Revision>A</Revision><Locale>ENU</Locale><Modules><Module><FileName>cpe.nbt</FileName><Version>1.0.522.103</Version></Module></Modules></Request>`, mac)
	if c := postFrom(t, ip, "http://"+httpAddr+"/RequestHandler/ucdevice.upx", []byte(body)); c != 200 {
		t.Fatalf("check-in of %s from %s: %d, want 200", mac, ip, c)
	}
}

// uploadEvents are the upload events on a phone's timeline, summed up as
// "<file> <detail>", once there are at least want of them (or after ten
// seconds: observations reach reads within the store's flush interval).
func uploadEvents(t *testing.T, srv *serveProcess, id string, want int) []string {
	t.Helper()
	api, err := newAPIClient(clientConfig{Server: "http://" + srv.addrs.Dashboard, Data: srv.data, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var d deviceDetail
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := api.do(context.Background(), "GET", "/api/v1/devices/"+id, "", nil, &d)
		var got []string
		for _, e := range d.Events {
			if e.Kind == store.EventUpload {
				got = append(got, e.File+" "+e.Detail)
			}
		}
		if err == nil && len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUploadsAgainstServe runs the real `tanjay serve` with small caps:
// uploads land on the phone their MAC names even after another phone took
// the address over, the cap refuses with 507 and a timeline event, the cap
// holds across a restart, and check-ins keep being answered throughout.
func TestUploadsAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	srv := startServe(t, data, "--upload-phone-files", "2", "--upload-phone-mib", "1")
	const phoneA, phoneB = "0004F2A00001", "0004F2B00002"
	const shared, other = "127.0.0.2", "127.0.0.3"
	checkInFrom(t, srv.addrs.HTTP, shared, phoneA)
	checkInFrom(t, srv.addrs.HTTP, other, phoneB)
	// Phone B takes phone A's address over (a new lease, a swapped port).
	checkInFrom(t, srv.addrs.HTTP, shared, phoneB)

	upload := func(query string) int {
		return postFrom(t, shared, "http://"+srv.addrs.HTTP+"/RequestHandler/CELog.txt"+query, []byte("CE log of phone A"))
	}
	if c := upload("?MacAddress=" + phoneA); c != 200 {
		t.Fatalf("upload naming phone A: %d", c)
	}
	if c := upload("?MacAddress=00-04-f2-a0-00-01"); c != 200 {
		t.Fatalf("second upload naming phone A: %d", c)
	}
	if c := upload("?MacAddress=" + phoneA); c != http.StatusInsufficientStorage {
		t.Fatalf("third upload naming phone A, over --upload-phone-files 2: %d, want 507", c)
	}
	checkInFrom(t, srv.addrs.HTTP, shared, phoneB)

	events := uploadEvents(t, srv, phoneA, 3)
	if len(events) != 3 || !strings.Contains(events[2], "507") || !strings.Contains(events[2], "phone-files") {
		t.Errorf("phone A's upload events = %q, want two stored and a 507 naming the phone-files cap", events)
	}
	if got := uploadEvents(t, srv, phoneB, 0); len(got) != 0 {
		t.Errorf("phone B, now at the address, got phone A's uploads: %q", got)
	}
	stored, _ := filepath.Glob(filepath.Join(data, "logs", "client", phoneA, "*"))
	if len(stored) != 2 {
		t.Errorf("logs/client/%s holds %q, want 2 files", phoneA, stored)
	}
	// A chunked body (no Content-Length) past --upload-phone-mib is cut
	// while it streams and leaves nothing behind.
	const phoneC = "0004F2C00003"
	resp, err := loopbackClient(other).Post("http://"+srv.addrs.HTTP+"/RequestHandler/dump.cab?MAC="+phoneC, "application/octet-stream",
		io.MultiReader(bytes.NewReader(make([]byte, 3<<20))))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusInsufficientStorage {
			t.Errorf("chunked 3 MiB upload over a 1 MiB cap: %d, want 507", resp.StatusCode)
		}
	} // else the server closed the connection before reading the rest: also a refusal
	if left, _ := filepath.Glob(filepath.Join(data, "logs", "client", phoneC, "*")); len(left) != 0 {
		t.Errorf("the cut upload left %q", left)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "logs", "client", phoneC, ".tmp-*")); len(left) != 0 {
		t.Errorf("the cut upload left %q", left)
	}
	checkInFrom(t, srv.addrs.HTTP, other, phoneB)

	metrics := get(t, "http://"+srv.addrs.Dashboard+"/metrics")
	for _, want := range []string{`tanjay_phone_files{folder="uploads"} 2`, `tanjay_phone_files_refused_total{cap="phone-bytes",folder="uploads"} 1`, `tanjay_phone_files_refused_total{cap="phone-files",folder="uploads"} 1`, "tanjay_data_below_floor 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// After a restart the two files are counted again.
	srv.interrupt(t)
	srv = startServe(t, data, "--upload-phone-files", "2")
	if c := upload("?MacAddress=" + phoneA); c != http.StatusInsufficientStorage {
		t.Errorf("upload naming phone A after a restart: %d, want 507", c)
	}
	checkInFrom(t, srv.addrs.HTTP, shared, phoneA)
}

// TestDiskFloorAgainstServe runs the real `tanjay serve` with a floor no
// disk reaches: uploads get 507, nothing is captured, check-ins are
// answered and /metrics says why.
func TestDiskFloorAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	srv := startServe(t, data, "--disk-floor-mib", "1073741824", "--capture-all")
	for i := range 5 {
		checkInFrom(t, srv.addrs.HTTP, "127.0.0.4", fmt.Sprintf("0004F2C0000%d", i))
		if c := postFrom(t, "127.0.0.4", "http://"+srv.addrs.HTTP+"/RequestHandler/CELog.txt", []byte("log")); c != http.StatusInsufficientStorage {
			t.Fatalf("upload below the floor: %d, want 507", c)
		}
	}
	captures, _ := os.ReadDir(filepath.Join(data, "captures"))
	uploads, _ := os.ReadDir(filepath.Join(data, "logs", "client"))
	if len(captures)+len(uploads) != 0 {
		t.Errorf("below the floor, %d captures and %d upload folders were written", len(captures), len(uploads))
	}
	metrics := get(t, "http://"+srv.addrs.Dashboard+"/metrics")
	for _, want := range []string{"tanjay_data_below_floor 1", "tanjay_data_floor_refused_total 10", "tanjay_checkins_total 5"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	srv.interrupt(t)
	if n := strings.Count(srv.stderr.String(), "below its free-space floor"); n != 1 {
		t.Errorf("the crossing was logged %d times, want once:\n%s", n, srv.stderr)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
