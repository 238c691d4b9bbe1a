package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// asRS authenticates as the introspecting backend with HTTP Basic.
func asRS(r *http.Request) { r.SetBasicAuth(rsClient, rsSecret) }

// introspect posts form to /introspect, the request edited by edit.
func (a *app) introspect(t testing.TB, form url.Values, edit func(*http.Request)) reply {
	t.Helper()
	return a.send(t, http.MethodPost, "/introspect", form.Encode(), edit)
}

func TestIntrospectionAuthenticatesTheBackend(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	tr := a.spaSignIn(t, "alice", "openid")
	tok := url.Values{"token": {tr.AccessToken}}
	with := func(extra url.Values) url.Values {
		f := url.Values{"token": {tr.AccessToken}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	tests := []struct {
		name   string
		form   url.Values
		edit   func(*http.Request)
		status int
		code   string
		// basicChallenge: a 401 after Basic credentials names Basic.
		basicChallenge bool
	}{
		{"HTTP Basic credentials", tok, asRS, 200, "", false},
		{"client_secret_post credentials", with(url.Values{"client_id": {rsClient}, "client_secret": {rsSecret}}), nil, 200, "", false},
		{"a public client is invalid_client", with(url.Values{"client_id": {"spa"}}), nil, 401, "invalid_client", false},
		{"a public client with a secret is invalid_client", tok, func(r *http.Request) { r.SetBasicAuth("spa", "guess") }, 401, "invalid_client", true},
		{"a client without introspection is unauthorized_client", tok, func(r *http.Request) { r.SetBasicAuth("backend", backendSecret) }, 403, "unauthorized_client", false},
		{"a wrong secret is invalid_client", tok, func(r *http.Request) { r.SetBasicAuth(rsClient, "wrong") }, 401, "invalid_client", true},
		{"an unknown client is invalid_client", tok, func(r *http.Request) { r.SetBasicAuth("nobody", "x") }, 401, "invalid_client", true},
		{"no credentials is invalid_client", tok, nil, 401, "invalid_client", false},
		{"two authentication methods are invalid_request", with(url.Values{"client_secret": {rsSecret}}), asRS, 400, "invalid_request", false},
		{"a missing token is invalid_request", url.Values{}, asRS, 400, "invalid_request", false},
		{"an empty token is invalid_request", url.Values{"token": {""}}, asRS, 400, "invalid_request", false},
		{"a repeated token is invalid_request", url.Values{"token": {tr.AccessToken, tr.AccessToken}}, asRS, 400, "invalid_request", false},
		{"a JSON body is invalid_request", nil, func(r *http.Request) {
			asRS(r)
			r.Header.Set("Content-Type", "application/json")
		}, 400, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := tt.form
			if form == nil {
				form = url.Values{"x": {"{}"}}
			}
			r := a.introspect(t, form, tt.edit)
			if tt.status == http.StatusOK {
				if r.StatusCode != http.StatusOK || r.JSON["active"] != true {
					t.Fatalf("got %d %s, want an active token", r.StatusCode, r.Body)
				}
				return
			}
			checkError(t, r, tt.status, tt.code)
			if got := r.Header.Get("WWW-Authenticate"); tt.basicChallenge && !strings.HasPrefix(got, "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got)
			}
		})
	}
}

func TestIntrospectionAnswers(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	live := a.spaSignIn(t, "alice", "openid email")
	ended := a.spaSignIn(t, "alice", "openid")
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(ended.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	rotated := a.spaSignIn(t, "alice", "openid")
	if resp, _ := a.refreshSPA(t, rotated.RefreshToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}

	t.Run("a live access token is active with its claims", func(t *testing.T) {
		t.Parallel()
		r := a.introspect(t, url.Values{"token": {live.AccessToken}, "token_type_hint": {"access_token"}}, asRS)
		claims, _ := a.issuer.ParseAccess(live.AccessToken)
		want := map[string]any{
			"active": true, "token_type": "Bearer", "sub": claims.Subject, "client_id": "spa", "sid": claims.SessionID,
			"iss": a.url, "scope": "openid email", "email": "alice@example.com", "idp": "dev", "exp": float64(claims.Expiry.Unix()),
		}
		if r.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %d %s", r.StatusCode, r.Body)
		}
		for k, v := range want {
			if r.JSON[k] != v {
				t.Errorf("%s = %v, want %v", k, r.JSON[k], v)
			}
		}
		if cc, p := r.Header.Get("Cache-Control"), r.Header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
			t.Errorf("Cache-Control = %q, Pragma = %q; want no-store, no-cache", cc, p)
		}
	})
	inactive := []struct {
		name, token string
	}{
		{"a garbage token", "garbage"},
		{"the access token of an ended session", ended.AccessToken},
		{"the refresh token of an ended session", ended.RefreshToken},
		{"a rotated-out refresh token", rotated.RefreshToken},
		{"a refresh token issued to another client", live.RefreshToken},
		{"an ID token", live.IDToken},
		{"a tampered access token", tamperSignature(live.AccessToken)},
	}
	for _, tt := range inactive {
		t.Run(tt.name+" is exactly {\"active\":false}", func(t *testing.T) {
			t.Parallel()
			r := a.introspect(t, url.Values{"token": {tt.token}}, asRS)
			if r.StatusCode != http.StatusOK || strings.TrimSpace(r.Body) != `{"active":false}` {
				t.Fatalf("introspect: %d %q, want 200 {\"active\":false}", r.StatusCode, r.Body)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
		})
	}
}

func TestIntrospectionOfAnExpiredAccessTokenIsInactive(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	tr := a.spaSignIn(t, "alice", "openid")
	a.clock.Add(16 * time.Minute)
	r := a.introspect(t, url.Values{"token": {tr.AccessToken}}, asRS)
	if r.StatusCode != http.StatusOK || strings.TrimSpace(r.Body) != `{"active":false}` {
		t.Fatalf("introspect an expired token: %d %q", r.StatusCode, r.Body)
	}
}

// feedBody is the JSON of GET /revocations.
type feedBody struct {
	Reset    bool   `json:"reset"`
	Cursor   string `json:"cursor"`
	More     bool   `json:"more"`
	Window   int64  `json:"window"`
	Sessions []struct {
		SID       string `json:"sid"`
		Subject   string `json:"sub"`
		RevokedAt int64  `json:"revoked_at"`
		Until     int64  `json:"until"`
	} `json:"sessions"`
	Users []struct {
		Subject   string `json:"sub"`
		NotBefore int64  `json:"not_before"`
		Until     int64  `json:"until"`
	} `json:"users"`
}

// sids are the session ids of a feed.
func (f feedBody) sids() []string {
	var out []string
	for _, s := range f.Sessions {
		out = append(out, s.SID)
	}
	slices.Sort(out)
	return out
}

// feed reads the revocation feed as rs with query, sending ifNoneMatch
// when set.
func (a *app) feed(t testing.TB, query, ifNoneMatch string) (reply, feedBody) {
	t.Helper()
	r := a.send(t, http.MethodGet, "/revocations"+query, "", func(r *http.Request) {
		asRS(r)
		if ifNoneMatch != "" {
			r.Header.Set("If-None-Match", ifNoneMatch)
		}
	})
	var f feedBody
	if r.StatusCode == http.StatusOK {
		decodeInto(t, r.Body, &f)
	}
	return r, f
}

func TestRevocationFeedRefusals(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	future := "v1.c." + strings.Repeat("9", 15)
	tests := []struct {
		name   string
		query  string
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"no credentials are 401 with a Basic challenge", "", nil, 401, "invalid_client"},
		{"credentials in the query are not read", "?client_id=rs&client_secret=" + rsSecret, nil, 401, "invalid_client"},
		{"Bearer credentials are 401", "", withBearer(rsSecret), 401, "invalid_client"},
		{"a wrong secret is invalid_client", "", func(r *http.Request) { r.SetBasicAuth(rsClient, "wrong") }, 401, "invalid_client"},
		{"a public client is invalid_client", "", func(r *http.Request) { r.SetBasicAuth("spa", "") }, 401, "invalid_client"},
		{"a client without introspection is unauthorized_client", "", func(r *http.Request) { r.SetBasicAuth("backend", backendSecret) }, 403, "unauthorized_client"},
		{"an unknown parameter is invalid_request", "?since=0", asRS, 400, "invalid_request"},
		{"a repeated cursor is invalid_request", "?cursor=v1.c.1&cursor=v1.c.1", asRS, 400, "invalid_request"},
		{"a garbage cursor is invalid_request", "?cursor=garbage", asRS, 400, "invalid_request"},
		{"a cursor of another version is invalid_request", "?cursor=v2.c.1", asRS, 400, "invalid_request"},
		{"a cursor of another kind is invalid_request", "?cursor=v1.x.1", asRS, 400, "invalid_request"},
		{"a negative cursor is invalid_request", "?cursor=v1.c.-5", asRS, 400, "invalid_request"},
		{"a cursor that is not a number is invalid_request", "?cursor=v1.c.12ab", asRS, 400, "invalid_request"},
		{"a cursor in the future is invalid_request", "?cursor=" + future, asRS, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := a.send(t, http.MethodGet, "/revocations"+tt.query, "", tt.edit)
			checkError(t, r, tt.status, tt.code)
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRevocationFeedETagAndNewEntries(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	first := a.spaSignIn(t, "alice", "openid")
	second := a.spaSignIn(t, "alice", "openid")

	r, f := a.feed(t, "", "")
	if r.StatusCode != http.StatusOK || !f.Reset || len(f.Sessions) != 0 || len(f.Users) != 0 || f.Cursor == "" || f.Window <= 0 {
		t.Fatalf("empty feed: %d %s", r.StatusCode, r.Body)
	}
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
		t.Fatalf("ETag = %q, want a strong entity tag", etag)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "private, no-cache" {
		t.Errorf("Cache-Control = %q, want private, no-cache", cc)
	}

	t.Run("an unchanged feed is 304 without a body", func(t *testing.T) {
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			r, _ := a.feed(t, "", inm)
			if r.StatusCode != http.StatusNotModified || r.Body != "" || r.Header.Get("ETag") != etag {
				t.Errorf("If-None-Match %s: %d %q ETag %q, want 304 without a body and the same ETag", inm, r.StatusCode, r.Body, r.Header.Get("ETag"))
			}
		}
		if r, _ := a.feed(t, "", `"other"`); r.StatusCode != http.StatusOK {
			t.Errorf("If-None-Match of another ETag: %d, want 200", r.StatusCode)
		}
	})

	// A logout adds the session.
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(first.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	r, f = a.feed(t, "", etag)
	sid := a.sidOf(t, first.AccessToken)
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag || !slices.Equal(f.sids(), []string{sid}) {
		t.Fatalf("feed after a logout with the old ETag: %d %s, want 200 with session %s", r.StatusCode, r.Body, sid)
	}
	entry := f.Sessions[0]
	if entry.Subject != a.subOf(t, first.AccessToken) || entry.RevokedAt == 0 || entry.Until != entry.RevokedAt+f.Window {
		t.Errorf("entry %+v, want alice's session with until = revoked_at + window (%d)", entry, f.Window)
	}
	etag = r.Header.Get("ETag")
	if r, _ := a.feed(t, "", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("the new ETag: %d, want 304", r.StatusCode)
	}

	// Someone else's session is there too after it ends.
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(second.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	r, f = a.feed(t, "", etag)
	want := []string{sid, a.sidOf(t, second.AccessToken)}
	slices.Sort(want)
	if r.StatusCode != http.StatusOK || !slices.Equal(f.sids(), want) {
		t.Fatalf("feed after a second logout: %d %s, want sessions %v", r.StatusCode, r.Body, want)
	}
}

func TestRevocationFeedCursorReturnsOnlyNewEntries(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	old := a.spaSignIn(t, "alice", "openid")
	next := a.spaSignIn(t, "bob", "openid")
	oldSID, nextSID := a.sidOf(t, old.AccessToken), a.sidOf(t, next.AccessToken)
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(old.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	_, full := a.feed(t, "", "")
	if !full.Reset || !slices.Equal(full.sids(), []string{oldSID}) {
		t.Fatalf("full feed %+v, want reset with %s", full, oldSID)
	}
	// Caught up, a cursor reads the overlap again: the entry comes back,
	// as a set member, and not as a reset.
	_, again := a.feed(t, "?cursor="+url.QueryEscape(full.Cursor), "")
	if again.Reset || !slices.Equal(again.sids(), []string{oldSID}) {
		t.Errorf("feed at the cursor right away %+v, want the overlap without reset", again)
	}

	// Two minutes on, past the overlap, the backend polls and gets a
	// cursor beyond alice's entry; then bob's session ends.
	a.clock.Add(2 * time.Minute)
	_, quiet := a.feed(t, "?cursor="+url.QueryEscape(full.Cursor), "")
	if quiet.Reset || quiet.Cursor == "" {
		t.Fatalf("quiet feed %+v", quiet)
	}
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(next.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Body)
	}
	r, news := a.feed(t, "?cursor="+url.QueryEscape(quiet.Cursor), "")
	if r.StatusCode != http.StatusOK || news.Reset || !slices.Equal(news.sids(), []string{nextSID}) {
		t.Fatalf("feed at the cursor after bob's logout: %d %s, want only %s without reset", r.StatusCode, r.Body, nextSID)
	}
	// The same poll again is unchanged: 304.
	if r2, _ := a.feed(t, "?cursor="+url.QueryEscape(quiet.Cursor), r.Header.Get("ETag")); r2.StatusCode != http.StatusNotModified {
		t.Errorf("the same cursor with its ETag: %d, want 304", r2.StatusCode)
	}
	// A cursor older than the window is a reset with the whole feed.
	a.clock.Add(time.Hour)
	_, reset := a.feed(t, "?cursor="+url.QueryEscape(full.Cursor), "")
	if !reset.Reset {
		t.Errorf("feed at a cursor older than the window %+v, want a reset", reset)
	}
}
