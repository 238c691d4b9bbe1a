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

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// The clients of fullApp besides the harness's spa and backend: a
// browser app in cookie mode, a backend that may introspect tokens and
// read the revocation feed, and where the spa may go after signing out.
const (
	cookieClient   = "cookieapp"
	cookieOrigin   = "https://app.example.com"
	cookieRedirect = "https://app.example.com/callback"
	rsClient       = "rs"
	rsSecret       = "rs-s3cret"
	signedOutURI   = "https://spa.example.com/signed-out"
	adminSecret    = "admin-t0ken-0123456789abcdef0123456789"
)

// fullOptions configure fullApp beyond what newAppWith can.
type fullOptions struct {
	// publicURL is the web layer's public URL; empty: the test server's
	// (http). An https one makes cookies Secure and __Host- prefixed.
	publicURL string
	// adminToken turns the admin API on; empty leaves it off.
	adminToken string
}

// fullApp is newApp with the clients and options of the session, logout,
// introspection, revocation-feed and admin endpoints, built the same way.
func fullApp(t testing.TB, o fullOptions) *app {
	t.Helper()
	s := newStack(t)
	bo := s.bridgeOptions([]providers.Provider{s.dev}, []bridge.Client{
		withTTLs(bridge.Client{ID: "spa", Name: "Example SPA", RedirectURIs: []string{spaRedirect}, CORSOrigins: []string{"https://spa.example.com"},
			AccountManagement: true, PostLogoutRedirectURIs: []string{signedOutURI, "https://spa.example.com/bye?from=sb"}}),
		withTTLs(bridge.Client{ID: cookieClient, Name: "Cookie App", RedirectURIs: []string{cookieRedirect}, CORSOrigins: []string{cookieOrigin},
			AccountManagement: true, RefreshCookie: true}),
		// Backends: rs may introspect and read the feed, backend may not.
		withTTLs(bridge.Client{ID: rsClient, Name: "Resource Server", Secret: rsSecret, RedirectURIs: []string{"https://rs.example.com/cb"},
			Introspection: true}),
		withTTLs(bridge.Client{ID: "backend", Name: "Backend", Secret: backendSecret, RedirectURIs: []string{"https://backend.example.com/cb"}}),
	})
	bo.AdminToken = o.adminToken
	b, err := bridge.New(bo)
	if err != nil {
		t.Fatal(err)
	}
	wo := s.webOptions(b)
	if o.publicURL != "" {
		wo.PublicURL = o.publicURL
	}
	return s.serve(t, wo)
}

