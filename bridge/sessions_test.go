package bridge_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// The configuration the session, logout, admin, introspection and
// revocation-feed tests add to env's.
const (
	// adminToken is the administrators' credential.
	adminToken = "admin-credential-4f1c9a7e2b"
	// apiRedirect is the redirect URI of the api client.
	apiRedirect = "https://api.example.com/cb"
	// signedOutURI is a post-logout redirect URI registered for the SPA.
	signedOutURI = "https://app.example.com/signed-out"
	// byeURI is another, with a query of its own.
	byeURI = "https://app.example.com/bye?from=sb"
)

// apiCreds are the credentials of api, a confidential client that may
// introspect tokens and read the revocation feed (and signs users in
// itself).
var apiCreds = bridge.ClientCredentials{ID: "api", Secret: "api-s3cret"}

// apiClient is the api client's registration.
var apiClient = bridge.Client{ID: "api", Name: "The API", Secret: apiCreds.Secret, RedirectURIs: []string{apiRedirect},
	AccessTTL: 5 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour, Introspection: true}

// opsEnv is an env with the api client, an admin credential, a label for
// the fake provider and post-logout redirect URIs for the SPA.
func opsEnv(t testing.TB) *env {
	t.Helper()
	return withOps(t, newEnvConfig(t, envConfig{clients: []bridge.Client{apiClient}}))
}

// withOps returns e reconfigured as opsEnv describes (but for the api
// client, which newEnvConfig adds).
func withOps(t testing.TB, e *env) *env {
	t.Helper()
	return e.reconfigure(t, func(o *bridge.Options) {
		o.AdminToken = adminToken
		o.ProviderLabels = map[string]string{"fake": "Fake ID"}
		o.Clients = slices.Clone(o.Clients)
		for i := range o.Clients {
			if o.Clients[i].ID == "spa" {
				o.Clients[i].PostLogoutRedirectURIs = []string{signedOutURI, byeURI}
			}
		}
	})
}

// signInAPI signs the fake provider's person in at the api client and
// returns the tokens.
func (e *env) signInAPI(t testing.TB) *bridge.TokenSet {
	t.Helper()
	verifier, challenge := pkce()
	req := authorizeRequest(challenge)
	req.ClientID, req.RedirectURI = apiClient.ID, apiRedirect
	u := e.finish(t, e.beginWith(t, req))
	ts, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: apiCreds, Code: u.Query().Get("code"), RedirectURI: apiRedirect, CodeVerifier: verifier})
	if err != nil {
		t.Fatalf("ExchangeCode(api): %v", err)
	}
	return ts
}

// pendingCode runs a sign-in at the SPA up to the one-time code and
// returns the grant that would redeem it, and the session id it names.
func (e *env) pendingCode(t testing.TB) (bridge.CodeGrant, string) {
	t.Helper()
	verifier, challenge := pkce()
	s := e.begin(t, challenge)
	u := e.finish(t, s)
	if u.Query().Get("code") == "" {
		t.Fatalf("the sign-in ended without a code: %s", u)
	}
	return bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: u.Query().Get("code"), RedirectURI: spaRedirect, CodeVerifier: verifier}, s.flowID
}

// session reads a session from the store.
func (e *env) session(t testing.TB, id string) *store.Session {
	t.Helper()
	s, err := e.store.GetSession(bg, id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	return s
}

// states returns the state of each session, in order.
func (e *env) states(t testing.TB, ids ...string) []string {
	t.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = e.session(t, id).State
	}
	return out
}

