package oidctest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
)

const redirectURI = "https://app.example.test/callback/corp"

// noRedirect stops at the fake's redirect so the test can read it.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// rp is a relying party built from go-oidc and x/oauth2 alone, so that the
// fake is checked against independent code, not against our adapter.
type rp struct {
	srv      *oidctest.Server
	provider *oidc.Provider
	conf     *oauth2.Config
}

func newRP(t *testing.T, srv *oidctest.Server, scopes ...string) *rp {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), srv.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	ep := p.Endpoint()
	// Not AuthStyleAutoDetect: it retries a refused call with the other
	// style, which would redeem every code twice.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &rp{srv: srv, provider: p, conf: &oauth2.Config{
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), Endpoint: ep, RedirectURL: redirectURI, Scopes: scopes,
	}}
}

func (r *rp) verifier(algs ...string) *oidc.IDTokenVerifier {
	if len(algs) == 0 {
		algs = []string{r.srv.SigningAlg()}
	}
	return r.provider.Verifier(&oidc.Config{ClientID: r.srv.ClientID(), SupportedSigningAlgs: algs})
}

// visit sends the browser to u and returns the parameters of the redirect
// back, failing unless the fake redirected to redirectURI.
func visit(t *testing.T, u string) url.Values {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorization endpoint answered %d, want 302: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %q, want %q", got, redirectURI)
	}
	return loc.Query()
}

// pkce returns a verifier and the options that send its S256 challenge.
func pkce() (string, []oauth2.AuthCodeOption) {
	v := oauth2.GenerateVerifier()
	return v, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}
}

// login runs the authorization request with nonce and PKCE and returns the
// code and verifier.
func (r *rp) login(t *testing.T, nonce string, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	cb := visit(t, r.conf.AuthCodeURL("state-1", append(append(challenge, oidc.Nonce(nonce)), opts...)...))
	if cb.Has("error") {
		t.Fatalf("callback error %q: %s", cb.Get("error"), cb.Get("error_description"))
	}
	if cb.Get("state") != "state-1" || cb.Get("iss") != r.srv.Issuer() {
		t.Errorf("callback state %q, iss %q; want state-1 and the issuer (RFC 9207)", cb.Get("state"), cb.Get("iss"))
	}
	return cb.Get("code"), verifier
}

// exchange redeems code and returns the token.
func (r *rp) exchange(t *testing.T, code, verifier string) *oauth2.Token {
	t.Helper()
	tok, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// signIn runs a whole code flow and returns the token and verified claims.
func (r *rp) signIn(t *testing.T) (*oauth2.Token, *oidc.IDToken, map[string]any) {
	t.Helper()
	code, verifier := r.login(t, "nonce-1")
	tok := r.exchange(t, code, verifier)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier().Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return tok, idt, claims
}

// oauthError is the RFC 6749 §5.2 error of a token call.
func oauthError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an oauth2.RetrieveError", err, err)
	}
	return re
}

func TestDiscoveryDescribesTheEndpointsBelowTheIssuer(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", "/realms/corp"} {
		t.Run("issuer path "+path, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t, oidctest.WithIssuerPath(path))
			if srv.Issuer() != srv.URL()+path {
				t.Fatalf("Issuer() = %q, want %q", srv.Issuer(), srv.URL()+path)
			}
			var doc map[string]any
			resp, err := http.Get(srv.Issuer() + oidctest.DiscoveryPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{
				"issuer":                                         srv.Issuer(),
				"authorization_endpoint":                         srv.AuthURL(),
				"token_endpoint":                                 srv.TokenURL(),
				"userinfo_endpoint":                              srv.UserinfoURL(),
				"jwks_uri":                                       srv.JWKSURL(),
				"code_challenge_methods_supported":               []any{"S256"},
				"id_token_signing_alg_values_supported":          []any{"RS256", "ES256"},
				"token_endpoint_auth_methods_supported":          []any{"client_secret_basic", "client_secret_post"},
				"authorization_response_iss_parameter_supported": true,
			} {
				if !reflect.DeepEqual(doc[k], want) {
					t.Errorf("%s = %#v, want %#v", k, doc[k], want)
				}
			}
			if !strings.HasPrefix(srv.AuthURL(), srv.Issuer()+"/") {
				t.Errorf("AuthURL %q is not below the issuer", srv.AuthURL())
			}
			newRP(t, srv) // go-oidc accepts the document: its issuer matches
			if n := srv.Requests(oidctest.Discovery); n != 2 {
				t.Errorf("Requests(Discovery) = %d, want 2", n)
			}
		})
	}
}

