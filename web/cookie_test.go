package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/web"
)

// The refresh cookie's name: sb_rt_ and a digest of the client id, with
// the __Host- prefix when the public URL is https.
const refreshCookiePrefix = "sb_rt_"

// cookiePost is a request of the cookie-mode app's own pages: the CSRF
// header, the app's Origin and, when rt is set, the refresh cookie the
// browser holds; edit changes the request last.
func (a *app) cookiePost(t testing.TB, path string, form url.Values, rt *http.Cookie, edit func(*http.Request)) reply {
	t.Helper()
	return a.send(t, http.MethodPost, path, form.Encode(), func(r *http.Request) {
		r.Header.Set(web.CSRFHeader, "1")
		r.Header.Set("Origin", cookieOrigin)
		if rt != nil {
			r.AddCookie(&http.Cookie{Name: rt.Name, Value: rt.Value})
		}
		if edit != nil {
			edit(r)
		}
	})
}

// refreshCookie returns the one refresh cookie r sets, or nil; more than
// one is an error.
func (r reply) refreshCookie(t testing.TB) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range r.Cookies() {
		if strings.Contains(c.Name, refreshCookiePrefix) {
			if found != nil {
				t.Fatalf("the response sets the refresh cookie twice: %v", r.Header.Values("Set-Cookie"))
			}
			found = c
		}
	}
	return found
}

// checkRefreshCookie checks the attributes of a refresh cookie that is
// set (cleared false) or deleted (cleared true): HttpOnly, SameSite=Strict,
// Path=/, no Domain, and Secure with the __Host- prefix exactly when
// secure.
func checkRefreshCookie(t testing.TB, ck *http.Cookie, secure, cleared bool) {
	t.Helper()
	if ck == nil {
		t.Fatalf("no refresh cookie set, want one (cleared: %v)", cleared)
	}
	wantPrefix := refreshCookiePrefix
	if secure {
		wantPrefix = "__Host-" + refreshCookiePrefix
	}
	if !strings.HasPrefix(ck.Name, wantPrefix) || strings.Contains(ck.Name, cookieClient) {
		t.Errorf("cookie name %q, want the prefix %q and no client id", ck.Name, wantPrefix)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" || ck.Secure != secure {
		t.Errorf("cookie %s: want HttpOnly, SameSite=Strict, Path=/, no Domain, Secure=%v", ck, secure)
	}
	switch {
	case cleared && (ck.Value != "" || ck.MaxAge >= 0):
		t.Errorf("cookie %s: want it deleted (empty, Max-Age<0)", ck)
	case !cleared && (ck.Value == "" || ck.MaxAge <= 0 || ck.MaxAge > 3600):
		// The idle lifetime of the refresh token is an hour.
		t.Errorf("cookie %s: want a value and 0 < Max-Age <= 3600", ck)
	}
}

// cookieSignIn signs user in to the cookie-mode app and returns the
// token response and the refresh cookie it set.
func (a *app) cookieSignIn(t testing.TB, user, scope string) (reply, *http.Cookie) {
	t.Helper()
	code, verifier := a.codeFor(t, cookieClient, cookieRedirect, user, scope)
	r := a.cookiePost(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cookieRedirect},
		"client_id": {cookieClient}, "code_verifier": {verifier},
	}, nil, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("cookie-mode code exchange: %d %s", r.StatusCode, r.Body)
	}
	ck := r.refreshCookie(t)
	if ck == nil {
		t.Fatalf("cookie-mode code exchange set no refresh cookie: %v", r.Header.Values("Set-Cookie"))
	}
	return r, ck
}

// cookieRefresh is the cookie-mode app's refresh with the cookie rt.
func (a *app) cookieRefresh(t testing.TB, rt *http.Cookie, edit func(*http.Request)) reply {
	t.Helper()
	return a.cookiePost(t, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {cookieClient}}, rt, edit)
}

// cookieLogout is the cookie-mode app's logout with the cookie rt.
func (a *app) cookieLogout(t testing.TB, rt *http.Cookie, edit func(*http.Request)) reply {
	t.Helper()
	return a.cookiePost(t, "/logout", url.Values{"client_id": {cookieClient}}, rt, edit)
}