// codeFor runs the browser part of a dev sign-in of user at client,
// asking for scope, and returns the code the client gets back and its
// PKCE verifier. It carries the flow cookie by hand: a cookie jar would
// not send back the Secure one of an https public URL over the test
// server's http.
func (a *app) codeFor(t testing.TB, clientID, redirectURI, user, scope string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	resp, err := noFollow.Get(a.url + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	toDev, err := resp.Location()
	if err != nil {
		t.Fatalf("/authorize for %s: %d without a redirect", clientID, resp.StatusCode)
	}
	flowCookies := resp.Cookies()
	form := toDev.Query() // the dev page's hidden fields
	form.Set("user", user)
	resp, err = noFollow.PostForm(toDev.Scheme+"://"+toDev.Host+toDev.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback, err := resp.Location()
	if err != nil {
		t.Fatalf("dev page: %d without a redirect", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, callback.String(), nil)
	for _, c := range flowCookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || !strings.HasPrefix(back.String(), redirectURI+"?") || back.Query().Get("code") == "" {
		t.Fatalf("callback: %d to %v, want %s with a code", resp.StatusCode, back, redirectURI)
	}
	return back.Query().Get("code"), verifier
}

// spaSignIn signs user in to the spa (body mode) with scope.
func (a *app) spaSignIn(t testing.TB, user, scope string) tokenResponse {
	t.Helper()
	code, verifier := a.codeFor(t, "spa", spaRedirect, user, scope)
	resp, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	if resp.StatusCode != http.StatusOK || tr.RefreshToken == "" {
		t.Fatalf("spa token exchange: %d %+v", resp.StatusCode, tr)
	}
	return tr
}

// reply is a response with its body read.
type reply struct {
	*http.Response
	Body string
	// JSON is the decoded body when it is JSON.
	JSON map[string]any
}

// code is the error of a JSON error body.
func (r reply) code() string {
	s, _ := r.JSON["error"].(string)
	return s
}

// send sends method path with body (form encoded unless edit sets
// another Content-Type), the request edited by edit, without following
// redirects.
func (a *app) send(t testing.TB, method, path, body string, edit func(*http.Request)) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if edit != nil {
		edit(req)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{Response: resp, Body: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.JSON); err != nil {
			t.Fatalf("%s %s: invalid JSON %q", method, path, raw)
		}
	}
	return r
}

// decodeInto decodes the JSON body into v.
func decodeInto(t testing.TB, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}

// withBearer sets the Authorization header to Bearer tok.
func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// checkError checks an RFC 6749 §5.2 error: status, code, a description,
// and no caching.
func checkError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	desc, _ := r.JSON["error_description"].(string)
	if r.StatusCode != status || r.code() != code || desc == "" {
		t.Fatalf("got %d %s, want %d with error %q and a description", r.StatusCode, r.Body, status, code)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// sidOf is the session id of an access token.
func (a *app) sidOf(t testing.TB, access string) string {
	t.Helper()
	c, err := a.issuer.ParseAccess(access)
	if err != nil {
		t.Fatalf("ParseAccess: %v", err)
	}
	return c.SessionID
}

// subOf is the user id of an access token.
func (a *app) subOf(t testing.TB, access string) string {
	t.Helper()
	c, err := a.issuer.ParseAccess(access)
	if err != nil {
		t.Fatalf("ParseAccess: %v", err)
	}
	return c.Subject
}

// stored reads session sid from the store.
func (a *app) stored(t testing.TB, sid string) *store.Session {
	t.Helper()
	s, err := a.store.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", sid, err)
	}
	return s
}

// checkActive fails unless session sid is active at generation gen (0:
// any generation).
func (a *app) checkActive(t testing.TB, sid string, gen int64) {
	t.Helper()
	s := a.stored(t, sid)
	if !s.RevokedAt.IsZero() {
		t.Errorf("session %s was revoked (%s), want it active", sid, s.RevokeReason)
	}
	if gen != 0 && s.Generation != gen {
		t.Errorf("session %s is at generation %d, want %d (untouched)", sid, s.Generation, gen)
	}
}

// checkRevoked fails unless session sid is revoked.
func (a *app) checkRevoked(t testing.TB, sid string) {
	t.Helper()
	if s := a.stored(t, sid); s.RevokedAt.IsZero() {
		t.Errorf("session %s is still active, want it revoked", sid)
	}
}

// refreshSPA refreshes a spa refresh token.
func (a *app) refreshSPA(t testing.TB, refresh string) (*http.Response, tokenResponse) {
	t.Helper()
	return a.post(t, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"spa"}})
}

// sessionList is GET /sessions decoded.
func (a *app) sessionList(t testing.TB, access string) (reply, []bridge.SessionInfo) {
	t.Helper()
	r := a.send(t, http.MethodGet, "/sessions", "", withBearer(access))
	var body struct {
		Sessions []bridge.SessionInfo `json:"sessions"`
	}
	if r.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("GET /sessions: %v in %s", err, r.Body)
		}
	}
	return r, body.Sessions
}

