package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
)

// backendSecret is the secret of the test's backend client.
const backendSecret = "backend-secret-0123456789abcdefghijklmnop"

// multiProvider is socialbridge in dev mode with every provider type, each
// against its fake, and a backend client allowed to fetch provider tokens.
type multiProvider struct {
	inst     *instance
	google   *googletest.Server
	azure    *azuretest.Server
	facebook *facebooktest.Server
	corp     *oidctest.Server
}

func startMultiProvider(t *testing.T) *multiProvider {
	t.Helper()
	m := &multiProvider{
		// Google access tokens that live a minute: a backend's request
		// for one finds it too close to expiry and has it refreshed.
		google:   googletest.New(t, googletest.WithAccessTokenLifetime(time.Minute)),
		azure:    azuretest.New(t, azuretest.WithSignInPage()),
		facebook: facebooktest.New(t, facebooktest.WithConsentPage()),
		corp:     oidctest.New(t, oidctest.WithConsentPage()),
	}
	m.google.SetUser(googletest.User{Sub: "g-1", Email: "grace@gmail.com", EmailVerified: true, Name: "Grace Hopper"})
	m.corp.SetUser(oidctest.User{Subject: "emp-7", Email: "erin@corp.example", EmailVerified: true, Name: "Erin Corp"})
	cfg := fmt.Sprintf(`mode: dev
providers:
  google:
    client_id: %q
    client_secret: %q
    issuer: %q
    offline_access: true
    native_client_ids: [android-app.apps.googleusercontent.com]
  microsoft:
    type: azure
    client_id: %q
    client_secret: %q
    tenant: organizations
    authority_host: %q
  facebook:
    client_id: %q
    client_secret: %q
    dialog_url: %q
    graph_url: %q
  corp:
    type: oidc
    display_name: Corp SSO
    client_id: %q
    client_secret: %q
    issuer: %q
  dev: {}
clients:
  - id: reports
    secret: %q
    redirect_uris: [https://reports.example.com/cb]
    provider_tokens: true
  - id: mobile
    redirect_uris: [com.example.app:/oauth]
    token_exchange: true
`, m.google.ClientID(), m.google.ClientSecret(), m.google.URL(),
		m.azure.ClientID(), m.azure.ClientSecret(), m.azure.URL(),
		m.facebook.AppID(), m.facebook.AppSecret(), m.facebook.URL(), m.facebook.URL(),
		m.corp.ClientID(), m.corp.ClientSecret(), m.corp.Issuer(), backendSecret)
	path := filepath.Join(t.TempDir(), "socialbridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	m.inst = start(t, map[string]string{}, "-config", path)
	return m
}

// signInWith clicks the demo page's button for provider, then whatever the
// provider's page needs, until the demo shows the signed-in user.
func signInWith(t *testing.T, ctx context.Context, demo, provider string) map[string]any {
	t.Helper()
	do(t, ctx, "open the demo page and choose "+provider,
		chromedp.Navigate(demo),
		chromedp.WaitVisible(`button[data-provider="`+provider+`"]`),
		chromedp.Click(`button[data-provider="`+provider+`"]`),
	)
	clickThroughProvider(t, ctx, provider)
	do(t, ctx, "wait for the signed-in page after "+provider, chromedp.WaitVisible("#signed-in"))
	claims := shownClaims(t, ctx)
	if claims["idp"] != provider {
		t.Errorf("signed in with %s, but the token's idp is %v", provider, claims["idp"])
	}
	return claims
}

// clickThroughProvider plays the person at each provider's page.
func clickThroughProvider(t *testing.T, ctx context.Context, provider string) {
	t.Helper()
	switch provider {
	case "dev":
		do(t, ctx, "pick alice", chromedp.WaitVisible(`button[data-user="alice"]`), chromedp.Click(`button[data-user="alice"]`))
	case "microsoft", "facebook", "corp":
		do(t, ctx, "continue at "+provider, chromedp.WaitVisible("#continue"), chromedp.Click("#continue"))
	case "google":
		// The fake signs the chosen user in at once.
	default:
		t.Fatalf("no page steps for %s", provider)
	}
}

func TestDemoPageEveryProviderLinkingAndABackendsProviderToken(t *testing.T) {
	m := startMultiProvider(t)
	demo := m.inst.url + "/demo/"
	for _, p := range []string{"google", "microsoft", "facebook", "corp", "dev"} {
		if !strings.Contains(m.inst.logs.String(), p) {
			t.Errorf("the startup log does not name provider %s:\n%s", p, m.inst.logs)
		}
	}

	// Each provider signs a person in, from its own button, in a browser
	// of its own.
	subs := map[string]string{}
	for _, tc := range []struct {
		provider string
		want     map[string]any
	}{
		{"dev", map[string]any{"email": "alice@example.com", "email_verified": true}},
		{"google", map[string]any{"email": "grace@gmail.com", "email_verified": true, "name": "Grace Hopper"}},
		{"microsoft", map[string]any{"email": "alice@contoso.com", "email_verified": false, "tenant": azuretest.ContosoTenantID}},
		{"facebook", map[string]any{"email": "alice@example.com", "email_verified": false, "name": "Alice Example"}},
		{"corp", map[string]any{"email": "erin@corp.example", "email_verified": true, "name": "Erin Corp"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			ctx := newBrowser(t)
			claims := signInWith(t, ctx, demo, tc.provider)
			for k, want := range tc.want {
				if claims[k] != want {
					t.Errorf("claim %s = %v, want %v", k, claims[k], want)
				}
			}
			subs[tc.provider] = fmt.Sprint(claims["sub"])
		})
	}
	if len(subs) != 5 {
		t.Fatalf("signed in with %d providers, want 5", len(subs))
	}

	// Grace, signed in with Google, links Microsoft on the account section
	// of the demo page; Microsoft then signs her into the same user.
	ctx := newBrowser(t)
	grace := signInWith(t, ctx, demo, "google")
	waitText(t, ctx, "#identities", func(s string) bool { return strings.Contains(s, "Google") })
	m.azure.SetUser(azuretest.User{OID: "2d5b3c7f-1111-4a9e-8d3c-2f5e6a7b8c9d", TenantID: azuretest.ContosoTenantID,
		Name: "Grace Hopper", PreferredUsername: "grace@contoso.com", Email: "grace@contoso.com"})
	do(t, ctx, "link Microsoft", chromedp.Click(`button[data-link="microsoft"]`), chromedp.WaitVisible("#link-continue"))
	// The start page names the account the Microsoft identity would join.
	if got := text(t, ctx, "#link-account"); got != "grace@gmail.com" {
		t.Errorf("the link page names account %q, want grace@gmail.com", got)
	}
	do(t, ctx, "confirm the link", chromedp.Click("#link-continue"))
	clickThroughProvider(t, ctx, "microsoft")
	waitText(t, ctx, "#status", func(s string) bool { return strings.Contains(s, "Microsoft linked") })
	listed := waitText(t, ctx, "#identities", func(s string) bool { return strings.Contains(s, "Microsoft") })
	if !strings.Contains(listed, "Google") {
		t.Errorf("after linking, the account lists %q; want Google and Microsoft", listed)
	}
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('button[data-link="microsoft"]').hidden`)); !hidden {
		t.Error("the Link Microsoft button is still offered after linking")
	}
	do(t, ctx, "log out", chromedp.Click("#logout"), chromedp.WaitVisible("#signed-out"))
	again := signInWith(t, ctx, demo, "microsoft")
	if again["sub"] != grace["sub"] {
		t.Errorf("Microsoft signed in as %v after linking, want Grace's user %v", again["sub"], grace["sub"])
	}

	// Linking Facebook, whose account is already another user's (the
	// Facebook sign-in above), fails clearly and changes nothing.
	do(t, ctx, "link Facebook", chromedp.WaitVisible(`button[data-link="facebook"]`), chromedp.Click(`button[data-link="facebook"]`),
		chromedp.WaitVisible("#link-continue"), chromedp.Click("#link-continue"))
	clickThroughProvider(t, ctx, "facebook")
	errText := waitText(t, ctx, "#error", func(s string) bool { return s != "" })
	if !strings.Contains(errText, "identity_in_use") {
		t.Errorf("linking another user's Facebook account shows %q, want identity_in_use", errText)
	}
	if listed := text(t, ctx, "#identities"); strings.Contains(listed, "Facebook") {
		t.Errorf("a refused link still lists Facebook: %q", listed)
	}

	// Grace also signs in on her phone: the Android app sends the Google
	// ID token it got from Credential Manager, and ends as the same user.
	now := time.Now()
	idToken := m.google.SignIDToken(map[string]any{
		"iss": m.google.Issuer(), "aud": m.google.ClientID(), "azp": "android-app.apps.googleusercontent.com",
		"sub": "g-1", "email": "grace@gmail.com", "email_verified": true, "name": "Grace Hopper", "nonce": "phone-nonce",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	mobile := exchangeNative(t, m.inst.url, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "client_id": {"mobile"}, "provider": {"google"},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}, "subject_token": {idToken}, "nonce": {"phone-nonce"},
	})
	if mobile["sub"] != grace["sub"] || mobile["idp"] != "google" {
		t.Errorf("the phone's token exchange signed in as %v via %v, want Grace's user %v via google", mobile["sub"], mobile["idp"], grace["sub"])
	}

	// A backend fetches Grace's Google access token. The stored one has
	// under two minutes left, so socialbridge refreshes it with the stored
	// Google refresh token first; Google accepts the result.
	refreshesBefore := m.google.TokenRequests()
	tok := fetchProviderToken(t, m.inst.url, fmt.Sprint(grace["sub"]), "google")
	if m.google.TokenRequests() != refreshesBefore+1 || m.google.LastTokenRequest().Get("grant_type") != "refresh_token" {
		t.Errorf("no refresh at Google before handing out the token (token requests %d→%d, last %q)",
			refreshesBefore, m.google.TokenRequests(), m.google.LastTokenRequest().Get("grant_type"))
	}
	req, _ := http.NewRequest(http.MethodGet, m.google.URL()+googletest.UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || info["sub"] != "g-1" {
		t.Errorf("Google's userinfo with the backend's token: %d %v, want 200 for g-1", resp.StatusCode, info)
	}
}

// fetchProviderToken asks /provider-token as the backend client.
func fetchProviderToken(t *testing.T, base, userID, provider string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/provider-token",
		strings.NewReader(url.Values{"user_id": {userID}, "provider": {provider}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("reports", backendSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" || out.TokenType != "Bearer" || out.ExpiresIn <= 0 {
		t.Fatalf("/provider-token: %d %+v", resp.StatusCode, out)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/provider-token Cache-Control %q, want no-store", cc)
	}
	return out.AccessToken
}

// exchangeNative runs a token exchange at /token and returns the access
// token's claims (decoded without verification: the server just issued
// it, and other tests verify its signature).
func exchangeNative(t *testing.T, base string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(base+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken     string `json:"access_token"`
		RefreshToken    string `json:"refresh_token"`
		IssuedTokenType string `json:"issued_token_type"`
		Error           string `json:"error"`
		Description     string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" || out.RefreshToken == "" ||
		out.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("token exchange: %d %+v", resp.StatusCode, out)
	}
	parts := strings.Split(out.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
