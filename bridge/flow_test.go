package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

var bg = context.Background()

func TestSignInIssuesTokensWithNormalizedClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	verifier, challenge := pkce()
	s := e.begin(t, challenge)
	u := e.finish(t, s)
	if got := u.Scheme + "://" + u.Host + u.Path; got != spaRedirect {
		t.Fatalf("redirected to %s, want %s", got, spaRedirect)
	}
	q := u.Query()
	if q.Get("state") != "client-state" || q.Get("iss") != publicURL || q.Get("code") == "" {
		t.Fatalf("client redirect query = %v", q)
	}
	ts, err := e.b.ExchangeCode(bg, bridge.CodeGrant{
		Client: bridge.ClientCredentials{ID: "spa"}, Code: q.Get("code"), RedirectURI: spaRedirect, CodeVerifier: verifier,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ts.TokenType != "Bearer" || ts.ExpiresIn != 900 || ts.RefreshToken == "" || ts.IDToken == "" || ts.Scope != "openid email profile" {
		t.Errorf("token set = %+v", ts)
	}
	at, err := e.issuer.ParseAccess(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range map[string]struct{ got, want any }{
		"iss": {at.Issuer, publicURL}, "client_id": {at.ClientID, "spa"}, "idp": {at.IDP, "fake"},
		"email": {at.User["email"], "alice@example.com"}, "email_verified": {at.User["email_verified"], true},
		"name": {at.User["name"], "Alice"}, "scope": {at.Scope, "openid email profile"}, "sid": {at.SessionID, s.flowID},
	} {
		if c.got != c.want {
			t.Errorf("access claim %s = %v, want %v", k, c.got, c.want)
		}
	}
	if len(at.Audience) != 1 || at.Audience[0] != "https://api.example.com" {
		t.Errorf("aud = %v", at.Audience)
	}
	for _, secret := range []string{"provider-access-secret", "provider-refresh-secret"} {
		for _, tok := range []string{ts.AccessToken, ts.RefreshToken, ts.IDToken} {
			if strings.Contains(tok, secret) {
				t.Errorf("a socialbridge token contains the provider token %q", secret)
			}
		}
	}
}

func TestProviderTokensAreStoredEncrypted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	at, _ := e.issuer.ParseAccess(ts.AccessToken)
	u, err := e.store.GetUser(bg, at.Subject)
	if err != nil {
		t.Fatal(err)
	}
	link := u.Providers["fake"]
	if link.AccessTokenSealed == "" || strings.Contains(link.AccessTokenSealed, "provider-access-secret") {
		t.Fatalf("stored provider access token is not sealed: %q", link.AccessTokenSealed)
	}
	got, err := e.sealer.Open(link.AccessTokenSealed, "user:"+u.ID+":fake:access_token")
	if err != nil || string(got) != "provider-access-secret" {
		t.Errorf("Open(sealed access token) = %q, %v", got, err)
	}
	if _, err := e.sealer.Open(link.AccessTokenSealed, "user:"+u.ID+":fake:refresh_token"); err == nil {
		t.Error("a sealed access token opened in the refresh-token context")
	}
}

func TestCheckAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, challenge := pkce()
	tests := []struct {
		name     string
		edit     func(r *bridge.AuthorizeRequest)
		page     bool   // must be an error page, never a redirect
		wantCode string // for redirect errors
	}{
		{"an unknown client gets an error page", func(r *bridge.AuthorizeRequest) { r.ClientID = "nope" }, true, ""},
		{"a redirect URI differing by a trailing slash gets an error page", func(r *bridge.AuthorizeRequest) { r.RedirectURI = spaRedirect + "/" }, true, ""},
		{"a redirect URI with an extra query gets an error page", func(r *bridge.AuthorizeRequest) { r.RedirectURI = spaRedirect + "?x=1" }, true, ""},
		{"response_type token is refused", func(r *bridge.AuthorizeRequest) { r.ResponseType = "token" }, false, "unsupported_response_type"},
		{"a public client without PKCE is refused", func(r *bridge.AuthorizeRequest) { r.CodeChallenge = "" }, false, "invalid_request"},
		{"PKCE plain is refused", func(r *bridge.AuthorizeRequest) { r.CodeChallengeMethod = "plain" }, false, "invalid_request"},
		{"a malformed challenge is refused", func(r *bridge.AuthorizeRequest) { r.CodeChallenge = "short" }, false, "invalid_request"},
		{"an unknown scope is refused", func(r *bridge.AuthorizeRequest) { r.Scope = "openid admin" }, false, "invalid_scope"},
		{"an unknown provider is refused", func(r *bridge.AuthorizeRequest) { r.Provider = "myspace" }, false, "invalid_request"},
		{"an oversized state is refused", func(r *bridge.AuthorizeRequest) { r.State = strings.Repeat("s", 2000) }, false, "invalid_request"},
		{"a state that is not UTF-8 is refused, not mangled", func(r *bridge.AuthorizeRequest) { r.State = "caf\xe9" }, false, "invalid_request"},
		{"a nonce that is not UTF-8 is refused, not mangled", func(r *bridge.AuthorizeRequest) { r.Nonce = "n\xff\xfe" }, false, "invalid_request"},
		{"a login_hint that is not UTF-8 is refused", func(r *bridge.AuthorizeRequest) { r.LoginHint = "\xc3" }, false, "invalid_request"},
		{"a client_id that is not UTF-8 gets an error page", func(r *bridge.AuthorizeRequest) { r.ClientID = "spa\xff" }, true, ""},
		{"prompt=none with another value is refused", func(r *bridge.AuthorizeRequest) { r.Prompt = "none login" }, false, "invalid_request"},
		{"an unknown prompt value is refused", func(r *bridge.AuthorizeRequest) { r.Prompt = "login sometimes" }, false, "invalid_request"},
		{"a negative max_age is refused", func(r *bridge.AuthorizeRequest) { r.MaxAge = "-1" }, false, "invalid_request"},
		{"a max_age that is not a whole number is refused", func(r *bridge.AuthorizeRequest) { r.MaxAge = "1.5" }, false, "invalid_request"},
		{"a signed max_age is refused", func(r *bridge.AuthorizeRequest) { r.MaxAge = "+60" }, false, "invalid_request"},
		{"a huge max_age is refused", func(r *bridge.AuthorizeRequest) { r.MaxAge = "99999999999999999999" }, false, "invalid_request"},
		{"an oversized login_hint is refused", func(r *bridge.AuthorizeRequest) { r.LoginHint = strings.Repeat("h", 600) }, false, "invalid_request"},
		{"prompt=none is login_required", func(r *bridge.AuthorizeRequest) { r.Prompt = "none" }, false, "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := authorizeRequest(challenge)
			tt.edit(&req)
			_, err := e.b.BeginLogin(bg, req)
			var pe *bridge.PageError
			var re *bridge.RedirectError
			switch {
			case tt.page && !errors.As(err, &pe):
				t.Fatalf("err = %v, want a *PageError", err)
			case !tt.page && !errors.As(err, &re):
				t.Fatalf("err = %v, want a *RedirectError", err)
			case !tt.page && (re.Code != tt.wantCode || re.RedirectURI != spaRedirect || re.State != req.State):
				t.Fatalf("redirect error = %+v, want code %s to the registered URI with the state", re, tt.wantCode)
			}
		})
	}
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(e *env, s started) (string, error)
		want error
	}{
		{"a forged state is refused", func(e *env, s started) (string, error) {
			return e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.flowID + ".forged", Code: s.code, Binding: e.bound(s.flowID)})
		}, bridge.ErrInvalidState},
		{"a missing state is refused", func(e *env, s started) (string, error) {
			return e.b.FinishLogin(bg, "fake", bridge.Callback{Code: s.code, Binding: e.bound(s.flowID)})
		}, bridge.ErrInvalidState},
		{"a callback in a browser that did not start the flow is refused", func(e *env, s started) (string, error) {
			return e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound("other")})
		}, bridge.ErrUnboundFlow},
		{"an expired flow is refused", func(e *env, s started) (string, error) {
			e.clock.Add(11 * time.Minute)
			return e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
		}, bridge.ErrFlowExpired},
		{"a replayed callback is refused", func(e *env, s started) (string, error) {
			if _, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)}); err != nil {
				return "", err
			}
			code := e.prov.approve(s.state) // even with a fresh provider code
			return e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: code, Binding: e.bound(s.flowID)})
		}, bridge.ErrFlowUsed},
		{"an unknown provider path is refused", func(e *env, s started) (string, error) {
			return e.b.FinishLogin(bg, "myspace", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
		}, bridge.ErrUnknownProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, challenge := pkce()
			s := e.begin(t, challenge)
			target, err := tt.run(e, s)
			var pe *bridge.PageError
			if !errors.As(err, &pe) || !errors.Is(err, tt.want) {
				t.Fatalf("FinishLogin() = %q, %v; want an error page for %q", target, err, tt.want)
			}
		})
	}
}

func TestProviderFailuresAreSentToTheClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cb       func(e *env, s started) bridge.Callback
		failWith error
		want     string
	}{
		{"the person denying consent is access_denied", func(e *env, s started) bridge.Callback {
			return bridge.Callback{State: s.state, Error: "access_denied", Binding: e.bound(s.flowID)}
		}, nil, "access_denied"},
		{"another provider error is server_error", func(e *env, s started) bridge.Callback {
			return bridge.Callback{State: s.state, Error: "interaction_required", Binding: e.bound(s.flowID)}
		}, nil, "server_error"},
		{"an unverifiable id_token is server_error", func(e *env, s started) bridge.Callback {
			return bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)}
		}, &providers.Error{Provider: "fake", Code: providers.CodeInvalidToken, Message: "bad signature"}, "server_error"},
		{"an unreachable provider is temporarily_unavailable", func(e *env, s started) bridge.Callback {
			return bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)}
		}, &providers.Error{Provider: "fake", Code: providers.CodeUnavailable, Message: "down"}, "temporarily_unavailable"},
		{"a policy refusal is access_denied", func(e *env, s started) bridge.Callback {
			return bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)}
		}, &providers.Error{Provider: "fake", Code: providers.CodeNotAllowed, Message: "domain"}, "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.prov.failWith = tt.failWith
			_, challenge := pkce()
			s := e.begin(t, challenge)
			target, err := e.b.FinishLogin(bg, "fake", tt.cb(e, s))
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(target)
			if !strings.HasPrefix(target, spaRedirect+"?") || u.Query().Get("error") != tt.want || u.Query().Get("state") != "client-state" {
				t.Fatalf("redirect = %s, want %s with error=%s and the client state", target, spaRedirect, tt.want)
			}
			// The flow is spent: a later success cannot reuse it.
			e.prov.failWith = nil
			_, err = e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: e.prov.approve(s.state), Binding: e.bound(s.flowID)})
			var pe *bridge.PageError
			if !errors.As(err, &pe) {
				t.Errorf("callback after failure: %v, want an error page", err)
			}
		})
	}
}

func TestCodeExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, code, verifier string)
	}{
		{"a wrong verifier is invalid_grant and does not burn the code", func(t *testing.T, e *env, code, verifier string) {
			other, _ := pkce()
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: other})
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
			if _, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier}); err != nil {
				t.Fatalf("right verifier after a wrong one: %v", err)
			}
		}},
		{"a missing verifier is invalid_request", func(t *testing.T, e *env, code, _ string) {
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect})
			if oauthCode(err) != "invalid_request" {
				t.Fatalf("err = %v, want invalid_request", err)
			}
		}},
		{"a different redirect_uri is invalid_grant", func(t *testing.T, e *env, code, verifier string) {
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect + "x", CodeVerifier: verifier})
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"an unknown client is invalid_client", func(t *testing.T, e *env, code, verifier string) {
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "who"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier})
			if oauthCode(err) != "invalid_client" {
				t.Fatalf("err = %v, want invalid_client", err)
			}
		}},
		{"another client's code is invalid_grant", func(t *testing.T, e *env, code, verifier string) {
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier})
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"a wrong confidential secret is invalid_client", func(t *testing.T, e *env, code, verifier string) {
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "backend", Secret: "guess"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier})
			if oauthCode(err) != "invalid_client" {
				t.Fatalf("err = %v, want invalid_client", err)
			}
		}},
		{"an expired code is invalid_grant", func(t *testing.T, e *env, code, verifier string) {
			e.clock.Add(61 * time.Second)
			_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier})
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"a garbage code is invalid_grant", func(t *testing.T, e *env, _, verifier string) {
			for _, c := range []string{"", "x", strings.Repeat("a", 22) + ".b", strings.Repeat("z", 5000)} {
				_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: c, RedirectURI: spaRedirect, CodeVerifier: verifier})
				if oauthCode(err) != "invalid_grant" {
					t.Fatalf("code %.20q: err = %v, want invalid_grant", c, err)
				}
			}
		}},
		{"an old code presented later or by another client is refused without ending the session", func(t *testing.T, e *env, code, verifier string) {
			g := bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier}
			ts, err := e.b.ExchangeCode(bg, g)
			if err != nil {
				t.Fatal(err)
			}
			other := g
			other.Client = bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}
			if _, err := e.b.ExchangeCode(bg, other); oauthCode(err) != "invalid_grant" {
				t.Fatalf("another client: %v, want invalid_grant", err)
			}
			e.clock.Add(2 * time.Minute)
			if _, err := e.b.ExchangeCode(bg, g); oauthCode(err) != "invalid_grant" {
				t.Fatalf("two minutes later: %v, want invalid_grant", err)
			}
			if _, err := refresh(e, ts.RefreshToken); err != nil {
				t.Fatalf("the session ended: %v", err)
			}
		}},
		{"a reused code with a wrong verifier is refused and does not revoke the session", func(t *testing.T, e *env, code, verifier string) {
			other, _ := pkce()
			reuseMustNotRevoke(t, e, code, verifier, func(g *bridge.CodeGrant) { g.CodeVerifier = other })
		}},
		{"a reused code with a wrong redirect_uri is refused and does not revoke the session", func(t *testing.T, e *env, code, verifier string) {
			reuseMustNotRevoke(t, e, code, verifier, func(g *bridge.CodeGrant) { g.RedirectURI = spaRedirect + "x" })
		}},
		{"a reused code is refused and revokes the session it created", func(t *testing.T, e *env, code, verifier string) {
			g := bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier}
			ts, err := e.b.ExchangeCode(bg, g)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.b.ExchangeCode(bg, g); oauthCode(err) != "invalid_grant" {
				t.Fatalf("second exchange: %v, want invalid_grant", err)
			}
			if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken}); oauthCode(err) != "invalid_grant" {
				t.Fatalf("refresh after code reuse: %v, want invalid_grant", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			verifier, challenge := pkce()
			u := e.finish(t, e.begin(t, challenge))
			tt.run(t, e, u.Query().Get("code"), verifier)
		})
	}
}

