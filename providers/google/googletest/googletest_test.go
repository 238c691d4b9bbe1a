package googletest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

const redirectURI = "https://app.example.test/callback/google"

// noRedirect stops at the fake's 302 so the test can read the callback.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// discover runs go-oidc discovery against the fake.
func discover(t *testing.T, srv *googletest.Server) *oidc.Provider {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), srv.URL())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p
}

// oauthConfig is the default client of srv, set up like the Google adapter.
func oauthConfig(srv *googletest.Server, p *oidc.Provider, scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	ep := p.Endpoint()
	// Not AuthStyleAutoDetect: it retries a refused call with the other
	// style, which would redeem every code twice.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		Endpoint: ep, RedirectURL: redirectURI, Scopes: scopes,
	}
}

// signIn sends the browser to the authorization endpoint and returns the
// parameters of the callback the fake redirects to.
func signIn(t *testing.T, conf *oauth2.Config, state string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	cb, err := trySignIn(t.Context(), conf, state, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func trySignIn(ctx context.Context, conf *oauth2.Config, state string, opts ...oauth2.AuthCodeOption) (url.Values, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, conf.AuthCodeURL(state, opts...), nil)
	if err != nil {
		return nil, err
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authorization request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("authorization status = %d, want 302; body: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, fmt.Errorf("location: %w", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != conf.RedirectURL {
		return nil, fmt.Errorf("redirected to %q, want %q", got, conf.RedirectURL)
	}
	return loc.Query(), nil
}

// login is one finished code flow with PKCE and nonce.
type login struct {
	token    *oauth2.Token
	rawID    string
	verifier string
	nonce    string
}

// codeFlow signs in with PKCE and a nonce and redeems the code.
func codeFlow(t *testing.T, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) login {
	t.Helper()
	l, err := tryCodeFlow(t.Context(), conf, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func tryCodeFlow(ctx context.Context, conf *oauth2.Config, opts ...oauth2.AuthCodeOption) (login, error) {
	verifier := oauth2.GenerateVerifier()
	nonce := oauth2.GenerateVerifier()
	opts = append(opts, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	cb, err := trySignIn(ctx, conf, "state-1", opts...)
	if err != nil {
		return login{}, err
	}
	tok, err := conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return login{}, fmt.Errorf("exchange: %w", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return login{}, errors.New("token response has no id_token")
	}
	return login{token: tok, rawID: rawID, verifier: verifier, nonce: nonce}, nil
}

// retrieveError asserts err is the token endpoint's error response.
func retrieveError(t *testing.T, err error, status int, code, description string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want *oauth2.RetrieveError", err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code || re.ErrorDescription != description {
		t.Fatalf("token error = %d %q %q, want %d %q %q",
			re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, status, code, description)
	}
}

// postToken calls the token endpoint directly, with client_secret_post.
func postToken(t *testing.T, srv *googletest.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.URL()+googletest.TokenPath, form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

// jwtHeader decodes the header of a compact JWT.
func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return h
}

// clock is a settable clock for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDiscoveryDescribesGoogleShapedEndpoints(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)

	ep := p.Endpoint()
	if ep.AuthURL != srv.URL()+"/o/oauth2/v2/auth" || ep.TokenURL != srv.URL()+"/token" {
		t.Errorf("endpoints = %q, %q", ep.AuthURL, ep.TokenURL)
	}
	if got := p.UserInfoEndpoint(); got != srv.URL()+"/v1/userinfo" {
		t.Errorf("userinfo endpoint = %q", got)
	}
	var doc struct {
		JWKSURI         string   `json:"jwks_uri"`
		Subjects        []string `json:"subject_types_supported"`
		Algs            []string `json:"id_token_signing_alg_values_supported"`
		PKCE            []string `json:"code_challenge_methods_supported"`
		Scopes          []string `json:"scopes_supported"`
		ResponseTypes   []string `json:"response_types_supported"`
		ClaimsSupported []string `json:"claims_supported"`
	}
	if err := p.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.JWKSURI != srv.URL()+"/oauth2/v3/certs" {
		t.Errorf("jwks_uri = %q", doc.JWKSURI)
	}
	if !slices.Equal(doc.Subjects, []string{"public"}) || !slices.Equal(doc.Algs, []string{"RS256"}) ||
		!slices.Equal(doc.PKCE, []string{"plain", "S256"}) || !slices.Contains(doc.Scopes, "openid") ||
		!slices.Contains(doc.ResponseTypes, "code") || !slices.Contains(doc.ClaimsSupported, "email_verified") {
		t.Errorf("discovery document = %+v", doc)
	}
	if srv.Issuer() != srv.URL() || strings.HasSuffix(srv.URL(), "/") {
		t.Errorf("issuer %q, URL %q", srv.Issuer(), srv.URL())
	}
}

func TestCodeFlowWithPKCEYieldsAVerifiableIDToken(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)
	conf := oauthConfig(srv, p)

	verifier, nonce := oauth2.GenerateVerifier(), "nonce-123"
	cb := signIn(t, conf, "state-abc", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	if cb.Get("state") != "state-abc" || cb.Get("code") == "" || cb.Get("authuser") != "0" ||
		cb.Get("prompt") != "none" || !strings.Contains(cb.Get("scope"), "openid") {
		t.Errorf("callback = %v, want state, code and Google's extra parameters", cb)
	}
	if ar := srv.LastAuthRequest(); ar.Get("code_challenge_method") != "S256" ||
		ar.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) || srv.AuthRequests() != 1 {
		t.Errorf("recorded authorization request = %v", ar)
	}

	tok, err := conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if got := srv.LastTokenRequest().Get("code_verifier"); got != verifier || srv.TokenRequests() != 1 {
		t.Errorf("recorded code_verifier = %q (%d calls), want %q", got, srv.TokenRequests(), verifier)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.") || tok.TokenType != "Bearer" || tok.RefreshToken != "" {
		t.Errorf("token = %+v", tok)
	}
	if left := time.Until(tok.Expiry); left < 3590*time.Second || left > 3600*time.Second {
		t.Errorf("access token expires in %v, want 3599s", left)
	}
	if scope, _ := tok.Extra("scope").(string); scope != "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile" {
		t.Errorf("scope = %q", scope)
	}

	rawID := tok.Extra("id_token").(string)
	if h := jwtHeader(t, rawID); h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == "" {
		t.Errorf("id_token header = %v", h)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: srv.ClientID()}).Verify(t.Context(), rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the id_token: %v", err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": srv.URL(), "aud": srv.ClientID(), "azp": srv.ClientID(), "sub": "1000001",
		"email": "alice@example.com", "email_verified": true, "name": "Alice Example",
		"picture": "https://example.com/alice.png", "nonce": nonce,
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if _, ok := c["hd"]; ok {
		t.Error("hd present for a consumer account")
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 3600 {
		t.Errorf("exp - iat = %v, want 3600", exp-iat)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash does not match the access token: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken + "x"); err == nil {
		t.Error("at_hash matches a different access token")
	}

	info, err := p.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != "1000001" || info.Email != "alice@example.com" || !info.EmailVerified {
		t.Errorf("userinfo = %+v", info)
	}
}

func TestTokenEndpointRejectsBadExchangesLikeGoogle(t *testing.T) {
	t.Parallel()
	// env is one sign-in that stopped at the callback.
	type env struct {
		srv      *googletest.Server
		conf     *oauth2.Config
		code     string
		verifier string
		clock    *clock
	}
	tests := []struct {
		name        string
		opts        []googletest.Option
		noPKCE      bool
		exchange    func(t *testing.T, e env) error
		status      int
		code        string
		description string
	}{
		{
			name: "a code used twice is invalid_grant",
			exchange: func(t *testing.T, e env) error {
				if _, err := e.conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier)); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
				_, err := e.conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 400, code: "invalid_grant", description: "Bad Request",
		},
		{
			name: "an unknown code is invalid_grant",
			exchange: func(t *testing.T, e env) error {
				_, err := e.conf.Exchange(t.Context(), "4/0made-up", oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 400, code: "invalid_grant", description: "Bad Request",
		},
		{
			name: "a wrong code_verifier is invalid_grant",
			exchange: func(t *testing.T, e env) error {
				_, err := e.conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
				return err
			},
			status: 400, code: "invalid_grant", description: "Invalid code verifier.",
		},
		{
			name: "a missing code_verifier is invalid_grant",
			exchange: func(t *testing.T, e env) error {
				_, err := e.conf.Exchange(t.Context(), e.code)
				return err
			},
			status: 400, code: "invalid_grant", description: "Missing code verifier.",
		},
		{
			name:   "a code_verifier for a code issued without a challenge is invalid_grant",
			noPKCE: true,
			exchange: func(t *testing.T, e env) error {
				_, err := e.conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 400, code: "invalid_grant", description: "Invalid code verifier.",
		},
		{
			name: "a wrong client secret is invalid_client",
			exchange: func(t *testing.T, e env) error {
				conf := *e.conf
				conf.ClientSecret = "wrong"
				_, err := conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 401, code: "invalid_client", description: "Unauthorized",
		},
		{
			name: "an unknown client is invalid_client",
			exchange: func(t *testing.T, e env) error {
				conf := *e.conf
				conf.ClientID = "nobody.apps.googleusercontent.com"
				_, err := conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 401, code: "invalid_client", description: "The OAuth client was not found.",
		},
		{
			name: "a code issued to another client is invalid_client",
			opts: []googletest.Option{
				googletest.WithClient("one.apps.googleusercontent.com", "one-secret"),
				googletest.WithClient("two.apps.googleusercontent.com", "two-secret"),
			},
			exchange: func(t *testing.T, e env) error {
				conf := *e.conf
				conf.ClientID, conf.ClientSecret = "two.apps.googleusercontent.com", "two-secret"
				_, err := conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 401, code: "invalid_client", description: "Unauthorized",
		},
		{
			name: "a different redirect_uri is redirect_uri_mismatch",
			exchange: func(t *testing.T, e env) error {
				conf := *e.conf
				conf.RedirectURL = redirectURI + "/other"
				_, err := conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 400, code: "redirect_uri_mismatch", description: "Bad Request",
		},
		{
			name: "a code older than five minutes is invalid_grant",
			exchange: func(t *testing.T, e env) error {
				e.clock.Advance(5*time.Minute + time.Second)
				_, err := e.conf.Exchange(t.Context(), e.code, oauth2.VerifierOption(e.verifier))
				return err
			},
			status: 400, code: "invalid_grant", description: "Bad Request",
		},
		{
			name: "an unknown grant type is unsupported_grant_type",
			exchange: func(t *testing.T, e env) error {
				_, err := e.conf.PasswordCredentialsToken(t.Context(), "alice", "secret")
				return err
			},
			status: 400, code: "unsupported_grant_type", description: "Invalid grant_type: password",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Now()}
			srv := googletest.New(t, append(tt.opts, googletest.WithClock(clk.Now))...)
			conf := oauthConfig(srv, discover(t, srv))
			verifier := oauth2.GenerateVerifier()
			var opts []oauth2.AuthCodeOption
			if !tt.noPKCE {
				opts = append(opts, oauth2.S256ChallengeOption(verifier))
			}
			cb := signIn(t, conf, "st", opts...)
			err := tt.exchange(t, env{srv: srv, conf: conf, code: cb.Get("code"), verifier: verifier, clock: clk})
			retrieveError(t, err, tt.status, tt.code, tt.description)
		})
	}
}

func TestReusingACodeRevokesTheTokensItGot(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)
	conf := oauthConfig(srv, p)
	verifier := oauth2.GenerateVerifier()
	cb := signIn(t, conf, "st", oauth2.S256ChallengeOption(verifier), oauth2.AccessTypeOffline)
	tok, err := conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier))
	retrieveError(t, err, 400, "invalid_grant", "Bad Request")

	if _, err := p.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token still works after the code was reused")
	}
	status, body := postToken(t, srv, url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
	})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh after reuse = %d %v, want invalid_grant", status, body)
	}
}

func TestSignInWithoutPKCEIsAllowedAsGoogleAllowsIt(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)
	conf := oauthConfig(srv, p)
	cb := signIn(t, conf, "st")
	if srv.LastAuthRequest().Has("code_challenge") {
		t.Fatal("recorded a code_challenge that was not sent")
	}
	tok, err := conf.Exchange(t.Context(), cb.Get("code"))
	if err != nil {
		t.Fatalf("exchange without PKCE: %v", err)
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: srv.ClientID()}).Verify(t.Context(), tok.Extra("id_token").(string)); err != nil {
		t.Errorf("id_token: %v", err)
	}
}

