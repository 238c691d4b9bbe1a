package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// endSession sends an RP-initiated logout request with the raw
// (encoded) parameters: in the query for GET, as a form for POST.
func (a *app) endSession(t testing.TB, method, params string) reply {
	t.Helper()
	if method == http.MethodGet {
		return a.send(t, method, "/end-session?"+params, "", nil)
	}
	return a.send(t, method, "/end-session", params, nil)
}

func TestEndSessionRedirectsToTheRegisteredURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// params are the request's besides id_token_hint.
		params url.Values
		want   string
	}{
		{"with state", url.Values{"post_logout_redirect_uri": {signedOutURI}, "state": {"xyz"}}, signedOutURI + "?state=xyz"},
		{"with a state that needs encoding", url.Values{"post_logout_redirect_uri": {signedOutURI}, "state": {"a b&c=d"}},
			signedOutURI + "?state=a+b%26c%3Dd"},
		{"without state", url.Values{"post_logout_redirect_uri": {signedOutURI}}, signedOutURI},
		{"with the matching client_id", url.Values{"post_logout_redirect_uri": {signedOutURI}, "client_id": {"spa"}, "state": {"s"}},
			signedOutURI + "?state=s"},
		{"to a registered URI with a query of its own", url.Values{"post_logout_redirect_uri": {"https://spa.example.com/bye?from=sb"}, "state": {"s"}},
			"https://spa.example.com/bye?from=sb&state=s"},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, tt := range tests {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				a := fullApp(t, fullOptions{})
				tr := a.spaSignIn(t, "alice", "openid")
				other := a.spaSignIn(t, "alice", "openid")
				q := url.Values{"id_token_hint": {tr.IDToken}}
				for k, v := range tt.params {
					q[k] = v
				}
				r := a.endSession(t, method, q.Encode())
				if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tt.want {
					t.Fatalf("%s /end-session: %d to %q, want 303 to %q", method, r.StatusCode, r.Header.Get("Location"), tt.want)
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", cc)
				}
				a.checkRevoked(t, a.sidOf(t, tr.AccessToken))
				a.checkActive(t, a.sidOf(t, other.AccessToken), 1)
				if resp, body := a.refreshSPA(t, tr.RefreshToken); resp.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
					t.Errorf("refresh after the logout: %d %+v, want invalid_grant", resp.StatusCode, body)
				}
			})
		}
	}
}

func TestEndSessionWithoutARedirectShowsTheSignedOutPage(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		tr := a.spaSignIn(t, "alice", "openid")
		r := a.endSession(t, method, url.Values{"id_token_hint": {tr.IDToken}, "state": {"ignored"}}.Encode())
		if r.StatusCode != http.StatusOK || r.Header.Get("Location") != "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(r.Body, "signed out") || !strings.Contains(r.Body, "Example SPA") {
			t.Fatalf("%s /end-session without a redirect URI: %d %q %.300s, want the signed-out page", method, r.StatusCode, r.Header.Get("Location"), r.Body)
		}
		a.checkRevoked(t, a.sidOf(t, tr.AccessToken))
	}
	// Ending a session already ended is no error: the person is signed
	// out either way.
	tr := a.spaSignIn(t, "alice", "openid")
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(tr.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	r := a.endSession(t, http.MethodGet, url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {signedOutURI}}.Encode())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != signedOutURI {
		t.Errorf("end-session of an ended session: %d to %q, want 303 to %s", r.StatusCode, r.Header.Get("Location"), signedOutURI)
	}
}