func TestCodeFlowYieldsVerifiableIDTokens(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t, oidctest.WithSigningAlg(alg))
			srv.SetUser(oidctest.User{
				Subject: "u-42", Email: "lee@example.com", EmailVerified: true, Name: "Lee", PreferredUsername: "lee",
				Claims: map[string]any{"employee_id": 4711, "roles": []string{"admin"}, "preferred_username": nil},
			})
			r := newRP(t, srv)
			start := time.Now().Truncate(time.Second)

			tok, idt, claims := r.signIn(t)

			if idt.Subject != "u-42" || idt.Issuer != srv.Issuer() || !slices.Equal(idt.Audience, []string{srv.ClientID()}) {
				t.Errorf("sub %q iss %q aud %q", idt.Subject, idt.Issuer, idt.Audience)
			}
			if idt.Nonce != "nonce-1" {
				t.Errorf("nonce = %q, want nonce-1", idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil || idt.AccessTokenHash == "" {
				t.Errorf("at_hash %q does not match the access token: %v", idt.AccessTokenHash, err)
			}
			for k, want := range map[string]any{
				"azp": srv.ClientID(), "email": "lee@example.com", "email_verified": true, "name": "Lee",
				"employee_id": float64(4711), "roles": []any{"admin"},
			} {
				if !reflect.DeepEqual(claims[k], want) {
					t.Errorf("claim %s = %#v, want %#v", k, claims[k], want)
				}
			}
			if _, ok := claims["preferred_username"]; ok {
				t.Error("preferred_username present, want it removed by a nil extra claim")
			}
			if at, _ := claims["auth_time"].(float64); time.Unix(int64(at), 0).Before(start) {
				t.Errorf("auth_time = %v, want the SetUser time", claims["auth_time"])
			}
			if tok.RefreshToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 4*time.Minute {
				t.Errorf("token = %+v, want a Bearer token for about 5 minutes and a refresh token", tok)
			}
			if got := tok.Extra("scope"); got != "openid email profile" {
				t.Errorf("scope = %v, want the granted scopes", got)
			}
			if _, err := r.verifier("RS256", "ES256").Verify(t.Context(), tok.Extra("id_token").(string)); err != nil {
				t.Errorf("verify with both algorithms allowed: %v", err)
			}
		})
	}
}

func TestScopesDecideWhichClaimsAreIssued(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	srv.SetUser(oidctest.User{
		Subject: "u-1", Email: "a@example.com", Name: "A", Claims: map[string]any{"groups": []string{"g"}},
		UserinfoClaims: map[string]any{"phone_number": "+1 555 0100"},
	})
	r := newRP(t, srv, oidc.ScopeOpenID)

	tok, _, claims := r.signIn(t)

	for _, k := range []string{"email", "email_verified", "name"} {
		if _, ok := claims[k]; ok {
			t.Errorf("id_token has %s without its scope", k)
		}
	}
	if claims["groups"] == nil {
		t.Error("id_token lacks the extra claim groups, which no scope gates")
	}
	info, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uc map[string]any
	_ = info.Claims(&uc)
	if uc["sub"] != "u-1" || uc["phone_number"] != "+1 555 0100" || uc["email"] != nil {
		t.Errorf("userinfo = %v, want sub, the userinfo-only claim, and no email", uc)
	}
}

