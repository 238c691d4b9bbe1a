package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
)

// secretsOf returns the token material of token sets, and each JWT's
// signature on its own, for checks that none of it was written anywhere.
func secretsOf(sets ...*bridge.TokenSet) []string {
	var out []string
	for _, ts := range sets {
		for _, tok := range []string{ts.AccessToken, ts.RefreshToken, ts.IDToken} {
			if tok == "" {
				continue
			}
			out = append(out, tok)
			if i := strings.LastIndexByte(tok, '.'); i >= 0 && len(tok)-i > 16 {
				out = append(out, tok[i+1:])
			}
		}
	}
	return out
}

// alwaysSecret is material that must never be written to the audit trail
// or the log: provider tokens, client secrets, the admin credential.
var alwaysSecret = []string{"provider-access-secret", "provider-refresh-secret", apiCreds.Secret, "s3cret", adminToken}

// checkNoSecrets reports any of secrets found in text.
func checkNoSecrets(t testing.TB, what, text string, secrets []string) {
	t.Helper()
	for _, s := range append(slices.Clone(alwaysSecret), secrets...) {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds secret material %.24q…", what, s)
		}
	}
}

func TestActionsAreAuditedWithoutTokenMaterial(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	var secrets []string
	ctx := context.Background()

	// Alice signs in.
	first, alice := e.signInAt(t, "fake", nil)
	firstSID := e.sessionOf(t, first.AccessToken)
	// A sign-in the person declines at the provider.
	_, challenge := pkce()
	declined := e.begin(t, challenge)
	if _, err := e.b.FinishLogin(ctx, "fake", bridge.Callback{State: declined.state, Error: "access_denied", Binding: e.bound(declined.flowID)}); err != nil {
		t.Fatal(err)
	}
	// A code redeemed twice.
	grant, reusedSID := e.pendingCode(t)
	secrets = append(secrets, grant.Code, grant.CodeVerifier, strings.SplitN(grant.Code, ".", 2)[1])
	reused, err := e.b.ExchangeCode(ctx, grant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.ExchangeCode(ctx, grant); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Fatalf("second redemption: %v", err)
	}
	// A refresh token used again after the grace window.
	rotated, _ := e.signInAt(t, "fake", nil)
	rotatedSID := e.sessionOf(t, rotated.AccessToken)
	next, err := refresh(e, rotated.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(11 * time.Second)
	if _, err := refresh(e, rotated.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Fatalf("reuse: %v", err)
	}
	// The client revokes a session, the user ends one and logs out of
	// another, an RP-initiated logout ends one more.
	revoked, _ := e.signInAt(t, "fake", nil)
	if err := e.b.Revoke(ctx, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: revoked.RefreshToken, IP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	ended, _ := e.signInAt(t, "fake", nil)
	if err := e.b.EndSession(ctx, first.AccessToken, e.sessionOf(t, ended.AccessToken), "198.51.100.2"); err != nil {
		t.Fatal(err)
	}
	loggedOut, _ := e.signInAt(t, "fake", nil)
	if _, err := e.b.Logout(ctx, bridge.LogoutRequest{RefreshToken: loggedOut.RefreshToken, IP: "198.51.100.3"}); err != nil {
		t.Fatal(err)
	}
	rp, _ := e.signInAs(t, "spa", "fake", "openid", nil)
	if _, err := e.b.EndSessionRP(ctx, bridge.EndSessionRequest{IDTokenHint: rp.IDToken, PostLogoutRedirectURI: signedOutURI, State: "st", IP: "198.51.100.4"}); err != nil {
		t.Fatal(err)
	}
	// An administrator changes the roles, cuts the user off, lets them in.
	if _, _, err := e.b.SetUserRoles(ctx, adminAction(alice), []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.RevokeUserTokens(ctx, adminAction(alice)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.DisableUser(ctx, adminAction(alice)); err != nil {
		t.Fatal(err)
	}
	refused := e.signInRedirect(t) // refused: disabled
	if err := e.b.EnableUser(ctx, adminAction(alice)); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, secretsOf(first, reused, rotated, next, revoked, ended, loggedOut, rp)...)

	events, err := e.b.AuditEvents(ctx, bridge.AuditQuery{Limit: bridge.MaxAuditPage})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string][]store.AuditEvent{}
	for _, ev := range events {
		byType[ev.Type] = append(byType[ev.Type], ev)
		raw, _ := json.Marshal(ev)
		checkNoSecrets(t, ev.Type+" audit event", string(raw), secrets)
	}
	tests := []struct {
		name string
		want store.AuditEvent
	}{
		{"a sign-in is login", store.AuditEvent{Type: bridge.AuditLogin, UserID: alice, SessionID: firstSID, ClientID: "spa",
			Detail: map[string]string{"provider": "fake", "new_user": "true"}}},
		{"a declined sign-in is login_failed", store.AuditEvent{Type: bridge.AuditLoginFailed, SessionID: declined.flowID, ClientID: "spa",
			Detail: map[string]string{"provider": "fake", "error": "access_denied"}}},
		{"a code redeemed twice is code_reuse", store.AuditEvent{Type: bridge.AuditCodeReuse, UserID: alice, SessionID: reusedSID, ClientID: "spa"}},
		{"a refresh token used again is refresh_reuse", store.AuditEvent{Type: bridge.AuditRefreshReuse, UserID: alice, SessionID: rotatedSID, ClientID: "spa",
			Detail: map[string]string{"presented_generation": "1", "current_generation": "2"}}},
		{"a client's revocation is session_revoked", store.AuditEvent{Type: bridge.AuditSessionRevoked, UserID: alice, SessionID: e.sessionOf(t, revoked.AccessToken),
			ClientID: "spa", IP: "198.51.100.1", Detail: map[string]string{"reason": "revoked_by_client"}}},
		{"a session the user ends is session_revoked", store.AuditEvent{Type: bridge.AuditSessionRevoked, UserID: alice, SessionID: e.sessionOf(t, ended.AccessToken),
			ClientID: "spa", IP: "198.51.100.2", Detail: map[string]string{"reason": "ended_by_user", "by_session": firstSID}}},
		{"a logout is logout", store.AuditEvent{Type: bridge.AuditLogout, UserID: alice, SessionID: e.sessionOf(t, loggedOut.AccessToken),
			ClientID: "spa", IP: "198.51.100.3", Detail: map[string]string{"scope": "this", "ended": "1"}}},
		{"an RP-initiated logout is logout", store.AuditEvent{Type: bridge.AuditLogout, UserID: alice, SessionID: e.sessionOf(t, rp.AccessToken),
			ClientID: "spa", IP: "198.51.100.4", Detail: map[string]string{"scope": "this", "via": "end_session"}}},
		{"a change of roles is user_roles_changed", store.AuditEvent{Type: bridge.AuditUserRolesChanged, UserID: alice, Actor: bridge.Admin, IP: adminIP}},
		{"revoking the user's tokens is user_tokens_revoked", store.AuditEvent{Type: bridge.AuditUserTokensRevoked, UserID: alice, Actor: bridge.Admin, IP: adminIP}},
		{"disabling is user_disabled", store.AuditEvent{Type: bridge.AuditUserDisabled, UserID: alice, Actor: bridge.Admin, IP: adminIP}},
		{"enabling is user_enabled", store.AuditEvent{Type: bridge.AuditUserEnabled, UserID: alice, Actor: bridge.Admin, IP: adminIP}},
		{"a disabled user's sign-in is login_failed, the user's", store.AuditEvent{Type: bridge.AuditLoginFailed, UserID: alice, ClientID: "spa",
			Detail: map[string]string{"provider": "fake", "error": bridge.ErrCodeAccessDenied}}},
	}
	refusedFlow := ""
	for _, ev := range byType[bridge.AuditLoginFailed] {
		if ev.SessionID != declined.flowID {
			refusedFlow = ev.SessionID
		}
	}
	if refused.Query().Get("error") != bridge.ErrCodeAccessDenied || refusedFlow == "" {
		t.Errorf("the disabled user's sign-in went to %s and left failed flow %q", refused, refusedFlow)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want.Type == bridge.AuditLoginFailed && want.SessionID == "" {
				want.SessionID = refusedFlow
			}
			for _, ev := range byType[want.Type] {
				if ev.SessionID == want.SessionID && ev.IP == want.IP {
					checkAudit(t, ev, want)
					return
				}
			}
			t.Errorf("no %s event of session %q among %d", want.Type, want.SessionID, len(byType[want.Type]))
		})
	}
}

