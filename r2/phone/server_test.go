package phone

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// The chain the fake server plays: a beta phone gets the interim, the
// interim gets the release, the release gets nothing.
const (
	beta    = "0.0.0.0"
	interim = "1.0.522.103"
	release = "3.5.6907.0"
)

var testChain = map[string]string{beta: interim, interim: release}

// fakeServer is a small update service for tests: it answers check-ins from
// a map of reported → offered version and serves each offered version's
// CPE.nbt and CPE.cat with Range support (http.ServeContent).
type fakeServer struct {
	*httptest.Server
	t         *testing.T
	offers    map[string]string
	files     map[string][]byte // URL path → content
	imageSize int
	// Options, set before the server starts.
	onCheckIn   func(reported string)
	noBaseURL   bool // answer offers with blank URLs
	ignoreRange bool // serve files whole, never 206
	shortBody   bool // promise Content-Length, send half
	failCheckIn bool // answer check-ins 500

	mu       sync.Mutex
	checkIns []seenCheckIn
	gets     []seenGet
	froms    map[string][]string // client IP → "MAC" of each check-in, "GET path" of each download
	open     int                 // connections open now
	changed  chan struct{}       // closed and replaced whenever open changes
}

type seenCheckIn struct {
	UserAgent, ContentType string
	Body                   string
	Request                checkInRequest
}

type seenGet struct{ Path, Range string }

// checkInRequest is what the fake server reads from our request shape.
type checkInRequest struct {
	DeviceType   string
	MacAddress   string
	SerialNumber string
	Vendor       string
	Model        string
	Revision     string
	Locale       string
	RequestTime  string
	Modules      []struct {
		FileName  string
		Version   string
		TimeStamp string
	} `xml:"Modules>Module"`
}

func newFakeServer(t *testing.T, offers map[string]string, opts ...func(*fakeServer)) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, offers: offers, files: map[string][]byte{}, imageSize: 64 << 10,
		froms: map[string][]string{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(f)
	}
	for _, v := range offers {
		dir := fileDir(v)
		f.files[dir+"/CPE.nbt"] = testContent(v+"/nbt", f.imageSize)
		f.files[dir+"/CPE.cat"] = testContent(v+"/cat", 3000)
	}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serveHTTP))
	f.Config.ConnState = f.connState
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func fileDir(version string) string {
	return "/DeviceUpdateFiles_Int/OCInterim/ENU/" + version + "/CPE"
}

// testContent is size deterministic pseudo-random bytes named by seed.
func testContent(seed string, size int) []byte {
	var key [32]byte
	copy(key[:], seed)
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	return b
}

// connState counts the open connections.
func (f *fakeServer) connState(_ net.Conn, s http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch s {
	case http.StateNew:
		f.open++
	case http.StateClosed, http.StateHijacked:
		f.open--
	default:
		return
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitConnsClosed waits until no connection is open, or fails the test
// after a minute.
func (f *fakeServer) waitConnsClosed() {
	f.t.Helper()
	timeout := time.After(time.Minute)
	for {
		f.mu.Lock()
		open, changed := f.open, f.changed
		f.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			f.t.Fatalf("%d connections still open a minute after the phones finished", open)
		}
	}
}

// seenFroms is what each client IP did: "MAC" per check-in, "GET path" per
// download.
func (f *fakeServer) seenFroms() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]string, len(f.froms))
	for ip, did := range f.froms {
		out[ip] = append([]string(nil), did...)
	}
	return out
}

func remoteIP(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

func (f *fakeServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.EqualFold(r.URL.Path, CheckInPath):
		f.checkIn(w, r)
	case r.Method == http.MethodGet:
		f.serveFile(w, r)
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}

func (f *fakeServer) checkIn(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req checkInRequest
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Modules) != 1 {
		f.t.Errorf("fake server: check-in body %q: %v", body, err)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.checkIns = append(f.checkIns, seenCheckIn{
		UserAgent: r.UserAgent(), ContentType: r.Header.Get("Content-Type"), Body: string(body), Request: req,
	})
	f.froms[remoteIP(r)] = append(f.froms[remoteIP(r)], req.MacAddress)
	f.mu.Unlock()
	reported := req.Modules[0].Version
	if f.onCheckIn != nil {
		defer f.onCheckIn(reported)
	}
	if f.failCheckIn {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	offered, ok := f.offers[reported]
	if !ok {
		fmt.Fprint(w, nothingResponse)
		return
	}
	base, ext := "http://"+r.Host+fileDir(offered), "http://"+r.Host+strings.Replace(fileDir(offered), "_Int", "_Ext", 1)
	if f.noBaseURL {
		base, ext = "", ""
	}
	fmt.Fprintf(w, offerResponse, offered, base, ext)
}

func (f *fakeServer) serveFile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.gets = append(f.gets, seenGet{Path: r.URL.Path, Range: r.Header.Get("Range")})
	f.froms[remoteIP(r)] = append(f.froms[remoteIP(r)], "GET "+r.URL.Path)
	f.mu.Unlock()
	content, ok := f.files[r.URL.Path]
	switch {
	case !ok:
		http.NotFound(w, r)
	case f.shortBody:
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(content[:len(content)/2])
	case f.ignoreRange:
		w.Header().Set("Content-Length", fmt.Sprint(len(content)))
		w.Write(content)
	default:
		http.ServeContent(w, r, path.Base(r.URL.Path), time.Date(2009, 5, 4, 20, 9, 14, 0, time.UTC), bytes.NewReader(content))
	}
}

func (f *fakeServer) seenCheckIns() []seenCheckIn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenCheckIn(nil), f.checkIns...)
}

func (f *fakeServer) seenGets() []seenGet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenGet(nil), f.gets...)
}

// The answers, in the shape the appliance renders (PROTOCOL.md §2).
const (
	nothingResponse = `<?xml version="1.0" ?>
<Response>
  <NumOfFiles>0</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList>ENU</LangList>
</Response>`
	offerResponse = `<?xml version="1.0" ?>
<Response>
  <NumOfFiles>1</NumOfFiles>
  <CurrentTime>2009-05-04T17:23:39</CurrentTime>
  <LangList>ENU</LangList>
  <Version>%[1]s</Version>
  <BaseURL>%[2]s</BaseURL>
  <ExternalBaseURL>%[3]s</ExternalBaseURL>
  <Files>
    <File>
      <UpdateType>CPE</UpdateType>
      <Version>%[1]s</Version>
      <BaseURL>%[2]s</BaseURL>
      <ExternalBaseURL>%[3]s</ExternalBaseURL>
      <ImageFileName>CPE.nbt</ImageFileName>
      <SignatureFileName>CPE.cat</SignatureFileName>
      <TimeStamp>05.04.2009 20:09:14</TimeStamp>
    </File>
  </Files>
</Response>`
)
