package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
	"github.com/socialbridge/socialbridge/web"
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

// beginLink asks for a link of other with access (POST /account/links)
// and returns the answer and the verifier the application keeps.
func (a *app) beginLink(t testing.TB, access string) (apiResponse, string) {
	t.Helper()
	verifier, challenge := pkce()
	r := a.call(t, http.MethodPost, "/account/links", access, "", url.Values{
		"provider": {"other"}, "redirect_uri": {spaRedirect}, "state": {"link-state"}, "code_challenge": {challenge},
	}.Encode(), nil)
	return r, verifier
}

// pageResponse is a response a browser shows, with its body read.
type pageResponse struct {
	*http.Response
	Body string
}

// cookie returns the cookie the response sets whose name starts with
// prefix (nil when none).
func (r pageResponse) cookie(prefix string) *http.Cookie {
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	return nil
}

// readPage reads and closes resp.
func readPage(t testing.TB, resp *http.Response) pageResponse {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return pageResponse{Response: resp, Body: string(body)}
}

// openLinkPage opens a link's start URL in browser.
func (a *app) openLinkPage(t testing.TB, browser *http.Client, location string) pageResponse {
	t.Helper()
	resp, err := browser.Get(location)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

// answerLinkPage is the start page's form sent from browser: ticket and
// decision (continue or cancel), the request edited by edit (nil: as
// is).
func (a *app) answerLinkPage(t testing.TB, browser *http.Client, ticket, decision string, edit func(*http.Request)) pageResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url+"/link/start", strings.NewReader(url.Values{"ticket": {ticket}, "decision": {decision}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

// ticketOf returns the ticket of a start URL and the flow it names.
func ticketOf(t testing.TB, location string) (ticket, flowID string) {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	ticket = u.Query().Get("ticket")
	flowID, _, ok := strings.Cut(ticket, ".")
	if !ok {
		t.Fatalf("start URL %s carries no ticket", location)
	}
	return ticket, flowID
}

// flowState returns the state of a flow in the store.
func (a *app) flowState(t testing.TB, flowID string) string {
	t.Helper()
	flow, err := a.store.GetSession(context.Background(), flowID)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", flowID, err)
	}
	return flow.State
}

// browseLink is the browser part of a link: open the start URL, confirm
// on the page, approve at other, come back. It returns where the browser
// ends.
func (a *app) browseLink(t testing.TB, location string) *url.URL {
	t.Helper()
	browser := a.browser(t)
	if pg := a.openLinkPage(t, browser, location); pg.StatusCode != http.StatusOK {
		t.Fatalf("GET /link/start: %d, want the start page", pg.StatusCode)
	}
	ticket, _ := ticketOf(t, location)
	resp := a.answerLinkPage(t, browser, ticket, "continue", nil)
	to, err := resp.Location()
	if err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("POST /link/start: %d to %v, want a redirect to the provider", resp.StatusCode, to)
	}
	return a.otherCallback(t, browser, to)
}

// otherCallback is other's callback in browser, approving the request the
// browser was sent to at to; it returns where the browser ends.
func (a *app) otherCallback(t testing.TB, browser *http.Client, to *url.URL) *url.URL {
	t.Helper()
	resp, err := browser.Get(a.url + "/callback/other?" + url.Values{"state": {to.Query().Get("state")}, "code": {"other-code"}}.Encode())
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

// startOtherLink runs the first three steps of a link of other for the
// session of access and returns the link code the application gets back
// and its verifier.
func (a *app) startOtherLink(t testing.TB, access string) (code, verifier string) {
	t.Helper()
	r, verifier := a.beginLink(t, access)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/links: %d %v", r.StatusCode, r.JSON)
	}
	back := a.browseLink(t, r.JSON["location"].(string))
	if code = back.Query().Get("link_code"); code == "" {
		t.Fatalf("the link ended at %s, want a link code", back)
	}
	return code, verifier
}

// completeLink is the last step of a link (POST /account/identities).
func (a *app) completeLink(t testing.TB, access, code, verifier string) apiResponse {
	t.Helper()
	return a.call(t, http.MethodPost, "/account/identities", access, "", url.Values{
		"link_code": {code}, "code_verifier": {verifier},
	}.Encode(), nil)
}

// linkOther links the other provider to the user of access in four steps
// and returns the identity the completion answered with.
func (a *app) linkOther(t testing.TB, access string) map[string]any {
	t.Helper()
	code, verifier := a.startOtherLink(t, access)
	r := a.completeLink(t, access, code, verifier)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("POST /account/identities: %d %v, want 201", r.StatusCode, r.JSON)
	}
	return r.JSON
}