func TestAuthorizationEndpointShowsAnErrorPageForBadRequests(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	valid := url.Values{
		"client_id":     {srv.ClientID()},
		"redirect_uri":  {redirectURI},
		"response_type": {"code"},
		"scope":         {"openid email"},
		"state":         {"st"},
	}
	tests := []struct {
		name   string
		change func(q url.Values)
		want   string
	}{
		{"an unknown client is invalid_client", func(q url.Values) { q.Set("client_id", "nobody") }, "Error 401: invalid_client"},
		{"a missing client_id is invalid_request", func(q url.Values) { q.Del("client_id") }, "Error 400: invalid_request"},
		{"a missing redirect_uri is invalid_request", func(q url.Values) { q.Del("redirect_uri") }, "Missing required parameter: redirect_uri"},
		{"a relative redirect_uri is a mismatch", func(q url.Values) { q.Set("redirect_uri", "/callback") }, "Error 400: redirect_uri_mismatch"},
		{"a redirect_uri with a fragment is a mismatch", func(q url.Values) { q.Set("redirect_uri", redirectURI+"#x") }, "Error 400: redirect_uri_mismatch"},
		{"a missing response_type is invalid_request", func(q url.Values) { q.Del("response_type") }, "response_type"},
		{"the implicit flow is not supported", func(q url.Values) { q.Set("response_type", "token") }, "Unsupported response_type: token"},
		{"a scope without openid is invalid_scope", func(q url.Values) { q.Set("scope", "email profile") }, "Error 400: invalid_scope"},
		{"an unknown PKCE method is invalid_request", func(q url.Values) {
			q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
			q.Set("code_challenge_method", "S512")
		}, "Invalid code_challenge_method"},
		{"a too short code_challenge is invalid_request", func(q url.Values) {
			q.Set("code_challenge", "short")
			q.Set("code_challenge_method", "S256")
		}, "Invalid code_challenge."},
		{"an unknown access_type is invalid_request", func(q url.Values) { q.Set("access_type", "forever") }, "Invalid access_type: forever"},
		{"a repeated parameter is invalid_request", func(q url.Values) { q.Add("state", "again") }, "more than once: state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := maps.Clone(valid)
			tt.change(q)
			resp, err := noRedirect.Get(srv.URL() + googletest.AuthPath + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("status %d, Location %q; want 400 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want an HTML page", ct)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("page does not say %q:\n%s", tt.want, body)
			}
		})
	}
}

