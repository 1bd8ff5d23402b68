package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// betaBuild is the beta firmware that learns its update service only by
// signing in.
const betaBuild = "1.0.199.123"

var signInChain = map[string]string{betaBuild: interim, interim: release}

func TestRunSignsInFirst(t *testing.T) {
	tests := []struct {
		name   string
		server string // Config.Server: not used once the phone signs in
	}{
		{"no server", ""},
		{"server ignored", "http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, signInChain)
			handed := f.URL + CheckInPath
			var calls atomic.Int32
			cfg := testConfig(f)
			cfg.Server, cfg.Version = tt.server, v(betaBuild)
			cfg.SignIn = func(context.Context) (string, error) {
				calls.Add(1)
				if n := len(f.seenCheckIns()); n != 0 {
					t.Errorf("sign-in after %d check-ins, want before the first", n)
				}
				return handed, nil
			}
			w := Run(t.Context(), cfg)
			if w.Err != nil {
				t.Fatalf("Run: %v", w.Err)
			}
			if calls.Load() != 1 {
				t.Errorf("SignIn called %d times, want once", calls.Load())
			}
			if w.SignedIn != handed {
				t.Errorf("SignedIn = %q, want %q", w.SignedIn, handed)
			}
			if diff := cmp.Diff(betaBuild+" "+interim+" "+release, pathString(w)); diff != "" {
				t.Errorf("Path (-want +got):\n%s", diff)
			}
			want := []Step{offerStep(f, betaBuild, interim), offerStep(f, interim, release), {At: testTime, Reported: v(release)}}
			if diff := cmp.Diff(want, w.Steps, ignoreLatency); diff != "" {
				t.Errorf("Steps (-want +got):\n%s", diff)
			}
			if got := len(f.seenCheckIns()); got != 3 || w.CheckIns != 3 {
				t.Errorf("server saw %d check-ins, walk counted %d, want 3", got, w.CheckIns)
			}
		})
	}
}

func TestRunSignInFails(t *testing.T) {
	refused := errors.New("REGISTER: 403 Forbidden")
	tests := []struct {
		name   string
		signIn func(context.Context) (string, error)
		cancel bool // the walk's context is done before it starts
		want   string
		is     error
	}{
		{
			name:   "refused",
			signIn: func(context.Context) (string, error) { return "", refused },
			want:   "signing in: REGISTER: 403 Forbidden", is: refused,
		},
		{
			name:   "handed nothing",
			signIn: func(context.Context) (string, error) { return "", nil },
			want:   `signing in: provisioning handed "", not an http(s) check-in URL`,
		},
		{
			name:   "handed a relative URL",
			signIn: func(context.Context) (string, error) { return "/RequestHandler/ucdevice.upx", nil },
			want:   `signing in: provisioning handed "/RequestHandler/ucdevice.upx", not an http(s) check-in URL`,
		},
		{
			name: "context ends",
			signIn: func(ctx context.Context) (string, error) {
				<-ctx.Done()
				return "", ctx.Err()
			},
			cancel: true,
			want:   "signing in: context canceled", is: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, signInChain)
			cfg := testConfig(f)
			cfg.Server, cfg.Version, cfg.SignIn = "", v(betaBuild), tt.signIn
			ctx := t.Context()
			if tt.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			w := Run(ctx, cfg)
			if w.Err == nil || w.Err.Error() != tt.want {
				t.Errorf("Err = %v, want %s", w.Err, tt.want)
			}
			if tt.is != nil && !errors.Is(w.Err, tt.is) {
				t.Errorf("Err = %v, want errors.Is %v", w.Err, tt.is)
			}
			if w.CheckIns != 0 || len(f.seenCheckIns()) != 0 || w.SignedIn != "" {
				t.Errorf("after a failed sign-in: %d check-ins, server saw %d, SignedIn %q", w.CheckIns, len(f.seenCheckIns()), w.SignedIn)
			}
			if got := pathString(w); got != betaBuild {
				t.Errorf("Path = %s, want only the starting version", got)
			}
		})
	}
}

func TestRunFleetSignsInEachPhone(t *testing.T) {
	f := newFakeServer(t, signInChain, func(f *fakeServer) { f.imageSize = 4 << 10 })
	const phones = 12
	var signIns atomic.Int32
	fc := FleetConfig{Concurrency: 4}
	for i := range phones {
		cfg := testConfig(f)
		cfg.Identity.MAC = NewMAC(i)
		cfg.Server, cfg.Version = "", v(betaBuild)
		cfg.SignIn = func(context.Context) (string, error) {
			signIns.Add(1)
			return f.URL + CheckInPath, nil
		}
		fc.Phones = append(fc.Phones, cfg)
	}
	s := RunFleet(t.Context(), fc)
	if s.Done != phones || signIns.Load() != phones {
		t.Fatalf("%d sign-ins, summary:\n%s", signIns.Load(), s)
	}
	for _, w := range s.Walks {
		if !strings.Contains(w.String(), "(signed in, handed "+f.URL+CheckInPath+"; 3 check-ins)") {
			t.Errorf("walk: %s", w)
		}
	}
}

func TestValidateSignIn(t *testing.T) {
	signIn := func(context.Context) (string, error) { return "", nil }
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"server only", Config{Server: "http://127.0.0.1"}, ""},
		{"sign-in only", Config{SignIn: signIn}, ""},
		{"neither", Config{}, `phone: server "": want a base URL like http://127.0.0.1:8080`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(tt.cfg.Validate()); (tt.want == "" && got != "<nil>") || (tt.want != "" && got != tt.want) {
				t.Errorf("Validate() = %s, want %q", got, tt.want)
			}
		})
	}
}

func pathString(w Walk) string {
	s := make([]string, len(w.Path))
	for i, p := range w.Path {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
