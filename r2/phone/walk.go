package phone

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// userAgent is what every phone firmware sends (confirmed, PROTOCOL.md §2).
const userAgent = "Microsoft UCPhone Device"

// maxResponseBody bounds a check-in answer; real ones are a few hundred bytes.
const maxResponseBody = 1 << 20

// Step is one check-in of a walk and what the phone did with its answer.
type Step struct {
	At       time.Time      // the phone's clock when it sent the check-in
	Reported images.Version // the version it reported
	Offered  images.Version // zero when nothing was offered
	// BaseURL and ExternalBaseURL as the answer gave them (top level).
	BaseURL, ExternalBaseURL string
	Files                    []string // names fetched, in order: CPE.nbt, CPE.cat
	SHA256                   []string // hex SHA-256 of each fetched file, as Files
	Bytes                    int64    // bytes received for the files, cut and resumed parts together
	Resumed                  bool     // a file was cut off and resumed with a Range request
	Latency                  time.Duration
}

// Walk is what one phone did.
type Walk struct {
	Identity Identity
	// SignedIn is the check-in URL the phone's sign-in handed it
	// (Config.SignIn); empty when it did not sign in.
	SignedIn string
	Steps    []Step
	// Path is the versions the phone ran, in order: its starting version and
	// each one it installed.
	Path      []images.Version
	CheckIns  int             // every check-in, Rounds included
	Latencies []time.Duration // of every check-in, Rounds included
	Err       error
}

// ErrLoop is wrapped by a walk's error when the server offers the version
// the phone already runs: the phone would install it forever.
var ErrLoop = errors.New("server offered the version the phone already runs")

// ErrMaxHops is wrapped by a walk's error when it would install more than
// Config.MaxHops updates.
var ErrMaxHops = errors.New("too many hops")

// String is one line: "001B9E4B5B10 CX700: 0.0.0.0 → 1.0.522.103 → 3.5.6907.0
// (3 check-ins)", followed by the error if the walk failed. A phone that
// signed in says so first in the parentheses: "(signed in, handed
// http://10.77.0.1/RequestHandler/ucdevice.upx; 3 check-ins)".
func (w Walk) String() string {
	var b strings.Builder
	b.WriteString(cmp.Or(w.Identity.MAC, w.Identity.Serial, "phone"))
	if w.Identity.Model != "" {
		b.WriteString(" " + w.Identity.Model)
	}
	b.WriteString(":")
	for i, v := range w.Path {
		if i > 0 {
			b.WriteString(" →")
		}
		b.WriteString(" " + v.String())
	}
	b.WriteString(" (")
	if w.SignedIn != "" {
		b.WriteString("signed in, handed " + w.SignedIn + "; ")
	}
	fmt.Fprintf(&b, "%d %s)", w.CheckIns, plural(w.CheckIns, "check-in", "check-ins"))
	if w.Err != nil {
		b.WriteString(": " + w.Err.Error())
	}
	return b.String()
}

// Run walks one phone up its upgrade path and, when the walk ended with
// nothing offered, makes cfg.Rounds more check-ins. A phone with
// cfg.SignIn signs in first and checks in where that sent it. It returns
// when the walk is over, fails or ctx is done; the failure is in Walk.Err.
func Run(ctx context.Context, cfg Config) Walk {
	w := Walk{Identity: cfg.Identity, Path: []images.Version{cfg.Version}}
	if err := cfg.Validate(); err != nil {
		w.Err = err
		return w
	}
	p := newPhone(cfg.withDefaults())
	if cfg.ownsTransport() {
		// A fleet of 100,000 phones must not keep 100,000 idle
		// connections (and file descriptors) open once their walks end.
		defer p.cfg.Client.CloseIdleConnections()
	}
	if cfg.SignIn != nil {
		if w.Err = p.signIn(ctx, &w); w.Err != nil {
			return w
		}
	}
	w.Err = p.walk(ctx, &w)
	if w.Err == nil {
		w.Err = p.rounds(ctx, &w)
	}
	return w
}

// phone is the state of one simulated device during Run.
type phone struct {
	cfg        Config
	checkInURL string
	version    images.Version
	installed  time.Time       // when version was installed; zero: unknown (beta)
	cut        map[string]bool // URLs whose first download was cut already
}

func newPhone(cfg Config) *phone {
	p := &phone{cfg: cfg, checkInURL: cfg.Server + CheckInPath, version: cfg.Version}
	if !cfg.Version.IsZero() {
		// A phone that starts on a known image reports the start of the run as
		// its install time: the real one is not knowable.
		p.installed = cfg.Now()
	}
	return p
}

// signIn runs cfg.SignIn and makes the URL it hands the phone's check-in
// URL, as a beta phone takes updatesServerInternalUrl from provisioning.
func (p *phone) signIn(ctx context.Context, w *Walk) error {
	handed, err := p.cfg.SignIn(ctx)
	if err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	if !usableURL(handed) {
		return fmt.Errorf("signing in: provisioning handed %q, not an http(s) check-in URL", handed)
	}
	p.checkInURL, w.SignedIn = handed, handed
	return nil
}

