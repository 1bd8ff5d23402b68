package sip

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tanjay-lab/tanjay/legacy/ntlm"
)

const testPassword = "Lab-Pa$$w0rd"

var testURLs = UpdateURLs{
	Internal: "http://10.77.0.1/RequestHandler/ucdevice.upx",
	External: "https://10.77.0.1/RequestHandlerExt/ucdevice.upx",
}

// recorder is an Observer and Capturer that keeps what it hears.
type recorder struct {
	mu       sync.Mutex
	events   []Event
	captures []string
}

func (r *recorder) SIP(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) CaptureSIP(_ time.Time, _ netip.Addr, reason string, raw []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.captures = append(r.captures, reason+"\n"+string(raw))
}

func (r *recorder) steps() []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Step
	for _, e := range r.events {
		out = append(out, e.Step)
	}
	return out
}

// startServer serves cfg (password and URLs filled) on a TCP listener on
// 127.0.0.1 until the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string, *recorder) {
	t.Helper()
	rec := &recorder{}
	if cfg.Password == nil {
		cfg.Password = func() string { return testPassword }
	}
	if cfg.URLs == nil {
		cfg.URLs = func() UpdateURLs { return testURLs }
	}
	if cfg.Observer == nil {
		cfg.Observer = rec
	}
	if cfg.Capturer == nil {
		cfg.Capturer = rec
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, "tcp") }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String(), rec
}

func dialClient(t testing.TB, addr string, cfg ClientConfig) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(nc, cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSignInAndProvisioning(t *testing.T) {
	tests := []struct {
		name        string
		authVersion int
		variant     ntlm.Variant
		ess         bool
		piggyback   bool
		benotify    bool
		shape       string
		wantDetail  string
	}{
		{name: "NTLMv2, version 3, piggy-backed", authVersion: 3, variant: ntlm.NTLMv2, piggyback: true, shape: VariantFlat, wantDetail: "NTLMv2, protocol version 3"},
		{name: "NTLMv2, version 4, NOTIFY", authVersion: 4, variant: ntlm.NTLMv2, shape: VariantFlat, wantDetail: "NTLMv2, protocol version 4"},
		{name: "NTLMv1 with ESS, BENOTIFY", authVersion: 3, variant: ntlm.NTLMv1, ess: true, benotify: true, shape: VariantPropertyList, wantDetail: "NTLMv1+ESS, protocol version 3"},
		{name: "NTLMv1 without ESS, OCS 2007 (no version)", authVersion: 2, variant: ntlm.NTLMv1, piggyback: true, shape: VariantFlat, wantDetail: "NTLMv1, protocol version 2"},
		{name: "NTLMv2, OCS 2007 (no version), property list", authVersion: 2, variant: ntlm.NTLMv2, shape: VariantPropertyList, wantDetail: "NTLMv2, protocol version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr, rec := startServer(t, Config{AuthVersion: tt.authVersion, Variant: tt.shape})
			c := dialClient(t, addr, ClientConfig{SignIn: "alice@contoso.test", Password: testPassword, Variant: tt.variant, ESS: tt.ess, Piggyback: tt.piggyback, BENotify: tt.benotify})
			ctx := context.Background()
			ok, err := c.Register(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"ms-keep-alive", "Allow-Events", "Expires", "Contact"} {
				if ok.Get(h) == "" {
					t.Errorf("REGISTER 200 has no %s header", h)
				}
			}
			if !ok.Has("Supported", "msrtc-event-categories") {
				t.Error("REGISTER 200 does not say Supported: msrtc-event-categories")
			}
			if got := ok.Get("Contact"); !strings.Contains(got, "gruu=") {
				t.Errorf("Contact %q has no gruu", got)
			}
			urls, err := c.Provisioning(ctx, "ServerConfiguration", "meetingPolicy", "ucPolicy")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(testURLs, urls); diff != "" {
				t.Errorf("provisioned URLs (-want +got):\n%s", diff)
			}
			for _, ev := range []string{eventRoamingSelf, eventRoamingContacts, eventPresence} {
				resp, err := c.Subscribe(ctx, ev, "application/xml", nil)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("SUBSCRIBE %s: %v %v", ev, resp, err)
				}
			}
			for _, method := range []string{"SERVICE", "OPTIONS", "INFO", "MESSAGE", "INVITE", "NEGOTIATE", "FROBNICATE"} {
				resp, err := c.Do(ctx, c.NewRequest(method))
				if err != nil {
					t.Errorf("%s: %v", method, err)
					continue
				}
				want := map[string]int{"INVITE": 480, "NEGOTIATE": 501, "FROBNICATE": 501}[method]
				if want == 0 {
					want = 200
				}
				if resp.StatusCode != want {
					t.Errorf("%s answered %d, want %d", method, resp.StatusCode, want)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var signedIn, provisioned *Event
			for i, e := range rec.events {
				switch e.Step {
				case StepSignedIn:
					signedIn = &rec.events[i]
				case StepProvisioned:
					provisioned = &rec.events[i]
				}
				if e.Step == StepSignatureFailed {
					t.Errorf("a client signature failed to verify: %+v", e)
				}
			}
			if signedIn == nil || signedIn.User != `CONTOSO\alice` || signedIn.Detail != tt.wantDetail {
				t.Errorf("signed-in event = %+v, want user CONTOSO\\alice, detail %q", signedIn, tt.wantDetail)
			}
			if provisioned == nil || provisioned.Handed != handed(testURLs, tt.shape) {
				t.Errorf("provisioned event = %+v", provisioned)
			}
			if len(rec.captures) != 1 || !strings.HasPrefix(rec.captures[0], "unknown-method\nFROBNICATE") {
				t.Errorf("captures = %q, want the FROBNICATE request", rec.captures)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	s, addr, rec := startServer(t, Config{})
	c := dialClient(t, addr, ClientConfig{SignIn: "bob@lab.test", User: "bob", Domain: "LAB", Password: "wrong"})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		resp, err := c.Register(ctx)
		if err == nil {
			t.Fatalf("attempt %d signed in with a wrong password", i)
		}
		want := 401
		if i == 3 {
			want = 403
		}
		if resp == nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if resp.StatusCode != want {
			t.Fatalf("attempt %d answered %d, want %d", i, resp.StatusCode, want)
		}
		if i == 3 && !strings.Contains(resp.Get("ms-diagnostics"), "wrong passwords") {
			t.Errorf("403 ms-diagnostics = %q", resp.Get("ms-diagnostics"))
		}
	}
	if got := s.Stats().AuthFailures; got != 3 {
		t.Errorf("AuthFailures = %d, want 3", got)
	}
	if n := slices.Index(rec.steps(), StepAuthFailed); n < 0 {
		t.Errorf("steps %v have no auth failure", rec.steps())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Step == StepAuthFailed && e.User != `LAB\bob` {
			t.Errorf("auth failure names %q, want LAB\\bob", e.User)
		}
	}
}
