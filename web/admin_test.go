package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
)

// adminApp is a fullApp with the admin API on.
func adminApp(t testing.TB) *app {
	t.Helper()
	return fullApp(t, fullOptions{adminToken: adminSecret})
}

// admin calls the admin API with token; a body is JSON.
func (a *app) admin(t testing.TB, method, path, token, body string) reply {
	t.Helper()
	return a.send(t, method, path, body, func(r *http.Request) {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
	})
}

// adminRoutes are the admin API's routes for user id, each with a body it
// accepts.
func adminRoutes(id string) []struct{ method, path, body string } {
	return []struct{ method, path, body string }{
		{http.MethodGet, "/admin/users/" + id, ""},
		{http.MethodPost, "/admin/users/" + id + "/disable", ""},
		{http.MethodPost, "/admin/users/" + id + "/enable", ""},
		{http.MethodPost, "/admin/users/" + id + "/revoke-tokens", ""},
		{http.MethodPut, "/admin/users/" + id + "/roles", `{"roles":["admin"]}`},
		{http.MethodGet, "/admin/audit", ""},
	}
}

func TestAdminAPIIsAbsentWithoutAToken(t *testing.T) {
	t.Parallel()
	a := fullApp(t, fullOptions{})
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	t.Run("refusals", func(t *testing.T) {
		for _, route := range adminRoutes(id) {
			for _, token := range []string{"", adminSecret} {
				t.Run(route.method+" "+route.path+" with token "+map[bool]string{true: "none", false: "some"}[token == ""], func(t *testing.T) {
					t.Parallel()
					r := a.admin(t, route.method, route.path, token, route.body)
					checkError(t, r, http.StatusNotFound, bridge.ErrCodeAdminDisabled)
					if r.Header.Get("WWW-Authenticate") != "" {
						t.Errorf("WWW-Authenticate = %q, want none: there is nothing to authenticate to", r.Header.Get("WWW-Authenticate"))
					}
				})
			}
		}
	})
	if u, err := a.store.GetUser(context.Background(), id); err != nil || u.Disabled || len(u.Roles) != 0 || !u.NotBefore.IsZero() {
		t.Errorf("user after the refused calls: %+v %v, want untouched", u, err)
	}
	a.checkActive(t, a.sidOf(t, alice.AccessToken), 1)
}

