// Package browsertest drives a headless Chromium for the dashboard's
// browser tests (github.com/chromedp/chromedp): it finds the browser,
// skips the test when there is none or in -short mode, starts one browser
// per test, and saves screenshots where the test run keeps its artifacts.
//
// Every step runs under its own timeout, so a page that never shows what
// a test waits for fails that step by name instead of hanging the run;
// tests wait with WaitVisible and Poll, never with fixed sleeps.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// StepTimeout bounds each step: a navigation, a wait, a click.
const StepTimeout = 30 * time.Second

// ChromiumPath finds Debian's chromium (or the binary TANJAY_CHROMIUM
// names); "" when there is none.
func ChromiumPath() string {
	if p := os.Getenv("TANJAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ArtifactDir is where screenshots go: TANJAY_TEST_ARTIFACTS when set
// (created if missing), else a directory removed with the test.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("TANJAY_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SkipUnlessAvailable skips the test, saying why, when New would: no
// browser (apt-get install -y chromium, or set TANJAY_CHROMIUM), or
// -short mode. Tests that start costly servers before the browser call it
// first.
func SkipUnlessAvailable(t testing.TB) {
	t.Helper()
	if ChromiumPath() == "" {
		t.Skip("no chromium binary: apt-get install -y chromium (or set TANJAY_CHROMIUM) to run the browser test")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
}

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	t   testing.TB
	ctx context.Context
	dir string
}

// New starts Chromium with a window of width×height CSS pixels, or skips
// the test as SkipUnlessAvailable does. The browser is closed when the test
// ends: make it after the servers it talks to, so it closes first (a test
// server's Close waits for the page's open event streams).
func New(t testing.TB, width, height int) *Browser {
	t.Helper()
	SkipUnlessAvailable(t)
	chromium := ChromiumPath()
	dir := ArtifactDir(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", false),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start the browser without a timeout
		t.Fatalf("start chromium %s: %v", chromium, err)
	}
	return &Browser{t: t, ctx: ctx, dir: dir}
}

// Context is the tab's context, for chromedp calls of a test's own; bound
// each with a timeout.
func (b *Browser) Context() context.Context { return b.ctx }

// Dir is where Shot saves screenshots.
func (b *Browser) Dir() string { return b.dir }

// Do runs the actions as one step named name, failing the test when they
// fail or take longer than StepTimeout.
func (b *Browser) Do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// Navigate runs actions that load a page (a Navigate, a click on a link or
// a form's button) and waits for the new page's load.
func (b *Browser) Navigate(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// Eval evaluates js in the page and returns its value (JSON-decoded into
// T), failing the test when it throws.
func Eval[T any](b *Browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// Text is the visible text of the first element sel (a CSS selector)
// matches, waiting for it to be there.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// WaitAcross polls js until it is true, across navigations (a Poll action
// ends with an error when the page it polls navigates away).
func (b *Browser) WaitAcross(name, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not so after %v (last error: %v)", name, timeout, err)
		}
		<-tick.C
	}
}

// Shot saves a PNG screenshot of the whole page (full: as tall as it is)
// or of the viewport as name in Dir, and returns its path.
func (b *Browser) Shot(name string, full bool) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	act := chromedp.CaptureScreenshot()
	if full {
		act = chromedp.FullScreenshot(100) // 100: PNG
	}
	png, err := chromedp.Run(ctx, act)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("save %s: %v", name, err)
	}
	return p
}