func TestAuthorizationErrors(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	_, challenge := pkce()
	base := func() url.Values {
		q := url.Values{
			"client_id": {srv.ClientID()}, "redirect_uri": {redirectURI}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
			"code_challenge": {challengeOf(challenge)}, "code_challenge_method": {"S256"},
		}
		return q
	}
	tests := []struct {
		name string
		edit func(q url.Values) string // returns the raw query
		// page is the error of an HTML page (no redirect); redirect the
		// error sent back to the client.
		page, redirect string
	}{
		{name: "an unknown client gets a page", edit: set("client_id", "nobody"), page: "invalid_client"},
		{name: "a relative redirect_uri gets a page", edit: set("redirect_uri", "/callback"), page: "invalid_redirect_uri"},
		{name: "a redirect_uri with a fragment gets a page", edit: set("redirect_uri", redirectURI+"#x"), page: "invalid_redirect_uri"},
		{name: "a repeated parameter gets a page", edit: func(q url.Values) string { return q.Encode() + "&scope=openid" }, page: "invalid_request"},
		{name: "the implicit flow is refused", edit: set("response_type", "token"), redirect: "unsupported_response_type"},
		{name: "a sign-in without openid is refused", edit: set("scope", "email"), redirect: "invalid_scope"},
		{name: "a request without PKCE is refused", edit: del("code_challenge", "code_challenge_method"), redirect: "invalid_request"},
		{name: "plain PKCE is refused", edit: set("code_challenge_method", "plain"), redirect: "invalid_request"},
		{name: "a malformed challenge is refused", edit: set("code_challenge", "short"), redirect: "invalid_request"},
		{name: "a negative max_age is refused", edit: set("max_age", "-1"), redirect: "invalid_request"},
		{name: "prompt=none when a sign-in is needed", edit: set("prompt", "none", "max_age", "0"), redirect: "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Get(srv.AuthURL() + "?" + tt.edit(base()))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if tt.page != "" {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tt.page) {
					t.Errorf("answered %d %s, want a 400 page with %s", resp.StatusCode, body, tt.page)
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if resp.StatusCode != http.StatusFound || q.Get("error") != tt.redirect || q.Get("state") != "s" || q.Get("iss") != srv.Issuer() {
				t.Errorf("answered %d to %q, want a redirect with error=%s, the state and iss", resp.StatusCode, loc, tt.redirect)
			}
		})
	}
	if n := srv.Requests(oidctest.Authorize); n != len(tests) {
		t.Errorf("Requests(Authorize) = %d, want %d", n, len(tests))
	}
}

func challengeOf(opts []oauth2.AuthCodeOption) string {
	u, _ := url.Parse((&oauth2.Config{}).AuthCodeURL("", opts...))
	return u.Query().Get("code_challenge")
}