func TestSessionsListsTheUsersActiveSessionsWithTheCurrentOneMarked(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first := a.spaSignIn(t, "alice", accountScope)
	second := a.spaSignIn(t, "alice", "openid email")
	ended := a.spaSignIn(t, "alice", "openid")
	bobs := a.spaSignIn(t, "bob", accountScope)
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(ended.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}

	r, list := a.sessionList(t, first.AccessToken)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /sessions: %d %s", r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	want := map[string]bool{a.sidOf(t, first.AccessToken): true, a.sidOf(t, second.AccessToken): false}
	if len(list) != len(want) {
		t.Fatalf("listed %d sessions, want %d (alice's active ones, not the ended one nor bob's): %+v", len(list), len(want), list)
	}
	for _, s := range list {
		current, ok := want[s.ID]
		if !ok {
			t.Errorf("listed session %s, which is not one of alice's active sessions", s.ID)
			continue
		}
		if s.Current != current {
			t.Errorf("session %s: current = %v, want %v", s.ID, s.Current, current)
		}
		if s.ClientID != "spa" || s.ClientName != "Example SPA" || s.Provider != "dev" || s.ProviderLabel == "" {
			t.Errorf("session %s = %+v, want the spa signed in with dev", s.ID, s)
		}
		// The browser that started the sign-in at /authorize (Go's
		// client here) is the session's device.
		if s.UserAgent != "Go-http-client/1.1" || s.IP != "127.0.0.1" {
			t.Errorf("session %s: device %q at %q, want Go-http-client/1.1 at 127.0.0.1", s.ID, s.UserAgent, s.IP)
		}
		if s.CreatedAt.IsZero() || s.LastUsedAt.IsZero() || !s.ExpiresAt.After(s.CreatedAt) || !s.IdleEndsAt.After(s.CreatedAt) {
			t.Errorf("session %s has times %+v", s.ID, s)
		}
	}
	// Most recently used first: a refresh puts the second one on top.
	a.clock.Add(time.Second)
	if resp, tr := a.refreshSPA(t, second.RefreshToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %+v", resp.StatusCode, tr)
	}
	if _, list := a.sessionList(t, first.AccessToken); len(list) != 2 || list[0].ID != a.sidOf(t, second.AccessToken) || !list[1].Current {
		t.Errorf("sessions after refreshing the second: %+v, want it first", list)
	}
	// Bob sees his own only.
	if r, list := a.sessionList(t, bobs.AccessToken); r.StatusCode != http.StatusOK || len(list) != 1 || !list[0].Current {
		t.Errorf("bob's GET /sessions: %d %+v, want his one current session", r.StatusCode, list)
	}
}

func TestSessionsEndpointsRefuseMissingOrWeakTokens(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	plain := a.spaSignIn(t, "alice", "openid email profile")
	full := a.spaSignIn(t, "alice", accountScope)
	target := a.sidOf(t, full.AccessToken)
	tests := []struct {
		name      string
		auth      string
		status    int
		code      string
		challenge string
	}{
		{"no Authorization header is 401", "", 401, "invalid_request", `Bearer realm="socialbridge"`},
		{"Basic credentials are 401", "Basic c3BhOg==", 401, "invalid_request", `Bearer realm="socialbridge"`},
		{"a garbage token is invalid_token", "Bearer garbage", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"a refresh token is invalid_token", "Bearer " + full.RefreshToken, 401, "invalid_token", `Bearer error="invalid_token"`},
		{"a token without the account scope is insufficient_scope", "Bearer " + plain.AccessToken, 403, "insufficient_scope",
			`Bearer error="insufficient_scope", scope="account"`},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, ep := range []struct{ method, path string }{{http.MethodGet, "/sessions"}, {http.MethodDelete, "/sessions/" + target}} {
			for _, tt := range tests {
				t.Run(ep.method+" "+ep.path+": "+tt.name, func(t *testing.T) {
					t.Parallel()
					r := a.send(t, ep.method, ep.path, "", func(r *http.Request) {
						if tt.auth != "" {
							r.Header.Set("Authorization", tt.auth)
						}
					})
					checkError(t, r, tt.status, tt.code)
					if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tt.challenge) {
						t.Errorf("WWW-Authenticate = %q, want it to start with %q", got, tt.challenge)
					}
				})
			}
		}
	})
	// None of them ended the session.
	a.checkActive(t, target, 1)
}

