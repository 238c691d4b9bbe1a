package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

func TestAdminFindUsers(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	_, alice := e.signInAt(t, "fake", nil)
	_, bob := e.signInAt(t, "fake", func(id *providers.Identity) {
		id.Subject, id.Profile.Email = "bob", "bob@example.com"
	})
	_, alice2 := e.signInAt(t, "fake", subject("another-alice")) // same email, another account

	ids := func(list []bridge.UserSummary) []string {
		out := []string{}
		for _, u := range list {
			out = append(out, u.ID)
		}
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	tests := []struct {
		name string
		q    bridge.AdminUserQuery
		want []string
	}{
		{"by id", bridge.AdminUserQuery{ID: bob}, []string{bob}},
		{"by an unknown id is no one", bridge.AdminUserQuery{ID: "nobody"}, []string{}},
		{"by email, whatever its case, finds every user with it", bridge.AdminUserQuery{Email: "Alice@Example.com"}, sorted(alice, alice2)},
		{"by an unknown email is no one", bridge.AdminUserQuery{Email: "carol@example.com"}, []string{}},
		{"by identity", bridge.AdminUserQuery{Provider: "fake", Subject: "bob"}, []string{bob}},
		{"by an unknown identity is no one", bridge.AdminUserQuery{Provider: "fake", Subject: "carol"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.b.AdminFindUsers(bg, tt.q, adminAction(""))
			if err != nil {
				t.Fatalf("AdminFindUsers(%+v): %v", tt.q, err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("AdminFindUsers(%+v) = %v, want %v", tt.q, ids(got), tt.want)
			}
		})
	}
	t.Run("a found user is summarised as AdminUser does", func(t *testing.T) {
		got, err := e.b.AdminFindUsers(bg, bridge.AdminUserQuery{Provider: "fake", Subject: "bob"}, adminAction(""))
		if err != nil || len(got) != 1 {
			t.Fatalf("AdminFindUsers = %v, %v", got, err)
		}
		if got[0].Profile.Email != "bob@example.com" || !slices.Equal(got[0].Providers, []string{"fake"}) || got[0].Sessions != 1 {
			t.Errorf("summary = %+v", got[0])
		}
	})

	for _, q := range []struct {
		name string
		q    bridge.AdminUserQuery
	}{
		{"no selector", bridge.AdminUserQuery{}},
		{"two selectors", bridge.AdminUserQuery{ID: alice, Email: "alice@example.com"}},
		{"a provider without subject", bridge.AdminUserQuery{Provider: "fake"}},
		{"a subject without provider", bridge.AdminUserQuery{Subject: "bob"}},
		{"an invalid provider name", bridge.AdminUserQuery{Provider: "fa.ke", Subject: "bob"}},
	} {
		t.Run(q.name+" is invalid_request", func(t *testing.T) {
			if _, err := e.b.AdminFindUsers(bg, q.q, adminAction("")); oauthCode(err) != bridge.ErrCodeInvalidRequest {
				t.Errorf("AdminFindUsers(%+v) = %v, want invalid_request", q.q, err)
			}
		})
	}
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	first, alice := e.signInAt(t, "fake", nil)
	second, _ := e.signInAt(t, "fake", nil)
	grant, codeSID := e.pendingCode(t) // issued before the deletion, redeemed after
	bobTS, bob := e.signInAt(t, "fake", subject("bob"))
	sids := []string{e.sessionOf(t, first.AccessToken), e.sessionOf(t, second.AccessToken), codeSID}

	n, err := e.b.DeleteUser(bg, bridge.AdminAction{UserID: alice, IP: adminIP, Actor: bridge.CLI})
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteUser revoked %d sessions, want 3 (two active, one holding a code)", n)
	}
	if _, err := e.b.AdminUser(bg, adminAction(alice)); oauthCode(err) != bridge.ErrCodeUserNotFound {
		t.Errorf("AdminUser after the deletion: %v, want user_not_found", err)
	}
	if _, err := e.store.GetIdentity(bg, "fake|subject-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity after the deletion: %v, want not found", err)
	}
	for _, sid := range sids {
		s := e.session(t, sid)
		if s.State != store.StateRevoked || len(s.Claims) != 0 || s.IP != "" || s.UserAgent != "" {
			t.Errorf("session %s: state %s, claims %v, ip %q, user agent %q; want revoked and scrubbed", sid, s.State, s.Claims, s.IP, s.UserAgent)
		}
	}
	events, err := e.store.ListAudit(bg, store.AuditQuery{UserID: alice, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("audit events of the deleted user = %+v, want only the deletion", events)
	}
	checkAudit(t, events[0], store.AuditEvent{Type: bridge.AuditUserDeleted, UserID: alice, Actor: bridge.CLI})
	if events[0].IP != "" || len(events[0].Detail) != 0 {
		t.Errorf("the deletion's audit event holds more than the user and actor: %+v", events[0])
	}

	t.Run("old tokens are refused", func(t *testing.T) {
		if _, err := refresh(e, first.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
			t.Errorf("refresh: %v, want invalid_grant", err)
		}
		if _, err := e.b.UserInfo(bg, second.AccessToken); oauthCode(err) != bridge.ErrCodeInvalidToken {
			t.Errorf("UserInfo: %v, want invalid_token", err)
		}
		if _, err := e.b.ExchangeCode(bg, grant); oauthCode(err) != bridge.ErrCodeInvalidGrant {
			t.Errorf("ExchangeCode of a code issued before: %v, want invalid_grant", err)
		}
	})
	t.Run("the revocation feed still announces the sessions", func(t *testing.T) {
		feed, err := e.store.RevocationsSince(bg, e.clock.Now().Add(-time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, sid := range sids {
			if !slices.ContainsFunc(feed, func(r store.Revocation) bool { return r.SessionID == sid }) {
				t.Errorf("session %s is not in the feed", sid)
			}
		}
	})
	t.Run("a new sign-in of the identity is a new user", func(t *testing.T) {
		_, again := e.signInAt(t, "fake", nil)
		if again == alice || again == "" {
			t.Errorf("the sign-in after the deletion is user %q, want a new user", again)
		}
	})
	t.Run("other users keep their sessions", func(t *testing.T) {
		if got := e.activeIDs(t, bob); !slices.Equal(got, []string{e.sessionOf(t, bobTS.AccessToken)}) {
			t.Errorf("Bob's sessions = %v", got)
		}
	})
	t.Run("deleting again, or an unknown user, is user_not_found", func(t *testing.T) {
		for _, id := range []string{alice, "nobody", ""} {
			if _, err := e.b.DeleteUser(bg, adminAction(id)); oauthCode(err) != bridge.ErrCodeUserNotFound {
				t.Errorf("DeleteUser(%q) = %v, want user_not_found", id, err)
			}
		}
	})
}

// raceHook is a store that runs a function, once, just before it claims
// an identity (claim) or writes a sign-in's user (upsert): an
// administrator's deletion landing in the middle of a sign-in or link.
type raceHook struct {
	store.Store
	mu            sync.Mutex
	claim, upsert func()
}

// take returns *f and clears it, under the lock.
func (h *raceHook) take(f *func()) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := *f
	*f = nil
	return g
}

func (h *raceHook) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (string, bool, error) {
	if f := h.take(&h.claim); f != nil {
		f()
	}
	return h.Store.ClaimIdentity(ctx, key, provider, subject, newUserID, now)
}

func (h *raceHook) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	if f := h.take(&h.upsert); f != nil {
		f()
	}
	return h.Store.UpsertLogin(ctx, userID, l)
}

// raceEnv is opsEnv with providers fake and other behind a raceHook.
func raceEnv(t *testing.T) (*env, *raceHook) {
	h := &raceHook{}
	e := withOps(t, newEnvConfig(t, envConfig{
		clients:   []bridge.Client{apiClient},
		providers: []providers.Provider{newFakeProvider("fake"), newFakeProvider("other")},
		wrap:      func(s store.Store) store.Store { h.Store = s; return h },
	}))
	return e, h
}

// deleteOnce returns a hook function that deletes user id.
func deleteOnce(t *testing.T, e *env, id string) func() {
	return func() {
		if _, err := e.b.DeleteUser(bg, adminAction(id)); err != nil {
			t.Errorf("DeleteUser: %v", err)
		}
	}
}

// TestASignInRacingTheDeletionOfItsUserBecomesANewUser deletes the user
// while a sign-in of theirs is between its claim of the identity (which
// found the user) and its write of the user: the write must not bring
// the deleted user back (with the sign-in's profile and provider tokens);
// the sign-in finishes as a new user.
func TestASignInRacingTheDeletionOfItsUserBecomesANewUser(t *testing.T) {
	t.Parallel()
	e, h := raceEnv(t)
	_, alice := e.signInAt(t, "fake", nil)
	h.mu.Lock()
	h.upsert = deleteOnce(t, e, alice)
	h.mu.Unlock()
	ts, again := e.signInAt(t, "fake", nil)
	if again == alice || again == "" {
		t.Fatalf("the sign-in racing the deletion signed in as %q, want a new user (the deleted one was %q)", again, alice)
	}
	if _, err := e.store.GetUser(bg, alice); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(deleted) = %v, want not found: the racing sign-in wrote the deleted user again", err)
	}
	ident, err := e.store.GetIdentity(bg, "fake|subject-1")
	if err != nil || ident.UserID != again {
		t.Errorf("the identity belongs to %+v (%v), want the new user %s", ident, err, again)
	}
	if _, err := e.b.UserInfo(bg, ts.AccessToken); err != nil {
		t.Errorf("UserInfo of the new user: %v", err)
	}
}