func TestDenyRedirectsBackWithAccessDeniedOnce(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	conf := oauthConfig(srv, discover(t, srv))
	srv.Deny()

	cb := signIn(t, conf, "st-denied")
	if cb.Get("error") != "access_denied" || cb.Get("state") != "st-denied" || cb.Has("code") {
		t.Errorf("denied callback = %v, want error=access_denied with the state and no code", cb)
	}
	if cb := signIn(t, conf, "st-next"); cb.Get("code") == "" || cb.Has("error") {
		t.Errorf("callback after the denial = %v, want a code", cb)
	}
}

func TestFailTokenAnswersTheNextTokenCallOnly(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	conf := oauthConfig(srv, discover(t, srv))
	verifier := oauth2.GenerateVerifier()
	cb := signIn(t, conf, "st", oauth2.S256ChallengeOption(verifier))

	srv.FailToken(http.StatusServiceUnavailable, `{"error":"backend_error","error_description":"try later"}`)
	_, err := conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier))
	retrieveError(t, err, 503, "backend_error", "try later")

	// The canned answer did not touch the code, so it still works.
	if _, err := conf.Exchange(t.Context(), cb.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("exchange after the failure: %v", err)
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("TokenRequests = %d, want 2", n)
	}
}

func TestNextIDTokenMutationsReachTheConsumer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c map[string]any)
		check  func(t *testing.T, idt *oidc.IDToken, err error)
	}{
		{
			name:   "a changed nonce verifies but differs",
			mutate: func(c map[string]any) { c["nonce"] = "someone-else" },
			check: func(t *testing.T, idt *oidc.IDToken, err error) {
				if err != nil || idt.Nonce != "someone-else" {
					t.Errorf("nonce = %v, err %v", idt, err)
				}
			},
		},
		{
			name:   "a foreign audience fails verification",
			mutate: func(c map[string]any) { c["aud"] = "other.apps.googleusercontent.com" },
			check:  wantVerifyError,
		},
		{
			name:   "a foreign issuer fails verification",
			mutate: func(c map[string]any) { c["iss"] = "https://accounts.google.com" },
			check:  wantVerifyError,
		},
		{
			name:   "an expired token fails with TokenExpiredError",
			mutate: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() },
			check: func(t *testing.T, _ *oidc.IDToken, err error) {
				var expired *oidc.TokenExpiredError
				if !errors.As(err, &expired) {
					t.Errorf("err = %v, want *oidc.TokenExpiredError", err)
				}
			},
		},
		{
			name:   "a deleted email_verified is absent",
			mutate: func(c map[string]any) { delete(c, "email_verified") },
			check: func(t *testing.T, idt *oidc.IDToken, err error) {
				if err != nil {
					t.Fatal(err)
				}
				var c map[string]any
				_ = idt.Claims(&c)
				if _, ok := c["email_verified"]; ok {
					t.Errorf("email_verified still present: %v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := googletest.New(t)
			p := discover(t, srv)
			conf := oauthConfig(srv, p)
			verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})

			srv.NextIDToken(tt.mutate)
			tampered := codeFlow(t, conf)
			idt, err := verifier.Verify(t.Context(), tampered.rawID)
			tt.check(t, idt, err)

			// One shot: the next id_token is honest again.
			honest := codeFlow(t, conf)
			idt, err = verifier.Verify(t.Context(), honest.rawID)
			if err != nil || idt.Nonce != honest.nonce {
				t.Errorf("the following id_token was tampered with too: %v", err)
			}
		})
	}
}