func TestDeletingASession(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	me := a.spaSignIn(t, "alice", accountScope)
	mine := a.spaSignIn(t, "alice", "openid")
	bobs := a.spaSignIn(t, "bob", "openid")
	mySID, otherSID, bobSID := a.sidOf(t, me.AccessToken), a.sidOf(t, mine.AccessToken), a.sidOf(t, bobs.AccessToken)

	t.Run("another user's session is session_not_found and stays active", func(t *testing.T) {
		r := a.send(t, http.MethodDelete, "/sessions/"+bobSID, "", withBearer(me.AccessToken))
		checkError(t, r, http.StatusNotFound, "session_not_found")
		a.checkActive(t, bobSID, 1)
	})
	t.Run("an unknown id is session_not_found", func(t *testing.T) {
		r := a.send(t, http.MethodDelete, "/sessions/nosuchsession", "", withBearer(me.AccessToken))
		checkError(t, r, http.StatusNotFound, "session_not_found")
	})
	t.Run("one of the user's other sessions ends with 204 and can no longer refresh", func(t *testing.T) {
		r := a.send(t, http.MethodDelete, "/sessions/"+otherSID, "", withBearer(me.AccessToken))
		if r.StatusCode != http.StatusNoContent || r.Body != "" {
			t.Fatalf("DELETE own session: %d %q, want 204 without a body", r.StatusCode, r.Body)
		}
		a.checkRevoked(t, otherSID)
		if resp, tr := a.refreshSPA(t, mine.RefreshToken); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("refresh of the ended session: %d %+v, want invalid_grant", resp.StatusCode, tr)
		}
		if _, list := a.sessionList(t, me.AccessToken); len(list) != 1 || list[0].ID != mySID {
			t.Errorf("sessions after the delete: %+v, want only the current one", list)
		}
		again := a.send(t, http.MethodDelete, "/sessions/"+otherSID, "", withBearer(me.AccessToken))
		checkError(t, again, http.StatusNotFound, "session_not_found")
	})
	t.Run("the current session can end itself", func(t *testing.T) {
		r := a.send(t, http.MethodDelete, "/sessions/"+mySID, "", withBearer(me.AccessToken))
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE current session: %d %s", r.StatusCode, r.Body)
		}
		a.checkRevoked(t, mySID)
		r, _ = a.sessionList(t, me.AccessToken)
		checkError(t, r, http.StatusUnauthorized, "invalid_token")
		if resp, tr := a.refreshSPA(t, me.RefreshToken); resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
			t.Errorf("refresh of the ended session: %d %+v, want invalid_grant", resp.StatusCode, tr)
		}
	})
	a.checkActive(t, bobSID, 1)
}

func TestLogoutWithABearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope string
		ended float64
		// active says which of alice's sessions stay active: the caller's
		// first, then her two others.
		active [3]bool
	}{
		{"without scope the caller's session ends", "", 1, [3]bool{false, true, true}},
		{"scope=others ends the user's other sessions only", "others", 2, [3]bool{true, false, false}},
		{"scope=all ends every session of the user", "all", 3, [3]bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := fullApp(t, fullOptions{})
			// The caller holds the account scope: ending other sessions
			// with an access token takes it.
			var alice [3]tokenResponse
			for i := range alice {
				scope := "openid"
				if i == 0 {
					scope = accountScope
				}
				alice[i] = a.spaSignIn(t, "alice", scope)
			}
			bob := a.spaSignIn(t, "bob", "openid")
			body := ""
			if tt.scope != "" {
				body = url.Values{"scope": {tt.scope}}.Encode()
				// Without it, the same request changes nothing.
				r := a.send(t, http.MethodPost, "/logout", body, withBearer(alice[1].AccessToken))
				checkError(t, r, http.StatusForbidden, "insufficient_scope")
				a.checkActive(t, a.sidOf(t, alice[2].AccessToken), 0)
			}
			r := a.send(t, http.MethodPost, "/logout", body, withBearer(alice[0].AccessToken))
			if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != tt.ended {
				t.Fatalf("POST /logout: %d %s, want 200 with sessions_ended %v", r.StatusCode, r.Body, tt.ended)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			for i, tok := range alice {
				sid := a.sidOf(t, tok.AccessToken)
				resp, tr := a.refreshSPA(t, tok.RefreshToken)
				if tt.active[i] {
					a.checkActive(t, sid, 0)
					if resp.StatusCode != http.StatusOK {
						t.Errorf("session %d: refresh %d %+v, want it to work", i, resp.StatusCode, tr)
					}
					continue
				}
				a.checkRevoked(t, sid)
				if resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_grant" {
					t.Errorf("session %d: refresh %d %+v, want invalid_grant", i, resp.StatusCode, tr)
				}
			}
			a.checkActive(t, a.sidOf(t, bob.AccessToken), 1)
		})
	}
}