// TestALinkForADeletedUserIsRefusedAndLeavesNoIdentity deletes the user
// while their explicit link is between its read of the user and its
// claim of the new identity: the claim creates the identity for the
// deleted id, the write refuses, and the identity must not stay behind
// pointing at the deleted user.
func TestALinkForADeletedUserIsRefusedAndLeavesNoIdentity(t *testing.T) {
	t.Parallel()
	e, h := raceEnv(t)
	ts, alice := e.signInAt(t, "fake", nil)
	lf := e.startLink(t, ts.AccessToken, "other", nil)
	code := e.linkCode(t, "other", lf)
	h.mu.Lock()
	h.claim = deleteOnce(t, e, alice)
	h.mu.Unlock()
	if _, err := e.completeLink(ts.AccessToken, code, lf.verifier); oauthCode(err) != bridge.ErrCodeInvalidToken {
		t.Errorf("completing the link of a deleted user: %v, want invalid_token", err)
	}
	if ident, err := e.store.GetIdentity(bg, "other|subject-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity of the linked identity = %+v, %v; want not found", ident, err)
	}
	if _, err := e.store.GetUser(bg, alice); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(deleted) = %v, want not found", err)
	}
	// The identity is free: signing in with it makes a new user.
	if _, id := e.signInAt(t, "other", nil); id == alice || id == "" {
		t.Errorf("signing in with the released identity gave user %q", id)
	}
}