func wantVerifyError(t *testing.T, _ *oidc.IDToken, err error) {
	t.Helper()
	if err == nil {
		t.Error("go-oidc accepted the tampered id_token")
	}
}

func TestRotateKeyRetiresOrKeepsTheOldKey(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{false, true} {
		name := "without keepOld old tokens fail for a fresh verifier"
		if keepOld {
			name = "with keepOld old tokens still verify"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := googletest.New(t)
			p := discover(t, srv)
			conf := oauthConfig(srv, p)
			cfg := &oidc.Config{ClientID: srv.ClientID()}
			old := codeFlow(t, conf)
			if _, err := p.Verifier(cfg).Verify(t.Context(), old.rawID); err != nil {
				t.Fatal(err)
			}

			srv.RotateKey(keepOld)
			fresh := codeFlow(t, conf)
			if jwtHeader(t, fresh.rawID)["kid"] == jwtHeader(t, old.rawID)["kid"] {
				t.Fatal("the kid did not change")
			}
			// A verifier that cached the old JWKS refetches on the new kid.
			if _, err := p.Verifier(cfg).Verify(t.Context(), fresh.rawID); err != nil {
				t.Errorf("the new token fails with the cached key set: %v", err)
			}
			again := discover(t, srv).Verifier(cfg)
			if _, err := again.Verify(t.Context(), fresh.rawID); err != nil {
				t.Errorf("the new token fails: %v", err)
			}
			_, err := again.Verify(t.Context(), old.rawID)
			if keepOld && err != nil {
				t.Errorf("the old token fails although its key was kept: %v", err)
			}
			if !keepOld && err == nil {
				t.Error("the old token verifies although its key was retired")
			}
			if n, want := len(jwks(t, srv)), map[bool]int{false: 1, true: 2}[keepOld]; n != want {
				t.Errorf("JWKS has %d keys, want %d", n, want)
			}
		})
	}
}

