package web_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/web"
)

// appUserAgent is the User-Agent of the native app in these tests.
const appUserAgent = "ExampleApp/2.1 (Android 15; Pixel 9)"

// nativeFake is a provider that only verifies native tokens: it accepts
// every token as Nia's ID token unless err is set.
type nativeFake struct {
	name string
	mu   sync.Mutex
	err  error
}

func (f *nativeFake) Name() string { return f.name }

func (f *nativeFake) AuthCodeURL(context.Context, providers.AuthRequest) (string, error) {
	return "", errors.New("nativeFake has no browser flow")
}

func (f *nativeFake) Exchange(context.Context, providers.ExchangeRequest) (*providers.Identity, error) {
	return nil, errors.New("nativeFake has no browser flow")
}

func (f *nativeFake) NativeTokenTypes() []string { return []string{providers.TokenTypeIDToken} }

func (f *nativeFake) VerifyNative(_ context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, time.Time{}, f.err
	}
	return &providers.Identity{Provider: f.name, Subject: "nia-1",
		Profile: claims.Profile{Email: "nia@example.com", EmailVerified: true, Name: "Nia"}}, time.Time{}, nil
}

// nativeApp is an app with three native fakes: native accepts, refuses
// refuses every token, down cannot reach its provider.
func nativeApp(t *testing.T, edit func(*web.Options)) *app {
	t.Helper()
	return newAppWith(t, func(string) []providers.Provider {
		return []providers.Provider{
			&nativeFake{name: "native"},
			&nativeFake{name: "refuses", err: &providers.Error{Provider: "refuses", Code: providers.CodeInvalidToken,
				Message: "ID token was issued to another client"}},
			&nativeFake{name: "down", err: &providers.Error{Provider: "down", Code: providers.CodeUnavailable,
				Message: "signing keys could not be fetched", Err: errors.New("dial tcp 10.0.0.1:443: i/o timeout")}},
		}
	}, edit)
}

// exchangeForm is the mobile app's token exchange of token, an ID token
// of provider.
func exchangeForm(token, provider string) url.Values {
	return url.Values{
		"grant_type": {bridge.GrantTypeTokenExchange}, "client_id": {"mobile"}, "subject_token": {token},
		"subject_token_type": {providers.TokenTypeIDToken}, "provider": {provider},
	}
}

// postToken posts body to /token as the app does, with headers, and
// returns the response, its decoded JSON and raw body.
func (a *app) postToken(t testing.TB, body string, header http.Header) (*http.Response, tokenResponse, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url+"/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", appUserAgent)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatalf("/token answered %d with non-JSON %q", resp.StatusCode, raw)
	}
	return resp, tr, string(raw)
}

// sessionOf returns the stored session of an access token.
func (a *app) sessionOf(t testing.TB, access string) (userID, ua, ip string) {
	t.Helper()
	c, err := a.issuer.ParseAccess(access)
	if err != nil {
		t.Fatalf("ParseAccess: %v", err)
	}
	sessions, err := a.store.ListUserSessions(context.Background(), c.Subject, a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.ID == c.SessionID {
			return c.Subject, s.UserAgent, s.IP
		}
	}
	t.Fatalf("session %s of user %s is not listed", c.SessionID, c.Subject)
	return "", "", ""
}