// auditFixture appends events directly to the store: n events of each
// of users, of types alternately login and logout, a second apart but
// for every third, which shares the time of the one before.
func auditFixture(t testing.TB, e *env, n int, users ...string) []store.AuditEvent {
	t.Helper()
	base := e.clock.Now().Add(-time.Hour)
	var all []store.AuditEvent
	for i := range n {
		at := base.Add(time.Duration(i-i/3) * time.Second)
		for j, u := range users {
			ev := store.AuditEvent{
				ID: fmt.Sprintf("ev-%s-%03d", u, i), At: at, Type: []string{bridge.AuditLogin, bridge.AuditLogout}[(i+j)%2],
				UserID: u, SessionID: fmt.Sprintf("sid-%03d", i), ClientID: "spa",
			}
			if err := e.store.AppendAudit(bg, ev); err != nil {
				t.Fatal(err)
			}
			all = append(all, ev)
		}
	}
	return all
}

// ids returns the ids of events, in order.
func ids(events []store.AuditEvent) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.ID
	}
	return out
}

// newestFirst returns the ids of the events keep selects, newest first
// (by time, then id descending), as ListAudit orders them.
func newestFirst(events []store.AuditEvent, keep func(store.AuditEvent) bool) []string {
	var sel []store.AuditEvent
	for _, ev := range events {
		if keep(ev) {
			sel = append(sel, ev)
		}
	}
	slices.SortFunc(sel, func(a, b store.AuditEvent) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return ids(sel)
}

func TestAuditEventsSelectsByUserAndType(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	all := auditFixture(t, e, 12, "u-ann", "u-ben")
	tests := []struct {
		name string
		q    bridge.AuditQuery
		keep func(store.AuditEvent) bool
	}{
		{"everyone's events", bridge.AuditQuery{}, func(store.AuditEvent) bool { return true }},
		{"one user's events", bridge.AuditQuery{UserID: "u-ann"}, func(ev store.AuditEvent) bool { return ev.UserID == "u-ann" }},
		{"one type's events", bridge.AuditQuery{Type: bridge.AuditLogout}, func(ev store.AuditEvent) bool { return ev.Type == bridge.AuditLogout }},
		{"one user's events of one type", bridge.AuditQuery{UserID: "u-ben", Type: bridge.AuditLogin},
			func(ev store.AuditEvent) bool { return ev.UserID == "u-ben" && ev.Type == bridge.AuditLogin }},
		{"an unknown user's events", bridge.AuditQuery{UserID: "u-nobody"}, func(store.AuditEvent) bool { return false }},
		{"an unknown type's events", bridge.AuditQuery{Type: "nothing"}, func(store.AuditEvent) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.b.AuditEvents(bg, tt.q)
			if err != nil || got == nil {
				t.Fatalf("AuditEvents() = %v, %v; want a list, empty rather than nil", got, err)
			}
			if want := newestFirst(all, tt.keep); !slices.Equal(ids(got), want) {
				t.Errorf("AuditEvents() = %v,\nwant %v", ids(got), want)
			}
		})
	}
}