func TestDirectlySignedTokensForNativeSignIn(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)
	verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})
	tests := []struct {
		name    string
		sign    func(map[string]any) string
		wantErr bool
	}{
		{"SignIDToken is accepted", srv.SignIDToken, false},
		{"SignWithForeignKey is a forgery", srv.SignWithForeignKey, true},
		{"SignWithUnknownKey is a forgery", srv.SignWithUnknownKey, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := srv.Claims()
			if claims["email"] != "alice@example.com" || claims["aud"] != srv.ClientID() {
				t.Fatalf("Claims() = %v", claims)
			}
			raw := tt.sign(claims)
			kid := jwtHeader(t, raw)["kid"]
			if keys := jwks(t, srv); (kid == keys[0]["kid"]) != (tt.name != "SignWithUnknownKey is a forgery") {
				t.Errorf("kid = %v, current key's %v: want them equal but for the unknown key", kid, keys[0]["kid"])
			}
			idt, err := verifier.Verify(t.Context(), raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Verify error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && idt.Subject != "1000001" {
				t.Errorf("sub = %q", idt.Subject)
			}
		})
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t, googletest.WithClient("one.apps.googleusercontent.com", "one-secret"),
		googletest.WithClient("two.apps.googleusercontent.com", "two-secret"))
	p := discover(t, srv)
	conf := oauthConfig(srv, p)
	verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})

	if online := codeFlow(t, conf); online.token.RefreshToken != "" {
		t.Errorf("refresh token issued without access_type=offline")
	}
	offline := codeFlow(t, conf, oauth2.AccessTypeOffline)
	if !strings.HasPrefix(offline.token.RefreshToken, "1//") {
		t.Fatalf("refresh token = %q, want Google's 1// prefix", offline.token.RefreshToken)
	}

	tests := []struct {
		name     string
		form     url.Values
		status   int
		wantCode string
	}{
		{
			name: "a valid refresh token gets a new access token and id_token",
			form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline.token.RefreshToken},
				"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}},
			status: 200,
		},
		{
			name: "an unknown refresh token is invalid_grant",
			form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//made-up"},
				"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}},
			status: 400, wantCode: "invalid_grant",
		},
		{
			name: "another client's refresh token is invalid_grant",
			form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {offline.token.RefreshToken},
				"client_id": {"two.apps.googleusercontent.com"}, "client_secret": {"two-secret"}},
			status: 400, wantCode: "invalid_grant",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := postToken(t, srv, tt.form)
			if status != tt.status {
				t.Fatalf("status = %d, want %d: %v", status, tt.status, body)
			}
			if tt.wantCode != "" {
				if body["error"] != tt.wantCode {
					t.Errorf("error = %v, want %s", body["error"], tt.wantCode)
				}
				return
			}
			if _, ok := body["refresh_token"]; ok {
				t.Error("Google does not rotate refresh tokens, but a new one was issued")
			}
			access, _ := body["access_token"].(string)
			if !strings.HasPrefix(access, "ya29.") || access == offline.token.AccessToken {
				t.Errorf("access_token = %q", access)
			}
			idt, err := verifier.Verify(t.Context(), body["id_token"].(string))
			if err != nil {
				t.Fatalf("refreshed id_token: %v", err)
			}
			if idt.Nonce != "" || idt.Subject != "1000001" {
				t.Errorf("refreshed id_token nonce %q sub %q", idt.Nonce, idt.Subject)
			}
			if err := idt.VerifyAccessToken(access); err != nil {
				t.Errorf("at_hash: %v", err)
			}
		})
	}

	t.Run("x/oauth2 refreshes an expired token", func(t *testing.T) {
		t.Parallel()
		expired := *offline.token
		expired.Expiry = time.Now().Add(-time.Minute)
		tok, err := conf.TokenSource(t.Context(), &expired).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if tok.AccessToken == offline.token.AccessToken || tok.Extra("id_token") == nil {
			t.Errorf("refreshed token = %+v", tok)
		}
	})
}