// repeat returns n copies of s.
func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// activeIDs returns the ids of the user's active sessions, sorted.
func (e *env) activeIDs(t testing.TB, userID string) []string {
	t.Helper()
	list, err := e.store.ListUserSessions(bg, userID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	slices.Sort(ids)
	return ids
}

// sorted returns ids sorted, as a new slice.
func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// isOAuthError reports whether err is an *OAuthError with code whose
// description contains phrase, reporting it on t otherwise.
func isOAuthError(t testing.TB, err error, code, phrase string) bool {
	t.Helper()
	var oe *bridge.OAuthError
	if !errors.As(err, &oe) || oe.Code != code || !strings.Contains(oe.Description, phrase) {
		t.Errorf("err = %v, want %s mentioning %q", err, code, phrase)
		return false
	}
	return true
}

// newestAudit returns the user's newest audit event of type typ, failing
// the test when there is none.
func (e *env) newestAudit(t testing.TB, userID, typ string) store.AuditEvent {
	t.Helper()
	events := e.auditEvents(t, userID, typ)
	if len(events) == 0 {
		t.Fatalf("no %s audit event of user %s", typ, userID)
	}
	return events[len(events)-1]
}

// checkAudit compares an audit event's fields with want's, and its Detail
// with want's Detail for the keys want has.
func checkAudit(t testing.TB, got, want store.AuditEvent) {
	t.Helper()
	if got.Type != want.Type || got.UserID != want.UserID || got.SessionID != want.SessionID ||
		got.ClientID != want.ClientID || got.Actor != want.Actor || got.IP != want.IP {
		t.Errorf("audit event = type %q user %q session %q client %q actor %q ip %q;\nwant type %q user %q session %q client %q actor %q ip %q",
			got.Type, got.UserID, got.SessionID, got.ClientID, got.Actor, got.IP,
			want.Type, want.UserID, want.SessionID, want.ClientID, want.Actor, want.IP)
	}
	for k, v := range want.Detail {
		if got.Detail[k] != v {
			t.Errorf("%s audit event detail[%s] = %q, want %q (detail %v)", got.Type, k, got.Detail[k], v, got.Detail)
		}
	}
	if got.ID == "" || got.At.IsZero() {
		t.Errorf("%s audit event has no id or time: %+v", got.Type, got)
	}
}

func TestListSessions(t *testing.T) {
	t.Parallel()
	e, _ := nativeEnv(t)
	e = withOps(t, e)
	// Alice signs in at the SPA twice (with and without the account
	// scope), and on her phone; Bob at the SPA.
	first, alice := e.signInAt(t, "fake", nil)
	e.clock.Add(time.Minute)
	plain, _ := e.signInAs(t, "spa", "fake", "openid email profile", nil)
	e.clock.Add(time.Minute)
	phone := exchangeOK(t, e, exchangeOf(subjectToken()))
	if got := e.subjectOf(t, phone.AccessToken); got != alice {
		t.Fatalf("the phone signed in as %s, want Alice (%s)", got, alice)
	}
	bobTS, bob := e.signInAt(t, "fake", subject("bob"))
	// And one of Alice's sessions has ended, and a sign-in of hers has
	// not redeemed its code yet: neither is an active session.
	e.clock.Add(time.Minute)
	ended, _ := e.signInAt(t, "fake", nil)
	if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: ended.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	e.pendingCode(t)

	list, err := e.b.ListSessions(bg, first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id, client, clientName, provider, label, ua, ip string
		current                                         bool
	}
	var got []row
	for _, s := range list {
		got = append(got, row{s.ID, s.ClientID, s.ClientName, s.Provider, s.ProviderLabel, s.UserAgent, s.IP, s.Current})
		if s.CreatedAt.IsZero() || s.LastUsedAt.IsZero() || !s.ExpiresAt.After(s.CreatedAt) || !s.IdleEndsAt.After(s.CreatedAt) {
			t.Errorf("session %s has times created %v, last used %v, expires %v, idle end %v", s.ID, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.IdleEndsAt)
		}
	}
	// Most recently used first.
	want := []row{
		{e.sessionOf(t, phone.AccessToken), "mobile", "The App", "fake", "Fake ID", mobileUA, mobileIP, false},
		{e.sessionOf(t, plain.AccessToken), "spa", "The SPA", "fake", "Fake ID", "", "", false},
		{e.sessionOf(t, first.AccessToken), "spa", "The SPA", "fake", "Fake ID", "", "", true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListSessions() =\n%+v\nwant\n%+v", got, want)
	}

	// Bob sees only his own.
	bobList, err := e.b.ListSessions(bg, bobTS.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(bobList) != 1 || bobList[0].ID != e.sessionOf(t, bobTS.AccessToken) || !bobList[0].Current {
		t.Errorf("Bob's sessions = %+v, want only his current one", bobList)
	}
	for _, s := range bobList {
		if e.session(t, s.ID).UserID != bob {
			t.Errorf("Bob is shown session %s of another user", s.ID)
		}
	}
}

func TestListSessionsRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		access func(t *testing.T, e *env) (string, *env)
		code   string
		phrase string
	}{
		{"a token without the account scope is insufficient_scope", func(t *testing.T, e *env) (string, *env) {
			ts, _ := e.signInAs(t, "spa", "fake", "openid email profile", nil)
			return ts.AccessToken, e
		}, bridge.ErrCodeInsufficientScope, "account scope"},
		{"a token of a client that no longer manages accounts is insufficient_scope", func(t *testing.T, e *env) (string, *env) {
			ts, _ := e.signInAt(t, "fake", nil)
			return ts.AccessToken, e.reconfigure(t, func(o *bridge.Options) {
				o.Clients = slices.Clone(o.Clients)
				o.Clients[0].AccountManagement = false
			})
		}, bridge.ErrCodeInsufficientScope, "account_management"},
		{"a token of an ended session is invalid_token", func(t *testing.T, e *env) (string, *env) {
			ts, _ := e.signInAt(t, "fake", nil)
			if _, err := e.b.Logout(bg, bridge.LogoutRequest{AccessToken: ts.AccessToken}); err != nil {
				t.Fatal(err)
			}
			return ts.AccessToken, e
		}, bridge.ErrCodeInvalidToken, "ended"},
		{"an expired token is invalid_token", func(t *testing.T, e *env) (string, *env) {
			ts, _ := e.signInAt(t, "fake", nil)
			e.clock.Add(16 * time.Minute)
			return ts.AccessToken, e
		}, bridge.ErrCodeInvalidToken, "expired"},
		{"a refresh token is invalid_token", func(t *testing.T, e *env) (string, *env) {
			ts, _ := e.signInAt(t, "fake", nil)
			return ts.RefreshToken, e
		}, bridge.ErrCodeInvalidToken, "invalid"},
		{"garbage is invalid_token", func(t *testing.T, e *env) (string, *env) {
			return "garbage", e
		}, bridge.ErrCodeInvalidToken, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			access, e := tt.access(t, e)
			list, err := e.b.ListSessions(bg, access)
			if list != nil {
				t.Errorf("ListSessions() listed %+v", list)
			}
			isOAuthError(t, err, tt.code, tt.phrase)
		})
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	type world struct {
		e                            *env
		alice, bob                   string
		current, other               *bridge.TokenSet // Alice's sessions
		bobs                         *bridge.TokenSet
		currentSID, otherSID, bobSID string
	}
	tests := []struct {
		name string
		// target is the session id to end.
		target func(t *testing.T, w world) string
		// wantErr is "" when the session ends.
		wantErr string
		// wantActive are the sessions active afterwards.
		wantActive func(w world) []string
	}{
		{"ending another session of one's own ends it", func(t *testing.T, w world) string { return w.otherSID }, "",
			func(w world) []string { return []string{w.currentSID, w.bobSID} }},
		{"ending the current session ends it", func(t *testing.T, w world) string { return w.currentSID }, "",
			func(w world) []string { return []string{w.otherSID, w.bobSID} }},
		{"another user's session is not found and stays", func(t *testing.T, w world) string { return w.bobSID }, bridge.ErrCodeSessionNotFound,
			func(w world) []string { return []string{w.currentSID, w.otherSID, w.bobSID} }},
		{"an unknown session is not found", func(t *testing.T, w world) string { return "no-such-session-id-0000" }, bridge.ErrCodeSessionNotFound,
			func(w world) []string { return []string{w.currentSID, w.otherSID, w.bobSID} }},
		{"an empty id is not found", func(t *testing.T, w world) string { return "" }, bridge.ErrCodeSessionNotFound,
			func(w world) []string { return []string{w.currentSID, w.otherSID, w.bobSID} }},
		{"an ended session is not found", func(t *testing.T, w world) string {
			if err := w.e.b.EndSession(bg, w.current.AccessToken, w.otherSID, ""); err != nil {
				t.Fatal(err)
			}
			return w.otherSID
		}, bridge.ErrCodeSessionNotFound,
			func(w world) []string { return []string{w.currentSID, w.bobSID} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			var w world
			w.e = e
			w.current, w.alice = e.signInAt(t, "fake", nil)
			w.other, _ = e.signInAt(t, "fake", nil)
			w.bobs, w.bob = e.signInAt(t, "fake", subject("bob"))
			w.currentSID, w.otherSID, w.bobSID = e.sessionOf(t, w.current.AccessToken), e.sessionOf(t, w.other.AccessToken), e.sessionOf(t, w.bobs.AccessToken)
			target := tt.target(t, w)
			before := len(e.auditEvents(t, w.alice, bridge.AuditSessionRevoked))

			err := e.b.EndSession(bg, w.current.AccessToken, target, "192.0.2.44")

			if tt.wantErr != "" {
				isOAuthError(t, err, tt.wantErr, "no active session")
				if n := len(e.auditEvents(t, w.alice, bridge.AuditSessionRevoked)); n != before {
					t.Errorf("a refused EndSession wrote %d session_revoked events", n-before)
				}
			} else {
				if err != nil {
					t.Fatalf("EndSession: %v", err)
				}
				s := e.session(t, target)
				if s.State != store.StateRevoked || s.RevokeReason != "ended_by_user" {
					t.Errorf("the session is %s (%s), want revoked (ended_by_user)", s.State, s.RevokeReason)
				}
				checkAudit(t, e.newestAudit(t, w.alice, bridge.AuditSessionRevoked), store.AuditEvent{
					Type: bridge.AuditSessionRevoked, UserID: w.alice, SessionID: target, ClientID: "spa", IP: "192.0.2.44",
					Detail: map[string]string{"reason": "ended_by_user", "by_session": w.currentSID}})
			}
			active := append(e.activeIDs(t, w.alice), e.activeIDs(t, w.bob)...)
			if want := sorted(tt.wantActive(w)...); !slices.Equal(sorted(active...), want) {
				t.Errorf("active sessions = %v, want %v", sorted(active...), want)
			}
		})
	}
}

func TestEndingTheCurrentSessionEndsItsTokens(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, _ := e.signInAt(t, "fake", nil)
	sid := e.sessionOf(t, ts.AccessToken)
	if err := e.b.EndSession(bg, ts.AccessToken, sid, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.ListSessions(bg, ts.AccessToken); oauthCode(err) != bridge.ErrCodeInvalidToken {
		t.Errorf("ListSessions after ending the current session: %v, want invalid_token", err)
	}
	if _, err := refresh(e, ts.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Errorf("refresh after ending the current session: %v, want invalid_grant", err)
	}
	if err := e.b.EndSession(bg, ts.AccessToken, sid, ""); oauthCode(err) != bridge.ErrCodeInvalidToken {
		t.Errorf("EndSession again with the ended session's token: %v, want invalid_token", err)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	// Alice has three sessions at the SPA (a, b, c) and Bob one; each
	// case logs out from a.
	type world struct {
		e       *env
		a, b, c *bridge.TokenSet
		bob     *bridge.TokenSet
	}
	tests := []struct {
		name string
		req  func(w world) bridge.LogoutRequest
		// wantEnded counts the sessions ended; wantActive names Alice's
		// sessions active afterwards.
		wantEnded  int64
		wantActive string
		wantScope  string
	}{
		{"scope this with the access token ends only its session",
			func(w world) bridge.LogoutRequest { return bridge.LogoutRequest{AccessToken: w.a.AccessToken} }, 1, "bc", "this"},
		{"scope others with the access token ends the others and keeps this one",
			func(w world) bridge.LogoutRequest {
				return bridge.LogoutRequest{AccessToken: w.a.AccessToken, Scope: bridge.LogoutOthers}
			}, 2, "a", "others"},
		{"scope all with the access token ends every session",
			func(w world) bridge.LogoutRequest {
				return bridge.LogoutRequest{AccessToken: w.a.AccessToken, Scope: bridge.LogoutAll}
			}, 3, "", "all"},
		{"scope this with the refresh token ends only its session",
			func(w world) bridge.LogoutRequest { return bridge.LogoutRequest{RefreshToken: w.a.RefreshToken} }, 1, "bc", "this"},
		{"scope others with the refresh token keeps this one",
			func(w world) bridge.LogoutRequest {
				return bridge.LogoutRequest{RefreshToken: w.a.RefreshToken, Scope: bridge.LogoutOthers}
			}, 2, "a", "others"},
		{"scope all with the refresh token ends every session",
			func(w world) bridge.LogoutRequest {
				return bridge.LogoutRequest{RefreshToken: w.a.RefreshToken, Scope: bridge.LogoutAll}
			}, 3, "", "all"},
		{"a matching client id is accepted",
			func(w world) bridge.LogoutRequest {
				return bridge.LogoutRequest{AccessToken: w.a.AccessToken, ClientID: "spa"}
			}, 1, "bc", "this"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			w := world{e: e}
			var alice string
			w.a, alice = e.signInAt(t, "fake", nil)
			w.b, _ = e.signInAt(t, "fake", nil)
			w.c, _ = e.signInAt(t, "fake", nil)
			w.bob, _ = e.signInAt(t, "fake", subject("bob"))
			sids := map[byte]string{'a': e.sessionOf(t, w.a.AccessToken), 'b': e.sessionOf(t, w.b.AccessToken), 'c': e.sessionOf(t, w.c.AccessToken)}
			req := tt.req(w)
			req.IP = "198.51.100.20"

			res, err := e.b.Logout(bg, req)
			if err != nil {
				t.Fatalf("Logout: %v", err)
			}
			if res.Ended != tt.wantEnded || res.Client == nil || res.Client.ID != "spa" {
				t.Errorf("Logout() = ended %d, client %+v; want ended %d, the SPA", res.Ended, res.Client, tt.wantEnded)
			}
			var want []string
			for _, k := range tt.wantActive {
				want = append(want, sids[byte(k)])
			}
			if got := e.activeIDs(t, alice); !slices.Equal(got, sorted(want...)) {
				t.Errorf("Alice's active sessions = %v, want %v", got, sorted(want...))
			}
			for k, sid := range sids {
				s := e.session(t, sid)
				if s.State == store.StateRevoked && !slices.Contains([]string{"logout", "logout_others", "logout_all"}, s.RevokeReason) {
					t.Errorf("session %c revoked for %q", k, s.RevokeReason)
				}
			}
			if got := e.activeIDs(t, e.subjectOf(t, w.bob.AccessToken)); len(got) != 1 {
				t.Errorf("Bob's active sessions = %v, want his one, untouched", got)
			}
			checkAudit(t, e.newestAudit(t, alice, bridge.AuditLogout), store.AuditEvent{
				Type: bridge.AuditLogout, UserID: alice, SessionID: sids['a'], ClientID: "spa", IP: "198.51.100.20",
				Detail: map[string]string{"scope": tt.wantScope, "ended": fmt.Sprint(tt.wantEnded)}})
		})
	}
}

func TestLogoutWithTheRefreshTokenOfAnEndedSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scope   string
		wantErr bool
	}{
		{"scope this is fine: logging out twice is not an error", bridge.LogoutThis, false},
		{"scope others is refused", bridge.LogoutOthers, true},
		{"scope all is refused", bridge.LogoutAll, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			ended, alice := e.signInAt(t, "fake", nil)
			live, _ := e.signInAt(t, "fake", nil)
			if _, err := e.b.Logout(bg, bridge.LogoutRequest{RefreshToken: ended.RefreshToken}); err != nil {
				t.Fatal(err)
			}
			res, err := e.b.Logout(bg, bridge.LogoutRequest{RefreshToken: ended.RefreshToken, Scope: tt.scope})
			if tt.wantErr {
				isOAuthError(t, err, bridge.ErrCodeInvalidToken, "ended")
			} else if err != nil || res.Ended != 0 {
				t.Errorf("Logout() = %+v, %v; want success ending nothing", res, err)
			}
			if got := e.activeIDs(t, alice); !slices.Equal(got, []string{e.sessionOf(t, live.AccessToken)}) {
				t.Errorf("active sessions = %v, want the live one only", got)
			}
		})
	}
}

func TestLogoutRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		req    func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest
		code   string
		phrase string
	}{
		{"an unknown scope is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{AccessToken: ts.AccessToken, Scope: "everything"}
		}, bridge.ErrCodeInvalidRequest, "scope"},
		{"scope this spelled out is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{AccessToken: ts.AccessToken, Scope: "this"}
		}, bridge.ErrCodeInvalidRequest, "scope"},
		{"a scope in capitals is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{AccessToken: ts.AccessToken, Scope: "ALL"}
		}, bridge.ErrCodeInvalidRequest, "scope"},
		{"both tokens are invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{AccessToken: ts.AccessToken, RefreshToken: ts.RefreshToken}
		}, bridge.ErrCodeInvalidRequest, "not both"},
		{"no token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{}
		}, bridge.ErrCodeInvalidToken, "access token"},
		{"another client's id is invalid_token (access token)", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{AccessToken: ts.AccessToken, ClientID: "portal", Scope: bridge.LogoutAll}
		}, bridge.ErrCodeInvalidToken, "another client"},
		{"another client's id is invalid_token (refresh token)", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{RefreshToken: ts.RefreshToken, ClientID: "portal"}
		}, bridge.ErrCodeInvalidToken, "another client"},
		{"an expired access token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			e.clock.Add(16 * time.Minute)
			return bridge.LogoutRequest{AccessToken: ts.AccessToken}
		}, bridge.ErrCodeInvalidToken, "expired"},
		{"a garbage refresh token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{RefreshToken: "garbage"}
		}, bridge.ErrCodeInvalidToken, "refresh token"},
		{"an access token sent as the refresh token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			return bridge.LogoutRequest{RefreshToken: ts.AccessToken}
		}, bridge.ErrCodeInvalidToken, "refresh token"},
		{"a rotated-out refresh token cannot end the other sessions", func(t *testing.T, e *env, ts *bridge.TokenSet) bridge.LogoutRequest {
			if _, err := refresh(e, ts.RefreshToken); err != nil {
				t.Fatal(err)
			}
			return bridge.LogoutRequest{RefreshToken: ts.RefreshToken, Scope: bridge.LogoutOthers}
		}, bridge.ErrCodeInvalidToken, "ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			ts, alice := e.signInAt(t, "fake", nil)
			other, _ := e.signInAt(t, "fake", nil)
			want := sorted(e.sessionOf(t, ts.AccessToken), e.sessionOf(t, other.AccessToken))
			req := tt.req(t, e, ts)
			res, err := e.b.Logout(bg, req)
			if res != nil {
				t.Errorf("Logout() = %+v, want nothing", res)
			}
			isOAuthError(t, err, tt.code, tt.phrase)
			if got := e.activeIDs(t, alice); !slices.Equal(got, want) {
				t.Errorf("active sessions = %v, want both, untouched", got)
			}
			if n := len(e.auditEvents(t, alice, bridge.AuditLogout)); n != 0 {
				t.Errorf("a refused logout wrote %d logout events", n)
			}
		})
	}
}

