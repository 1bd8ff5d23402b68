package r2

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRouting(t *testing.T) {
	dir := t.TempDir()
	h := NewHandler(Config{Planner: &fixedPlanner{}, Files: memFiles{"a/CPE.nbt": []byte("x")}, UploadDir: dir})
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{"POST", "/RequestHandler/ucdevice.upx", 200},
		{"POST", "/requestHandler/ucdevice.upx", 200}, // as the seed saw it
		{"POST", "/RequestHandlerExt/ucdevice.upx", 200},
		{"GET", "/RequestHandler/ucdevice.upx", 405},
		{"HEAD", "/RequestHandlerExt/ucdevice.upx", 405},
		{"GET", "/DeviceUpdateFiles_Int/a/CPE.nbt", 200},
		{"HEAD", "/DEVICEUPDATEFILES_EXT/a/CPE.nbt", 200},
		{"GET", "/DeviceUpdateFiles_Intx/a/CPE.nbt", 404},
		{"GET", "/DeviceUpdateFiles_Int", 404},
		{"POST", "/RequestHandler/anything.log", 200},
		{"PUT", "/RequestHandler/anything.log", 404},
		{"GET", "/RequestHandler/anything.log", 404},
		{"POST", "/", 404},
		{"GET", "/", 404},
		{"GET", "/favicon.ico", 404},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader("<Request/>"))
			r.Host = "any.host.example"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status = %d, want %d", w.Code, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Planner") || !strings.Contains(err.Error(), "Files") {
		t.Errorf("Validate of an empty Config = %v, want Planner and Files named", err)
	}
	if err := (Config{Planner: &fixedPlanner{}, Files: noFiles{}, MaxBody: -1}).Validate(); err == nil {
		t.Error("Validate accepted a negative MaxBody")
	}
	if err := (Config{Planner: &fixedPlanner{}, Files: noFiles{}}).Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	// A handler without a planner answers 500 rather than panicking.
	w := checkin(NewHandler(Config{}), "/RequestHandler/ucdevice.upx", simulatorBody)
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status without a planner = %d, want 500", w.Code)
	}
}

// A check-in the way a phone makes it: a real socket, the bare IP as Host,
// the phone's User-Agent.
func TestCheckinOverSocket(t *testing.T) {
	obs := &recorder{}
	base := servePhones(t, NewHandler(Config{
		Planner: PlannerFunc(func(_ context.Context, req *Request, ip string) (Offer, error) {
			if ip != "127.0.0.1" || req.MAC != "001B9E4B5B10" {
				t.Errorf("planner got %s, %+v", ip, req)
			}
			return Offer{LangList: []string{"DEU", "ENU"}}, nil
		}),
		Files: noFiles{}, Observer: obs, Now: func() time.Time { return seedNow },
	}))
	req, _ := http.NewRequest(http.MethodPost, base+"/requestHandler/ucdevice.upx", strings.NewReader(simulatorBody))
	req.Header.Set("User-Agent", "Microsoft UCPhone Device")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // any Content-Type is accepted
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != confirmedNothingToDo {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.checkins) != 1 {
		t.Errorf("observer saw %d check-ins, want 1", len(obs.checkins))
	}
}
