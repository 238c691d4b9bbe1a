package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

// googleApp is an app with Google configured against the fake.
func googleApp(t *testing.T) (*app, *googletest.Server) {
	t.Helper()
	fake := googletest.New(t)
	a := newApp(t, func(string) []providers.Provider {
		return []providers.Provider{google.New(google.Config{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.URL()})}
	})
	return a, fake
}

// googleRedirects follows the browser from /authorize through the fake
// Google and back, and returns where it ended (the SPA) or the page it
// stopped on.
func googleRedirects(t *testing.T, a *app, c *http.Client, challenge string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(a.authorizeURL(challenge, "google"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestGoogleSignInOverHTTP(t *testing.T) {
	t.Parallel()
	a, fake := googleApp(t)
	fake.SetUser(googletest.User{Sub: "g-1", Email: "Ada@Gmail.com", EmailVerified: true, Name: "Ada"})
	verifier, challenge := pkce()
	resp, _ := googleRedirects(t, a, a.browser(t), challenge)
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
		t.Fatalf("ended at %d %v, want a redirect to the SPA", resp.StatusCode, loc)
	}
	status, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	if status.StatusCode != 200 {
		t.Fatalf("token: %d %+v", status.StatusCode, tr)
	}
	claims, err := a.issuer.ParseAccess(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.User["email"] != "ada@gmail.com" || claims.IDP != "google" || claims.User["email_verified"] != true {
		t.Errorf("claims = %v", claims)
	}
	if strings.Contains(a.logs.String(), fake.LastTokenRequest().Get("code")) {
		t.Error("the log contains Google's authorization code")
	}
}

func TestGoogleCancelGoesBackToTheApp(t *testing.T) {
	t.Parallel()
	a, fake := googleApp(t)
	fake.Deny()
	_, challenge := pkce()
	resp, _ := googleRedirects(t, a, a.browser(t), challenge)
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
		t.Fatalf("ended at %d %v, want a redirect to the SPA", resp.StatusCode, loc)
	}
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "spa-state" || loc.Query().Get("iss") != a.url {
		t.Errorf("SPA got %v, want error=access_denied with its state and our iss", loc.Query())
	}
}

func TestGoogleCallbackReplayShowsAnErrorPage(t *testing.T) {
	t.Parallel()
	a, _ := googleApp(t)
	_, challenge := pkce()
	c := a.browser(t)
	// Stop at the callback to be able to replay it.
	var callback string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.Path, "/callback/") {
			callback = req.URL.String()
		}
		if !strings.HasPrefix(req.URL.String(), a.url) && !strings.HasPrefix(req.URL.Host, "127.0.0.1") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	if resp, _ := googleRedirects(t, a, c, challenge); resp.StatusCode != http.StatusSeeOther || callback == "" {
		t.Fatalf("first sign-in: %d, callback %q", resp.StatusCode, callback)
	}
	// The flow cookie was cleared by the first callback; a replay from the
	// same browser, or from a fresh one, is refused with a page.
	for name, client := range map[string]*http.Client{"same browser": c, "another browser": a.browser(t)} {
		resp, err := client.Get(callback)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "Sign-in") {
			t.Errorf("%s replay: %d %q: %.200s", name, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}

func TestGoogleGetsTheClientsOpenIDConnectOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		params    string
		authAge   time.Duration // the id_token's auth_time before now; 0: none
		wantAuth  url.Values
		wantError string
	}{
		{"select_account, login and login_hint are passed on; login as max_age=0",
			"&prompt=select_account+login&login_hint=ada%40example.com", 0,
			url.Values{"prompt": {"select_account"}, "max_age": {"0"}, "login_hint": {"ada@example.com"}}, ""},
		{"max_age is passed on and a recent auth_time passes", "&max_age=600", time.Minute,
			url.Values{"max_age": {"600"}}, ""},
		{"an auth_time older than max_age is login_required", "&max_age=600", time.Hour,
			url.Values{"max_age": {"600"}}, "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, fake := googleApp(t)
			if tt.authAge != 0 {
				fake.NextIDToken(func(c map[string]any) { c["auth_time"] = time.Now().Add(-tt.authAge).Unix() })
			}
			_, challenge := pkce()
			resp, err := a.browser(t).Get(a.authorizeURL(challenge, "google") + tt.params)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := fake.LastAuthRequest()
			for k, want := range tt.wantAuth {
				if got.Get(k) != want[0] {
					t.Errorf("Google's authorization endpoint got %s=%q, want %q", k, got.Get(k), want[0])
				}
			}
			loc, err := resp.Location()
			if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
				t.Fatalf("ended at %d %v, want a redirect to the SPA", resp.StatusCode, loc)
			}
			if e := loc.Query().Get("error"); e != tt.wantError || (e == "" && loc.Query().Get("code") == "") {
				t.Errorf("SPA got %v, want error %q", loc.Query(), tt.wantError)
			}
		})
	}
}