// errorCode is the error of a JSON error body.
func (r apiResponse) errorCode() string {
	code, _ := r.JSON["error"].(string)
	return code
}

// accountEndpoints are the account endpoints, each with a body that
// would be valid from a session with the account scope.
func accountEndpoints() []struct{ method, path, body string } {
	_, challenge := pkce()
	return []struct{ method, path, body string }{
		{http.MethodGet, "/account/identities", ""},
		{http.MethodPost, "/account/links", url.Values{"provider": {"other"}, "redirect_uri": {spaRedirect}, "code_challenge": {challenge}}.Encode()},
		{http.MethodPost, "/account/identities", url.Values{"link_code": {"AAAAAAAAAAAAAAAAAAAAAA.AAAA"}, "code_verifier": {strings.Repeat("v", 43)}}.Encode()},
		{http.MethodDelete, "/account/identities/dev", ""},
	}
}

func TestAccountEndpointsNeedABearerToken(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	valid := a.accountSignIn(t)
	revoked := a.accountSignIn(t)
	if resp, _ := a.post(t, "/revoke", url.Values{"token": {revoked.RefreshToken}, "client_id": {"spa"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
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
	for _, ep := range accountEndpoints() {
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

func TestAccountEndpointsNeedTheAccountScope(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	plain := a.signIn(t) // openid email profile
	for _, ep := range accountEndpoints() {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			t.Parallel()
			r := a.call(t, ep.method, ep.path, plain.AccessToken, "", ep.body, nil)
			if r.StatusCode != http.StatusForbidden || r.errorCode() != "insufficient_scope" {
				t.Fatalf("got %d %v, want 403 insufficient_scope", r.StatusCode, r.JSON)
			}
			if got, want := r.Header.Get("WWW-Authenticate"), `Bearer error="insufficient_scope", scope="account", error_description="`; !strings.HasPrefix(got, want) {
				t.Errorf("WWW-Authenticate = %q, want it to start %q (RFC 6750 §3.1)", got, want)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.Header.Get("Cache-Control"))
			}
		})
	}
}

// sameScope reports whether two scope strings name the same scopes, in
// any order (RFC 6749 §3.3).
func sameScope(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestARefreshNarrowsTheAccessTokenOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	full := a.accountSignIn(t)
	refresh := func(refreshToken, scope string) (*http.Response, tokenResponse) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {"spa"}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return a.post(t, "/token", form)
	}

	// The application asks for a token for its own API, without account.
	resp, narrow := refresh(full.RefreshToken, "openid email profile")
	if resp.StatusCode != http.StatusOK || !sameScope(narrow.Scope, "openid email profile") {
		t.Fatalf("refresh with a narrower scope: %d, scope %q %s, want scope openid email profile", resp.StatusCode, narrow.Scope, narrow.Error)
	}
	if at, err := a.issuer.ParseAccess(narrow.AccessToken); err != nil || !sameScope(at.Scope, "openid email profile") {
		t.Errorf("the narrowed access token's scope = %q (%v), want openid email profile", at.Scope, err)
	}
	for _, ep := range accountEndpoints() {
		r := a.call(t, ep.method, ep.path, narrow.AccessToken, "", ep.body, nil)
		if r.StatusCode != http.StatusForbidden || r.errorCode() != "insufficient_scope" {
			t.Errorf("%s %s with the narrowed token: %d %v, want 403 insufficient_scope", ep.method, ep.path, r.StatusCode, r.JSON)
		}
	}
	if r := a.call(t, http.MethodGet, "/account/identities", full.AccessToken, "", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("GET /account/identities with the full token: %d %v, want 200", r.StatusCode, r.JSON)
	}

	// Its refresh token still carries the whole grant.
	resp, again := refresh(narrow.RefreshToken, "")
	if resp.StatusCode != http.StatusOK || !sameScope(again.Scope, accountScope) {
		t.Fatalf("refresh without scope after narrowing: %d, scope %q %s, want scope %q", resp.StatusCode, again.Scope, again.Error, accountScope)
	}
	if r := a.call(t, http.MethodGet, "/account/identities", again.AccessToken, "", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("GET /account/identities with the token refreshed without scope: %d %v, want 200", r.StatusCode, r.JSON)
	}

	// Widening is refused.
	if resp, wide := refresh(again.RefreshToken, accountScope+" offline_access"); resp.StatusCode != http.StatusBadRequest || wide.Error != "invalid_scope" {
		t.Errorf("refresh with a wider scope: %d %q, want 400 invalid_scope", resp.StatusCode, wide.Error)
	}
}

func TestAnAccessTokenOfAClientThatMayNotManageAccountsIs403(t *testing.T) {
	t.Parallel()
	// A token with the account scope whose client may not manage accounts
	// (account_management was turned off after it was issued): the token
	// is valid, it just may not do this.
	a := accountApp(t)
	tr := a.accountSignIn(t)
	at, err := a.issuer.ParseAccess(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, client := range []string{"backend", "reports"} {
		access, _, err := a.issuer.MintAccess(tokens.Access{
			Subject: at.Subject, ClientID: client, SessionID: at.SessionID, Scope: accountScope, AuthTime: at.AuthTime, TTL: 15 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range accountEndpoints() {
			r := a.call(t, ep.method, ep.path, access, "", ep.body, nil)
			if r.StatusCode != http.StatusForbidden || r.errorCode() != "insufficient_scope" {
				t.Errorf("%s: %s %s: %d %v, want 403 insufficient_scope", client, ep.method, ep.path, r.StatusCode, r.JSON)
			}
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="insufficient_scope"`) {
				t.Errorf("%s: %s %s: WWW-Authenticate = %q, want an insufficient_scope challenge", client, ep.method, ep.path, got)
			}
		}
	}
	// The same session's own token still works.
	if r := a.call(t, http.MethodGet, "/account/identities", tr.AccessToken, "", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("GET /account/identities with the SPA's token: %d %v, want 200", r.StatusCode, r.JSON)
	}
}

func TestAccountChangesNeedARecentSignInOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.accountSignIn(t)
	a.clock.Add(11 * time.Minute) // the access token lives 15
	for _, ep := range accountEndpoints() {
		r := a.call(t, ep.method, ep.path, tr.AccessToken, "", ep.body, nil)
		if ep.method == http.MethodGet {
			if r.StatusCode != http.StatusOK {
				t.Errorf("%s %s: %d %v, want 200: listing needs no recent sign-in", ep.method, ep.path, r.StatusCode, r.JSON)
			}
			continue
		}
		if r.StatusCode != http.StatusUnauthorized || r.errorCode() != "insufficient_user_authentication" {
			t.Errorf("%s %s: %d %v, want 401 insufficient_user_authentication", ep.method, ep.path, r.StatusCode, r.JSON)
			continue
		}
		// RFC 9470 §3: the challenge says how recent a sign-in must be.
		if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="insufficient_user_authentication"`) || !strings.Contains(got, "max_age=600") {
			t.Errorf("%s %s: WWW-Authenticate = %q, want insufficient_user_authentication with max_age=600", ep.method, ep.path, got)
		}
	}
	// Signing in again is enough.
	again := a.accountSignIn(t)
	if r, _ := a.beginLink(t, again.AccessToken); r.StatusCode != http.StatusOK {
		t.Errorf("POST /account/links after a new sign-in: %d %v, want 200", r.StatusCode, r.JSON)
	}
}

func TestLinkingOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.accountSignIn(t)

	// Step 1: the application asks for a link with its PKCE challenge.
	r, verifier := a.beginLink(t, tr.AccessToken)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/links: %d %v", r.StatusCode, r.JSON)
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

	// Step 2: the browser opens the start URL, a page that says which
	// account of which provider would join whose account, for which
	// application; it changes nothing.
	ticket, flowID := ticketOf(t, location)
	browser := a.browser(t)
	pg := a.openLinkPage(t, browser, location)
	if pg.StatusCode != http.StatusOK || !strings.HasPrefix(pg.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /link/start: %d %s, want the start page", pg.StatusCode, pg.Header.Get("Content-Type"))
	}
	for _, want := range []string{"Example SPA", "Other account", `id="link-account">alice@example.com<`,
		`name="ticket" value="` + ticket + `"`, `name="decision" value="continue"`, `name="decision" value="cancel"`} {
		if !strings.Contains(pg.Body, want) {
			t.Errorf("the start page does not contain %q", want)
		}
	}
	if pg.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /link/start Cache-Control = %q, want no-store", pg.Header.Get("Cache-Control"))
	}
	linkCookie := pg.cookie("sb_link_")
	if linkCookie == nil || linkCookie.Name != "sb_link_"+flowID || !linkCookie.HttpOnly || linkCookie.SameSite != http.SameSiteStrictMode ||
		linkCookie.Path != "/link/start" || linkCookie.MaxAge != 600 || linkCookie.Value == "" || strings.Contains(ticket, linkCookie.Value) {
		t.Errorf("link cookie = %v, want sb_link_%s, HttpOnly, SameSite=Strict, Path=/link/start, for the flow lifetime, not the ticket", linkCookie, flowID)
	}
	if c := pg.cookie("sb_flow_"); c != nil {
		t.Errorf("the start page bound the flow already: %v", c)
	}
	if got := a.flowState(t, flowID); got != store.StateReady {
		t.Errorf("the flow after its start page is %s, want ready", got)
	}

	// The person continues: the browser gets the flow's cookie and goes
	// to the provider.
	resp := a.answerLinkPage(t, browser, ticket, "continue", nil)
	to, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("POST /link/start: %d to %v, want 303 to the provider", resp.StatusCode, to)
	}
	if to.Query().Get("prompt") != "select_account" || to.Query().Get("redirect_uri") != a.url+"/callback/other" {
		t.Errorf("provider request = %v, want prompt=select_account and our callback", to.Query())
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST /link/start Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	flowCookie := resp.cookie("sb_flow_")
	if flowCookie == nil || !flowCookie.HttpOnly || flowCookie.SameSite != http.SameSiteLaxMode || flowCookie.MaxAge != 600 || flowCookie.Value == "" {
		t.Fatalf("flow cookie = %+v, want an HttpOnly, SameSite=Lax cookie for the flow lifetime", flowCookie)
	}
	if c := resp.cookie("sb_link_"); c == nil || c.Name != "sb_link_"+flowID || c.MaxAge >= 0 || c.Path != "/link/start" {
		t.Errorf("the link cookie after confirming = %v, want it deleted", c)
	}
	if got := a.flowState(t, flowID); got != store.StatePending {
		t.Errorf("the flow after confirming is %s, want pending", got)
	}

	// The start URL works once.
	again := a.openLinkPage(t, a.browser(t), location)
	if again.StatusCode != http.StatusBadRequest || !strings.Contains(again.Body, "already used") || again.cookie("sb_link_") != nil {
		t.Errorf("second GET /link/start: %d with cookies %v, want 400 with the already-used page and no cookie", again.StatusCode, again.Cookies())
	}

	// Step 3: the provider sends the first browser back; it brings the
	// application a link code, and nothing is linked yet.
	back := a.otherCallback(t, browser, to)
	if !strings.HasPrefix(back.String(), spaRedirect+"?") {
		t.Fatalf("callback to %v, want the SPA", back)
	}
	q := back.Query()
	code := q.Get("link_code")
	if code == "" || q.Get("state") != "link-state" || q.Get("iss") != a.url || q.Has("error") || q.Has("code") {
		t.Fatalf("back at the SPA with %v, want a link_code, the state and our issuer", q)
	}
	if list := a.call(t, http.MethodGet, "/account/identities", tr.AccessToken, "", "", nil); len(list.JSON["identities"].([]any)) != 1 {
		t.Errorf("identities before the completion = %v, want dev only", list.JSON)
	}

	// Step 4: only the application's verifier completes the link, once.
	if r := a.completeLink(t, tr.AccessToken, code, strings.Repeat("w", 43)); r.StatusCode != http.StatusBadRequest || r.errorCode() != "invalid_grant" {
		t.Errorf("completing with a wrong verifier: %d %v, want 400 invalid_grant", r.StatusCode, r.JSON)
	}
	r = a.completeLink(t, tr.AccessToken, code, verifier)
	if r.StatusCode != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /account/identities: %d %v (Cache-Control %q), want 201", r.StatusCode, r.JSON, r.Header.Get("Cache-Control"))
	}
	if r.JSON["provider"] != "other" || r.JSON["label"] != "Other" || r.JSON["email"] != "alice@other.example" || r.JSON["name"] != "Alice at Other" || r.JSON["linked_at"] == nil {
		t.Errorf("the linked identity = %v", r.JSON)
	}
	for _, secret := range []string{"access_token", "refresh_token", "subject"} {
		if _, ok := r.JSON[secret]; ok {
			t.Errorf("the linked identity comes with %s", secret)
		}
	}
	if r := a.completeLink(t, tr.AccessToken, code, verifier); r.StatusCode != http.StatusBadRequest || r.errorCode() != "invalid_grant" {
		t.Errorf("completing again: %d %v, want 400 invalid_grant", r.StatusCode, r.JSON)
	}
	if _, secret, _ := strings.Cut(code, "."); strings.Contains(a.logs.String(), secret) {
		t.Error("the link code reached the log")
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

func TestCompletingALinkOfAnIdentityTakenMeanwhileIs409(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.accountSignIn(t)
	code, verifier := a.startOtherLink(t, tr.AccessToken)
	// Before the application completes, the account at other signs in on
	// its own and becomes another user.
	_, challenge := pkce()
	browser := a.browser(t)
	resp, err := browser.Get(a.authorizeURL(challenge, "other"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	to, err := resp.Location()
	if err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("GET /authorize with other: %d to %v", resp.StatusCode, to)
	}
	if back := a.otherCallback(t, browser, to); back.Query().Get("code") == "" {
		t.Fatalf("the sign-in with other ended at %s", back)
	}

	r := a.completeLink(t, tr.AccessToken, code, verifier)
	if r.StatusCode != http.StatusConflict || r.errorCode() != "identity_in_use" {
		t.Fatalf("POST /account/identities: %d %v, want 409 identity_in_use", r.StatusCode, r.JSON)
	}
	if r := a.call(t, http.MethodGet, "/account/identities", tr.AccessToken, "", "", nil); len(r.JSON["identities"].([]any)) != 1 {
		t.Errorf("identities = %v, want dev only", r.JSON)
	}
}

func TestAccountErrorsOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	tr := a.accountSignIn(t)
	_, challenge := pkce()
	link := func(edit func(url.Values)) string {
		form := url.Values{"provider": {"other"}, "redirect_uri": {spaRedirect}, "code_challenge": {challenge}}
		edit(form)
		return form.Encode()
	}
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
	}{
		{"deleting the only identity is 409 last_identity", http.MethodDelete, "/account/identities/dev", "", "", http.StatusConflict, "last_identity"},
		{"deleting a provider the user has not linked is 404 not_linked", http.MethodDelete, "/account/identities/other", "", "", http.StatusNotFound, "not_linked"},
		{"linking a provider the user has is 409 already_linked", http.MethodPost, "/account/links", "",
			link(func(f url.Values) { f.Set("provider", "dev") }), http.StatusConflict, "already_linked"},
		{"a JSON body is 400 invalid_request", http.MethodPost, "/account/links", "application/json",
			`{"provider":"other","redirect_uri":"` + spaRedirect + `","code_challenge":"` + challenge + `"}`, http.StatusBadRequest, "invalid_request"},
		{"a repeated parameter is 400 invalid_request", http.MethodPost, "/account/links", "",
			link(func(f url.Values) { f.Add("provider", "dev") }), http.StatusBadRequest, "invalid_request"},
		{"an unregistered redirect URI is 400 invalid_request", http.MethodPost, "/account/links", "",
			link(func(f url.Values) { f.Set("redirect_uri", "https://evil.example.com/cb") }), http.StatusBadRequest, "invalid_request"},
		{"an unknown provider is 400 invalid_request", http.MethodPost, "/account/links", "",
			link(func(f url.Values) { f.Set("provider", "nope") }), http.StatusBadRequest, "invalid_request"},
		{"a link without a code challenge is 400 invalid_request", http.MethodPost, "/account/links", "",
			link(func(f url.Values) { f.Del("code_challenge") }), http.StatusBadRequest, "invalid_request"},
		{"completing with an unknown link code is 400 invalid_grant", http.MethodPost, "/account/identities", "",
			url.Values{"link_code": {"AAAAAAAAAAAAAAAAAAAAAA.AAAA"}, "code_verifier": {strings.Repeat("v", 43)}}.Encode(), http.StatusBadRequest, "invalid_grant"},
		{"completing without a link code is 400 invalid_grant", http.MethodPost, "/account/identities", "",
			url.Values{"code_verifier": {strings.Repeat("v", 43)}}.Encode(), http.StatusBadRequest, "invalid_grant"},
		{"completing with a JSON body is 400 invalid_request", http.MethodPost, "/account/identities", "application/json",
			`{"link_code":"x","code_verifier":"y"}`, http.StatusBadRequest, "invalid_request"},
		{"the old way of asking for a link is 400", http.MethodPost, "/account/identities", "",
			link(func(url.Values) {}), http.StatusBadRequest, "invalid_grant"},
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
		for name, open := range map[string]func() pageResponse{
			"GET": func() pageResponse {
				return a.openLinkPage(t, a.browser(t), a.url+"/link/start?"+url.Values{"ticket": {ticket}}.Encode())
			},
			"POST": func() pageResponse { return a.answerLinkPage(t, a.browser(t), ticket, "continue", nil) },
		} {
			pg := open()
			if pg.StatusCode != http.StatusBadRequest || !strings.Contains(pg.Header.Get("Content-Type"), "text/html") || len(pg.Cookies()) != 0 {
				t.Errorf("%s ticket %q: %d %s with cookies %v, want a 400 page and no cookie", name, ticket, pg.StatusCode, pg.Header.Get("Content-Type"), pg.Cookies())
			}
			if !strings.Contains(pg.Body, "Invalid sign-in response") {
				t.Errorf("%s ticket %q: the page does not say the request was altered", name, ticket)
			}
		}
	}
}

// linkStart is a link of other begun by the SPA for a fresh sign-in of
// alice: its start URL, ticket and flow.
type linkStart struct {
	location, ticket, flowID string
	access                   string
}

// beginOtherLink signs alice in with the account scope and begins a link
// of other.
func (a *app) beginOtherLink(t testing.TB) linkStart {
	t.Helper()
	tr := a.accountSignIn(t)
	r, _ := a.beginLink(t, tr.AccessToken)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/links: %d %v", r.StatusCode, r.JSON)
	}
	location, _ := r.JSON["location"].(string)
	ticket, flowID := ticketOf(t, location)
	return linkStart{location: location, ticket: ticket, flowID: flowID, access: tr.AccessToken}
}

// openedLinkPage is a new browser that opened the start page of ls.
func (a *app) openedLinkPage(t testing.TB, ls linkStart) *http.Client {
	t.Helper()
	browser := a.browser(t)
	if pg := a.openLinkPage(t, browser, ls.location); pg.StatusCode != http.StatusOK {
		t.Fatalf("GET /link/start: %d, want the start page", pg.StatusCode)
	}
	return browser
}

func TestALinkStartPageFetchedTwiceStillWorks(t *testing.T) {
	t.Parallel()
	// A mail or chat link scanner fetches the start URL before the person
	// does, without cookies, and may fetch it again.
	a := accountApp(t)
	ls := a.beginOtherLink(t)
	for i := range 2 {
		pg := a.openLinkPage(t, noFollow, ls.location)
		if pg.StatusCode != http.StatusOK || !strings.Contains(pg.Body, "alice@example.com") {
			t.Fatalf("scanner fetch #%d: %d, want the start page", i+1, pg.StatusCode)
		}
	}
	if got := a.flowState(t, ls.flowID); got != store.StateReady {
		t.Fatalf("the flow after two fetches is %s, want ready", got)
	}
	back := a.browseLink(t, ls.location)
	if back.Query().Get("link_code") == "" {
		t.Fatalf("the person's link ended at %s, want a link code", back)
	}
}

func TestALinkIsConfirmedOnlyFromItsOwnStartPage(t *testing.T) {
	t.Parallel()
	// Another site's form (or a link to a POST) cannot confirm a link for
	// the person: the confirmation needs the SameSite=Strict cookie that
	// the start page of that very flow set in that browser.
	tests := []struct {
		name string
		// send answers the start page of ls; other is another link's start.
		send func(t *testing.T, a *app, ls, other linkStart) pageResponse
	}{
		{"continuing without the page's cookie", func(t *testing.T, a *app, ls, _ linkStart) pageResponse {
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "continue", nil)
		}},
		{"declining without the page's cookie", func(t *testing.T, a *app, ls, _ linkStart) pageResponse {
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "cancel", nil)
		}},
		{"continuing with an altered cookie", func(t *testing.T, a *app, ls, _ linkStart) pageResponse {
			ck := a.openLinkPage(t, a.browser(t), ls.location).cookie("sb_link_")
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "continue", func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: ck.Name, Value: alter(ck.Value)})
			})
		}},
		{"continuing with an empty cookie", func(t *testing.T, a *app, ls, _ linkStart) pageResponse {
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "continue", func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "sb_link_" + ls.flowID, Value: ""})
			})
		}},
		{"continuing with the ticket as the cookie", func(t *testing.T, a *app, ls, _ linkStart) pageResponse {
			_, mac, _ := strings.Cut(ls.ticket, ".")
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "continue", func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "sb_link_" + ls.flowID, Value: mac})
			})
		}},
		{"continuing from a browser that opened another link's page", func(t *testing.T, a *app, ls, other linkStart) pageResponse {
			browser := a.browser(t)
			if pg := a.openLinkPage(t, browser, other.location); pg.StatusCode != http.StatusOK {
				t.Fatalf("the other start page: %d", pg.StatusCode)
			}
			return a.answerLinkPage(t, browser, ls.ticket, "continue", nil)
		}},
		{"continuing with another link's cookie under this link's name", func(t *testing.T, a *app, ls, other linkStart) pageResponse {
			ck := a.openLinkPage(t, a.browser(t), other.location).cookie("sb_link_")
			return a.answerLinkPage(t, a.browser(t), ls.ticket, "continue", func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "sb_link_" + ls.flowID, Value: ck.Value})
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := accountApp(t)
			ls, other := a.beginOtherLink(t), a.beginOtherLink(t)
			pg := tt.send(t, a, ls, other)
			if pg.StatusCode != http.StatusForbidden || !strings.Contains(pg.Body, "Link not confirmed here") || pg.Header.Get("Location") != "" {
				t.Fatalf("POST /link/start: %d to %q, want the 403 page %q", pg.StatusCode, pg.Header.Get("Location"), "Link not confirmed here")
			}
			if c := pg.cookie("sb_flow_"); c != nil {
				t.Errorf("a refused confirmation bound the flow: %v", c)
			}
			if got := a.flowState(t, ls.flowID); got != store.StateReady {
				t.Errorf("the flow after a refused confirmation is %s, want ready", got)
			}
			// The person's own browser still can.
			if back := a.browseLink(t, ls.location); back.Query().Get("link_code") == "" {
				t.Errorf("the person's link after a refused confirmation ended at %s, want a link code", back)
			}
		})
	}
}