func TestLogoutRefusals(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	alice := a.spaSignIn(t, "alice", "openid")
	sid := a.sidOf(t, alice.AccessToken)
	bearer := withBearer(alice.AccessToken)
	tests := []struct {
		name   string
		body   string
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"an unknown scope is invalid_request", "scope=mine", bearer, 400, "invalid_request"},
		{"no credentials at all are 401", "", nil, 401, "invalid_request"},
		{"a body-mode client_id without a token is 401", "client_id=spa", nil, 401, "invalid_request"},
		{"an unknown client_id without a token is invalid_client", "client_id=nobody", nil, 401, "invalid_client"},
		{"Basic credentials are 401", "", func(r *http.Request) { r.SetBasicAuth("spa", "x") }, 401, "invalid_request"},
		{"a garbage token is invalid_token", "", withBearer("garbage"), 401, "invalid_token"},
		{"a refresh token as Bearer is invalid_token", "", withBearer(alice.RefreshToken), 401, "invalid_token"},
		{"a token of another client than client_id is invalid_token", "client_id=" + cookieClient, bearer, 401, "invalid_token"},
		{"a repeated parameter is invalid_request", "scope=all&scope=all", bearer, 400, "invalid_request"},
		{"a JSON body is invalid_request", `{"scope":"all"}`, func(r *http.Request) {
			bearer(r)
			r.Header.Set("Content-Type", "application/json")
		}, 400, "invalid_request"},
		{"a malformed form is invalid_request", "scope=%zz", bearer, 400, "invalid_request"},
		{"an oversized body is 413", "scope=all&pad=" + strings.Repeat("a", 70000), bearer, 413, "invalid_request"},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := a.send(t, http.MethodPost, "/logout", tt.body, tt.edit)
				checkError(t, r, tt.status, tt.code)
				if tt.status == http.StatusUnauthorized && tt.code != "invalid_client" && r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
	})
	// None of them ended the session.
	a.checkActive(t, sid, 1)
	// Logging out with the token of an ended session is refused.
	if r := a.send(t, http.MethodPost, "/logout", "", bearer); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	checkError(t, a.send(t, http.MethodPost, "/logout", "", bearer), http.StatusUnauthorized, "invalid_token")
}

func TestDiscoveryListsTheSessionEndpoints(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	var doc map[string]any
	getWellKnown(t, a.url+"/.well-known/openid-configuration", &doc)
	for name, path := range map[string]string{
		"end_session_endpoint": "/end-session", "introspection_endpoint": "/introspect", "revocation_feed_endpoint": "/revocations",
		"revocation_endpoint": "/revoke",
	} {
		if doc[name] != a.url+path {
			t.Errorf("%s = %v, want %s", name, doc[name], a.url+path)
		}
	}
	methods, _ := doc["introspection_endpoint_auth_methods_supported"].([]any)
	if len(methods) != 2 || methods[0] != "client_secret_basic" || methods[1] != "client_secret_post" {
		t.Errorf("introspection_endpoint_auth_methods_supported = %v", doc["introspection_endpoint_auth_methods_supported"])
	}
	// The RFC 8414 document is the same.
	var meta map[string]any
	getWellKnown(t, a.url+"/.well-known/oauth-authorization-server", &meta)
	if meta["end_session_endpoint"] != doc["end_session_endpoint"] || meta["introspection_endpoint"] != doc["introspection_endpoint"] {
		t.Errorf("the RFC 8414 metadata differs: %v", meta)
	}
}

// A body-mode app logs out with its refresh token (and client_id), which
// ends other sessions without the account scope: unlike an access token,
// a refresh token never reaches an API.
func TestLogoutWithARefreshToken(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	mine := a.spaSignIn(t, "alice", "openid")
	other := a.spaSignIn(t, "alice", "openid")
	r := a.send(t, http.MethodPost, "/logout", url.Values{"refresh_token": {mine.RefreshToken}, "scope": {"others"}}.Encode(), nil)
	checkError(t, r, http.StatusUnauthorized, "invalid_client")
	r = a.send(t, http.MethodPost, "/logout", url.Values{"refresh_token": {mine.RefreshToken}, "client_id": {"spa"}, "scope": {"others"}}.Encode(), nil)
	if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(1) {
		t.Fatalf("POST /logout with the refresh token: %d %s, want 200 with sessions_ended 1", r.StatusCode, r.Body)
	}
	a.checkRevoked(t, a.sidOf(t, other.AccessToken))
	a.checkActive(t, a.sidOf(t, mine.AccessToken), 0)
	r = a.send(t, http.MethodPost, "/logout", url.Values{"refresh_token": {mine.RefreshToken}, "client_id": {"spa"}}.Encode(), nil)
	if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(1) {
		t.Fatalf("POST /logout of this session: %d %s", r.StatusCode, r.Body)
	}
	a.checkRevoked(t, a.sidOf(t, mine.AccessToken))
}