func TestCookieModeCodeExchangeSetsTheRefreshCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		publicURL string
		secure    bool
	}{
		{"over https it is a Secure __Host- cookie", "https://sb.example.com", true},
		{"over plain http it has neither Secure nor the prefix", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := fullApp(t, fullOptions{publicURL: tt.publicURL})
			r, ck := a.cookieSignIn(t, "alice", "openid email")
			checkRefreshCookie(t, ck, tt.secure, false)
			if _, ok := r.JSON["refresh_token"]; ok || strings.Contains(r.Body, ck.Value) {
				t.Errorf("the token response carries the refresh token: %s", r.Body)
			}
			if r.JSON["access_token"] == nil || r.JSON["id_token"] == nil || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("token response %s (Cache-Control %q), want access and ID tokens, not cached", r.Body, r.Header.Get("Cache-Control"))
			}
			rt, err := a.issuer.ParseRefresh(ck.Value)
			if err != nil || rt.ClientID != cookieClient || rt.SessionID != a.sidOf(t, r.JSON["access_token"].(string)) {
				t.Errorf("the cookie holds %+v (%v), want the refresh token of the session", rt, err)
			}
		})
	}
}

func TestCookieModeRefreshRotatesTheCookie(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "https", false: "http"}[secure], func(t *testing.T) {
			t.Parallel()
			o := fullOptions{}
			if secure {
				o.publicURL = "https://sb.example.com"
			}
			a := fullApp(t, o)
			first, ck := a.cookieSignIn(t, "alice", "openid")
			sid := a.sidOf(t, first.JSON["access_token"].(string))
			r := a.cookieRefresh(t, ck, nil)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("refresh with the cookie: %d %s", r.StatusCode, r.Body)
			}
			next := r.refreshCookie(t)
			checkRefreshCookie(t, next, secure, false)
			if next.Name != ck.Name || next.Value == ck.Value {
				t.Errorf("refresh set cookie %s=%.12s..., want a new value under the name %s", next.Name, next.Value, ck.Name)
			}
			if _, ok := r.JSON["refresh_token"]; ok {
				t.Errorf("the refresh response carries a refresh token: %s", r.Body)
			}
			if at, _ := r.JSON["access_token"].(string); at == "" || at == first.JSON["access_token"] || a.sidOf(t, at) != sid {
				t.Errorf("refresh gave access token %q, want a new one of session %s", at, sid)
			}
			a.checkActive(t, sid, 2)
			// The new cookie works in turn.
			if r := a.cookieRefresh(t, next, nil); r.StatusCode != http.StatusOK || r.refreshCookie(t) == nil {
				t.Fatalf("refresh with the rotated cookie: %d %s", r.StatusCode, r.Body)
			}
			a.checkActive(t, sid, 3)
		})
	}
}

// csrfRefusals are cookie-mode requests that do not prove they come from
// the app's own pages.
var csrfRefusals = []struct {
	name string
	edit func(*http.Request)
}{
	{"without the CSRF header", func(r *http.Request) { r.Header.Del(web.CSRFHeader) }},
	{"with the CSRF header set to true", func(r *http.Request) { r.Header.Set(web.CSRFHeader, "true") }},
	{"with the CSRF header set to 0", func(r *http.Request) { r.Header.Set(web.CSRFHeader, "0") }},
	{"with an empty CSRF header", func(r *http.Request) { r.Header.Set(web.CSRFHeader, "") }},
	{"without Origin", func(r *http.Request) { r.Header.Del("Origin") }},
	{"from Origin null", func(r *http.Request) { r.Header.Set("Origin", "null") }},
	{"from another port", func(r *http.Request) { r.Header.Set("Origin", cookieOrigin+":8443") }},
	{"from the explicit default port", func(r *http.Request) { r.Header.Set("Origin", cookieOrigin+":443") }},
	{"over http instead of https", func(r *http.Request) { r.Header.Set("Origin", "http://app.example.com") }},
	{"with a trailing slash", func(r *http.Request) { r.Header.Set("Origin", cookieOrigin+"/") }},
	{"from a subdomain", func(r *http.Request) { r.Header.Set("Origin", "https://evil.app.example.com") }},
	{"from the parent domain", func(r *http.Request) { r.Header.Set("Origin", "https://example.com") }},
	{"from a look-alike suffix", func(r *http.Request) { r.Header.Set("Origin", cookieOrigin+".evil.com") }},
	{"from another client's registered origin", func(r *http.Request) { r.Header.Set("Origin", "https://spa.example.com") }},
}

func TestCookieModeRefreshRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range csrfRefusals {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := a.cookieRefresh(t, ck, tt.edit)
				checkError(t, r, http.StatusBadRequest, "invalid_request")
				if c := r.refreshCookie(t); c != nil {
					t.Errorf("a refused request touched the cookie: %s", c)
				}
				a.checkActive(t, sid, 1)
			})
		}
	})
	a.checkActive(t, sid, 1)
	// And the cookie still works from the app's own pages.
	if r := a.cookieRefresh(t, ck, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the refusals: %d %s", r.StatusCode, r.Body)
	}
}

func TestCookieModeCodeExchangeNeedsTheCSRFProofToo(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	code, verifier := a.codeFor(t, cookieClient, cookieRedirect, "alice", "openid")
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cookieRedirect},
		"client_id": {cookieClient}, "code_verifier": {verifier},
	}
	for _, tt := range csrfRefusals {
		r := a.cookiePost(t, "/token", form, nil, tt.edit)
		if r.StatusCode != http.StatusBadRequest || r.code() != "invalid_request" || r.refreshCookie(t) != nil {
			t.Errorf("exchange %s: %d %s, want 400 invalid_request without a cookie", tt.name, r.StatusCode, r.Body)
		}
	}
	// The refused requests did not spend the code.
	if r := a.cookiePost(t, "/token", form, nil, nil); r.StatusCode != http.StatusOK || r.refreshCookie(t) == nil {
		t.Fatalf("exchange after the refusals: %d %s", r.StatusCode, r.Body)
	}
}

func TestCookieModeRefreshErrors(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))

	t.Run("a refresh token in the body is invalid_request", func(t *testing.T) {
		r := a.cookiePost(t, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {cookieClient}, "refresh_token": {ck.Value}}, ck, nil)
		checkError(t, r, http.StatusBadRequest, "invalid_request")
		if r.refreshCookie(t) != nil {
			t.Errorf("the refused request touched the cookie")
		}
		a.checkActive(t, sid, 1)
	})
	t.Run("no cookie is invalid_grant", func(t *testing.T) {
		r := a.cookieRefresh(t, nil, nil)
		checkError(t, r, http.StatusBadRequest, "invalid_grant")
		a.checkActive(t, sid, 1)
	})
	t.Run("a garbage cookie is invalid_grant and is cleared", func(t *testing.T) {
		r := a.cookieRefresh(t, &http.Cookie{Name: ck.Name, Value: "garbage"}, nil)
		checkError(t, r, http.StatusBadRequest, "invalid_grant")
		checkRefreshCookie(t, r.refreshCookie(t), false, true)
		a.checkActive(t, sid, 1)
	})
	t.Run("the refresh of an ended session clears the cookie", func(t *testing.T) {
		// The app logs out with its access token (no cookie needed).
		if r := a.send(t, http.MethodPost, "/logout", "", withBearer(first.JSON["access_token"].(string))); r.StatusCode != http.StatusOK {
			t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
		}
		r := a.cookieRefresh(t, ck, nil)
		checkError(t, r, http.StatusBadRequest, "invalid_grant")
		cleared := r.refreshCookie(t)
		checkRefreshCookie(t, cleared, false, true)
		if cleared != nil && cleared.Name != ck.Name {
			t.Errorf("cleared cookie %q, want %q", cleared.Name, ck.Name)
		}
	})
}

func TestCookieModeEndedSessionClearsTheCookieOverHTTPS(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{publicURL: "https://sb.example.com"})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	if _, err := a.store.RevokeUserSessions(t.Context(), a.subOf(t, first.JSON["access_token"].(string)), "test", a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r := a.cookieRefresh(t, ck, nil)
	checkError(t, r, http.StatusBadRequest, "invalid_grant")
	cleared := r.refreshCookie(t)
	checkRefreshCookie(t, cleared, true, true)
	if cleared != nil && cleared.Name != ck.Name {
		t.Errorf("cleared cookie %q, want %q (the name it was set with)", cleared.Name, ck.Name)
	}
}