func set(kv ...string) func(url.Values) string {
	return func(q url.Values) string {
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
}

func del(keys ...string) func(url.Values) string {
	return func(q url.Values) string {
		for _, k := range keys {
			q.Del(k)
		}
		return q.Encode()
	}
}

func TestDenyRedirectsBackWithAccessDeniedOnce(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	r := newRP(t, srv)
	_, challenge := pkce()
	srv.Deny()

	denied := visit(t, r.conf.AuthCodeURL("st", challenge...))
	again := visit(t, r.conf.AuthCodeURL("st", challenge...))

	if denied.Get("error") != "access_denied" || denied.Get("state") != "st" || denied.Has("code") {
		t.Errorf("first callback = %v, want error=access_denied with the state and no code", denied)
	}
	if again.Get("code") == "" || again.Has("error") {
		t.Errorf("second callback = %v, want a code: Deny is one shot", again)
	}
}

func TestConsentPageForBrowsers(t *testing.T) {
	t.Parallel()
	for _, decision := range []string{"allow", "deny"} {
		t.Run(decision, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t, oidctest.WithConsentPage())
			r := newRP(t, srv)
			verifier, challenge := pkce()

			resp, err := noRedirect.Get(r.conf.AuthCodeURL("st", append(challenge, oidc.Nonce("n"))...))
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="continue"`) || !strings.Contains(string(page), `id="cancel"`) {
				t.Fatalf("answered %d %s, want a page with the continue and cancel buttons", resp.StatusCode, page)
			}
			m := regexp.MustCompile(`action="([^"]+)"[\s\S]*name="request" value="([^"]+)"`).FindStringSubmatch(string(page))
			if m == nil {
				t.Fatalf("no form in %s", page)
			}
			form := url.Values{"request": {m[2]}, "decision": {decision}}
			resp, err = noRedirect.PostForm(m[1], form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			cb := loc.Query()

			if decision == "deny" {
				if cb.Get("error") != "access_denied" || cb.Get("state") != "st" {
					t.Errorf("callback = %v, want access_denied with the state", cb)
				}
				return
			}
			tok := r.exchange(t, cb.Get("code"), verifier)
			if _, err := r.verifier().Verify(t.Context(), tok.Extra("id_token").(string)); err != nil {
				t.Errorf("verify: %v", err)
			}
			// The form is single use.
			resp, err = noRedirect.PostForm(m[1], form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("a second decision answered %d, want 400", resp.StatusCode)
			}
		})
	}
}

func TestTokenEndpointRefusesBadExchanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// redeem exchanges a fresh code (with its verifier) its own way.
		redeem     func(t *testing.T, r *rp, code, verifier string) error
		wantStatus int
		wantCode   string
	}{
		{
			name: "a wrong client secret",
			redeem: func(t *testing.T, r *rp, code, verifier string) error {
				c := *r.conf
				c.ClientSecret = "wrong"
				_, err := c.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
				return err
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_client",
		},
		{
			name: "a missing verifier",
			redeem: func(t *testing.T, r *rp, code, _ string) error {
				_, err := r.conf.Exchange(t.Context(), code)
				return err
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_grant",
		},
		{
			name: "a wrong verifier",
			redeem: func(t *testing.T, r *rp, code, _ string) error {
				_, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
				return err
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_grant",
		},
		{
			name: "another redirect_uri",
			redeem: func(t *testing.T, r *rp, code, verifier string) error {
				c := *r.conf
				c.RedirectURL = redirectURI + "/other"
				_, err := c.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
				return err
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_grant",
		},
		{
			name: "an unknown code",
			redeem: func(t *testing.T, r *rp, _, verifier string) error {
				_, err := r.conf.Exchange(t.Context(), "forged", oauth2.VerifierOption(verifier))
				return err
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_grant",
		},
		{
			name: "Basic and form credentials at once",
			redeem: func(t *testing.T, r *rp, code, verifier string) error {
				return postToken(t, r, url.Values{
					"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
					"redirect_uri": {redirectURI}, "client_secret": {r.srv.ClientSecret()},
				}, true)
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "an unsupported grant type",
			redeem: func(t *testing.T, r *rp, _, _ string) error {
				return postToken(t, r, url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, true)
			},
			wantStatus: http.StatusBadRequest, wantCode: "unsupported_grant_type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t)
			r := newRP(t, srv)
			code, verifier := r.login(t, "n")

			err := tt.redeem(t, r, code, verifier)

			re := oauthError(t, err)
			if re.Response.StatusCode != tt.wantStatus || re.ErrorCode != tt.wantCode {
				t.Errorf("answered %d %q, want %d %q", re.Response.StatusCode, re.ErrorCode, tt.wantStatus, tt.wantCode)
			}
			if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(re.Response.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", re.Response.Header.Get("WWW-Authenticate"))
			}
			if n := srv.Requests(oidctest.Token); n != 1 {
				t.Errorf("Requests(Token) = %d, want 1", n)
			}
		})
	}
}

// postToken posts form to the token endpoint, with HTTP Basic when basic,
// and returns the oauth2-shaped error of a refusal.
func postToken(t *testing.T, r *rp, form url.Values, basic bool) error {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, r.srv.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(r.srv.ClientID()), url.QueryEscape(r.srv.ClientSecret()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return &oauth2.RetrieveError{Response: resp, Body: body, ErrorCode: e.Error}
}

func TestCodesAreSingleUseAndReuseRevokesTheirTokens(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	r := newRP(t, srv)
	code, verifier := r.login(t, "n")
	tok := r.exchange(t, code, verifier)

	_, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))

	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Errorf("reuse answered %q, want invalid_grant", re.ErrorCode)
	}
	if _, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token of a reused code still works at userinfo")
	}
	if _, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("the refresh token of a reused code still works")
	}
}

func TestCodesAndAccessTokensExpire(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	srv := oidctest.New(t, oidctest.WithClock(clock))
	r := newRP(t, srv)

	code, verifier := r.login(t, "n")
	offset.Store(int64(61 * time.Second)) // codes live a minute
	_, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if re := oauthError(t, err); re.ErrorCode != "invalid_grant" {
		t.Errorf("an expired code answered %q, want invalid_grant", re.ErrorCode)
	}

	code, verifier = r.login(t, "n")
	tok := r.exchange(t, code, verifier)
	offset.Add(int64(6 * time.Minute)) // access tokens live 5 minutes
	if _, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("an expired access token works at userinfo")
	}
}

func TestClientAuthenticationMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		allowed []string
		style   oauth2.AuthStyle
		want    string // LastTokenClientAuth
		ok      bool
	}{
		{"Basic when both are allowed", nil, oauth2.AuthStyleInHeader, oidctest.ClientSecretBasic, true},
		{"the form when both are allowed", nil, oauth2.AuthStyleInParams, oidctest.ClientSecretPost, true},
		{"Basic when only the form is allowed", []string{oidctest.ClientSecretPost}, oauth2.AuthStyleInHeader, oidctest.ClientSecretBasic, false},
		{"the form when only Basic is allowed", []string{oidctest.ClientSecretBasic}, oauth2.AuthStyleInParams, oidctest.ClientSecretPost, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t, oidctest.WithClient("app", "p@ss:w/rd"), oidctest.WithTokenAuthMethods(tt.allowed...))
			r := newRP(t, srv)
			r.conf.Endpoint.AuthStyle = tt.style
			code, verifier := r.login(t, "n")

			_, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))

			if (err == nil) != tt.ok {
				t.Errorf("exchange error = %v, want success %v", err, tt.ok)
			}
			if !tt.ok && oauthError(t, err).ErrorCode != "invalid_client" {
				t.Errorf("refusal %v, want invalid_client", err)
			}
			if got := srv.LastTokenClientAuth(); got != tt.want {
				t.Errorf("LastTokenClientAuth() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		t.Run(fmt.Sprintf("rotate=%v", rotate), func(t *testing.T) {
			t.Parallel()
			var opts []oidctest.Option
			if rotate {
				opts = append(opts, oidctest.WithRefreshRotation())
			}
			srv := oidctest.New(t, opts...)
			r := newRP(t, srv)
			first, _, _ := r.signIn(t)

			resp := refresh(t, r, first.RefreshToken, "")

			if resp.status != http.StatusOK || resp.AccessToken == "" || resp.IDToken == "" {
				t.Fatalf("refresh answered %d %+v", resp.status, resp)
			}
			idt, err := r.verifier().Verify(t.Context(), resp.IDToken)
			if err != nil {
				t.Fatalf("verify refreshed id_token: %v", err)
			}
			if idt.Nonce != "" || idt.Subject != oidctest.DefaultSubject {
				t.Errorf("refreshed id_token nonce %q sub %q, want no nonce (Core §12.2) and the same sub", idt.Nonce, idt.Subject)
			}
			again := refresh(t, r, first.RefreshToken, "")
			if !rotate {
				if resp.RefreshToken != "" || again.status != http.StatusOK {
					t.Errorf("refresh_token %q, second use %d; want none returned and the old one kept", resp.RefreshToken, again.status)
				}
				return
			}
			if resp.RefreshToken == "" || resp.RefreshToken == first.RefreshToken {
				t.Errorf("refresh_token = %q, want a new one", resp.RefreshToken)
			}
			if again.status != http.StatusBadRequest || again.Error != "invalid_grant" {
				t.Errorf("the retired token answered %d %q, want 400 invalid_grant", again.status, again.Error)
			}
			if next := refresh(t, r, resp.RefreshToken, ""); next.status != http.StatusOK {
				t.Errorf("the new refresh token answered %d", next.status)
			}
		})
	}

	t.Run("a refresh may narrow the scope, not widen it", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv, oidc.ScopeOpenID, "email")
		first, _, _ := r.signIn(t)

		narrow := refresh(t, r, first.RefreshToken, "openid")
		wide := refresh(t, r, first.RefreshToken, "openid email profile")

		if narrow.status != http.StatusOK || narrow.Scope != "openid" {
			t.Errorf("narrowing answered %d scope %q", narrow.status, narrow.Scope)
		}
		if wide.status != http.StatusBadRequest || wide.Error != "invalid_scope" {
			t.Errorf("widening answered %d %q, want invalid_scope", wide.status, wide.Error)
		}
	})
}

type tokenReply struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

// refresh posts a refresh_token grant with client_secret_post.
func refresh(t *testing.T, r *rp, token, scope string) tokenReply {
	t.Helper()
	form := url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {token},
		"client_id": {r.srv.ClientID()}, "client_secret": {r.srv.ClientSecret()},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, err := http.PostForm(r.srv.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out tokenReply
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	out.status = resp.StatusCode
	return out
}

func TestUserinfoRequiresAValidBearerToken(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	r := newRP(t, srv)
	tok, _, _ := r.signIn(t)
	tests := []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no credentials get a bare challenge", "", http.StatusUnauthorized, `Bearer realm="` + srv.Issuer() + `"`},
		{"another scheme gets a bare challenge", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, `Bearer realm="` + srv.Issuer() + `"`},
		{"an unknown token is invalid_token", "Bearer nope", http.StatusUnauthorized, `error="invalid_token"`},
		{"the access token works", "Bearer " + tok.AccessToken, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.UserinfoURL(), nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.challenge) {
				t.Errorf("answered %d with challenge %q, want %d with %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tt.status, tt.challenge)
			}
		})
	}
}

func TestOneShotKnobs(t *testing.T) {
	t.Parallel()

	t.Run("NextIDToken edits only the next id_token", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv)
		srv.NextIDToken(func(c map[string]any) { c["acr"] = "urn:mace:incommon:iap:silver" })

		_, _, first := r.signIn(t)
		_, _, second := r.signIn(t)

		if first["acr"] != "urn:mace:incommon:iap:silver" || second["acr"] != nil {
			t.Errorf("acr = %v then %v, want it in the first id_token only", first["acr"], second["acr"])
		}
	})

	t.Run("NextUserinfo edits only the next userinfo", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv)
		tok, _, _ := r.signIn(t)
		srv.NextUserinfo(func(c map[string]any) { c["sub"] = "someone-else" })

		first, err1 := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
		second, err2 := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))

		if err1 != nil || err2 != nil || first.Subject != "someone-else" || second.Subject != oidctest.DefaultSubject {
			t.Errorf("subjects %v, %v (errors %v, %v), want someone-else then the user's", first, second, err1, err2)
		}
	})

	t.Run("FailNext answers the next call of its endpoint only, counted and recorded", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv)
		code, verifier := r.login(t, "n")
		srv.FailNext(oidctest.Token, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)

		_, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))

		if re := oauthError(t, err); re.Response.StatusCode != http.StatusServiceUnavailable || re.ErrorCode != "temporarily_unavailable" {
			t.Errorf("answered %d %q, want the canned 503", re.Response.StatusCode, re.ErrorCode)
		}
		if srv.Requests(oidctest.Token) != 1 || srv.LastTokenRequest().Get("code") != code {
			t.Errorf("the failed call was not counted and recorded: %d, %v", srv.Requests(oidctest.Token), srv.LastTokenRequest())
		}
		// The code was not used up by the canned answer.
		r.exchange(t, code, verifier)
	})

	t.Run("HangNext holds the call until the client gives up", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		srv.HangNext(oidctest.Discovery)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()

		start := time.Now()
		_, err := oidc.NewProvider(ctx, srv.Issuer())

		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Errorf("discovery = %v after %v, want the client's deadline", err, time.Since(start))
		}
		newRP(t, srv) // the next call answers
	})

	t.Run("a hanging call is released when the server closes", func(t *testing.T) {
		t.Parallel()
		done := make(chan error, 1)
		t.Run("server", func(t *testing.T) {
			srv := oidctest.New(t)
			srv.HangNext(oidctest.Token)
			started := make(chan struct{})
			go func() {
				close(started)
				resp, err := http.PostForm(srv.TokenURL(), url.Values{}) // no time-out
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			<-started
			for srv.Requests(oidctest.Token) == 0 {
				time.Sleep(time.Millisecond)
			}
		}) // the cleanup of srv runs here, and must not wait forever
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the hanging request was not released by the server's cleanup")
		}
	})
}

func TestForgeriesFailVerification(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		forgery oidctest.Forgery
		want    string // part of go-oidc's error
	}{
		{"ForeignKey", oidctest.ForeignKey, "failed to verify"},
		{"UnknownKid", oidctest.UnknownKid, "failed to verify"},
		{"AlgNone", oidctest.AlgNone, `"none"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t, oidctest.WithSigningAlg("ES256"))
			r := newRP(t, srv)
			code, verifier := r.login(t, "n")
			srv.ForgeNextIDToken(tt.forgery)
			tok := r.exchange(t, code, verifier)

			_, err := r.verifier().Verify(t.Context(), tok.Extra("id_token").(string))

			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("verify = %v, want an error with %q", err, tt.want)
			}
			if _, _, claims := r.signIn(t); claims["sub"] == nil {
				t.Error("the next id_token is not genuine: ForgeNextIDToken is one shot")
			}
		})
	}

	t.Run("direct signing", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv)
		claims := srv.Claims()
		if _, err := r.verifier().Verify(t.Context(), srv.SignIDToken(claims)); err != nil {
			t.Errorf("SignIDToken(Claims()) does not verify: %v", err)
		}
		if _, err := r.verifier().Verify(t.Context(), srv.SignWithForeignKey(claims)); err == nil {
			t.Error("SignWithForeignKey verifies")
		}
		if _, err := r.verifier().Verify(t.Context(), srv.SignWithUnknownKey(claims)); err == nil {
			t.Error("SignWithUnknownKey verifies")
		}
	})

	t.Run("native ID tokens", func(t *testing.T) {
		t.Parallel()
		srv := oidctest.New(t)
		r := newRP(t, srv)
		claims := srv.NativeClaims(srv.ClientID(), "app-nonce")
		if claims["aud"] != srv.ClientID() || claims["azp"] != srv.ClientID() || claims["nonce"] != "app-nonce" || claims["sub"] != oidctest.DefaultSubject {
			t.Errorf("NativeClaims = %v", claims)
		}
		if _, ok := srv.NativeClaims(srv.ClientID(), "")["nonce"]; ok {
			t.Error("NativeClaims without a nonce has one")
		}
		idt, err := r.verifier().Verify(t.Context(), srv.NativeIDToken(srv.ClientID(), "app-nonce"))
		if err != nil {
			t.Fatalf("NativeIDToken does not verify: %v", err)
		}
		if idt.Nonce != "app-nonce" {
			t.Errorf("nonce = %q", idt.Nonce)
		}
	})
}

