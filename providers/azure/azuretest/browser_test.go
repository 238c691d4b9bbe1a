package azuretest_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

// TestSignInPageWorksInChromium clicks through the WithSignInPage page in
// headless Chromium (Debian's package; scripts/test.sh installs it), as a
// browser test of socialbridge would. A missing browser fails the test:
// the browser flow is a required check, never skipped.
func TestSignInPageWorksInChromium(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (run scripts/test.sh, which installs it): %v", err)
	}
	srv := azuretest.New(t, azuretest.WithSignInPage())
	srv.SetUser(azuretest.Carol)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, `<!DOCTYPE html><p id="result">code=%s state=%s error=%s</p>`,
			html.EscapeString(q.Get("code")), html.EscapeString(q.Get("state")), html.EscapeString(q.Get("error")))
	}))
	t.Cleanup(app.Close)
	q := authParams(srv, func(q url.Values) { q.Set("redirect_uri", app.URL+"/callback") })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.UserDataDir(t.TempDir()),
		// This machine has no network beyond loopback: stop Chromium's own
		// background connections.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)

	for _, tt := range []struct{ button, want string }{
		{"#continue", "code=1.A"},
		{"#cancel", "error=access_denied"},
	} {
		err := chromedp.Do(ctx,
			chromedp.Navigate(srv.AuthURL("consumers")+"?"+q.Encode()),
			chromedp.WaitVisible(tt.button),
			chromedp.Click(tt.button),
			chromedp.WaitVisible("#result"),
		)
		if err != nil {
			t.Fatalf("click %s: %v", tt.button, err)
		}
		got, err := chromedp.Run(ctx, chromedp.Text("#result"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, tt.want) || !strings.Contains(got, "state=state-1") {
			t.Errorf("after %s the app got %q, want %q and the state", tt.button, got, tt.want)
		}
	}
}
