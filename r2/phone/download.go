package phone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
)

// fetchAll downloads every file of an offer, image then signature, and
// records them in step.
func (p *phone) fetchAll(ctx context.Context, files []offeredFile, step *Step) error {
	for _, f := range files {
		base := fileBaseURL(f.BaseURL, step.BaseURL)
		for _, name := range []string{f.ImageFile, f.SignatureFile} {
			if name == "" {
				continue
			}
			n, sum, resumed, err := p.fetch(ctx, strings.TrimRight(base, "/")+"/"+name)
			step.Bytes += n
			if err != nil {
				return err
			}
			step.Files = append(step.Files, name)
			step.SHA256 = append(step.SHA256, sum)
			step.Resumed = step.Resumed || resumed
		}
	}
	return nil
}

// fileBaseURL is the file's own base URL when it is usable, else the offer's.
func fileBaseURL(own, top string) string {
	if usableURL(own) {
		return own
	}
	return top
}

// fetch downloads url whole and checks it against Content-Length. The first
// download of each URL is cut at Config.CutAt and resumed with a Range
// request when that is set. It returns the bytes received and the file's
// SHA-256.
func (p *phone) fetch(ctx context.Context, url string) (n int64, sum string, resumed bool, err error) {
	resp, err := p.get(ctx, url, "")
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", false, fmt.Errorf("fetching %s: server answered %s", url, resp.Status)
	}
	h := sha256.New()
	size := resp.ContentLength
	if p.cfg.CutAt > 0 && size > 1 && !p.cut[url] {
		if p.cut == nil {
			p.cut = make(map[string]bool)
		}
		p.cut[url] = true
		n, err = p.cutAndResume(ctx, url, resp, size, h)
		return n, hex.EncodeToString(h.Sum(nil)), true, err
	}
	n, err = io.Copy(h, resp.Body)
	switch {
	case err != nil:
		return n, "", false, fmt.Errorf("fetching %s: after %d bytes: %w", url, n, err)
	case size >= 0 && n != size:
		return n, "", false, fmt.Errorf("fetching %s: got %d bytes, Content-Length %d", url, n, size)
	}
	return n, hex.EncodeToString(h.Sum(nil)), false, nil
}

// cutAndResume reads the CutAt fraction of the open download first, drops
// the connection like a phone that lost power, and fetches the rest with
// "Range: bytes=N-", which must answer 206 with Content-Range N-(size-1)/size.
func (p *phone) cutAndResume(ctx context.Context, url string, first *http.Response, size int64, h hash.Hash) (int64, error) {
	keep := min(max(int64(float64(size)*p.cfg.CutAt), 1), size-1)
	n, err := io.Copy(h, io.LimitReader(first.Body, keep))
	first.Body.Close()
	if err == nil && n != keep {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("fetching %s: before the cut at %d bytes, after %d: %w", url, keep, n, err)
	}
	resp, err := p.get(ctx, url, fmt.Sprintf("bytes=%d-", keep))
	if err != nil {
		return n, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return n, fmt.Errorf("resuming %s at %d: server answered %s, want 206 Partial Content", url, keep, resp.Status)
	}
	if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", keep, size-1, size); got != want {
		return n, fmt.Errorf("resuming %s: Content-Range %q, want %q", url, got, want)
	}
	rest, err := io.Copy(h, resp.Body)
	n += rest
	switch {
	case err != nil:
		return n, fmt.Errorf("resuming %s: after %d bytes: %w", url, rest, err)
	case rest != size-keep:
		return n, fmt.Errorf("resuming %s: got %d bytes, want %d", url, rest, size-keep)
	}
	return n, nil
}

// get starts a GET of url, with a Range header when rng is set.
func (p *phone) get(ctx context.Context, url, rng string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	req.Header.Set("User-Agent", userAgent)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	return resp, nil
}
