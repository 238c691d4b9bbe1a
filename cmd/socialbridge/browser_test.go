package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

// newBrowser starts headless Chromium (Debian's package; scripts/test.sh
// installs it) and returns a tab context. A missing browser fails the test:
// the browser flow is a required check, never skipped.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (run scripts/test.sh, which installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.UserDataDir(t.TempDir()),
		// This machine has no network beyond loopback: stop Chromium's
		// own background connections.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// Start the browser with the long-lived context, then bound each test.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return tctx
}

// do runs browser steps and fails the test with context on error.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("%s: %v\nat %s\npage text: %.2000s", what, err, loc, body)
	}
}

// text reads an element's text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// waitText polls until sel's text satisfies ok.
func waitText(t *testing.T, ctx context.Context, sel string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := chromedp.Run(ctx, chromedp.TextContent(sel))
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			errText, _ := chromedp.Run(ctx, chromedp.TextContent("#error"))
			t.Fatalf("%s never matched; last %q (err %v); page error: %q", sel, s, err, errText)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shownClaims parses the claims the demo page displays.
func shownClaims(t *testing.T, ctx context.Context) map[string]any {
	t.Helper()
	var claims map[string]any
	raw := text(t, ctx, "#claims")
	if err := json.Unmarshal([]byte(raw), &claims); err != nil {
		t.Fatalf("the page's claims are not JSON: %v\n%s", err, raw)
	}
	return claims
}

func TestDemoPageSignInRefreshLogoutWithDevProvider(t *testing.T) {
	inst := start(t, map[string]string{})
	ctx := newBrowser(t)

	do(t, ctx, "open the demo page and sign in with Dev",
		chromedp.Navigate(inst.url+"/demo/"),
		chromedp.Click(`button[data-provider="dev"]`),
		chromedp.WaitVisible(`button[data-user="alice"]`),
	)
	if !strings.Contains(text(t, ctx, ".dev-banner"), "DEV MODE") {
		t.Error("the dev provider page is not labelled DEV MODE")
	}
	do(t, ctx, "pick Alice", chromedp.Click(`button[data-user="alice"]`), chromedp.WaitVisible("#signed-in"))

	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if strings.Contains(loc, "code=") {
		t.Errorf("the one-time code stayed in the address bar: %s", loc)
	}
	claims := shownClaims(t, ctx)
	for k, want := range map[string]any{"email": "alice@example.com", "email_verified": true, "idp": "dev", "iss": inst.url, "client_id": "demo"} {
		if claims[k] != want {
			t.Errorf("shown claim %s = %v, want %v", k, claims[k], want)
		}
	}
	refreshExp, err := time.Parse(time.RFC3339, text(t, ctx, "#refresh-exp"))
	if err != nil || !refreshExp.After(time.Now().Add(time.Hour)) {
		t.Errorf("refresh expiry shown as %q (%v), want a time well in the future", text(t, ctx, "#refresh-exp"), err)
	}

	do(t, ctx, "refresh", chromedp.Click("#refresh"))
	waitText(t, ctx, "#refresh-count", func(s string) bool { return s == "1" })
	refreshed := shownClaims(t, ctx)
	if refreshed["jti"] == claims["jti"] || refreshed["sid"] != claims["sid"] || refreshed["sub"] != claims["sub"] {
		t.Errorf("after refresh: jti %v→%v, sid %v→%v", claims["jti"], refreshed["jti"], claims["sid"], refreshed["sid"])
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem("sb_tokens")).refresh_token`))
	if err != nil || stored == "" {
		t.Fatalf("read the refresh token from the page: %v", err)
	}

	do(t, ctx, "log out", chromedp.Click("#logout"), chromedp.WaitVisible("#signed-out"))
	waitText(t, ctx, "#status", func(s string) bool { return s == "Signed out." })
	status, ts := postToken(t, inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {stored}, "client_id": {"demo"}})
	if status != 400 || ts.Error != "invalid_grant" {
		t.Errorf("refresh after logout: %d %q, want 400 invalid_grant", status, ts.Error)
	}
}

func TestDemoPageSignInWithGoogle(t *testing.T) {
	fake := googletest.New(t)
	fake.SetUser(googletest.User{Sub: "google-sub-42", Email: "Grace@Gmail.com", EmailVerified: true, Name: "Grace Hopper", Picture: "https://example.com/grace.png"})
	inst := start(t, map[string]string{
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":     fake.ClientID(),
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": fake.ClientSecret(),
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_ISSUER":        fake.URL(),
	})
	if !strings.Contains(inst.logs.String(), "google") {
		t.Errorf("the startup log does not say Google is enabled:\n%s", inst.logs)
	}
	ctx := newBrowser(t)
	do(t, ctx, "sign in with Google",
		chromedp.Navigate(inst.url+"/demo/"),
		chromedp.Click(`button[data-provider="google"]`),
		chromedp.WaitVisible("#signed-in"),
	)
	claims := shownClaims(t, ctx)
	for k, want := range map[string]any{"email": "grace@gmail.com", "email_verified": true, "name": "Grace Hopper", "idp": "google"} {
		if claims[k] != want {
			t.Errorf("shown claim %s = %v, want %v", k, claims[k], want)
		}
	}
	// socialbridge ran PKCE and a nonce with Google.
	auth := fake.LastAuthRequest()
	if auth.Get("code_challenge_method") != "S256" || auth.Get("nonce") == "" || auth.Get("state") == "" {
		t.Errorf("the Google authorization request lacked PKCE, nonce or state: %v", auth)
	}
	if fake.LastTokenRequest().Get("code_verifier") == "" {
		t.Error("the Google code exchange sent no code_verifier")
	}
	if got := fmt.Sprint(claims["sub"]); got == "google-sub-42" || got == "" {
		t.Errorf("sub = %q: it must be socialbridge's own user id, not Google's", got)
	}
}