func TestAdminAPINeedsTheAdminToken(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	auths := []struct{ name, header string }{
		{"no Authorization header", ""},
		{"a wrong token", "Bearer wrong"},
		{"the token with a suffix", "Bearer " + adminSecret + "x"},
		{"a prefix of the token", "Bearer " + adminSecret[:len(adminSecret)-1]},
		{"the token as Basic credentials", "Basic " + adminSecret},
		{"Bearer without a token", "Bearer "},
		{"a user's access token", "Bearer " + alice.AccessToken},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, route := range adminRoutes(id) {
			for _, auth := range auths {
				t.Run(route.method+" "+route.path+" with "+auth.name, func(t *testing.T) {
					t.Parallel()
					r := a.send(t, route.method, route.path, route.body, func(r *http.Request) {
						if auth.header != "" {
							r.Header.Set("Authorization", auth.header)
						}
						r.Header.Set("Content-Type", "application/json")
					})
					checkError(t, r, http.StatusUnauthorized, "invalid_token")
					if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="socialbridge-admin"`) {
						t.Errorf("WWW-Authenticate = %q", got)
					}
				})
			}
		}
	})
	a.checkActive(t, a.sidOf(t, alice.AccessToken), 1)
	if u, err := a.store.GetUser(context.Background(), id); err != nil || u.Disabled || len(u.Roles) != 0 {
		t.Errorf("user after the refused calls: %+v %v, want untouched", u, err)
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	r := a.send(t, http.MethodGet, "/admin/users/"+id, "", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+adminSecret) })
	if r.StatusCode != http.StatusOK {
		t.Errorf("lower-case bearer: %d %s", r.StatusCode, r.Body)
	}
}

func TestAdminUnknownUserIs404(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	for _, id := range []string{"nosuchuser", strings.Repeat("u", 200)} {
		for _, route := range adminRoutes(id)[:5] {
			r := a.admin(t, route.method, route.path, adminSecret, route.body)
			if r.StatusCode != http.StatusNotFound || r.code() != bridge.ErrCodeUserNotFound {
				t.Errorf("%s %.60s: %d %s, want 404 user_not_found", route.method, route.path, r.StatusCode, r.Body)
			}
		}
	}
}

// adminUser is GET /admin/users/{id} decoded.
func (a *app) adminUser(t testing.TB, id string) bridge.UserSummary {
	t.Helper()
	r := a.admin(t, http.MethodGet, "/admin/users/"+id, adminSecret, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users/%s: %d %s", id, r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var u bridge.UserSummary
	decodeInto(t, r.Body, &u)
	return u
}

func TestAdminReadsAUser(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	one := a.spaSignIn(t, "alice", "openid")
	a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, one.AccessToken)
	u := a.adminUser(t, id)
	if u.ID != id || u.Profile.Email != "alice@example.com" || u.Disabled || u.Sessions != 2 || !slices.Equal(u.Providers, []string{"dev"}) ||
		u.Roles == nil || len(u.Roles) != 0 || u.NotBefore != nil || u.CreatedAt.IsZero() || u.LastLoginAt.IsZero() {
		t.Errorf("user %+v", u)
	}
	r := a.admin(t, http.MethodGet, "/admin/users/"+id, adminSecret, "")
	for _, secret := range []string{"access_token", "refresh_token", "sealed"} {
		if strings.Contains(r.Body, secret) {
			t.Errorf("the user summary mentions %s: %s", secret, r.Body)
		}
	}
}

func TestAdminDisableAndEnable(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	alice2 := a.spaSignIn(t, "alice", "openid")
	bob := a.spaSignIn(t, "bob", "openid")
	id := a.subOf(t, alice.AccessToken)

	r := a.admin(t, http.MethodPost, "/admin/users/"+id+"/disable", adminSecret, "")
	if r.StatusCode != http.StatusOK || r.JSON["disabled"] != true || r.JSON["sessions_revoked"] != float64(2) {
		t.Fatalf("disable: %d %s, want disabled with two sessions revoked", r.StatusCode, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	u, err := a.store.GetUser(context.Background(), id)
	if err != nil || !u.Disabled || u.NotBefore.IsZero() {
		t.Fatalf("stored user %+v %v, want disabled with a not-before", u, err)
	}
	for _, tr := range []tokenResponse{alice, alice2} {
		a.checkRevoked(t, a.sidOf(t, tr.AccessToken))
		if resp, body := a.refreshSPA(t, tr.RefreshToken); resp.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
			t.Errorf("refresh of the disabled user: %d %+v, want invalid_grant", resp.StatusCode, body)
		}
		if r := a.introspect(t, url.Values{"token": {tr.AccessToken}}, asRS); strings.TrimSpace(r.Body) != `{"active":false}` {
			t.Errorf("introspection of the disabled user's token: %s", r.Body)
		}
	}
	a.checkActive(t, a.sidOf(t, bob.AccessToken), 1)
	if got := a.adminUser(t, id); !got.Disabled || got.NotBefore == nil || got.Sessions != 0 {
		t.Errorf("summary after disable %+v", got)
	}
	// The feed tells backends to refuse the user's tokens.
	_, f := a.feed(t, "", "")
	if len(f.Users) != 1 || f.Users[0].Subject != id || len(f.Sessions) != 2 {
		t.Errorf("feed after disable %+v, want alice's not-before and her two sessions", f)
	}
	// Disabling twice is idempotent.
	if r := a.admin(t, http.MethodPost, "/admin/users/"+id+"/disable", adminSecret, ""); r.StatusCode != http.StatusOK || r.JSON["sessions_revoked"] != float64(0) {
		t.Errorf("second disable: %d %s", r.StatusCode, r.Body)
	}

	r = a.admin(t, http.MethodPost, "/admin/users/"+id+"/enable", adminSecret, "")
	if r.StatusCode != http.StatusOK || r.JSON["disabled"] != false {
		t.Fatalf("enable: %d %s", r.StatusCode, r.Body)
	}
	if u, _ := a.store.GetUser(context.Background(), id); u.Disabled {
		t.Errorf("stored user still disabled after enable")
	}
	// The old sessions stay ended; a new sign-in works.
	if resp, _ := a.refreshSPA(t, alice.RefreshToken); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh of a session ended by disable, after enable: %d, want 400", resp.StatusCode)
	}
	again := a.spaSignIn(t, "alice", "openid")
	if a.subOf(t, again.AccessToken) != id {
		t.Errorf("the new sign-in is another user")
	}
	if resp, body := a.refreshSPA(t, again.RefreshToken); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh of the new session: %d %+v", resp.StatusCode, body)
	}
}

func TestAdminDisabledUserCannotSignIn(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	if r := a.admin(t, http.MethodPost, "/admin/users/"+id+"/disable", adminSecret, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d", r.StatusCode)
	}
	_, challenge := pkce()
	loc := a.devSignIn(t, a.browser(t), challenge, "alice")
	if loc.Query().Get("code") != "" || loc.Query().Get("error") == "" {
		t.Errorf("sign-in of a disabled user ended at %s, want an error for the client", loc)
	}
}

func TestAdminRevokeTokens(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	cookieTokens, ck := a.cookieSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	r := a.admin(t, http.MethodPost, "/admin/users/"+id+"/revoke-tokens", adminSecret, "")
	if r.StatusCode != http.StatusOK || r.JSON["sessions_revoked"] != float64(2) {
		t.Fatalf("revoke-tokens: %d %s", r.StatusCode, r.Body)
	}
	a.checkRevoked(t, a.sidOf(t, alice.AccessToken))
	a.checkRevoked(t, a.sidOf(t, cookieTokens.JSON["access_token"].(string)))
	if resp, body := a.refreshSPA(t, alice.RefreshToken); resp.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
		t.Errorf("refresh after revoke-tokens: %d %+v", resp.StatusCode, body)
	}
	if r := a.cookieRefresh(t, ck, nil); r.StatusCode != http.StatusBadRequest || r.code() != "invalid_grant" {
		t.Errorf("cookie refresh after revoke-tokens: %d %s", r.StatusCode, r.Body)
	}
	if u := a.adminUser(t, id); u.Disabled || u.NotBefore == nil {
		t.Errorf("summary after revoke-tokens %+v, want enabled with a not-before", u)
	}
	// The user signs in again at once.
	if again := a.spaSignIn(t, "alice", "openid"); a.subOf(t, again.AccessToken) != id {
		t.Errorf("the new sign-in is another user")
	}
}

func TestAdminSetsRoles(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	r := a.admin(t, http.MethodPut, "/admin/users/"+id+"/roles", adminSecret, `{"roles":["admin","editor"]}`)
	if r.StatusCode != http.StatusOK || r.JSON["sessions_revoked"] != float64(1) {
		t.Fatalf("set roles: %d %s", r.StatusCode, r.Body)
	}
	if got, _ := json.Marshal(r.JSON["roles"]); string(got) != `["admin","editor"]` {
		t.Errorf("answered roles %s", got)
	}
	if u, err := a.store.GetUser(context.Background(), id); err != nil || !slices.Equal(u.Roles, []string{"admin", "editor"}) {
		t.Errorf("stored roles %v (%v), want [admin editor]", u.Roles, err)
	}
	a.checkRevoked(t, a.sidOf(t, alice.AccessToken))
	// The next sign-in carries them.
	again := a.spaSignIn(t, "alice", "openid")
	claims, err := a.issuer.ParseAccess(again.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if roles, _ := json.Marshal(claims.User["roles"]); !strings.Contains(string(roles), "admin") || !strings.Contains(string(roles), "editor") {
		t.Errorf("roles in the new access token: %s", roles)
	}
	// An empty list takes them away.
	r = a.admin(t, http.MethodPut, "/admin/users/"+id+"/roles", adminSecret, `{"roles":[]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("clear roles: %d %s", r.StatusCode, r.Body)
	}
	if u, _ := a.store.GetUser(context.Background(), id); len(u.Roles) != 0 {
		t.Errorf("stored roles after clearing: %v", u.Roles)
	}
	if u := a.adminUser(t, id); len(u.Roles) != 0 {
		t.Errorf("summary roles after clearing: %v", u.Roles)
	}
}

// Setting roles answers with the roles stored (de-duplicated), not the
// ones of the request.
func TestAdminSetRolesAnswersTheStoredRoles(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	r := a.admin(t, http.MethodPut, "/admin/users/"+id+"/roles", adminSecret, `{"roles":["admin","editor","admin"]}`)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("set roles: %d %s", r.StatusCode, r.Body)
	}
	u, err := a.store.GetUser(context.Background(), id)
	if err != nil || !slices.Equal(u.Roles, []string{"admin", "editor"}) {
		t.Fatalf("stored roles %v (%v), want [admin editor]", u.Roles, err)
	}
	if got, _ := json.Marshal(r.JSON["roles"]); string(got) != `["admin","editor"]` {
		t.Errorf("answered roles %s, stored [admin editor]: the answer must say what was stored", got)
	}
}

func TestAdminSetRolesRefusesBadBodies(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	path := "/admin/users/" + id + "/roles"
	tooMany := make([]string, bridge.MaxRoles+1)
	for i := range tooMany {
		tooMany[i] = "r" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	many, _ := json.Marshal(map[string]any{"roles": tooMany})
	tests := []struct {
		name, contentType, body string
	}{
		{"malformed JSON", "application/json", `{"roles":[`},
		{"not an object", "application/json", `["admin"]`},
		{"roles not a list", "application/json", `{"roles":"admin"}`},
		{"roles null", "application/json", `{"roles":null}`},
		{"no roles field", "application/json", `{}`},
		{"an unknown field", "application/json", `{"roles":["admin"],"disabled":true}`},
		{"two JSON values", "application/json", `{"roles":["admin"]} {"roles":["root"]}`},
		{"a form body", "application/x-www-form-urlencoded", "roles=admin"},
		{"no content type", "", `{"roles":["admin"]}`},
		{"text/plain", "text/plain", `{"roles":["admin"]}`},
		{"an empty role", "application/json", `{"roles":[""]}`},
		{"a role with a space", "application/json", `{"roles":["super admin"]}`},
		{"a role with an invisible character", "application/json", `{"roles":["admin\u200b"]}`},
		{"a role with a control character", "application/json", `{"roles":["admin\n"]}`},
		{"a role that is too long", "application/json", `{"roles":["` + strings.Repeat("a", 1000) + `"]}`},
		{"too many roles", "application/json", string(many)},
		{"a body over the JSON limit", "application/json", `{"roles":["` + strings.Repeat("a", 20<<10) + `"]}`},
	}
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := a.send(t, http.MethodPut, path, tt.body, func(r *http.Request) {
					r.Header.Set("Authorization", "Bearer "+adminSecret)
					if tt.contentType == "" {
						r.Header.Del("Content-Type")
					} else {
						r.Header.Set("Content-Type", tt.contentType)
					}
				})
				checkError(t, r, http.StatusBadRequest, "invalid_request")
			})
		}
	})
	// Nothing changed, nothing was revoked.
	if u, err := a.store.GetUser(context.Background(), id); err != nil || len(u.Roles) != 0 || !u.NotBefore.IsZero() {
		t.Errorf("user after the refusals: roles %v not-before %v (%v), want untouched", u.Roles, u.NotBefore, err)
	}
	a.checkActive(t, a.sidOf(t, alice.AccessToken), 1)
}