// TestTheAdminViewListsIdentitiesAndSessionsWithoutTokens: an
// administrator sees each identity (provider, subject, what the provider
// said) and each active session (application, device, times), and no
// token or sealed token of any kind.
func TestTheAdminViewListsIdentitiesAndSessionsWithoutTokens(t *testing.T) {
	t.Parallel()
	e, _ := raceEnv(t)
	ts, alice := e.signInAt(t, "fake", func(id *providers.Identity) {
		id.Profile.Email, id.Profile.Name = "alice@example.com", "Alice"
	})
	e.clock.Add(time.Minute)
	e.link(t, ts.AccessToken, "other", func(id *providers.Identity) { id.Subject, id.Profile.Email = "o-7", "alice@other.example" })
	second, _ := e.signInAt(t, "fake", nil)

	sum, err := e.b.AdminUser(bg, adminAction(alice))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range sum.Identities {
		got = append(got, id.Provider+"|"+id.Subject+"|"+id.Email)
	}
	if want := []string{"fake|subject-1|alice@example.com", "other|o-7|alice@other.example"}; !slices.Equal(got, want) {
		t.Errorf("identities = %q, want %q", got, want)
	}
	if sum.Identities[0].ProviderLabel != "Fake ID" || sum.Identities[0].LinkedAt.IsZero() {
		t.Errorf("identity = %+v, want its label and when it was linked", sum.Identities[0])
	}
	var sids []string
	for _, s := range sum.SessionList {
		sids = append(sids, s.ID)
		if s.ClientID != "spa" || s.Current || s.CreatedAt.IsZero() || s.ExpiresAt.IsZero() {
			t.Errorf("session = %+v, want the spa's, none marked current, with its times", s)
		}
	}
	want := []string{e.sessionOf(t, second.AccessToken), e.sessionOf(t, ts.AccessToken)}
	if sum.Sessions != 2 || !slices.Equal(sids, want) {
		t.Errorf("sessions = %d %q, want %q (most recently used first)", sum.Sessions, sids, want)
	}
	body, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	u := e.user(t, alice)
	secrets := []string{ts.AccessToken, ts.RefreshToken, ts.IDToken, second.AccessToken, second.RefreshToken}
	for _, l := range u.Providers {
		secrets = append(secrets, l.AccessTokenSealed, l.RefreshTokenSealed, l.IDTokenSealed)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(string(body), sec) {
			t.Errorf("the admin view holds token material %.12s…", sec)
		}
	}
	for _, field := range []string{"access_token", "refresh_token", "id_token", "sealed"} {
		if strings.Contains(string(body), field) {
			t.Errorf("the admin view has a field %q: %s", field, body)
		}
	}
}