func TestTokenExchangeOverHTTPIsTheSameUserAsTheBrowserSignIn(t *testing.T) {
	t.Parallel()
	a, fake := googleApp(t)

	// The person signs in on the web first.
	verifier, challenge := pkce()
	resp, _ := googleRedirects(t, a, a.browser(t), challenge)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("browser sign-in ended at %d", resp.StatusCode)
	}
	_, browserTokens := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	webClaims, err := a.issuer.ParseAccess(browserTokens.AccessToken)
	if err != nil {
		t.Fatalf("browser sign-in: %+v: %v", browserTokens, err)
	}

	// Then in the app, with Sign in with Google's ID token.
	idToken := fake.NativeIDToken(fake.ClientID(), "", "app-nonce")
	form := exchangeForm(idToken, "google")
	form.Set("nonce", "app-nonce")
	resp, tr, raw := a.postToken(t, form.Encode(), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", resp.StatusCode, raw)
	}
	t.Run("the response is RFC 8693's with RFC 6749's tokens", func(t *testing.T) {
		if tr.IssuedTokenType != bridge.IssuedTokenTypeAccess || tr.TokenType != "Bearer" || tr.AccessToken == "" ||
			tr.RefreshToken == "" || tr.IDToken == "" || tr.ExpiresIn != 900 || tr.RefreshExpiresIn <= 0 {
			t.Errorf("response = %s", raw)
		}
		if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
			t.Errorf("Cache-Control %q, Pragma %q; want no-store, no-cache", cc, p)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		if strings.Contains(raw, idToken) {
			t.Error("the response echoes the subject token")
		}
	})
	t.Run("it is the browser's user, on a session of the device", func(t *testing.T) {
		userID, ua, ip := a.sessionOf(t, tr.AccessToken)
		if userID != webClaims.Subject {
			t.Errorf("native sign-in is user %s, the browser's %s", userID, webClaims.Subject)
		}
		if ua != appUserAgent || ip != "127.0.0.1" {
			t.Errorf("session device = %q from %q, want %q from 127.0.0.1", ua, ip, appUserAgent)
		}
	})
	t.Run("the refresh token works for the app", func(t *testing.T) {
		resp, next := a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"mobile"}, "refresh_token": {tr.RefreshToken}})
		if resp.StatusCode != http.StatusOK || next.AccessToken == "" || next.IssuedTokenType != "" {
			t.Errorf("refresh: %d %+v", resp.StatusCode, next)
		}
	})
	t.Run("a replay is invalid_grant", func(t *testing.T) {
		resp, tr, raw := a.postToken(t, form.Encode(), nil)
		if resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" || !strings.Contains(tr.ErrorDescription, "already exchanged") {
			t.Errorf("replay: %d %s", resp.StatusCode, raw)
		}
	})
	if logs := a.logs.String(); strings.Contains(logs, idToken) || !strings.Contains(logs, "native sign-in finished") {
		t.Errorf("the log holds the ID token, or lacks the finished sign-in: %s", logs)
	}
}

