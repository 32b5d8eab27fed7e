package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium package (apt-get install chromium).
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns a chromedp context on a fresh headless Chromium with its
// own profile, ended with t; the browser starts on the first action. extra
// options come after the defaults (a window size, say). Without Chromium t
// fails when RAMPART_BROWSER_TESTS=1 (make test) and is skipped otherwise.
func Chromium(t *testing.T, within time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := exec.LookPath(ChromiumPath); err != nil {
		if os.Getenv("RAMPART_BROWSER_TESTS") == "1" {
			t.Fatalf("RAMPART_BROWSER_TESTS=1 but %s is missing (%v): install it with `apt-get install -y chromium`", ChromiumPath, err)
		}
		t.Skipf("%s not found; set RAMPART_BROWSER_TESTS=1 to make this a failure", ChromiumPath)
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(ctx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelCtx)
	return ctx
}