func TestAuditEventsLimits(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	all := auditFixture(t, e, bridge.MaxAuditPage+20, "u-many")
	tests := []struct {
		name     string
		q        bridge.AuditQuery
		wantLen  int
		wantCode string
	}{
		// The listings are of the user's events: each listing adds an
		// audit_read event of no user, which the next one would show.
		{"no limit is the default page", bridge.AuditQuery{UserID: "u-many"}, bridge.DefaultAuditPage, ""},
		{"a limit of one", bridge.AuditQuery{UserID: "u-many", Limit: 1}, 1, ""},
		{"the largest limit", bridge.AuditQuery{UserID: "u-many", Limit: bridge.MaxAuditPage}, bridge.MaxAuditPage, ""},
		{"a limit beyond the largest is invalid_request", bridge.AuditQuery{Limit: bridge.MaxAuditPage + 1}, 0, bridge.ErrCodeInvalidRequest},
		{"a negative limit is invalid_request", bridge.AuditQuery{Limit: -1}, 0, bridge.ErrCodeInvalidRequest},
		{"before_id without before is invalid_request", bridge.AuditQuery{BeforeID: all[3].ID}, 0, bridge.ErrCodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.b.AuditEvents(bg, tt.q)
			if tt.wantCode != "" {
				if got != nil {
					t.Errorf("AuditEvents() listed %d events", len(got))
				}
				isOAuthError(t, err, tt.wantCode, "")
				return
			}
			if err != nil || len(got) != tt.wantLen {
				t.Fatalf("AuditEvents() = %d events, %v; want %d", len(got), err, tt.wantLen)
			}
			if want := newestFirst(all, func(store.AuditEvent) bool { return true })[:tt.wantLen]; !slices.Equal(ids(got), want) {
				t.Errorf("AuditEvents() is not the newest %d events", tt.wantLen)
			}
		})
	}
}