func TestClientAuthenticationByBasicOrPost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		style      oauth2.AuthStyle
		wantInForm bool
	}{
		{name: "HTTP Basic", style: oauth2.AuthStyleInHeader},
		{name: "client_secret_post", style: oauth2.AuthStyleInParams, wantInForm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A secret with characters that Basic must form-encode.
			srv := googletest.New(t, googletest.WithClient("web.apps.googleusercontent.com", "s3cr+t/=:x"))
			conf := oauthConfig(srv, discover(t, srv))
			conf.Endpoint.AuthStyle = tt.style
			codeFlow(t, conf)
			if got := srv.LastTokenRequest().Has("client_secret"); got != tt.wantInForm {
				t.Errorf("client_secret in form = %v, want %v", got, tt.wantInForm)
			}
		})
	}
}

func TestScopesDecideWhichClaimsAreIssued(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		scopes      []string
		wantEmail   bool
		wantProfile bool
	}{
		{"openid alone gives only the subject", []string{"openid"}, false, false},
		{"the email scope adds email claims", []string{"openid", "email"}, true, false},
		{"the profile scope adds profile claims", []string{"openid", "profile"}, false, true},
		{"both scopes give everything", []string{"openid", "email", "profile"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := googletest.New(t)
			srv.SetUser(googletest.User{
				Sub: "42", Email: "bob@corp.example", EmailVerified: false, Name: "Bob",
				GivenName: "Bob", FamilyName: "Builder", Locale: "en", HD: "corp.example",
			})
			p := discover(t, srv)
			conf := oauthConfig(srv, p, tt.scopes...)
			l := codeFlow(t, conf)
			idt, err := p.Verifier(&oidc.Config{ClientID: srv.ClientID()}).Verify(t.Context(), l.rawID)
			if err != nil {
				t.Fatal(err)
			}
			var fromID map[string]any
			_ = idt.Claims(&fromID)

			resp := userinfoGet(t, srv, l.token.AccessToken)
			defer resp.Body.Close()
			var fromUserinfo map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&fromUserinfo); err != nil || resp.StatusCode != 200 {
				t.Fatalf("userinfo %d: %v", resp.StatusCode, err)
			}
			for source, c := range map[string]map[string]any{"id_token": fromID, "userinfo": fromUserinfo} {
				if c["sub"] != "42" || c["hd"] != "corp.example" {
					t.Errorf("%s sub/hd = %v/%v", source, c["sub"], c["hd"])
				}
				if _, ok := c["email_verified"]; ok != tt.wantEmail || (ok && c["email_verified"] != false) {
					t.Errorf("%s email_verified = %v, present %v want %v", source, c["email_verified"], ok, tt.wantEmail)
				}
				if _, ok := c["family_name"]; ok != tt.wantProfile {
					t.Errorf("%s family_name present %v, want %v", source, ok, tt.wantProfile)
				}
			}
		})
	}
}

