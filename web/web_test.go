package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/web"
)

func TestDevSignInOverHTTP(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	verifier, challenge := pkce()
	loc := a.devSignIn(t, a.browser(t), challenge, "alice")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != spaRedirect {
		t.Fatalf("ended at %s, want %s", loc, spaRedirect)
	}
	if loc.Query().Get("state") != "spa-state" || loc.Query().Get("iss") != a.url {
		t.Fatalf("redirect query = %v", loc.Query())
	}
	resp, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	if resp.StatusCode != 200 || tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Fatalf("token response %d %+v", resp.StatusCode, tr)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	claims, err := a.issuer.ParseAccess(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.User["email"] != "alice@example.com" || claims.IDP != "dev" || claims.ClientID != "spa" {
		t.Errorf("claims = %v", claims)
	}

	// Refresh rotates.
	resp, tr2 := a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"spa"}})
	if resp.StatusCode != 200 || tr2.RefreshToken == tr.RefreshToken || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %+v", resp.StatusCode, tr2)
	}

	// Userinfo, then revoke, then userinfo fails.
	req, _ := http.NewRequest("GET", a.url+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tr2.AccessToken)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(r.Body).Decode(&info)
	r.Body.Close()
	if r.StatusCode != 200 || info["email"] != "alice@example.com" || info["sub"] != claims.Subject {
		t.Fatalf("userinfo %d %v", r.StatusCode, info)
	}
	resp, _ = a.post(t, "/revoke", url.Values{"token": {tr2.RefreshToken}, "client_id": {"spa"}})
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	r, _ = http.DefaultClient.Do(req)
	r.Body.Close()
	if r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("userinfo after revoke: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	tr := a.signIn(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		basic       [2]string
		status      int
		code        string
	}{
		{"JSON bodies are refused", "application/json", `{"grant_type":"refresh_token"}`, [2]string{}, 400, "invalid_request"},
		{"a missing grant_type is invalid_request", "application/x-www-form-urlencoded", "client_id=spa", [2]string{}, 400, "invalid_request"},
		{"an unknown grant_type is unsupported_grant_type", "application/x-www-form-urlencoded", "grant_type=password&client_id=spa", [2]string{}, 400, "unsupported_grant_type"},
		{"a repeated parameter is invalid_request", "application/x-www-form-urlencoded", "grant_type=refresh_token&grant_type=refresh_token&client_id=spa", [2]string{}, 400, "invalid_request"},
		{"an unknown client is invalid_client with 401", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=nobody&refresh_token=x", [2]string{}, 401, "invalid_client"},
		{"a missing client_id is invalid_client", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x", [2]string{}, 401, "invalid_client"},
		{"a secret for a public client is invalid_client", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x", [2]string{"spa", "guess"}, 401, "invalid_client"},
		{"a garbage refresh token is invalid_grant", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=spa&refresh_token=garbage", [2]string{}, 400, "invalid_grant"},
		{"an access token as refresh token is invalid_grant", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=spa&refresh_token=" + tr.AccessToken, [2]string{}, 400, "invalid_grant"},
		{"a malformed form is invalid_request", "application/x-www-form-urlencoded", "grant_type=%zz", [2]string{}, 400, "invalid_request"},
		{"a body over the limit is refused", "application/x-www-form-urlencoded", "grant_type=refresh_token&client_id=spa&refresh_token=" + strings.Repeat("a", 70000), [2]string{}, 413, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("POST", a.url+"/token", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			if tt.basic[0] != "" {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error string `json:"error"`
				Desc  string `json:"error_description"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("not JSON: %q", raw)
			}
			if resp.StatusCode != tt.status || body.Error != tt.code {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error, body.Desc, tt.status, tt.code)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("error response Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestAuthorizeErrorsNeverRedirectToUnregisteredURIs(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	good := url.Values{
		"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	tests := []struct {
		name     string
		edit     func(q url.Values) string
		status   int
		redirect string // expected error code when redirected to the SPA
		page     string // expected text on the error page
	}{
		{"an unknown client shows an error page", func(q url.Values) string { q.Set("client_id", "evil"); return q.Encode() }, 400, "", "Unknown application"},
		{"an unregistered redirect URI shows an error page", func(q url.Values) string {
			q.Set("redirect_uri", "https://evil.example.com/steal")
			return q.Encode()
		}, 400, "", "Redirect URI mismatch"},
		{"a repeated parameter shows an error page", func(q url.Values) string { return q.Encode() + "&client_id=spa" }, 400, "", "repeated"},
		{"a missing PKCE challenge goes back to the SPA as invalid_request", func(q url.Values) string {
			q.Del("code_challenge")
			return q.Encode()
		}, 302, "invalid_request", ""},
		{"an unsupported response_type goes back to the SPA", func(q url.Values) string {
			q.Set("response_type", "token")
			return q.Encode()
		}, 302, "unsupported_response_type", ""},
		{"an oversized query shows an error page", func(q url.Values) string { q.Set("state", strings.Repeat("x", 9000)); return q.Encode() }, 414, "", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{}
			for k, v := range good {
				q[k] = append([]string(nil), v...)
			}
			resp, err := a.browser(t).Get(a.url + "/authorize?" + tt.edit(q))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.redirect != "" {
				loc, _ := resp.Location()
				if !strings.HasPrefix(loc.String(), spaRedirect+"?") || loc.Query().Get("error") != tt.redirect || loc.Query().Get("state") != "s" {
					t.Fatalf("redirected to %s, want %s with error=%s", loc, spaRedirect, tt.redirect)
				}
				return
			}
			if resp.Header.Get("Location") != "" {
				t.Fatalf("error page redirected to %s", resp.Header.Get("Location"))
			}
			if !strings.Contains(string(body), tt.page) || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("error page lacks %q: %s", tt.page, body)
			}
		})
	}
}

func TestHostedLoginPageListsProviders(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	resp, err := a.browser(t).Get(a.authorizeURL(challenge, ""))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Example SPA") || !strings.Contains(string(body), `data-provider="dev"`) {
		t.Fatalf("login page %d: %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("login page CSP = %q", csp)
	}
}

func TestAuthorizeAcceptsPOST(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	u, _ := url.Parse(a.authorizeURL(challenge, ""))
	resp, err := a.browser(t).PostForm(a.url+"/authorize", u.Query())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-provider="dev"`) {
		t.Fatalf("POST /authorize: %d %.300s", resp.StatusCode, body)
	}
}

func TestCallbackFromAnotherBrowserIsRefused(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	// The attacker starts a login in their own browser...
	attacker := a.browser(t)
	resp, err := attacker.Get(a.authorizeURL(challenge, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := resp.Request.URL.Query()
	form.Set("user", "alice")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.PostForm(a.url+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	// ...and makes the victim's browser, which lacks the flow cookie, open the callback.
	resp, err = a.browser(t).Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "Sign-in started elsewhere") {
		t.Fatalf("victim's callback: %d %s", resp.StatusCode, body)
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	tests := []struct {
		name, method, path, origin string
		wantACAO                   string
		wantStatus                 int
	}{
		{"a registered origin may call the token endpoint", "OPTIONS", "/token", "https://spa.example.com", "https://spa.example.com", 204},
		{"an unknown origin gets no CORS grant", "OPTIONS", "/token", "https://evil.example.com", "", 403},
		{"any origin may read the JWKS", "GET", "/.well-known/jwks.json", "https://anything.example", "*", 200},
		{"discovery allows every origin even when the request names none (shared caches)", "GET", "/.well-known/openid-configuration", "", "*", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.url+tt.path, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			req.Header.Set("Access-Control-Request-Method", "POST")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !strings.Contains(resp.Header.Get("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin", resp.Header.Get("Vary"))
			}
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tt.wantACAO {
				t.Fatalf("%d ACAO=%q, want %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tt.wantStatus, tt.wantACAO)
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
				if resp.Header.Get(h) != want {
					t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), want)
				}
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

func TestUnknownPathsAndMethodsGetCleanErrors(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404}, {"DELETE", "/token", 405}, {"GET", "/token", 405}, {"PUT", "/authorize", 405},
		{"GET", "/callback/dev", 400}, {"GET", "/callback/unknown?state=x", 404},
	} {
		req, _ := http.NewRequest(tc.method, a.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
}

func TestLogsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	verifier, challenge := pkce()
	c := a.browser(t)
	loc := a.devSignIn(t, c, challenge, "alice")
	code := loc.Query().Get("code")
	_, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect}, "client_id": {"spa"}, "code_verifier": {verifier},
	})
	_, tr2 := a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"spa"}})
	// A reuse and a failed exchange also log.
	a.post(t, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect}, "client_id": {"spa"}, "code_verifier": {verifier}})
	logs := a.logs.String()
	if !strings.Contains(logs, "login finished") {
		t.Fatalf("expected sign-in log lines, got:\n%s", logs)
	}
	secrets := map[string]string{
		"one-time code": code, "code part": strings.SplitN(code, ".", 2)[1], "access token": tr.AccessToken,
		"refresh token": tr.RefreshToken, "rotated refresh token": tr2.RefreshToken, "id token": tr.IDToken,
		"verifier": verifier, "client state": "spa-state",
	}
	for name, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

func TestRateLimitAnswers429(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, nil, func(o *web.Options) { o.RateLimit = 1 })
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"spa"}}
	var last *http.Response
	var body tokenResponse
	for range 3 { // burst 2, then refused
		last, body = a.post(t, "/token", form)
	}
	if last.StatusCode != http.StatusTooManyRequests || body.Error != "too_many_requests" || last.Header.Get("Retry-After") == "" {
		t.Fatalf("third /token: %d %q Retry-After=%q", last.StatusCode, body.Error, last.Header.Get("Retry-After"))
	}
	// A browser navigation gets a page; an API GET (a fetch) the JSON
	// error.
	for _, tc := range []struct {
		path, accept, want string
	}{
		{"/authorize?client_id=spa", "text/html,application/xhtml+xml,*/*;q=0.8", "Too many"},
		{"/sessions", "*/*", `"error":"too_many_requests"`},
		{"/account/identities", "", `"error":"too_many_requests"`},
	} {
		req, _ := http.NewRequest(http.MethodGet, a.url+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(page), tc.want) {
			t.Fatalf("%s over the limit: %d %.200s", tc.path, resp.StatusCode, page)
		}
	}
	if r, err := http.Get(a.url + "/.well-known/jwks.json"); err != nil || r.StatusCode != 200 {
		t.Fatalf("the JWKS must not be rate limited: %v %v", r, err)
	}
	// Backends' endpoints authenticate first and are not limited per IP:
	// a backend introspecting every request would exceed any such limit.
	if r, _ := a.post(t, "/introspect", url.Values{"token": {"x"}, "client_id": {"spa"}}); r.StatusCode == http.StatusTooManyRequests {
		t.Errorf("/introspect is rate limited per IP")
	}
	if r, err := http.Get(a.url + "/revocations"); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Errorf("/revocations over the IP limit: %v %v, want 401 (not rate limited)", r, err)
	}
}