func TestEndSessionAcceptsAnExpiredHint(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	tr := a.spaSignIn(t, "alice", "openid")
	sid := a.sidOf(t, tr.AccessToken)
	// The ID token has expired; the session (idle for an hour) has not.
	a.clock.Add(30 * time.Minute)
	if _, err := a.issuer.ParseAccess(tr.AccessToken); err == nil {
		t.Fatal("the tokens of the sign-in should have expired")
	}
	r := a.endSession(t, http.MethodGet, url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {signedOutURI}, "state": {"s"}}.Encode())
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != signedOutURI+"?state=s" {
		t.Fatalf("end-session with an expired hint: %d to %q %.300s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	a.checkRevoked(t, sid)
}

// tamperSignature changes one character in the middle of a JWT's
// signature.
func tamperSignature(jwt string) string {
	i := strings.LastIndexByte(jwt, '.') + (len(jwt)-strings.LastIndexByte(jwt, '.'))/2
	c := byte('A')
	if jwt[i] == 'A' {
		c = 'B'
	}
	return jwt[:i] + string(c) + jwt[i+1:]
}

func TestEndSessionRefusalsArePagesThatNeverRedirect(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	tr := a.spaSignIn(t, "alice", "openid")
	cookieTokens, _ := a.cookieSignIn(t, "alice", "openid")
	sid, cookieSID := a.sidOf(t, tr.AccessToken), a.sidOf(t, cookieTokens.JSON["access_token"].(string))
	hint := url.QueryEscape(tr.IDToken)
	redirect := "&post_logout_redirect_uri=" + url.QueryEscape(signedOutURI) + "&state=s"
	unregistered := func(uri string) string {
		return "id_token_hint=" + hint + "&post_logout_redirect_uri=" + url.QueryEscape(uri) + "&state=s"
	}
	tests := []struct {
		name   string
		params string
	}{
		{"a missing hint", strings.TrimPrefix(redirect, "&")},
		{"an empty hint", "id_token_hint=" + redirect},
		{"a garbage hint", "id_token_hint=garbage" + redirect},
		{"an access token as hint", "id_token_hint=" + url.QueryEscape(tr.AccessToken) + redirect},
		{"a refresh token as hint", "id_token_hint=" + url.QueryEscape(tr.RefreshToken) + redirect},
		{"a hint with a tampered header", "id_token_hint=" + url.QueryEscape(alter(tr.IDToken)) + redirect},
		{"a hint with a tampered signature", "id_token_hint=" + url.QueryEscape(tamperSignature(tr.IDToken)) + redirect},
		{"an unregistered URI", unregistered("https://evil.example.com/")},
		{"the registered URI with a trailing slash", unregistered(signedOutURI + "/")},
		{"the registered URI with a query added", unregistered(signedOutURI + "?next=https://evil.example.com")},
		{"the registered URI with a fragment", unregistered(signedOutURI + "#x")},
		{"the registered URI over http", unregistered("http://spa.example.com/signed-out")},
		{"the registered URI with the default port", unregistered("https://spa.example.com:443/signed-out")},
		{"the registered URI in upper case", unregistered("https://spa.example.com/SIGNED-OUT")},
		{"the registered URI on another subdomain", unregistered("https://evil.spa.example.com/signed-out")},
		{"a redirect URI that is not a post-logout one", unregistered(spaRedirect)},
		{"another client's post-logout URI", unregistered("https://app.example.com/")},
		{"a client_id other than the hint's", "id_token_hint=" + hint + "&client_id=" + cookieClient + redirect},
		{"an unknown client_id", "id_token_hint=" + hint + "&client_id=nobody" + redirect},
		{"a repeated hint", "id_token_hint=" + hint + "&id_token_hint=" + hint + redirect},
		{"a repeated post_logout_redirect_uri", "id_token_hint=" + hint + redirect + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example.com/")},
		{"a repeated state", "id_token_hint=" + hint + redirect + "&state=t"},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, tt := range tests {
				t.Run(method+" with "+tt.name, func(t *testing.T) {
					t.Parallel()
					r := a.endSession(t, method, tt.params)
					if r.StatusCode != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
						!strings.Contains(r.Body, "Sign-out refused") {
						t.Fatalf("got %d %q %.300s, want a 400 HTML error page", r.StatusCode, r.Header.Get("Content-Type"), r.Body)
					}
					if loc := r.Header.Get("Location"); loc != "" {
						t.Fatalf("a refused sign-out redirected to %q", loc)
					}
					if strings.Contains(r.Body, "evil.example.com") {
						t.Errorf("the error page echoes the unregistered address")
					}
				})
			}
		}
	})
	// Nothing was ended.
	a.checkActive(t, sid, 1)
	a.checkActive(t, cookieSID, 1)

	t.Run("a POST with a body that is not a form", func(t *testing.T) {
		r := a.send(t, http.MethodPost, "/end-session", `{"id_token_hint":"x"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") })
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("got %d %q, want a 400 HTML error page", r.StatusCode, r.Header.Get("Location"))
		}
	})
	t.Run("a POST ignores parameters in the query", func(t *testing.T) {
		r := a.send(t, http.MethodPost, "/end-session?post_logout_redirect_uri="+url.QueryEscape("https://evil.example.com/"),
			url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {signedOutURI}}.Encode(), nil)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != signedOutURI {
			t.Fatalf("got %d to %q, want 303 to the form's %s", r.StatusCode, r.Header.Get("Location"), signedOutURI)
		}
		a.checkRevoked(t, sid)
	})
}