func TestHostedDomainIsEchoedOnTheCallback(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	srv.SetUser(googletest.User{Sub: "7", Email: "c@corp.example", EmailVerified: true, HD: "corp.example"})
	cb := signIn(t, oauthConfig(srv, discover(t, srv)), "st", oauth2.SetAuthURLParam("prompt", "consent"))
	if cb.Get("hd") != "corp.example" || cb.Get("prompt") != "consent" {
		t.Errorf("callback = %v, want hd and prompt=consent", cb)
	}
}

func userinfoGet(t *testing.T, srv *googletest.Server, accessToken string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL()+googletest.UserinfoPath, nil)
	if accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestUserinfoRejectsBadAccessTokens(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	srv := googletest.New(t, googletest.WithClock(clk.Now))
	l := codeFlow(t, oauthConfig(srv, discover(t, srv)))
	tests := []struct {
		name        string
		token       string
		advance     time.Duration
		wantStatus  int
		wantInvalid bool
	}{
		{name: "no token gets a bare challenge", wantStatus: 401},
		{name: "an unknown token is invalid_token", token: "ya29.made-up", wantStatus: 401, wantInvalid: true},
		{name: "a valid token gets the profile", token: l.token.AccessToken, wantStatus: 200},
		{name: "an expired token is invalid_token", token: l.token.AccessToken, advance: time.Hour, wantStatus: 401, wantInvalid: true},
	}
	for _, tt := range tests { // in order: the last case moves the clock
		t.Run(tt.name, func(t *testing.T) {
			clk.Advance(tt.advance)
			resp := userinfoGet(t, srv, tt.token)
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 200 {
				return
			}
			www := resp.Header.Get("WWW-Authenticate")
			if !strings.HasPrefix(www, "Bearer ") || strings.Contains(www, `error="invalid_token"`) != tt.wantInvalid {
				t.Errorf("WWW-Authenticate = %q", www)
			}
		})
	}
}

