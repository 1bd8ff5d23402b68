package browsertest

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestChromiumPathPrefersTheEnvironment(t *testing.T) {
	t.Setenv("TANJAY_CHROMIUM", "/opt/chromium/chrome")
	if got := ChromiumPath(); got != "/opt/chromium/chrome" {
		t.Errorf("ChromiumPath with TANJAY_CHROMIUM set: %q", got)
	}
}

func TestArtifactDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "artifacts", "run-1")
	t.Setenv("TANJAY_TEST_ARTIFACTS", dir)
	if got := ArtifactDir(t); got != dir {
		t.Errorf("ArtifactDir with TANJAY_TEST_ARTIFACTS set: %q, want %q", got, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("ArtifactDir did not make %s: %v", dir, err)
	}
	t.Setenv("TANJAY_TEST_ARTIFACTS", "")
	if got := ArtifactDir(t); got == "" || got == dir {
		t.Errorf("ArtifactDir without TANJAY_TEST_ARTIFACTS: %q, want a temporary directory", got)
	}
}

// TestBrowserScreenshot starts Chromium (or skips, as every browser test
// does), shows a page at the asked size and saves a PNG of it.
func TestBrowserScreenshot(t *testing.T) {
	b := New(t, 640, 480)
	page := "data:text/html;charset=utf-8," + url.PathEscape(`<p id="hello" style="margin:0;height:1200px">hello</p>`)
	b.Do("open a page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("hello")))
	if got := b.Text("#hello"); got != "hello" {
		t.Errorf("text: %q", got)
	}
	if w := Eval[int](b, `window.innerWidth`); w != 640 {
		t.Errorf("window width %d, want 640", w)
	}
	png, err := os.ReadFile(b.Shot("browsertest.png", true))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 24 || string(png[1:4]) != "PNG" {
		t.Fatalf("the screenshot is not a PNG: % x", png[:min(24, len(png))])
	}
	// The IHDR chunk's height: the whole page (1,200 px), not the window.
	if h := int(png[20])<<24 | int(png[21])<<16 | int(png[22])<<8 | int(png[23]); h < 1200 {
		t.Errorf("the full screenshot is %d px tall, want the whole page (1,200 px)", h)
	}
}