func TestRotateKeyRetiresOrKeepsTheOldKey(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepOld=%v", keepOld), func(t *testing.T) {
			t.Parallel()
			srv := oidctest.New(t)
			old := srv.SignIDToken(srv.Claims())

			srv.RotateKey(keepOld)

			r := newRP(t, srv)
			_, errOld := r.verifier().Verify(t.Context(), old)
			_, errNew := r.verifier().Verify(t.Context(), srv.SignIDToken(srv.Claims()))
			if errNew != nil {
				t.Errorf("a token of the new key does not verify: %v", errNew)
			}
			if (errOld == nil) != keepOld {
				t.Errorf("a token of the old key verifies: %v, want %v", errOld == nil, keepOld)
			}
			if kids := jwksKids(t, srv); len(kids) != map[bool]int{false: 2, true: 3}[keepOld] {
				t.Errorf("JWKS kids = %q: want the RS256 and ES256 keys, plus the old one when kept", kids)
			}
		})
	}
}

// jwksKids returns the kids of the fake's JWKS, after checking that every
// key is public and shaped as RFC 7518 says.
func jwksKids(t *testing.T, srv *oidctest.Server) []string {
	t.Helper()
	resp, err := http.Get(srv.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if _, private := k["d"]; private {
			t.Errorf("key %s publishes its private part", k["kid"])
		}
		switch k["kty"] {
		case "RSA":
			if k["alg"] != "RS256" || k["n"] == "" || k["e"] != "AQAB" {
				t.Errorf("RSA key %v", k)
			}
		case "EC":
			x, _ := base64.RawURLEncoding.DecodeString(k["x"])
			y, _ := base64.RawURLEncoding.DecodeString(k["y"])
			if k["alg"] != "ES256" || k["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
				t.Errorf("EC key %v", k)
			}
		default:
			t.Errorf("key type %q", k["kty"])
		}
		kids = append(kids, k["kid"])
	}
	return kids
}