func TestCookieModeLogout(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "https", false: "http"}[secure], func(t *testing.T) {
			t.Parallel()
			o := fullOptions{}
			if secure {
				o.publicURL = "https://sb.example.com"
			}
			a := fullApp(t, o)
			first, ck := a.cookieSignIn(t, "alice", "openid")
			sid := a.sidOf(t, first.JSON["access_token"].(string))
			other, _ := a.cookieSignIn(t, "alice", "openid")
			otherSID := a.sidOf(t, other.JSON["access_token"].(string))

			r := a.cookieLogout(t, ck, nil)
			if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(1) {
				t.Fatalf("cookie logout: %d %s, want 200 with one session ended", r.StatusCode, r.Body)
			}
			cleared := r.refreshCookie(t)
			checkRefreshCookie(t, cleared, secure, true)
			if cleared != nil && cleared.Name != ck.Name {
				t.Errorf("cleared cookie %q, want %q", cleared.Name, ck.Name)
			}
			a.checkRevoked(t, sid)
			a.checkActive(t, otherSID, 1)
			if r := a.cookieRefresh(t, ck, nil); r.StatusCode != http.StatusBadRequest || r.code() != "invalid_grant" {
				t.Errorf("refresh after logout: %d %s, want invalid_grant", r.StatusCode, r.Body)
			}
			// Logging out again, or without a cookie, ends nothing and
			// still clears.
			for _, rt := range []*http.Cookie{ck, nil} {
				r := a.cookieLogout(t, rt, nil)
				if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(0) {
					t.Errorf("second logout (cookie %v): %d %s, want 200 with none ended", rt != nil, r.StatusCode, r.Body)
				}
				checkRefreshCookie(t, r.refreshCookie(t), secure, true)
			}
		})
	}
}

// A cookie-mode logout of the other sessions keeps the caller's session,
// so it keeps its refresh cookie too (clearing it would sign the app out
// at its next refresh).
func TestCookieModeLogoutOfTheOtherSessionsKeepsTheCookie(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))
	spa := a.spaSignIn(t, "alice", "openid")
	r := a.cookiePost(t, "/logout", url.Values{"client_id": {cookieClient}, "scope": {"others"}}, ck, nil)
	if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(1) {
		t.Fatalf("cookie logout scope=others: %d %s", r.StatusCode, r.Body)
	}
	a.checkActive(t, sid, 1)
	a.checkRevoked(t, a.sidOf(t, spa.AccessToken))
	if c := r.refreshCookie(t); c != nil && c.MaxAge < 0 {
		t.Errorf("scope=others keeps the caller's session but deleted its refresh cookie (%s): the app can no longer refresh", c)
	}
}

func TestCookieModeLogoutOfAllSessions(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))
	spa := a.spaSignIn(t, "alice", "openid")
	bob := a.spaSignIn(t, "bob", "openid")
	r := a.cookiePost(t, "/logout", url.Values{"client_id": {cookieClient}, "scope": {"all"}}, ck, nil)
	if r.StatusCode != http.StatusOK || r.JSON["sessions_ended"] != float64(2) {
		t.Fatalf("cookie logout scope=all: %d %s, want two sessions ended", r.StatusCode, r.Body)
	}
	a.checkRevoked(t, sid)
	a.checkRevoked(t, a.sidOf(t, spa.AccessToken))
	a.checkActive(t, a.sidOf(t, bob.AccessToken), 1)
	checkRefreshCookie(t, r.refreshCookie(t), false, true)
}

func TestCookieModeLogoutRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range csrfRefusals {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				for _, scope := range []string{"", "all"} {
					form := url.Values{"client_id": {cookieClient}}
					if scope != "" {
						form.Set("scope", scope)
					}
					r := a.cookiePost(t, "/logout", form, ck, tt.edit)
					checkError(t, r, http.StatusBadRequest, "invalid_request")
					if c := r.refreshCookie(t); c != nil {
						t.Errorf("a refused logout touched the cookie: %s", c)
					}
				}
			})
		}
	})
	a.checkActive(t, sid, 1)
	if r := a.cookieRefresh(t, ck, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the refused logouts: %d %s", r.StatusCode, r.Body)
	}
}

func TestBodyModeClientIsUnaffectedByCookieMode(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{publicURL: "https://sb.example.com"})
	code, verifier := a.codeFor(t, "spa", spaRedirect, "alice", "openid")
	// No CSRF header, no Origin: a body-mode client needs neither.
	r := a.send(t, http.MethodPost, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	}.Encode(), nil)
	rt, _ := r.JSON["refresh_token"].(string)
	if r.StatusCode != http.StatusOK || rt == "" || len(r.Cookies()) != 0 {
		t.Fatalf("spa exchange: %d %s, cookies %v; want the refresh token in the body and no cookie", r.StatusCode, r.Body, r.Header.Values("Set-Cookie"))
	}
	r = a.send(t, http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}.Encode(), nil)
	if next, _ := r.JSON["refresh_token"].(string); r.StatusCode != http.StatusOK || next == "" || next == rt || len(r.Cookies()) != 0 {
		t.Fatalf("spa refresh: %d %s, cookies %v", r.StatusCode, r.Body, r.Header.Values("Set-Cookie"))
	}
	// A failed refresh does not clear anything either.
	r = a.send(t, http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {"garbage"}}.Encode(), nil)
	if r.StatusCode != http.StatusBadRequest || len(r.Cookies()) != 0 {
		t.Fatalf("spa refresh with garbage: %d, cookies %v", r.StatusCode, r.Header.Values("Set-Cookie"))
	}
}