// A JSON body must end after its object: a stray ']' or '}' after it
// (which json.Decoder.More does not see) is refused.
func TestAdminSetRolesRefusesTrailingGarbage(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	for _, body := range []string{`{"roles":["admin"]}}`, `{"roles":["admin"]}]`, `{"roles":["admin"]} x`} {
		r := a.admin(t, http.MethodPut, "/admin/users/"+id+"/roles", adminSecret, body)
		if r.StatusCode != http.StatusBadRequest || r.code() != "invalid_request" {
			t.Errorf("body %s: %d %s, want 400 invalid_request", body, r.StatusCode, r.Body)
		}
	}
}

// auditBody is GET /admin/audit decoded.
type auditBody struct {
	Events []store.AuditEvent `json:"events"`
	Next   *struct {
		Before   string `json:"before"`
		BeforeID string `json:"before_id"`
	} `json:"next"`
}

// audit lists audit events with query.
func (a *app) audit(t testing.TB, query url.Values) (reply, auditBody) {
	t.Helper()
	r := a.admin(t, http.MethodGet, "/admin/audit?"+query.Encode(), adminSecret, "")
	var body auditBody
	if r.StatusCode == http.StatusOK {
		decodeInto(t, r.Body, &body)
	}
	return r, body
}

func TestAdminAudit(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	// A history: sign-ins, a refresh, logouts, admin actions.
	alice := a.spaSignIn(t, "alice", accountScope)
	aliceID := a.subOf(t, alice.AccessToken)
	_, rotated := a.refreshSPA(t, alice.RefreshToken)
	cookieTokens, ck := a.cookieSignIn(t, "alice", "openid")
	bob := a.spaSignIn(t, "bob", "openid")
	bobID := a.subOf(t, bob.AccessToken)
	if r := a.send(t, http.MethodPost, "/logout", "", withBearer(bob.AccessToken)); r.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r := a.cookieLogout(t, ck, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("cookie logout: %d %s", r.StatusCode, r.Body)
	}
	for _, action := range []string{"revoke-tokens", "disable", "enable"} {
		if r := a.admin(t, http.MethodPost, "/admin/users/"+aliceID+"/"+action, adminSecret, ""); r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", action, r.StatusCode, r.Body)
		}
	}
	if r := a.admin(t, http.MethodPut, "/admin/users/"+aliceID+"/roles", adminSecret, `{"roles":["admin"]}`); r.StatusCode != http.StatusOK {
		t.Fatalf("roles: %d %s", r.StatusCode, r.Body)
	}

	r, all := a.audit(t, url.Values{"limit": {"500"}})
	if r.StatusCode != http.StatusOK || all.Next != nil {
		t.Fatalf("GET /admin/audit: %d %s", r.StatusCode, r.Body)
	}
	types := map[string]int{}
	for i, e := range all.Events {
		types[e.Type]++
		if i > 0 && e.At.After(all.Events[i-1].At) {
			t.Errorf("event %d (%s) is newer than the one before: want newest first", i, e.Type)
		}
	}
	for _, want := range []string{bridge.AuditLogin, bridge.AuditLogout, bridge.AuditUserTokensRevoked, bridge.AuditUserDisabled,
		bridge.AuditUserEnabled, bridge.AuditUserRolesChanged} {
		if types[want] == 0 {
			t.Errorf("no %s event in %v", want, types)
		}
	}
	if types[bridge.AuditLogin] != 3 || types[bridge.AuditLogout] != 2 {
		t.Errorf("event types %v, want 3 logins and 2 logouts", types)
	}
	for _, e := range all.Events {
		if strings.HasPrefix(e.Type, "user_") && (e.Actor != bridge.Admin || e.UserID != aliceID) {
			t.Errorf("admin event %+v, want actor admin on alice", e)
		}
	}

	t.Run("events never hold token material", func(t *testing.T) {
		secrets := map[string]string{
			"access token": alice.AccessToken, "refresh token": alice.RefreshToken, "id token": alice.IDToken,
			"rotated refresh token": rotated.RefreshToken, "rotated access token": rotated.AccessToken,
			"cookie-mode access token": cookieTokens.JSON["access_token"].(string), "refresh cookie": ck.Value,
			"bob's access token": bob.AccessToken, "bob's refresh token": bob.RefreshToken, "admin token": adminSecret,
		}
		for name, s := range secrets {
			if s == "" {
				t.Errorf("no %s to look for", name)
				continue
			}
			// Any 24-character piece of a token would do; the signature is
			// the part no id shares.
			sig := s[strings.LastIndexByte(s, '.')+1:]
			if strings.Contains(r.Body, s) || (len(sig) >= 24 && strings.Contains(r.Body, sig[:24])) {
				t.Errorf("the audit trail contains the %s", name)
			}
		}
		if strings.Contains(a.logs.String(), adminSecret) {
			t.Errorf("the log contains the admin token")
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name  string
			query url.Values
			want  func(store.AuditEvent) bool
		}{
			{"by user", url.Values{"user_id": {bobID}}, func(e store.AuditEvent) bool { return e.UserID == bobID }},
			{"by type", url.Values{"type": {bridge.AuditLogout}}, func(e store.AuditEvent) bool { return e.Type == bridge.AuditLogout }},
			{"by user and type", url.Values{"user_id": {aliceID}, "type": {bridge.AuditLogin}},
				func(e store.AuditEvent) bool { return e.UserID == aliceID && e.Type == bridge.AuditLogin }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r, got := a.audit(t, tt.query)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("%d %s", r.StatusCode, r.Body)
				}
				wantN := 0
				for _, e := range all.Events {
					if tt.want(e) {
						wantN++
					}
				}
				if len(got.Events) != wantN || wantN == 0 {
					t.Errorf("%d events, want %d", len(got.Events), wantN)
				}
				for _, e := range got.Events {
					if !tt.want(e) {
						t.Errorf("event %+v does not match the filter", e)
					}
				}
			})
		}
		if r, got := a.audit(t, url.Values{"user_id": {"nobody"}}); r.StatusCode != http.StatusOK || len(got.Events) != 0 || got.Next != nil {
			t.Errorf("an unknown user's events: %d %s, want none", r.StatusCode, r.Body)
		}
	})

	// Every listing is itself audited (audit_read, of no user): the
	// listings below are of one user's events, which those do not join.
	var alices []string
	for _, e := range all.Events {
		if e.UserID == aliceID {
			alices = append(alices, e.ID)
		}
	}

	t.Run("paging with next visits every event once", func(t *testing.T) {
		var seen []string
		q := url.Values{"limit": {"2"}, "user_id": {aliceID}}
		for pages := 0; ; pages++ {
			if pages > len(all.Events) {
				t.Fatal("paging does not end")
			}
			r, page := a.audit(t, q)
			if r.StatusCode != http.StatusOK || len(page.Events) > 2 {
				t.Fatalf("page %d: %d %s", pages, r.StatusCode, r.Body)
			}
			for _, e := range page.Events {
				seen = append(seen, e.ID)
			}
			if page.Next == nil {
				if len(page.Events) == 2 {
					t.Errorf("a full page without next")
				}
				break
			}
			if len(page.Events) != 2 || page.Next.BeforeID != page.Events[1].ID {
				t.Fatalf("page %d: next %+v after %d events", pages, page.Next, len(page.Events))
			}
			if _, err := time.Parse(time.RFC3339Nano, page.Next.Before); err != nil {
				t.Fatalf("next.before %q is not RFC 3339: %v", page.Next.Before, err)
			}
			q = url.Values{"limit": {"2"}, "user_id": {aliceID}, "before": {page.Next.Before}, "before_id": {page.Next.BeforeID}}
		}
		if want := alices; !slices.Equal(seen, want) {
			t.Errorf("paging saw %d events %v, want the %d of the whole list in order %v", len(seen), seen, len(want), want)
		}
	})

	t.Run("the default page is 100 events", func(t *testing.T) {
		r, page := a.audit(t, url.Values{"user_id": {aliceID}})
		if r.StatusCode != http.StatusOK || len(page.Events) != min(len(alices), bridge.DefaultAuditPage) {
			t.Errorf("%d with %d events", r.StatusCode, len(page.Events))
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []string{
			"limit=0", "limit=-1", "limit=abc", "limit=501", "limit=1.5",
			"before=yesterday", "before=2024-01-01", "before_id=x",
			"user=x", "user_id=a&user_id=b", "type=a&type=b",
		} {
			r := a.admin(t, http.MethodGet, "/admin/audit?"+q, adminSecret, "")
			if r.StatusCode != http.StatusBadRequest || r.code() != "invalid_request" {
				t.Errorf("?%s: %d %s, want 400 invalid_request", q, r.StatusCode, r.Body)
			}
		}
	})
}

// An audit query that matches nothing answers {"events":[]}, as every
// other list of the API (identities, sessions, the feed) does when empty.
func TestAdminAuditWithoutMatchesIsAnEmptyList(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	a.spaSignIn(t, "alice", "openid")
	for _, q := range []url.Values{{"user_id": {"nobody"}}, {"type": {"no_such_type"}}} {
		r, _ := a.audit(t, q)
		if r.StatusCode != http.StatusOK || strings.TrimSpace(r.Body) != `{"events":[]}` {
			t.Errorf("?%s: %d %s, want 200 {\"events\":[]}", q.Encode(), r.StatusCode, r.Body)
		}
	}
}

func TestAdminAPIIsNotOfferedToBrowsers(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	r := a.send(t, http.MethodGet, "/admin/audit", "", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+adminSecret)
		r.Header.Set("Origin", "https://spa.example.com")
	})
	if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /admin/audit from a registered origin: %d, Allow-Origin %q; want no CORS grant", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
}