func TestTokenExchangeErrorsOverHTTP(t *testing.T) {
	t.Parallel()
	a := nativeApp(t, nil)
	tests := []struct {
		name       string
		edit       func(url.Values)
		body       string // instead of the form
		basic      [2]string
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{name: "a missing subject_token is 400 invalid_request", edit: func(f url.Values) { f.Del("subject_token") },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "subject_token is required"},
		{name: "a missing subject_token_type is 400 invalid_request", edit: func(f url.Values) { f.Del("subject_token_type") },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "subject_token_type"},
		{name: "a missing provider is 400 invalid_request", edit: func(f url.Values) { f.Del("provider") },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "provider is required"},
		{name: "an oversized subject_token is 400 invalid_request", edit: func(f url.Values) { f.Set("subject_token", strings.Repeat("x", 16<<10+1)) },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "longer than"},
		{name: "a repeated subject_token is 400 invalid_request", body: exchangeForm("a-token", "native").Encode() + "&subject_token=b-token",
			wantStatus: 400, wantError: "invalid_request", wantDesc: "repeated"},
		{name: "an unknown token type is 400 unsupported_token_type",
			edit:       func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:jwt") },
			wantStatus: 400, wantError: "unsupported_token_type"},
		{name: "a provider without native sign-in is 400 unsupported_token_type", edit: func(f url.Values) { f.Set("provider", "dev") },
			wantStatus: 400, wantError: "unsupported_token_type"},
		{name: "a client without token_exchange is 400 unauthorized_client", edit: func(f url.Values) { f.Set("client_id", "spa") },
			wantStatus: 400, wantError: "unauthorized_client"},
		{name: "an unknown client is 401 invalid_client", edit: func(f url.Values) { f.Set("client_id", "nobody") },
			wantStatus: 401, wantError: "invalid_client"},
		{name: "the public app sending a secret is 401 invalid_client", edit: func(f url.Values) { f.Set("client_secret", "x") },
			wantStatus: 401, wantError: "invalid_client"},
		{name: "a confidential client with a wrong secret over Basic is 401 invalid_client", edit: func(f url.Values) { f.Del("client_id") },
			basic: [2]string{"backend", "wrong"}, wantStatus: 401, wantError: "invalid_client"},
		{name: "a confidential client without token_exchange is 400 unauthorized_client", edit: func(f url.Values) { f.Del("client_id") },
			basic: [2]string{"backend", backendSecret}, wantStatus: 400, wantError: "unauthorized_client"},
		{name: "the account scope for a client without it is 400 invalid_scope", edit: func(f url.Values) { f.Set("scope", accountScope) },
			wantStatus: 400, wantError: "invalid_scope"},
		{name: "a token the provider refuses is 400 invalid_grant with the reason", edit: func(f url.Values) { f.Set("provider", "refuses") },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "ID token was issued to another client"},
		{name: "a provider that cannot be reached is 503 temporarily_unavailable", edit: func(f url.Values) { f.Set("provider", "down") },
			wantStatus: 503, wantError: "temporarily_unavailable", wantDesc: "try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			token := "native-" + rand.Text()
			body := tt.body
			if body == "" {
				form := exchangeForm(token, "native")
				tt.edit(form)
				body = form.Encode()
			}
			header := http.Header{}
			if tt.basic[0] != "" {
				r, _ := http.NewRequest(http.MethodPost, "/", nil)
				r.SetBasicAuth(tt.basic[0], tt.basic[1])
				header.Set("Authorization", r.Header.Get("Authorization"))
			}
			resp, tr, raw := a.postToken(t, body, header)
			if resp.StatusCode != tt.wantStatus || tr.Error != tt.wantError || !strings.Contains(tr.ErrorDescription, tt.wantDesc) {
				t.Errorf("got %d %s, want %d %s with %q", resp.StatusCode, raw, tt.wantStatus, tt.wantError, tt.wantDesc)
			}
			if tr.ErrorDescription == "" || tr.AccessToken != "" {
				t.Errorf("body = %s, want an error with a description and no token", raw)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if tt.wantStatus == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if strings.Contains(raw, token) || strings.Contains(raw, "10.0.0.1") {
				t.Errorf("the body leaks the token or the cause: %s", raw)
			}
			if strings.Contains(a.logs.String(), token) {
				t.Error("the log holds the subject token")
			}
		})
	}
}

func TestTokenExchangeRecordsTheClientIPBehindATrustedProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []string
		wantIP  string
	}{
		{"X-Forwarded-For from an untrusted peer is ignored", nil, "127.0.0.1"},
		{"X-Forwarded-For from a trusted proxy names the device", []string{"127.0.0.1/32"}, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := nativeApp(t, func(o *web.Options) { o.TrustedProxies = tt.trusted })
			resp, tr, raw := a.postToken(t, exchangeForm("native-"+rand.Text(), "native").Encode(),
				http.Header{"X-Forwarded-For": {"198.51.100.9"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %s", resp.StatusCode, raw)
			}
			if _, ua, ip := a.sessionOf(t, tr.AccessToken); ip != tt.wantIP || ua != appUserAgent {
				t.Errorf("session device = %q from %q, want %q from %q", ua, ip, appUserAgent, tt.wantIP)
			}
		})
	}
}

func TestDiscoveryListsTheTokenExchangeGrant(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	var doc struct {
		GrantTypes []string `json:"grant_types_supported"`
	}
	getWellKnown(t, a.url+"/.well-known/openid-configuration", &doc)
	for _, g := range []string{"authorization_code", "refresh_token", bridge.GrantTypeTokenExchange} {
		if !slices.Contains(doc.GrantTypes, g) {
			t.Errorf("grant_types_supported = %v, want %s", doc.GrantTypes, g)
		}
	}
}