func TestCookieModeCORS(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	tests := []struct {
		name, path, origin string
		allowed            bool
		credentials        bool
	}{
		{"the cookie app's origin may send the CSRF header with credentials to /token", "/token", cookieOrigin, true, true},
		{"the cookie app's origin may send the CSRF header with credentials to /logout", "/logout", cookieOrigin, true, true},
		{"a body-mode app's origin gets no credentials", "/token", "https://spa.example.com", true, false},
		{"another origin gets no CORS headers", "/token", "https://evil.example.com", false, false},
		{"a near miss of the cookie app's origin gets no CORS headers", "/logout", "http://app.example.com", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := a.send(t, http.MethodOptions, tt.path, "", func(r *http.Request) {
				r.Header.Set("Origin", tt.origin)
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "content-type, "+strings.ToLower(web.CSRFHeader))
			})
			h := r.Header
			if !tt.allowed {
				if r.StatusCode == http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Credentials") != "" ||
					h.Get("Access-Control-Allow-Headers") != "" {
					t.Fatalf("preflight: %d %v, want it refused without CORS headers", r.StatusCode, h)
				}
				return
			}
			if r.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != tt.origin ||
				!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), strings.ToLower(web.CSRFHeader)) ||
				!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
				t.Fatalf("preflight: %d %v, want it allowed with the CSRF header", r.StatusCode, h)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); (got == "true") != tt.credentials {
				t.Errorf("Access-Control-Allow-Credentials = %q, want credentials %v", got, tt.credentials)
			}
			if !strings.Contains(h.Get("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin", h.Get("Vary"))
			}
		})
	}
	t.Run("the actual cookie-mode response allows credentials", func(t *testing.T) {
		t.Parallel()
		r, _ := a.cookieSignIn(t, "alice", "openid")
		if r.Header.Get("Access-Control-Allow-Origin") != cookieOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("token response headers %v, want the cookie app's origin with credentials", r.Header)
		}
	})
}

// A cookie-mode logout that fails for a reason other than the cookie
// itself (a bad parameter here; a database error likewise) leaves the
// session, so it leaves the cookie for a retry.
func TestCookieModeLogoutThatFailsKeepsTheCookie(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	sid := a.sidOf(t, first.JSON["access_token"].(string))
	r := a.cookiePost(t, "/logout", url.Values{"client_id": {cookieClient}, "scope": {"bogus"}}, ck, nil)
	checkError(t, r, http.StatusBadRequest, "invalid_request")
	if c := r.refreshCookie(t); c != nil {
		t.Errorf("a refused logout touched the cookie: %s", c)
	}
	a.checkActive(t, sid, 1)
	if r := a.cookieRefresh(t, ck, nil); r.StatusCode != http.StatusOK {
		t.Errorf("refresh after the refused logout: %d %s", r.StatusCode, r.Body)
	}
}

// A second sign-in in the same browser replaces the refresh cookie, and
// ends the session the old cookie held instead of leaving it active.
func TestCookieModeSignInAgainEndsTheReplacedSession(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first, ck := a.cookieSignIn(t, "alice", "openid")
	oldSID := a.sidOf(t, first.JSON["access_token"].(string))
	code, verifier := a.codeFor(t, cookieClient, cookieRedirect, "alice", "openid")
	r := a.cookiePost(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cookieRedirect},
		"client_id": {cookieClient}, "code_verifier": {verifier},
	}, ck, nil)
	if r.StatusCode != http.StatusOK || r.refreshCookie(t) == nil {
		t.Fatalf("second cookie-mode sign-in: %d %s", r.StatusCode, r.Body)
	}
	a.checkRevoked(t, oldSID)
	a.checkActive(t, a.sidOf(t, r.JSON["access_token"].(string)), 1)
}