func TestPromptLoginAndMaxAgeRefreshAuthTime(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t) // the default user signed in ten minutes ago
	r := newRP(t, srv)
	authTime := func(opts ...oauth2.AuthCodeOption) time.Time {
		code, verifier := r.login(t, "n", opts...)
		idt, err := r.verifier().Verify(t.Context(), r.exchange(t, code, verifier).Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c struct {
			AuthTime int64 `json:"auth_time"`
		}
		_ = idt.Claims(&c)
		return time.Unix(c.AuthTime, 0)
	}
	start := time.Now().Truncate(time.Second)

	old := authTime(oauth2.SetAuthURLParam("max_age", "3600"))
	fresh := authTime(oauth2.SetAuthURLParam("prompt", "login"))
	kept := authTime()

	if !old.Before(start.Add(-5 * time.Minute)) {
		t.Errorf("auth_time within max_age = %v, want the earlier sign-in", old)
	}
	if fresh.Before(start) || !kept.Equal(fresh) {
		t.Errorf("auth_time after prompt=login = %v, then %v; want a fresh sign-in that later requests keep", fresh, kept)
	}
	if got := srv.LastAuthRequest(); got.Get("nonce") != "n" || got.Has("prompt") {
		t.Errorf("LastAuthRequest() = %v, want the last request's parameters", got)
	}
}

func TestConcurrentSignInsDuringKeyRotation(t *testing.T) {
	t.Parallel()
	srv := oidctest.New(t)
	r := newRP(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	// A real provider publishes a key before it signs with it; the fake
	// signs with a new key at once, so a verifier whose key-set refetch
	// started just before a rotation can miss the newest key. Rotate
	// between rounds of concurrent sign-ins, not during one.
	for i := range 16 {
		if i%8 == 0 {
			wg.Wait()
			srv.RotateKey(true)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			verifier, challenge := pkce()
			resp, err := noRedirect.Get(r.conf.AuthCodeURL("s", append(challenge, oidc.Nonce("n"))...))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			tok, err := r.conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				errs <- err
				return
			}
			if _, err := r.verifier().Verify(context.Background(), tok.Extra("id_token").(string)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Requests(oidctest.Token); n != 16 {
		t.Errorf("Requests(Token) = %d, want 16", n)
	}
}