// reuseMustNotRevoke redeems code, then presents it again edited by edit:
// a request that could not have redeemed the code (RFC 6749 §4.1.2) must
// get invalid_grant and leave the session alone.
func reuseMustNotRevoke(t *testing.T, e *env, code, verifier string, edit func(g *bridge.CodeGrant)) {
	t.Helper()
	g := bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: verifier}
	ts, err := e.b.ExchangeCode(bg, g)
	if err != nil {
		t.Fatal(err)
	}
	edit(&g)
	if _, err := e.b.ExchangeCode(bg, g); oauthCode(err) != "invalid_grant" {
		t.Fatalf("reuse: %v, want invalid_grant", err)
	}
	if _, err := refresh(e, ts.RefreshToken); err != nil {
		t.Fatalf("the session was revoked by a reuse that could not have redeemed the code: %v", err)
	}
}

func refresh(e *env, token string) (*bridge.TokenSet, error) {
	return e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: token})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, first *bridge.TokenSet)
	}{
		{"each refresh rotates to a new refresh token of the next generation", func(t *testing.T, e *env, first *bridge.TokenSet) {
			cur := first
			for i := 2; i <= 4; i++ {
				e.clock.Add(time.Minute)
				next, err := refresh(e, cur.RefreshToken)
				if err != nil {
					t.Fatalf("refresh %d: %v", i, err)
				}
				rt, _ := e.issuer.ParseRefresh(next.RefreshToken)
				if rt.Generation != int64(i) || next.RefreshToken == cur.RefreshToken || next.AccessToken == cur.AccessToken {
					t.Fatalf("refresh %d: generation %d", i, rt.Generation)
				}
				cur = next
			}
		}},
		{"two tabs racing within the grace window get the same successor", func(t *testing.T, e *env, first *bridge.TokenSet) {
			a, err := refresh(e, first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Add(5 * time.Second)
			b, err := refresh(e, first.RefreshToken)
			if err != nil {
				t.Fatalf("second use within grace: %v", err)
			}
			ra, _ := e.issuer.ParseRefresh(a.RefreshToken)
			rb, _ := e.issuer.ParseRefresh(b.RefreshToken)
			if ra.Generation != 2 || rb.Generation != 2 || ra.SessionID != rb.SessionID {
				t.Fatalf("successors differ: %+v vs %+v", ra, rb)
			}
			if _, err := refresh(e, b.RefreshToken); err != nil {
				t.Fatalf("the successor no longer works: %v", err)
			}
		}},
		{"a reused refresh token after the grace window revokes the session", func(t *testing.T, e *env, first *bridge.TokenSet) {
			next, err := refresh(e, first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Add(11 * time.Second)
			if _, err := refresh(e, first.RefreshToken); oauthCode(err) != "invalid_grant" {
				t.Fatalf("reuse: %v, want invalid_grant", err)
			}
			if _, err := refresh(e, next.RefreshToken); oauthCode(err) != "invalid_grant" {
				t.Fatalf("successor after reuse: %v, want invalid_grant (session revoked)", err)
			}
		}},
		{"an idle session cannot refresh", func(t *testing.T, e *env, first *bridge.TokenSet) {
			e.clock.Add(61 * time.Minute)
			if _, err := refresh(e, first.RefreshToken); oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"refreshing keeps the session alive past the first idle deadline", func(t *testing.T, e *env, first *bridge.TokenSet) {
			cur := first
			for range 3 {
				e.clock.Add(50 * time.Minute)
				next, err := refresh(e, cur.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				cur = next
			}
		}},
		{"another client cannot use the refresh token", func(t *testing.T, e *env, first *bridge.TokenSet) {
			_, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, RefreshToken: first.RefreshToken})
			if oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"an access token is not a refresh token", func(t *testing.T, e *env, first *bridge.TokenSet) {
			if _, err := refresh(e, first.AccessToken); oauthCode(err) != "invalid_grant" {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		}},
		{"a refresh that repeats the granted scope works, as OIDC libraries send it", func(t *testing.T, e *env, first *bridge.TokenSet) {
			next, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: first.RefreshToken, Scope: "openid profile email"})
			if err != nil || !sameScope(next.Scope, "openid email profile") {
				t.Fatalf("Refresh(granted scope) = %+v, %v", next, err)
			}
			if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: next.RefreshToken, Scope: "openid offline_access"}); oauthCode(err) != "invalid_scope" {
				t.Fatalf("Refresh(wider scope) err = %v, want invalid_scope", err)
			}
		}},
		{"userinfo refuses a token whose session went idle", func(t *testing.T, e *env, first *bridge.TokenSet) {
			e.clock.Add(61 * time.Minute)
			if _, err := e.b.UserInfo(bg, first.AccessToken); oauthCode(err) != "invalid_token" {
				t.Fatalf("userinfo after idle expiry: %v, want invalid_token", err)
			}
		}},
		{"revocation ends refresh and userinfo", func(t *testing.T, e *env, first *bridge.TokenSet) {
			if _, err := e.b.UserInfo(bg, first.AccessToken); err != nil {
				t.Fatalf("userinfo before revoke: %v", err)
			}
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: first.RefreshToken}); err != nil {
				t.Fatal(err)
			}
			if _, err := refresh(e, first.RefreshToken); oauthCode(err) != "invalid_grant" {
				t.Fatalf("refresh after revoke: %v", err)
			}
			if _, err := e.b.UserInfo(bg, first.AccessToken); oauthCode(err) != "invalid_token" {
				t.Fatalf("userinfo after revoke: %v, want invalid_token", err)
			}
		}},
		{"revoking garbage or another client's token is not an error and changes nothing", func(t *testing.T, e *env, first *bridge.TokenSet) {
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: "garbage"}); err != nil {
				t.Fatal(err)
			}
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, Token: first.RefreshToken}); err != nil {
				t.Fatal(err)
			}
			if _, err := refresh(e, first.RefreshToken); err != nil {
				t.Fatalf("refresh after foreign revoke: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ts, _ := e.signIn(t)
			tt.run(t, e, ts)
		})
	}
}

func TestUserInfoReturnsTheCurrentProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	info, err := e.b.UserInfo(bg, ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := e.issuer.ParseAccess(ts.AccessToken)
	if info["sub"] != at.Subject || info["email"] != "alice@example.com" || info["email_verified"] != true {
		t.Errorf("userinfo = %v", info)
	}
	if _, err := e.b.UserInfo(bg, "garbage"); oauthCode(err) != "invalid_token" {
		t.Errorf("garbage token: %v", err)
	}
}

func TestConcurrentFirstSignInsCreateOneUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 20
	starts := make([]started, n)
	for i := range starts {
		_, challenge := pkce()
		starts[i] = e.begin(t, challenge)
	}
	var wg sync.WaitGroup
	subs := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: starts[i].state, Code: starts[i].code, Binding: e.bound(starts[i].flowID)})
			if err != nil {
				errs[i] = err
				return
			}
			u, _ := url.Parse(target)
			sess, err := e.store.GetSession(bg, starts[i].flowID)
			if err != nil || u.Query().Get("code") == "" {
				errs[i] = fmt.Errorf("no code issued: %v", err)
				return
			}
			subs[i] = sess.UserID
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if subs[i] != subs[0] {
			t.Fatalf("login %d got user %s, login 0 got %s", i, subs[i], subs[0])
		}
	}
	if n, err := e.store.CountUsers(bg); err != nil || n != 1 {
		t.Fatalf("CountUsers() = %d, %v; want 1", n, err)
	}
}

func TestDisabledUserCannotSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ts, _ := e.signIn(t)
	at, _ := e.issuer.ParseAccess(ts.AccessToken)
	if err := e.store.SetDisabled(bg, at.Subject, true); err != nil {
		t.Fatal(err)
	}
	_, challenge := pkce()
	s := e.begin(t, challenge)
	target, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(target); u.Query().Get("error") != "access_denied" {
		t.Fatalf("redirect = %s, want error=access_denied", target)
	}
	sess, _ := e.store.GetSession(bg, s.flowID)
	if sess.State != store.StateFailed {
		t.Errorf("flow state = %s, want failed", sess.State)
	}
}