func TestAuditEventsPagesWithBeforeAndBeforeID(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	all := auditFixture(t, e, 23, "u-ann", "u-ben")
	for _, q := range []bridge.AuditQuery{{Limit: 5}, {UserID: "u-ann", Limit: 4}, {Type: bridge.AuditLogin, Limit: 3}, {UserID: "u-ben", Type: bridge.AuditLogout, Limit: 2}} {
		t.Run(fmt.Sprintf("user %q type %q by %d", q.UserID, q.Type, q.Limit), func(t *testing.T) {
			var got []string
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Fatal("the listing does not end")
				}
				page, err := e.b.AuditEvents(bg, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > q.Limit {
					t.Fatalf("a page of %d events, limit %d", len(page), q.Limit)
				}
				got = append(got, ids(page)...)
				if len(page) < q.Limit {
					break
				}
				last := page[len(page)-1]
				q.Before, q.BeforeID = last.At, last.ID
			}
			want := newestFirst(all, func(ev store.AuditEvent) bool {
				return (q.UserID == "" || ev.UserID == q.UserID) && (q.Type == "" || ev.Type == q.Type)
			})
			if !slices.Equal(got, want) {
				t.Errorf("pages = %v,\nwant %v", got, want)
			}
		})
	}
	// Before alone selects the events older than it.
	got, err := e.b.AuditEvents(bg, bridge.AuditQuery{UserID: "u-ann", Before: all[10].At})
	if err != nil {
		t.Fatal(err)
	}
	want := newestFirst(all, func(ev store.AuditEvent) bool { return ev.UserID == "u-ann" && ev.At.Before(all[10].At) })
	if !slices.Equal(ids(got), want) {
		t.Errorf("AuditEvents(before) = %v, want %v", ids(got), want)
	}
}

// failingAudit is a store whose audit trail cannot be written.
type failingAudit struct{ store.Store }

func (failingAudit) AppendAudit(context.Context, store.AuditEvent) error {
	return errors.New("database is locked")
}

func TestAnAuditWriteFailureDoesNotFailTheAction(t *testing.T) {
	t.Parallel()
	e := withOps(t, newEnvConfig(t, envConfig{clients: []bridge.Client{apiClient}, wrap: func(s store.Store) store.Store { return failingAudit{s} }}))
	ts, alice := e.signInAt(t, "fake", nil)
	other, _ := e.signInAt(t, "fake", nil)
	res, err := e.b.Logout(bg, bridge.LogoutRequest{AccessToken: ts.AccessToken, Scope: bridge.LogoutOthers, IP: "198.51.100.7"})
	if err != nil || res.Ended != 1 {
		t.Fatalf("Logout() = %+v, %v; want one session ended", res, err)
	}
	if s := e.session(t, e.sessionOf(t, other.AccessToken)); s.State != store.StateRevoked {
		t.Errorf("the other session is %s, want revoked", s.State)
	}
	if _, err := e.b.DisableUser(bg, adminAction(alice)); err != nil {
		t.Errorf("DisableUser: %v", err)
	}
	if !e.user(t, alice).Disabled {
		t.Error("the user is not disabled")
	}
	logs := e.logs.String()
	var lost []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "audit event not stored") {
			lost = append(lost, line)
		}
	}
	for _, want := range []string{"type=login ", "type=logout ", "type=user_disabled "} {
		found := false
		for _, line := range lost {
			if strings.Contains(line, want) && strings.Contains(line, "user_id="+alice) && strings.Contains(line, "database is locked") {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line of the lost %s event with its user and cause among\n%s", strings.TrimSpace(want), strings.Join(lost, "\n"))
		}
	}
	if !strings.Contains(strings.Join(lost, "\n"), "scope:others") {
		t.Errorf("the lost logout event's detail is not in the log:\n%s", strings.Join(lost, "\n"))
	}
	checkNoSecrets(t, "the log", logs, secretsOf(ts, other))
}

