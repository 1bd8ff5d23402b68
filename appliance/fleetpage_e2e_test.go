package appliance

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// seededPhones is how many phones TestServeFleetPageIsBounded writes
// straight into the data directory's store before `tanjay serve` starts:
// far quicker than as many check-ins over HTTP.
const seededPhones = 3000

func seededMAC(i int) string { return fmt.Sprintf("0004F2%06X", i) }

// seedStore writes n checked-in phones into <data>/state.
func seedStore(t *testing.T, data string, n int) { seedStoreTB(t, data, n) }

func seedStoreTB(t testing.TB, data string, n int) {
	t.Helper()
	st, err := store.Open(filepath.Join(data, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cx700 := images.DevicePath{DeviceType: "UCPhone", Vendor: "Polycom", Model: "CX700", Revision: "A", Locale: "ENU"}
	beta := images.MustParseVersion("1.0.199.0")
	now := time.Now()
	for i := range n {
		st.Observe(store.Event{Kind: store.EventCheckIn, Time: now.Add(-time.Duration(i) * time.Second), MAC: seededMAC(i),
			Serial: fmt.Sprintf("SN%05d", i), IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+2), DevicePath: cx700, Reported: beta})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

var (
	fleetRow  = regexp.MustCompile(`<tr id="r-([^"]+)"`)
	nextPage  = regexp.MustCompile(`<a id="next-page"[^>]* href="([^"]+)"`)
	shownText = regexp.MustCompile(`<span id="shown"[^>]*>([^<]*)</span>`)
)

func getPage(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func rowIDs(body string) []string {
	var ids []string
	for _, m := range fleetRow.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestServeFleetPageIsBounded: with thousands of phones, anonymous GET /
// and /kiosk return one page of at most 200 rows with a working link to
// the next; a flood of heavy (filtered, sorted) fleet requests is partly
// refused with 503 and Retry-After while phones' check-ins keep being
// answered.
func TestServeFleetPageIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the tanjay binary")
	}
	data := t.TempDir()
	seedStore(t, data, seededPhones)
	srv := startServe(t, data)
	base := "http://" + srv.addrs.Dashboard

	code, _, body := getPage(t, base+"/")
	ids := rowIDs(body)
	if code != http.StatusOK || len(ids) != 200 {
		t.Fatalf("GET /: %d with %d rows, want 200 with 200 rows", code, len(ids))
	}
	if ids[0] != seededMAC(0) || ids[199] != seededMAC(199) {
		t.Errorf("first page runs %s…%s, want %s…%s", ids[0], ids[199], seededMAC(0), seededMAC(199))
	}
	if m := shownText.FindStringSubmatch(body); m == nil || m[1] != fmt.Sprintf("%d phones", seededPhones) {
		t.Errorf("shown: %v", m)
	}
	m := nextPage.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET / has no next-page link")
	}
	code, _, body = getPage(t, base+html.UnescapeString(m[1]))
	next := rowIDs(body)
	if code != http.StatusOK || len(next) != 200 || next[0] != seededMAC(200) {
		t.Fatalf("next page %s: %d, %d rows starting %v", m[1], code, len(next), next[:min(1, len(next))])
	}
	code, _, body = getPage(t, base+"/kiosk")
	if n := len(rowIDs(body)); code != http.StatusOK || n != 200 || nextPage.FindString(body) == "" {
		t.Errorf("GET /kiosk: %d with %d rows and next link %q", code, n, nextPage.FindString(body))
	}
	code, _, body = getPage(t, base+"/?stage=nonsense")
	if code != http.StatusBadRequest || !strings.Contains(body, `unknown stage "nonsense"`) {
		t.Errorf("bad stage: %d %q", code, body)
	}

	// The flood: rounds of 300 concurrent filtered and sorted requests,
	// each round while phones keep checking in, until some are refused.
	var refused, served, other atomic.Int64
	var badRetry atomic.Int64
	checkIns := 0
	for round := 0; round < 10 && refused.Load() == 0; round++ {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(fmt.Sprintf("%s/?q=cx700&sort=seen&dir=desc&offset=%d", base, g*7))
				if err != nil {
					other.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					served.Add(1)
				case http.StatusServiceUnavailable:
					refused.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						badRetry.Add(1)
					}
				default:
					other.Add(1)
				}
			}()
		}
		go func() { wg.Wait(); close(stop) }()
		for done := false; !done; {
			i := seededPhones + checkIns
			checkIn(t, srv.addrs.HTTP, "CX700", seededMAC(i), fmt.Sprintf("SN%05d", i), "1.0.199.0") // fails the test unless 200
			checkIns++
			select {
			case <-stop:
				done = true
			default:
			}
		}
	}
	t.Logf("flood: %d served, %d refused with 503, %d other; %d check-ins answered meanwhile", served.Load(), refused.Load(), other.Load(), checkIns)
	if refused.Load() == 0 {
		t.Errorf("no heavy request was refused in 10 rounds of 300")
	}
	if badRetry.Load() > 0 {
		t.Errorf("%d refusals without Retry-After", badRetry.Load())
	}
	if other.Load() > 0 {
		t.Errorf("%d requests neither served nor refused with 503", other.Load())
	}
	// And the fleet page still answers, with the phones checked in meanwhile.
	code, _, body = getPage(t, base+"/")
	if want := fmt.Sprintf("%d phones", seededPhones+checkIns); code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("after the flood: %d, shown %v, want %q", code, shownText.FindStringSubmatch(body), want)
	}
}