// walk checks in, fetches and installs until nothing is offered.
func (p *phone) walk(ctx context.Context, w *Walk) error {
	for hop := 0; ; hop++ {
		step, resp, err := p.checkIn(ctx, w)
		if err != nil {
			return err
		}
		w.Steps = append(w.Steps, step)
		if resp.NumOfFiles == 0 {
			return nil
		}
		offered, err := p.take(ctx, hop, resp, &w.Steps[len(w.Steps)-1])
		if err != nil {
			return fmt.Errorf("check-in %d: %w", w.CheckIns, err)
		}
		if offered.IsZero() {
			return nil
		}
		p.version, p.installed = offered, p.cfg.Now()
		w.Path = append(w.Path, offered)
	}
}

// take handles one offer: it fetches the files and waits the install delay.
// It returns the version now installed, or zero when the offer cannot be
// taken and the walk just ends.
func (p *phone) take(ctx context.Context, hop int, resp response, step *Step) (images.Version, error) {
	step.BaseURL, step.ExternalBaseURL = resp.BaseURL, resp.ExternalBaseURL
	offered, err := images.ParseVersion(resp.Version)
	if err != nil {
		return images.Version{}, fmt.Errorf("offer: %w", err)
	}
	step.Offered = offered
	switch {
	case !usableURL(resp.BaseURL):
		// Old firmware never downloads without a base URL (PROTOCOL.md §2).
		return images.Version{}, nil
	case offered == p.version:
		return images.Version{}, fmt.Errorf("offer: %w (%s)", ErrLoop, offered)
	case offered.IsZero():
		return images.Version{}, errors.New("offer: version 0.0.0.0 is not installable")
	case hop >= p.cfg.MaxHops:
		return images.Version{}, fmt.Errorf("offer of %s after %d installs: %w (max %d)", offered, hop, ErrMaxHops, p.cfg.MaxHops)
	}
	if err := sleep(ctx, p.cfg.FetchDelay); err != nil {
		return images.Version{}, fmt.Errorf("waiting to fetch: %w", err)
	}
	if err := p.fetchAll(ctx, resp.Files, step); err != nil {
		return images.Version{}, err
	}
	if err := sleep(ctx, p.cfg.InstallDelay); err != nil {
		return images.Version{}, fmt.Errorf("installing: %w", err)
	}
	return offered, nil
}

// rounds makes the extra check-ins of a finished walk. They are load, so
// the answer is not parsed (that costs more than the rest of the client's
// work): it must be 200 and mention NumOfFiles.
func (p *phone) rounds(ctx context.Context, w *Walk) error {
	for range p.cfg.Rounds {
		if err := p.round(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// round is one load check-in: its answer must be 200 and mention
// NumOfFiles.
func (p *phone) round(ctx context.Context, w *Walk) error {
	answer, err := p.post(ctx, w)
	if err != nil {
		return err
	}
	if !bytes.Contains(bytes.ToLower(answer), []byte("numoffiles")) {
		return fmt.Errorf("check-in %d: answer has no NumOfFiles: %.100q", w.CheckIns, answer)
	}
	return nil
}

// checkIn sends one check-in, counts it and its latency in w, and returns
// its Step and the parsed answer.
func (p *phone) checkIn(ctx context.Context, w *Walk) (Step, response, error) {
	at := p.cfg.Now()
	answer, err := p.postAt(ctx, w, at)
	if err != nil {
		return Step{}, response{}, err
	}
	resp, err := parseResponse(answer)
	if err != nil {
		return Step{}, response{}, fmt.Errorf("check-in %d: %w", w.CheckIns, err)
	}
	return Step{At: at, Reported: p.version, Latency: w.Latencies[len(w.Latencies)-1]}, resp, nil
}

// post sends one check-in now and returns the answer's body.
func (p *phone) post(ctx context.Context, w *Walk) ([]byte, error) {
	return p.postAt(ctx, w, p.cfg.Now())
}

// postAt sends one check-in with RequestTime at, counts it in w and, when it
// is answered, its latency: from sending to the last byte of the answer.
func (p *phone) postAt(ctx context.Context, w *Walk, at time.Time) ([]byte, error) {
	body := appendRequest(make([]byte, 0, 640), p.cfg.Identity, at, p.version, p.installed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.checkInURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("check-in: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	w.CheckIns++
	start := time.Now()
	answer, err := p.send(req)
	if err != nil {
		return nil, fmt.Errorf("check-in %d: %w", w.CheckIns, err)
	}
	w.Latencies = append(w.Latencies, time.Since(start))
	return answer, nil
}

// send does req and reads the whole answer, which must be 200.
func (p *phone) send(req *http.Request) ([]byte, error) {
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading answer: %w", err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("server answered %s", resp.Status)
	case len(body) > maxResponseBody:
		return nil, fmt.Errorf("answer longer than %d bytes", maxResponseBody)
	}
	return body, nil
}

// usableURL reports whether s is an absolute http(s) URL a phone can fetch
// from.
func usableURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
