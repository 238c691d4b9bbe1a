package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// otherProvider is a second provider to link over HTTP. Its authorization
// endpoint is elsewhere (the browser stops there); the person approves
// with code other-code; the tokens it issues have already expired and
// its refresh endpoint is down.
type otherProvider struct{}

func (otherProvider) Name() string { return "other" }

func (otherProvider) AuthCodeURL(_ context.Context, req providers.AuthRequest) (string, error) {
	return "https://other-idp.example.com/auth?" + url.Values{
		"state": {req.State}, "redirect_uri": {req.RedirectURI}, "prompt": {strings.Join(req.Prompt, " ")},
	}.Encode(), nil
}

func (otherProvider) Exchange(_ context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	if req.Code != "other-code" {
		return nil, &providers.Error{Provider: "other", Code: providers.CodeInvalidGrant, Message: "unknown code"}
	}
	return &providers.Identity{
		Provider: "other", Subject: "other-alice",
		Profile: claims.Profile{Email: "alice@other.example", EmailVerified: true, Name: "Alice at Other"},
		Tokens:  providers.Tokens{AccessToken: "other-access", RefreshToken: "other-refresh", Expiry: time.Now().Add(-time.Minute)},
	}, nil
}

func (otherProvider) Refresh(context.Context, string) (*providers.Tokens, error) {
	return nil, &providers.Error{Provider: "other", Code: providers.CodeUnavailable, Message: "token endpoint answered 503"}
}

// accountApp is an app with the dev provider and other.
func accountApp(t *testing.T) *app {
	t.Helper()
	return newApp(t, func(string) []providers.Provider { return []providers.Provider{otherProvider{}} })
}

// apiResponse is a response of the account and provider-token endpoints.
type apiResponse struct {
	*http.Response
	// JSON is the decoded body; nil when there is none.
	JSON map[string]any
}

// call sends method path with body (form encoded unless contentType says
// otherwise) and the bearer token, edited by edit, and decodes the JSON
// answer.
func (a *app) call(t testing.TB, method, path, bearer, contentType, body string, edit func(*http.Request)) apiResponse {
	t.Helper()
	var rd io.Reader
	if body != "" || method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		if contentType == "" {
			contentType = "application/x-www-form-urlencoded"
		}
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := apiResponse{Response: resp}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.JSON); err != nil {
			t.Fatalf("%s %s: invalid JSON %q", method, path, raw)
		}
	}
	return out
}

