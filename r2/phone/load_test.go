package phone

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRunLoad(t *testing.T) {
	f := newFakeServer(t, testChain)
	const phones = 4
	ips, err := LoopbackAddrs(netip.Addr{}, phones)
	if err != nil {
		t.Fatal(err)
	}
	lc := LoadConfig{Duration: 200 * time.Millisecond}
	for i := range phones {
		cfg := testConfig(f)
		cfg.Identity.MAC, cfg.Version = NewMAC(i), v(beta)
		if i%2 == 0 {
			cfg.LocalIP = ips[i] // its own connection; the others share one transport
		}
		lc.Phones = append(lc.Phones, cfg)
	}
	s := RunLoad(t.Context(), lc)
	if s.Failed != 0 || s.Done != phones || s.Elapsed < lc.Duration {
		t.Fatalf("summary:\n%s", s)
	}
	if got := len(f.seenCheckIns()); s.CheckIns != got || got < phones {
		t.Errorf("CheckIns %d, server saw %d", s.CheckIns, got)
	}
	for i, w := range s.Walks {
		if w.CheckIns == 0 || len(w.Latencies) != w.CheckIns || len(w.Steps) != 0 {
			t.Errorf("phone %d: %d check-ins, %d latencies, %d steps", i, w.CheckIns, len(w.Latencies), len(w.Steps))
		}
	}
	for _, ip := range []int{0, 2} {
		for _, mac := range f.seenFroms()[ips[ip].String()] {
			if mac != NewMAC(ip) {
				t.Errorf("from %s: %s, want only %s", ips[ip], mac, NewMAC(ip))
			}
		}
	}
	// Load makes no downloads, even when every answer is an offer.
	if gets := f.seenGets(); len(gets) != 0 {
		t.Errorf("load downloaded %v", gets)
	}
	f.waitConnsClosed()
}

func TestRunLoadStopsAPhoneAtItsFirstFailure(t *testing.T) {
	f := newFakeServer(t, testChain, func(f *fakeServer) { f.failCheckIn = true })
	cfg := testConfig(f)
	s := RunLoad(t.Context(), LoadConfig{Phones: []Config{cfg, cfg}, Duration: time.Minute})
	if s.Failed != 2 || s.CheckIns != 2 || s.Elapsed >= time.Minute {
		t.Fatalf("summary:\n%s", s)
	}
	if !strings.Contains(s.String(), "check-in 1: server answered 500 Internal Server Error") {
		t.Errorf("summary does not name the failure:\n%s", s)
	}
}

func TestCheckInAndFetch(t *testing.T) {
	f := newFakeServer(t, testChain)
	client := &http.Client{Transport: PhoneTransport("", netip.Addr{})}
	defer client.CloseIdleConnections()
	cfg := testConfig(f)
	cfg.Client = client
	o, err := CheckIn(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := f.URL + fileDir(interim)
	if o.Version != v(interim) || fmt.Sprint(o.URLs) != fmt.Sprint([]string{dir + "/CPE.nbt", dir + "/CPE.cat"}) || o.Latency <= 0 || o.AnswerBytes < 500 {
		t.Fatalf("offer %+v", o)
	}
	for _, cut := range []float64{0, 0.3} {
		cfg.CutAt = cut
		n, got, err := Fetch(t.Context(), cfg, o.URLs[0])
		want := f.files[fileDir(interim)+"/CPE.nbt"]
		if err != nil || n != int64(len(want)) || got != sum(want) {
			t.Errorf("cut %v: Fetch = %d, %s, %v; want %d, %s", cut, n, got, err, len(want), sum(want))
		}
	}
	if gets := f.seenGets(); len(gets) != 3 || gets[2].Range == "" {
		t.Errorf("gets %v, want a whole one, then a cut one resumed with Range", gets)
	}

	cfg.Version = v(release)
	if o, err := CheckIn(t.Context(), cfg); err != nil || !o.Version.IsZero() || len(o.URLs) != 0 {
		t.Errorf("at the release: offer %+v, %v; want nothing", o, err)
	}
	if _, _, err := Fetch(t.Context(), cfg, f.URL+"/DeviceUpdateFiles_Int/missing/CPE.nbt"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: err = %v, want a 404", err)
	}
}

func TestCheckInWithoutBaseURL(t *testing.T) {
	f := newFakeServer(t, testChain, func(f *fakeServer) { f.noBaseURL = true })
	if _, err := CheckIn(t.Context(), testConfig(f)); err == nil || !strings.Contains(err.Error(), "no file a phone could fetch") {
		t.Errorf("err = %v", err)
	}
}