// hangUpStore cancels the request's context once a session is revoked
// (the client hangs up as the action finishes) and records the context
// the audit write gets.
type hangUpStore struct {
	store.Store
	mu       sync.Mutex
	cancel   context.CancelFunc
	auditErr []error
	deadline []time.Duration
}

func (h *hangUpStore) Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	ok, err := h.Store.Revoke(ctx, id, reason, now)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel != nil {
		h.cancel()
	}
	return ok, err
}

func (h *hangUpStore) AppendAudit(ctx context.Context, ev store.AuditEvent) error {
	h.mu.Lock()
	h.auditErr = append(h.auditErr, ctx.Err())
	d, ok := ctx.Deadline()
	if ok {
		h.deadline = append(h.deadline, time.Until(d))
	} else {
		h.deadline = append(h.deadline, -1)
	}
	h.mu.Unlock()
	return h.Store.AppendAudit(ctx, ev)
}

func TestTheAuditWriteOutlivesAClientThatHangsUp(t *testing.T) {
	t.Parallel()
	h := &hangUpStore{}
	e := withOps(t, newEnvConfig(t, envConfig{clients: []bridge.Client{apiClient}, wrap: func(s store.Store) store.Store { h.Store = s; return h }}))
	ts, alice := e.signInAt(t, "fake", nil)
	ctx, cancel := context.WithCancel(context.Background())
	h.mu.Lock()
	h.cancel, h.auditErr, h.deadline = cancel, nil, nil
	h.mu.Unlock()
	if _, err := e.b.Logout(ctx, bridge.LogoutRequest{AccessToken: ts.AccessToken}); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("the request's context was not cancelled")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.auditErr) != 1 || h.auditErr[0] != nil || h.deadline[0] <= 0 || h.deadline[0] > time.Second {
		t.Errorf("the audit write got context errors %v, deadlines %v; want one live context with a deadline within a second", h.auditErr, h.deadline)
	}
	if got := e.auditEvents(t, alice, bridge.AuditLogout); len(got) != 1 {
		t.Errorf("logout events = %d, want 1", len(got))
	}
}

func TestATokenExchangeIsAuditedAsALogin(t *testing.T) {
	t.Parallel()
	e, _ := nativeEnv(t)
	first, second := subjectToken(), subjectToken()
	ts1 := exchangeOK(t, e, exchangeOf(first))
	alice := e.subjectOf(t, ts1.AccessToken)
	e.clock.Add(time.Second)
	ts2 := exchangeOK(t, e, exchangeOf(second))
	logins := e.auditEvents(t, alice, bridge.AuditLogin)
	if len(logins) != 2 {
		t.Fatalf("login events = %d, want 2", len(logins))
	}
	for i, tt := range []struct {
		ts      *bridge.TokenSet
		newUser string
	}{{ts1, "true"}, {ts2, "false"}} {
		checkAudit(t, logins[i], store.AuditEvent{Type: bridge.AuditLogin, UserID: alice, SessionID: e.sessionOf(t, tt.ts.AccessToken),
			ClientID: "mobile", IP: mobileIP, Detail: map[string]string{"provider": "fake", "via": "token_exchange", "new_user": tt.newUser}})
	}
	all, err := e.b.AuditEvents(bg, bridge.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(all)
	checkNoSecrets(t, "the audit trail", string(raw), append(secretsOf(ts1, ts2), first, second))
}