// TestAdministratorsReadsAreAudited: reading a user, finding users and
// reading the audit trail are recorded like changes, with who read and
// from where.
func TestAdministratorsReadsAreAudited(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	_, alice := e.signInAt(t, "fake", nil)
	if _, err := e.b.AdminUser(bg, adminAction(alice)); err != nil {
		t.Fatal(err)
	}
	checkAudit(t, e.newestAudit(t, alice, bridge.AuditUserViewed), store.AuditEvent{
		Type: bridge.AuditUserViewed, UserID: alice, Actor: bridge.Admin, IP: adminIP, Detail: map[string]string{"via": "get"}})

	e.clock.Add(time.Second) // the next event is the newest
	cli := bridge.AdminAction{Actor: bridge.CLI}
	if found, err := e.b.AdminFindUsers(bg, bridge.AdminUserQuery{Provider: "fake", Subject: "subject-1"}, cli); err != nil || len(found) != 1 {
		t.Fatalf("AdminFindUsers = %v, %v", found, err)
	}
	checkAudit(t, e.newestAudit(t, alice, bridge.AuditUserViewed), store.AuditEvent{
		Type: bridge.AuditUserViewed, UserID: alice, Actor: bridge.CLI, Detail: map[string]string{"via": "find"}})

	if _, err := e.b.AuditEvents(bg, bridge.AuditQuery{UserID: alice, By: bridge.AdminAction{IP: adminIP}}); err != nil {
		t.Fatal(err)
	}
	reads := e.auditEvents(t, "", bridge.AuditAuditRead)
	if len(reads) != 1 {
		t.Fatalf("audit_read events = %+v, want one", reads)
	}
	checkAudit(t, reads[0], store.AuditEvent{Type: bridge.AuditAuditRead, Actor: bridge.Admin, IP: adminIP,
		Detail: map[string]string{"user_id": alice, "events": "3"}})
}

// hiddenUser is a store in which one user reads as missing, as a user
// whose deletion stopped half-way reads on MongoDB (marked deleted, not
// yet erased).
type hiddenUser struct {
	store.Store
	id string
}

func (h hiddenUser) GetUser(ctx context.Context, id string) (*store.User, error) {
	if id == h.id {
		return nil, store.ErrNotFound
	}
	return h.Store.GetUser(ctx, id)
}

// TestDeletingAgainFinishesADeletionThatStoppedHalfWay: the user reads
// as missing, but the store still has what the first deletion did not
// erase; deleting again must reach the store and finish, not answer
// user_not_found and leave the data behind for good.
func TestDeletingAgainFinishesADeletionThatStoppedHalfWay(t *testing.T) {
	t.Parallel()
	var h *hiddenUser
	e := withOps(t, newEnvConfig(t, envConfig{clients: []bridge.Client{apiClient},
		wrap: func(s store.Store) store.Store { h = &hiddenUser{Store: s}; return h }}))
	_, alice := e.signInAt(t, "fake", nil)
	h.id = alice
	if n, err := e.b.DeleteUser(bg, adminAction(alice)); err != nil || n != 0 {
		t.Fatalf("DeleteUser of a half-deleted user = %d, %v; want it finished", n, err)
	}
	if _, err := h.Store.GetUser(bg, alice); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the user is still stored: %v", err)
	}
	checkAudit(t, e.newestAudit(t, alice, bridge.AuditUserDeleted), store.AuditEvent{
		Type: bridge.AuditUserDeleted, UserID: alice, Actor: bridge.Admin, Detail: map[string]string{"finished": "true"}})
	if _, err := e.b.DeleteUser(bg, adminAction(alice)); oauthCode(err) != bridge.ErrCodeUserNotFound {
		t.Errorf("DeleteUser once finished = %v, want user_not_found", err)
	}
}