// rpEnv is an opsEnv with Alice signed in at the SPA (openid), and the
// session id of that sign-in.
func rpEnv(t *testing.T) (*env, *bridge.TokenSet, string, string) {
	t.Helper()
	e := opsEnv(t)
	ts, alice := e.signInAs(t, "spa", "fake", "openid email profile", nil)
	if ts.IDToken == "" {
		t.Fatal("the sign-in returned no ID token")
	}
	return e, ts, alice, e.sessionOf(t, ts.AccessToken)
}

func TestEndSessionRPEndsTheSessionOfTheHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// edit changes the request; prepare runs before it.
		prepare      func(e *env)
		req          func(hint string) bridge.EndSessionRequest
		wantRedirect string
	}{
		{"with a registered redirect and state, the state is appended", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI, State: "st-42"}
		}, signedOutURI + "?state=st-42"},
		{"a state is escaped", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI, State: "a b&c=d/é"}
		}, signedOutURI + "?state=" + url.QueryEscape("a b&c=d/é")},
		{"a registered redirect with a query keeps it", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: byeURI, State: "st-42"}
		}, byeURI + "&state=st-42"},
		{"without state the redirect is the registered URI", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI}
		}, signedOutURI},
		{"the matching client_id is accepted", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, ClientID: "spa", PostLogoutRedirectURI: signedOutURI, State: "s"}
		}, signedOutURI + "?state=s"},
		{"without post_logout_redirect_uri there is no redirect", nil, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, State: "ignored"}
		}, ""},
		{"an expired hint is accepted", func(e *env) { e.clock.Add(20 * time.Minute) }, func(hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI, State: "late"}
		}, signedOutURI + "?state=late"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, ts, alice, sid := rpEnv(t)
			if tt.prepare != nil {
				tt.prepare(e)
			}
			req := tt.req(ts.IDToken)
			req.IP = "203.0.113.99"
			res, err := e.b.EndSessionRP(bg, req)
			if err != nil {
				t.Fatalf("EndSessionRP: %v", err)
			}
			if res.Redirect != tt.wantRedirect || res.ClientName != "The SPA" {
				t.Errorf("EndSessionRP() = redirect %q, client %q; want %q, The SPA", res.Redirect, res.ClientName, tt.wantRedirect)
			}
			if s := e.session(t, sid); s.State != store.StateRevoked || s.RevokeReason != "logout" {
				t.Errorf("the session is %s (%s), want revoked (logout)", s.State, s.RevokeReason)
			}
			checkAudit(t, e.newestAudit(t, alice, bridge.AuditLogout), store.AuditEvent{
				Type: bridge.AuditLogout, UserID: alice, SessionID: sid, ClientID: "spa", IP: "203.0.113.99",
				Detail: map[string]string{"scope": "this", "via": "end_session"}})
			// Again: nothing left to end, still a redirect, no second event.
			if _, err := e.b.EndSessionRP(bg, req); err != nil {
				t.Errorf("EndSessionRP again: %v", err)
			}
			if n := len(e.auditEvents(t, alice, bridge.AuditLogout)); n != 1 {
				t.Errorf("logout events = %d, want 1", n)
			}
		})
	}
}

