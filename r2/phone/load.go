package phone

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tanjay-lab/tanjay/images"
)

// LoadConfig is check-in load for a fixed time, for benchmarks: every
// phone runs at once and checks in again and again, as Config.Rounds
// does, until Duration has passed. The phones do not walk, sign in or
// download: of each Config only Server, Identity, Version, Client, DNS,
// LocalIP and Now are used. A phone without a Client (nor DNS or LocalIP)
// shares one FleetTransport sized to the phones.
type LoadConfig struct {
	Phones   []Config
	Duration time.Duration
}

// RunLoad runs the load of lc and summarises it: Summary.Elapsed runs from
// the start to the last answer (a check-in sent before Duration ended is
// waited for), and each Walk holds its phone's check-ins and latencies, or
// the first failure, which ends that phone's load.
func RunLoad(ctx context.Context, lc LoadConfig) Summary {
	shared := &http.Client{Transport: FleetTransport(len(lc.Phones))}
	defer shared.CloseIdleConnections()
	walks := make([]Walk, len(lc.Phones))
	start := time.Now()
	deadline := start.Add(lc.Duration)
	var wg sync.WaitGroup
	for i, cfg := range lc.Phones {
		if cfg.Client == nil && !cfg.ownsTransport() {
			cfg.Client = shared
		}
		wg.Go(func() { walks[i] = load(ctx, cfg, deadline) })
	}
	wg.Wait()
	return summarize(walks, time.Since(start))
}

// load is one phone's check-ins until deadline.
func load(ctx context.Context, cfg Config, deadline time.Time) Walk {
	w := Walk{Identity: cfg.Identity, Path: []images.Version{cfg.Version}}
	cfg.SignIn = nil
	if w.Err = cfg.Validate(); w.Err != nil {
		return w
	}
	p := newPhone(cfg.withDefaults())
	if cfg.ownsTransport() {
		defer p.cfg.Client.CloseIdleConnections()
	}
	for time.Now().Before(deadline) {
		if w.Err = p.round(ctx, &w); w.Err != nil {
			break
		}
	}
	return w
}

// Offer is what one check-in offered.
type Offer struct {
	Version images.Version // zero when nothing was offered
	// URLs of the offered files, in the order a phone fetches them: each
	// file's image, then its signature.
	URLs        []string
	Latency     time.Duration // from sending the check-in to the answer's last byte
	AnswerBytes int           // the answer's length
}

// CheckIn sends the first check-in a phone with cfg makes (at cfg.Server,
// no sign-in) and returns what it was offered. Benchmarks use it with
// Fetch to time downloads alone.
func CheckIn(ctx context.Context, cfg Config) (Offer, error) {
	cfg.SignIn = nil
	if err := cfg.Validate(); err != nil {
		return Offer{}, err
	}
	p := newPhone(cfg.withDefaults())
	if cfg.ownsTransport() {
		defer p.cfg.Client.CloseIdleConnections()
	}
	var w Walk
	answer, err := p.post(ctx, &w)
	if err != nil {
		return Offer{}, err
	}
	o := Offer{Latency: w.Latencies[0], AnswerBytes: len(answer)}
	resp, err := parseResponse(answer)
	if err != nil {
		return o, fmt.Errorf("check-in: %w", err)
	}
	if resp.NumOfFiles == 0 {
		return o, nil
	}
	if o.Version, err = images.ParseVersion(resp.Version); err != nil {
		return o, fmt.Errorf("offer: %w", err)
	}
	for _, f := range resp.Files {
		base := strings.TrimRight(fileBaseURL(f.BaseURL, resp.BaseURL), "/")
		for _, name := range []string{f.ImageFile, f.SignatureFile} {
			if name != "" {
				o.URLs = append(o.URLs, base+"/"+name)
			}
		}
	}
	if len(o.URLs) == 0 || !usableURL(o.URLs[0]) {
		return o, fmt.Errorf("offer of %s: no file a phone could fetch (base URL %q)", o.Version, resp.BaseURL)
	}
	return o, nil
}

// Fetch downloads url as a phone with cfg does: whole, checked against
// Content-Length, cut and resumed with a Range request when cfg.CutAt is
// set. It returns the bytes received and the file's hex SHA-256.
func Fetch(ctx context.Context, cfg Config, url string) (int64, string, error) {
	if err := cfg.Validate(); err != nil {
		return 0, "", err
	}
	p := newPhone(cfg.withDefaults())
	if cfg.ownsTransport() {
		defer p.cfg.Client.CloseIdleConnections()
	}
	n, sum, _, err := p.fetch(ctx, url)
	return n, sum, err
}