// jwks fetches the fake's JWKS and checks it is public and cacheable.
func jwks(t *testing.T, srv *googletest.Server) []map[string]any {
	t.Helper()
	resp, err := http.Get(srv.URL() + googletest.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("JWKS Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
	var set struct{ Keys []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set.Keys
}

func TestJWKSPublishesOnlyPublicRSAKeys(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	keys := jwks(t, srv)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(keys))
	}
	k := keys[0]
	if got := slices.Sorted(maps.Keys(k)); !slices.Equal(got, []string{"alg", "e", "kid", "kty", "n", "use"}) {
		t.Errorf("JWK members = %v, want only public ones", got)
	}
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["e"] != "AQAB" {
		t.Errorf("JWK = %v", k)
	}
	n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
	if len(n) != 256 {
		t.Errorf("modulus is %d bits, want 2048", len(n)*8)
	}
}

func TestEndpointsAnswerWrongMethodsAndFormats(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantStatus  int
	}{
		{"GET on the token endpoint is 405", http.MethodGet, googletest.TokenPath, "", "", 405},
		{"PUT on the authorization endpoint is 405", http.MethodPut, googletest.AuthPath, "", "", 405},
		{"DELETE on discovery is 405", http.MethodDelete, googletest.DiscoveryPath, "", "", 405},
		{"POST on the JWKS is 405", http.MethodPost, googletest.JWKSPath, "", "", 405},
		{"an unknown path is 404", http.MethodGet, "/nope", "", "", 404},
		{"a JSON token request is 400", http.MethodPost, googletest.TokenPath, "application/json", `{"grant_type":"authorization_code"}`, 400},
		{"a token request without a body is 400", http.MethodPost, googletest.TokenPath, "", "", 400},
		{"a token request without client is 400", http.MethodPost, googletest.TokenPath, "application/x-www-form-urlencoded", "grant_type=authorization_code&code=x", 400},
		{"a repeated token parameter is 400", http.MethodPost, googletest.TokenPath, "application/x-www-form-urlencoded",
			"grant_type=authorization_code&grant_type=refresh_token&client_id=" + url.QueryEscape(srv.ClientID()), 400},
		{"a malformed form is 400", http.MethodPost, googletest.TokenPath, "application/x-www-form-urlencoded", "%zz", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL()+tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 400 && tt.path == googletest.TokenPath {
				var body map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] != "invalid_request" {
					t.Errorf("body = %v (%v), want invalid_request", body, err)
				}
			}
		})
	}
}

func TestConcurrentSignInsDuringKeyRotation(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	p := discover(t, srv)
	conf := oauthConfig(srv, p)
	verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})

	type login struct{ rawID, nonce string }
	logins := make(chan login, 8)
	var wg sync.WaitGroup
	wg.Go(func() { srv.RotateKey(true) })
	for range 8 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			l, err := tryCodeFlow(ctx, conf)
			if err != nil {
				t.Error(err) // not Fatal: this is not the test goroutine
				return
			}
			logins <- login{l.rawID, l.nonce}
		})
	}
	wg.Wait()
	close(logins)
	// Verify once the rotation is over: the fake signs with a new key the
	// moment it publishes it (real Google publishes well ahead), so a
	// verifier fetching keys mid-rotation could legitimately miss it.
	for l := range logins {
		idt, err := verifier.Verify(t.Context(), l.rawID)
		if err != nil {
			t.Errorf("Verify: %v", err)
			continue
		}
		if idt.Nonce != l.nonce {
			t.Errorf("nonce = %q, want %q: codes got mixed up", idt.Nonce, l.nonce)
		}
	}
	if n := srv.TokenRequests(); n != 8 {
		t.Errorf("TokenRequests = %d, want 8", n)
	}
}

func TestNativeIDTokensAreIssuedToTheAppsClient(t *testing.T) {
	t.Parallel()
	srv := googletest.New(t)
	const android = "1234567890-android.apps.googleusercontent.com"
	p := discover(t, srv)
	before := srv.JWKSRequests()
	verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})

	// Android: a token for the web client, requested by the Android client.
	claims := srv.NativeClaims(srv.ClientID(), android, "app-nonce")
	if claims["aud"] != srv.ClientID() || claims["azp"] != android || claims["nonce"] != "app-nonce" || claims["email"] != "alice@example.com" {
		t.Errorf("NativeClaims = %v", claims)
	}
	if c := srv.NativeClaims(android, "", ""); c["aud"] != android || c["azp"] != android || c["nonce"] != nil {
		t.Errorf("NativeClaims without azp and nonce = %v, want azp the audience and no nonce", c)
	}
	idt, err := verifier.Verify(t.Context(), srv.NativeIDToken(srv.ClientID(), android, "app-nonce"))
	if err != nil {
		t.Fatalf("NativeIDToken does not verify: %v", err)
	}
	if idt.Nonce != "app-nonce" || idt.Subject != "1000001" {
		t.Errorf("nonce %q, sub %q", idt.Nonce, idt.Subject)
	}
	if n := srv.JWKSRequests() - before; n != 1 {
		t.Errorf("JWKSRequests() counted %d fetches, want 1", n)
	}
}