// TestEndSessionRPAppendsTheStateToTheRegisteredURIExactly pins down that
// the redirect is the registered URI, byte for byte, with the state after
// it, whatever the registered query looks like (as the sign-in's
// redirect does, see appendQuery).
func TestEndSessionRPAppendsTheStateToTheRegisteredURIExactly(t *testing.T) {
	t.Parallel()
	// Bug: EndSessionRP adds the state by parsing the registered URI's
	// query and encoding it again (url.Values.Encode), which sorts the
	// parameters, re-escapes them and silently drops any it cannot parse
	// (a ';'), so the browser is sent to a URI that was never registered.
	for _, registered := range []string{
		"https://app.example.com/bye?z=1&a=2",
		"https://app.example.com/bye?next=/home",
		"https://app.example.com/bye?a=1;b=2",
	} {
		t.Run(registered, func(t *testing.T) {
			t.Parallel()
			e := newEnvConfig(t, envConfig{}).reconfigure(t, func(o *bridge.Options) {
				o.Clients = slices.Clone(o.Clients)
				o.Clients[0].PostLogoutRedirectURIs = []string{registered}
			})
			ts, _ := e.signIn(t)
			res, err := e.b.EndSessionRP(bg, bridge.EndSessionRequest{IDTokenHint: ts.IDToken, PostLogoutRedirectURI: registered, State: "xyz"})
			if err != nil {
				t.Fatal(err)
			}
			if want := registered + "&state=xyz"; res.Redirect != want {
				t.Errorf("redirect = %q, want %q", res.Redirect, want)
			}
		})
	}
}

func TestEndSessionRPRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		req    func(t *testing.T, e *env, hint string) bridge.EndSessionRequest
		phrase string
	}{
		{"a missing hint", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{PostLogoutRedirectURI: signedOutURI, ClientID: "spa"}
		}, "id_token_hint is missing"},
		{"a garbage hint", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: "not.a.token"}
		}, "not issued here"},
		{"a hint whose payload was altered", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: alter(hint, strings.Index(hint, ".")+10)}
		}, "not issued here"},
		{"a hint whose signature was altered", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: alter(hint, len(hint)-5)}
		}, "not issued here"},
		{"a hint signed by another key", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			claims := idTokenClaims(t, hint)
			other := newEnv(t)
			forged, err := other.issuer.MintID(tokens.ID{Subject: claims["sub"].(string), ClientID: "spa", SessionID: claims["sid"].(string), TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return bridge.EndSessionRequest{IDTokenHint: forged}
		}, "not issued here"},
		{"an access token as the hint", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			ts, _ := e.signIn(t)
			return bridge.EndSessionRequest{IDTokenHint: ts.AccessToken}
		}, "not issued here"},
		{"a client_id that is not the hint's audience", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, ClientID: "portal"}
		}, "client_id"},
		{"a hint of a client no longer registered", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			claims := idTokenClaims(t, hint)
			gone, err := e.issuer.MintID(tokens.ID{Subject: claims["sub"].(string), ClientID: "gone", SessionID: claims["sid"].(string), TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return bridge.EndSessionRequest{IDTokenHint: gone}
		}, "not registered"},
		{"an unregistered post_logout_redirect_uri", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: "https://evil.example.com/"}
		}, "post_logout_redirect_uri"},
		{"the sign-in redirect URI as post_logout_redirect_uri", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: spaRedirect}
		}, "post_logout_redirect_uri"},
		{"a registered URI with a trailing slash", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI + "/"}
		}, "post_logout_redirect_uri"},
		{"a registered URI in another case", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: "https://app.example.com/Signed-Out"}
		}, "post_logout_redirect_uri"},
		{"a registered URI with a host in capitals", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: "https://APP.example.com/signed-out"}
		}, "post_logout_redirect_uri"},
		{"a registered URI with an extra query", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: signedOutURI + "?x=1"}
		}, "post_logout_redirect_uri"},
		{"a registered URI with its query left off", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: "https://app.example.com/bye"}
		}, "post_logout_redirect_uri"},
		{"a registered URI over http", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: "http://app.example.com/signed-out"}
		}, "post_logout_redirect_uri"},
		{"another client's registered URI", func(t *testing.T, e *env, hint string) bridge.EndSessionRequest {
			return bridge.EndSessionRequest{IDTokenHint: hint, PostLogoutRedirectURI: portalRedirect}
		}, "post_logout_redirect_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, ts, alice, sid := rpEnv(t)
			res, err := e.b.EndSessionRP(bg, tt.req(t, e, ts.IDToken))
			var lr *bridge.ErrLogoutRefused
			if !errors.As(err, &lr) || res != nil {
				t.Fatalf("EndSessionRP() = %+v, %v; want an *ErrLogoutRefused", res, err)
			}
			if !strings.Contains(lr.Why, tt.phrase) {
				t.Errorf("refusal %q, want it to mention %q", lr.Why, tt.phrase)
			}
			if s := e.session(t, sid); s.State != store.StateActive {
				t.Errorf("the session is %s (%s), want still active", s.State, s.RevokeReason)
			}
			if n := len(e.auditEvents(t, alice, bridge.AuditLogout)); n != 0 {
				t.Errorf("a refused logout wrote %d logout events", n)
			}
		})
	}
}