// linkOther links the other provider to the user of access through the
// browser: ask, open the start URL, approve, come back. It returns where
// the browser ends.
func (a *app) linkOther(t testing.TB, access string) *url.URL {
	t.Helper()
	r := a.call(t, http.MethodPost, "/account/identities", access, "", url.Values{
		"provider": {"other"}, "redirect_uri": {spaRedirect}, "state": {"link-state"},
	}.Encode(), nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/identities: %d %v", r.StatusCode, r.JSON)
	}
	browser := a.browser(t)
	resp, err := browser.Get(r.JSON["location"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, err := resp.Location()
	if err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("GET /link/start: %d to %v, want a redirect to the provider", resp.StatusCode, to)
	}
	resp, err = browser.Get(a.url + "/callback/other?" + url.Values{"state": {to.Query().Get("state")}, "code": {"other-code"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil {
		t.Fatalf("callback: %d without a redirect", resp.StatusCode)
	}
	return back
}

// errorCode is the error of a JSON error body.
func (r apiResponse) errorCode() string {
	code, _ := r.JSON["error"].(string)
	return code
}

func TestAccountEndpointsNeedABearerToken(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	valid := a.signIn(t)
	revoked := a.signIn(t)
	if resp, _ := a.post(t, "/revoke", url.Values{"token": {revoked.RefreshToken}, "client_id": {"spa"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	endpoints := []struct {
		method, path, body string
	}{
		{http.MethodGet, "/account/identities", ""},
		{http.MethodPost, "/account/identities", "provider=other&redirect_uri=" + url.QueryEscape(spaRedirect)},
		{http.MethodDelete, "/account/identities/dev", ""},
	}
	tests := []struct {
		name string
		// query is added to the path; auth is the Authorization header.
		query, auth string
		code        string
		// challenge is what WWW-Authenticate must contain.
		challenge string
	}{
		{"no Authorization header is invalid_request", "", "", "invalid_request", `Bearer realm="socialbridge"`},
		{"Basic credentials are invalid_request", "", "Basic " + "c3BhOg==", "invalid_request", `Bearer realm="socialbridge"`},
		{"Bearer without a token is invalid_request", "", "Bearer ", "invalid_request", `Bearer realm="socialbridge"`},
		{"a token in the query is not read", "?access_token=" + valid.AccessToken, "", "invalid_request", `Bearer realm="socialbridge"`},
		{"a garbage token is invalid_token", "", "Bearer garbage", "invalid_token", `Bearer error="invalid_token"`},
		{"a refresh token is invalid_token", "", "Bearer " + valid.RefreshToken, "invalid_token", `Bearer error="invalid_token"`},
		{"the token of a revoked session is invalid_token", "", "Bearer " + revoked.AccessToken, "invalid_token", `Bearer error="invalid_token"`},
	}
	for _, ep := range endpoints {
		for _, tt := range tests {
			t.Run(ep.method+" "+ep.path+": "+tt.name, func(t *testing.T) {
				t.Parallel()
				r := a.call(t, ep.method, ep.path+tt.query, "", "", ep.body, func(req *http.Request) {
					if tt.auth != "" {
						req.Header.Set("Authorization", tt.auth)
					}
				})
				if r.StatusCode != http.StatusUnauthorized || r.errorCode() != tt.code {
					t.Fatalf("got %d %v, want 401 %s", r.StatusCode, r.JSON, tt.code)
				}
				if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) {
					t.Errorf("WWW-Authenticate = %q, want it to start with %q", got, tt.challenge)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
				}
			})
		}
	}
}

func TestLinkingOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.signIn(t)

	r := a.call(t, http.MethodPost, "/account/identities", tr.AccessToken, "", url.Values{
		"provider": {"other"}, "redirect_uri": {spaRedirect}, "state": {"link-state"},
	}.Encode(), nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/identities: %d %v", r.StatusCode, r.JSON)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
	}
	location, _ := r.JSON["location"].(string)
	start, err := url.Parse(location)
	if err != nil || a.url+start.Path != a.url+"/link/start" || !strings.HasPrefix(location, a.url) || start.Query().Get("ticket") == "" {
		t.Fatalf("location = %q, want %s/link/start?ticket=...", location, a.url)
	}
	if r.JSON["expires_in"] != float64(600) {
		t.Errorf("expires_in = %v, want 600 (the flow lifetime)", r.JSON["expires_in"])
	}
	if strings.Contains(location, tr.AccessToken) {
		t.Error("the start URL carries the access token")
	}

	// The browser opens the start URL: it gets the flow's cookie and goes
	// to the provider.
	browser := a.browser(t)
	resp, err := browser.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("GET /link/start: %d to %v, want 302 to the provider", resp.StatusCode, to)
	}
	if to.Query().Get("prompt") != "select_account" || to.Query().Get("redirect_uri") != a.url+"/callback/other" {
		t.Errorf("provider request = %v, want prompt=select_account and our callback", to.Query())
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /link/start Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	var flowCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "sb_flow_") {
			flowCookie = c
		}
	}
	if flowCookie == nil || !flowCookie.HttpOnly || flowCookie.SameSite != http.SameSiteLaxMode || flowCookie.MaxAge != 600 || flowCookie.Value == "" {
		t.Fatalf("flow cookie = %+v, want an HttpOnly, SameSite=Lax cookie for the flow lifetime", flowCookie)
	}

	// The start URL works once.
	again, err := a.browser(t).Get(location)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(again.Body)
	again.Body.Close()
	if again.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "already used") {
		t.Errorf("second GET /link/start: %d, want 400 with the already-used page", again.StatusCode)
	}

	// The provider sends the first browser back.
	resp, err = browser.Get(a.url + "/callback/other?" + url.Values{"state": {to.Query().Get("state")}, "code": {"other-code"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || !strings.HasPrefix(back.String(), spaRedirect+"?") {
		t.Fatalf("callback: %d to %v, want the SPA", resp.StatusCode, back)
	}
	if q := back.Query(); q.Get("linked") != "other" || q.Get("state") != "link-state" || q.Get("iss") != a.url || q.Has("error") {
		t.Errorf("back at the SPA with %v, want linked=other, the state and our issuer", q)
	}

	r = a.call(t, http.MethodGet, "/account/identities", tr.AccessToken, "", "", nil)
	if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /account/identities: %d %v (Cache-Control %q)", r.StatusCode, r.JSON, r.Header.Get("Cache-Control"))
	}
	list, _ := r.JSON["identities"].([]any)
	var providersListed []string
	for _, it := range list {
		m, _ := it.(map[string]any)
		providersListed = append(providersListed, m["provider"].(string))
		if m["provider"] == "other" && (m["email"] != "alice@other.example" || m["label"] != "Other" || m["linked_at"] == nil) {
			t.Errorf("other is listed as %v", m)
		}
		for _, secret := range []string{"access_token", "refresh_token", "subject"} {
			if _, ok := m[secret]; ok {
				t.Errorf("an identity is listed with %s", secret)
			}
		}
	}
	if strings.Join(providersListed, ",") != "dev,other" {
		t.Errorf("identities listed = %v, want dev,other", providersListed)
	}

	// Now the first identity can go.
	r = a.call(t, http.MethodDelete, "/account/identities/dev", tr.AccessToken, "", "", nil)
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /account/identities/dev: %d %v, want 204", r.StatusCode, r.JSON)
	}
	r = a.call(t, http.MethodDelete, "/account/identities/other", tr.AccessToken, "", "", nil)
	if r.StatusCode != http.StatusConflict || r.errorCode() != "last_identity" {
		t.Errorf("DELETE the last identity: %d %v, want 409 last_identity", r.StatusCode, r.JSON)
	}
}

func TestAccountErrorsOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.signIn(t)
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
	}{
		{"deleting the only identity is 409 last_identity", http.MethodDelete, "/account/identities/dev", "", "", http.StatusConflict, "last_identity"},
		{"deleting a provider the user has not linked is 404 not_linked", http.MethodDelete, "/account/identities/other", "", "", http.StatusNotFound, "not_linked"},
		{"linking a provider the user has is 409 already_linked", http.MethodPost, "/account/identities", "",
			"provider=dev&redirect_uri=" + url.QueryEscape(spaRedirect), http.StatusConflict, "already_linked"},
		{"a JSON body is 400 invalid_request", http.MethodPost, "/account/identities", "application/json",
			`{"provider":"other","redirect_uri":"` + spaRedirect + `"}`, http.StatusBadRequest, "invalid_request"},
		{"a repeated parameter is 400 invalid_request", http.MethodPost, "/account/identities", "",
			"provider=other&provider=dev&redirect_uri=" + url.QueryEscape(spaRedirect), http.StatusBadRequest, "invalid_request"},
		{"an unregistered redirect URI is 400 invalid_request", http.MethodPost, "/account/identities", "",
			"provider=other&redirect_uri=" + url.QueryEscape("https://evil.example.com/cb"), http.StatusBadRequest, "invalid_request"},
		{"an unknown provider is 400 invalid_request", http.MethodPost, "/account/identities", "",
			"provider=nope&redirect_uri=" + url.QueryEscape(spaRedirect), http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := a.call(t, tt.method, tt.path, tr.AccessToken, tt.contentType, tt.body, nil)
			if r.StatusCode != tt.status || r.errorCode() != tt.code {
				t.Fatalf("got %d %v, want %d %s", r.StatusCode, r.JSON, tt.status, tt.code)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestStartLinkWithABadTicketShowsAnErrorPage(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	for _, ticket := range []string{"", "garbage", "AAAAAAAAAAAAAAAAAAAAAA.AAAA"} {
		resp, err := a.browser(t).Get(a.url + "/link/start?" + url.Values{"ticket": {ticket}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || len(resp.Cookies()) != 0 {
			t.Errorf("ticket %q: %d %s with cookies %v, want a 400 page and no cookie", ticket, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Cookies())
		}
		if !strings.Contains(string(body), "Invalid sign-in response") {
			t.Errorf("ticket %q: the page does not say the request was altered", ticket)
		}
	}
}

func TestProviderTokenOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.signIn(t)
	at, err := a.issuer.ParseAccess(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	userID := at.Subject
	form := func(provider string) string {
		return url.Values{"user_id": {userID}, "provider": {provider}}.Encode()
	}
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(id, secret) }
	}

	t.Run("a backend allowed to gets the token", func(t *testing.T) {
		t.Parallel()
		for name, r := range map[string]apiResponse{
			"with Basic credentials": a.call(t, http.MethodPost, "/provider-token", "", "", form("dev"), basic("backend", backendSecret)),
			"with credentials in the form": a.call(t, http.MethodPost, "/provider-token", "", "",
				form("dev")+"&client_id=backend&client_secret="+backendSecret, nil),
		} {
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %v", name, r.StatusCode, r.JSON)
			}
			tok, _ := r.JSON["access_token"].(string)
			exp, _ := r.JSON["expires_in"].(float64)
			if !strings.HasPrefix(tok, "dev-access-") || r.JSON["token_type"] != "Bearer" || r.JSON["provider"] != "dev" || exp < 3500 || exp > 3600 {
				t.Errorf("%s: body = %v, want the dev access token, Bearer, expires_in about an hour", name, r.JSON)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control = %q, want no-store", name, r.Header.Get("Cache-Control"))
			}
			if r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s: a backend endpoint answers with CORS headers", name)
			}
		}
	})

	tests := []struct {
		name        string
		contentType string
		body        string
		edit        func(*http.Request)
		status      int
		code        string
	}{
		{"a JSON body is 400 invalid_request", "application/json", `{"user_id":"` + userID + `","provider":"dev"}`, basic("backend", backendSecret),
			http.StatusBadRequest, "invalid_request"},
		{"a public client is 403 unauthorized_client", "", form("dev") + "&client_id=spa", nil, http.StatusForbidden, "unauthorized_client"},
		{"a backend without provider_tokens is 403 unauthorized_client", "", form("dev"), basic("reports", backendSecret),
			http.StatusForbidden, "unauthorized_client"},
		{"a wrong secret is 401 invalid_client", "", form("dev"), basic("backend", "guess"), http.StatusUnauthorized, "invalid_client"},
		{"no client is 401 invalid_client", "", form("dev"), nil, http.StatusUnauthorized, "invalid_client"},
		{"an unknown user is 404 not_linked", "", url.Values{"user_id": {"nobody"}, "provider": {"dev"}}.Encode(), basic("backend", backendSecret),
			http.StatusNotFound, "not_linked"},
		{"a provider the user has not linked is 404 not_linked", "", form("other"), basic("backend", backendSecret), http.StatusNotFound, "not_linked"},
		{"a provider that is not enabled is 400 invalid_request", "", form("nope"), basic("backend", backendSecret), http.StatusBadRequest, "invalid_request"},
		{"no user_id is 400 invalid_request", "", "provider=dev", basic("backend", backendSecret), http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := a.call(t, http.MethodPost, "/provider-token", "", tt.contentType, tt.body, tt.edit)
			if r.StatusCode != tt.status || r.errorCode() != tt.code {
				t.Fatalf("got %d %v, want %d %s", r.StatusCode, r.JSON, tt.status, tt.code)
			}
			if _, ok := r.JSON["access_token"]; ok {
				t.Error("a refused request got an access token")
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
			}
			if tt.status == http.StatusUnauthorized && tt.edit != nil && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestProviderTokenOfAnUnavailableProviderIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.signIn(t)
	at, _ := a.issuer.ParseAccess(tr.AccessToken)
	if back := a.linkOther(t, tr.AccessToken); back.Query().Get("linked") != "other" {
		t.Fatalf("link ended at %s", back)
	}
	// other's token has expired and its token endpoint is down.
	r := a.call(t, http.MethodPost, "/provider-token", "", "", url.Values{"user_id": {at.Subject}, "provider": {"other"}}.Encode(),
		func(r *http.Request) { r.SetBasicAuth("backend", backendSecret) })
	if r.StatusCode != http.StatusServiceUnavailable || r.errorCode() != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", r.StatusCode, r.JSON, r.Header.Get("Retry-After"))
	}
	if logs := a.logs.String(); strings.Contains(logs, "other-refresh") || strings.Contains(logs, "other-access") {
		t.Error("a provider token reached the log")
	}
}

func TestAccountEndpointsCORS(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.signIn(t)
	preflight := func(path, origin, method string) apiResponse {
		return a.call(t, http.MethodOptions, path, "", "", "", func(r *http.Request) {
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", method)
			r.Header.Set("Access-Control-Request-Headers", "authorization")
		})
	}
	tests := []struct {
		name, path, origin, method string
		allowed                    bool
	}{
		{"a registered origin may list identities", "/account/identities", "https://spa.example.com", "GET", true},
		{"a registered origin may ask for a link", "/account/identities", "https://spa.example.com", "POST", true},
		{"a registered origin may unlink", "/account/identities/dev", "https://spa.example.com", "DELETE", true},
		{"another origin may not unlink", "/account/identities/dev", "https://evil.example.com", "DELETE", false},
		{"another origin may not list identities", "/account/identities", "https://evil.example.com", "GET", false},
		{"no origin may call the backend endpoint from a browser", "/provider-token", "https://spa.example.com", "POST", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := preflight(tt.path, tt.origin, tt.method)
			allowOrigin := r.Header.Get("Access-Control-Allow-Origin")
			if !tt.allowed {
				if allowOrigin != "" || r.StatusCode == http.StatusNoContent || r.StatusCode == http.StatusOK {
					t.Fatalf("preflight: %d, Allow-Origin %q; want it refused", r.StatusCode, allowOrigin)
				}
				return
			}
			methods, headers := r.Header.Get("Access-Control-Allow-Methods"), strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
			if r.StatusCode != http.StatusNoContent || allowOrigin != tt.origin || !strings.Contains(methods, tt.method) || !strings.Contains(headers, "authorization") {
				t.Fatalf("preflight: %d, Allow-Origin %q, methods %q, headers %q", r.StatusCode, allowOrigin, methods, headers)
			}
		})
	}

	t.Run("the actual request of a registered origin can read the answer", func(t *testing.T) {
		t.Parallel()
		r := a.call(t, http.MethodGet, "/account/identities", tr.AccessToken, "", "", func(r *http.Request) { r.Header.Set("Origin", "https://spa.example.com") })
		if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "https://spa.example.com" ||
			!strings.Contains(r.Header.Get("Vary"), "Origin") || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Fatalf("GET /account/identities from the SPA: %d, headers %v", r.StatusCode, r.Header)
		}
	})
}