// alter changes the first character of s.
func alter(s string) string {
	if s == "" {
		return "x"
	}
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

func TestDecliningALinkOverHTTP(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	ls := a.beginOtherLink(t)
	// Three browsers hold the page: the person's, and two more (other
	// tabs or devices) whose answers come after the person declined.
	browser, lateContinue, lateCancel := a.openedLinkPage(t, ls), a.openedLinkPage(t, ls), a.openedLinkPage(t, ls)

	resp := a.answerLinkPage(t, browser, ls.ticket, "cancel", nil)
	to, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(to.String(), spaRedirect+"?") {
		t.Fatalf("POST /link/start cancel: %d to %v, want 303 to the SPA", resp.StatusCode, to)
	}
	if q := to.Query(); q.Get("error") != "access_denied" || q.Get("state") != "link-state" || q.Get("iss") != a.url || q.Has("link_code") {
		t.Errorf("back at the SPA with %v, want error=access_denied, the link's state and our issuer", q)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	if c := resp.cookie("sb_flow_"); c != nil {
		t.Errorf("declining bound the flow: %v", c)
	}
	if c := resp.cookie("sb_link_"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the link cookie after declining = %v, want it deleted", c)
	}
	if got := a.flowState(t, ls.flowID); got != store.StateFailed {
		t.Errorf("the declined flow is %s, want failed", got)
	}

	// The declined link cannot start any more, from any page.
	for _, tc := range []struct {
		name string
		pg   pageResponse
	}{
		{"the start page again", a.openLinkPage(t, a.browser(t), ls.location)},
		{"continuing from another page", a.answerLinkPage(t, lateContinue, ls.ticket, "continue", nil)},
		{"declining from another page", a.answerLinkPage(t, lateCancel, ls.ticket, "cancel", nil)},
	} {
		if tc.pg.StatusCode != http.StatusBadRequest || !strings.Contains(tc.pg.Body, "already used") || tc.pg.Header.Get("Location") != "" {
			t.Errorf("%s: %d to %q, want 400 with the already-used page", tc.name, tc.pg.StatusCode, tc.pg.Header.Get("Location"))
		}
	}
	if r := a.call(t, http.MethodGet, "/account/identities", ls.access, "", "", nil); len(r.JSON["identities"].([]any)) != 1 {
		t.Errorf("identities after declining = %v, want dev only", r.JSON)
	}
}

func TestALinkConfirmedInOneBrowserIsUsedUpInTheOther(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	ls := a.beginOtherLink(t)
	// The page is open in three browsers; the first continues.
	first := a.openedLinkPage(t, ls)
	late := map[string]*http.Client{"continue": a.openedLinkPage(t, ls), "cancel": a.openedLinkPage(t, ls)}
	resp := a.answerLinkPage(t, first, ls.ticket, "continue", nil)
	to, err := resp.Location()
	if err != nil || to.Host != "other-idp.example.com" {
		t.Fatalf("POST /link/start in the first browser: %d to %v, want the provider", resp.StatusCode, to)
	}
	for decision, browser := range late {
		pg := a.answerLinkPage(t, browser, ls.ticket, decision, nil)
		if pg.StatusCode != http.StatusBadRequest || !strings.Contains(pg.Body, "already used") || pg.Header.Get("Location") != "" || pg.cookie("sb_flow_") != nil {
			t.Errorf("%s in another browser: %d to %q, want 400 with the already-used page", decision, pg.StatusCode, pg.Header.Get("Location"))
		}
	}
	// Declining in another browser did not end the first one's link.
	if got := a.flowState(t, ls.flowID); got != store.StatePending {
		t.Fatalf("the flow is %s, want pending at the provider", got)
	}
	if back := a.otherCallback(t, first, to); back.Query().Get("link_code") == "" {
		t.Errorf("the first browser's link ended at %s, want a link code", back)
	}
}

func TestAnExpiredLinkShowsTheExpiredPage(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	ls := a.beginOtherLink(t)
	continuing, declining := a.openedLinkPage(t, ls), a.openedLinkPage(t, ls)
	a.clock.Add(10*time.Minute + time.Second) // the flow lives 10 minutes
	for _, tc := range []struct {
		name string
		pg   pageResponse
	}{
		{"the start page", a.openLinkPage(t, a.browser(t), ls.location)},
		{"continuing", a.answerLinkPage(t, continuing, ls.ticket, "continue", nil)},
		{"declining", a.answerLinkPage(t, declining, ls.ticket, "cancel", nil)},
	} {
		if tc.pg.StatusCode != http.StatusBadRequest || !strings.Contains(tc.pg.Body, "Sign-in expired") || tc.pg.Header.Get("Location") != "" {
			t.Errorf("%s after the flow lifetime: %d to %q, want 400 with the expired page", tc.name, tc.pg.StatusCode, tc.pg.Header.Get("Location"))
		}
		if c := tc.pg.cookie("sb_"); c != nil && c.MaxAge >= 0 {
			t.Errorf("%s after the flow lifetime sets cookie %v", tc.name, c)
		}
	}
}

func TestAMalformedLinkConfirmationIs400(t *testing.T) {
	t.Parallel()
	a := accountApp(t)
	ls := a.beginOtherLink(t)
	browser := a.browser(t)
	a.openLinkPage(t, browser, ls.location)
	for name, edit := range map[string]func(*http.Request){
		"a JSON body": func(r *http.Request) { r.Header.Set("Content-Type", "application/json") },
		"a repeated ticket": func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(url.Values{"ticket": {ls.ticket, ls.ticket}, "decision": {"continue"}}.Encode()))
			r.ContentLength = -1
		},
	} {
		pg := a.answerLinkPage(t, browser, ls.ticket, "continue", edit)
		if pg.StatusCode != http.StatusBadRequest || !strings.Contains(pg.Header.Get("Content-Type"), "text/html") || pg.Header.Get("Location") != "" {
			t.Errorf("%s: %d %s to %q, want a 400 page", name, pg.StatusCode, pg.Header.Get("Content-Type"), pg.Header.Get("Location"))
		}
	}
	if got := a.flowState(t, ls.flowID); got != store.StateReady {
		t.Errorf("the flow after malformed confirmations is %s, want ready", got)
	}
}

func TestTheLinkCookieIsSecureOverHTTPS(t *testing.T) {
	t.Parallel()
	a := newAppWith(t, func(string) []providers.Provider { return []providers.Provider{otherProvider{}} },
		func(o *web.Options) { o.PublicURL = "https://sb.example.com" })
	ls := a.beginOtherLink(t)
	u, _ := url.Parse(ls.location)
	pg := a.openLinkPage(t, noFollow, a.url+u.RequestURI())
	if c := pg.cookie("sb_link_"); pg.StatusCode != http.StatusOK || c == nil || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("GET /link/start over https: %d with cookie %v, want a Secure, SameSite=Strict cookie", pg.StatusCode, c)
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
	tr := a.accountSignIn(t)
	at, _ := a.issuer.ParseAccess(tr.AccessToken)
	a.linkOther(t, tr.AccessToken)
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
	tr := a.accountSignIn(t)
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
		{"a registered origin may ask for a link", "/account/links", "https://spa.example.com", "POST", true},
		{"a registered origin may complete a link", "/account/identities", "https://spa.example.com", "POST", true},
		{"another origin may not ask for a link", "/account/links", "https://evil.example.com", "POST", false},
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
