package bridge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
)

// stepFailingStore fails one step of an administrator's cut-off.
type stepFailingStore struct {
	store.Store
	failDisable, failRoles, failNotBefore bool
}

var errDiskFull = errors.New("database or disk is full")

func (f stepFailingStore) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if f.failDisable {
		return errDiskFull
	}
	return f.Store.SetDisabled(ctx, id, disabled)
}

func (f stepFailingStore) SetRoles(ctx context.Context, id string, roles []string, now time.Time) error {
	if f.failRoles {
		return errDiskFull
	}
	return f.Store.SetRoles(ctx, id, roles, now)
}

func (f stepFailingStore) SetUserNotBefore(ctx context.Context, id string, t time.Time) error {
	if f.failNotBefore {
		return errDiskFull
	}
	return f.Store.SetUserNotBefore(ctx, id, t)
}

// A cut-off that fails half-way has already ended every session the user
// had: refreshes read only the session, so one left active would keep
// refreshing with the user disabled or the old roles.
func TestACutOffThatFailsHalfWayHasEndedEverySession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail stepFailingStore
		cut  func(e *env, id string) error
	}{
		{"disabling, when the user cannot be marked", stepFailingStore{failDisable: true}, func(e *env, id string) error {
			_, err := e.b.DisableUser(bg, adminAction(id))
			return err
		}},
		{"disabling, when the not-before cannot be written", stepFailingStore{failNotBefore: true}, func(e *env, id string) error {
			_, err := e.b.DisableUser(bg, adminAction(id))
			return err
		}},
		{"changing roles, when they cannot be written", stepFailingStore{failRoles: true}, func(e *env, id string) error {
			_, _, err := e.b.SetUserRoles(bg, adminAction(id), []string{"viewer"})
			return err
		}},
		{"revoking tokens, when the not-before cannot be written", stepFailingStore{failNotBefore: true}, func(e *env, id string) error {
			_, err := e.b.RevokeUserTokens(bg, adminAction(id))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			first, alice := e.signInAt(t, "fake", nil)
			second, _ := e.signInAt(t, "fake", nil)
			failing := tt.fail
			e = e.reconfigure(t, func(o *bridge.Options) { failing.Store = o.Store; o.Store = failing })
			err := tt.cut(e, alice)
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("cut-off err = %v, want the store's error", err)
			}
			if got := e.activeIDs(t, alice); len(got) != 0 {
				t.Errorf("active sessions after the failed cut-off: %v, want none", got)
			}
			for _, ts := range []*bridge.TokenSet{first, second} {
				if _, err := refresh(e, ts.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
					t.Errorf("refresh after the failed cut-off: %v, want invalid_grant", err)
				}
			}
		})
	}
}

func TestSettingTheSameRolesAgainSignsNoOneOut(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, alice := e.signInAt(t, "fake", nil)
	if _, _, err := e.b.SetUserRoles(bg, adminAction(alice), []string{"editor", "viewer"}); err != nil {
		t.Fatal(err)
	}
	again, _ := e.signInAt(t, "fake", nil)
	roles, n, err := e.b.SetUserRoles(bg, adminAction(alice), []string{"editor", "viewer", "editor"})
	if err != nil || n != 0 || strings.Join(roles, ",") != "editor,viewer" {
		t.Fatalf("SetUserRoles(same roles) = %v, %d, %v; want the roles, nothing revoked", roles, n, err)
	}
	if _, err := refresh(e, again.RefreshToken); err != nil {
		t.Errorf("the session after an unchanged PUT: %v, want it to refresh", err)
	}
	if _, err := refresh(e, ts.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Errorf("the session from before the first change: %v, want invalid_grant", err)
	}
}

// An access token that reaches an API must not sign its user out
// everywhere: ending other sessions with one takes the account scope. A
// refresh token, which never leaves the app, may.
func TestEndingOtherSessionsWithAnAccessTokenNeedsTheAccountScope(t *testing.T) {
	t.Parallel()
	for _, scope := range []string{bridge.LogoutOthers, bridge.LogoutAll} {
		t.Run(scope, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			plain, alice := e.signInAs(t, "spa", "fake", "openid email", nil)
			other, _ := e.signInAt(t, "fake", nil)
			before := e.activeIDs(t, alice)
			_, err := e.b.Logout(bg, bridge.LogoutRequest{AccessToken: plain.AccessToken, Scope: scope})
			isOAuthError(t, err, bridge.ErrCodeInsufficientScope, "account scope")
			if got := e.activeIDs(t, alice); len(got) != len(before) {
				t.Errorf("active sessions = %v, want %v untouched", got, before)
			}
			res, err := e.b.Logout(bg, bridge.LogoutRequest{RefreshToken: plain.RefreshToken, Scope: scope})
			if err != nil || res.Ended == 0 {
				t.Fatalf("Logout with the refresh token = %+v, %v; want sessions ended", res, err)
			}
			if _, err := refresh(e, other.RefreshToken); oauthCode(err) != bridge.ErrCodeInvalidGrant {
				t.Errorf("the other session after logout %s: %v, want it ended", scope, err)
			}
		})
	}
}

// A revocation stamped ahead of this replica's clock (another replica's
// clock runs fast) does not carry the cursor into the future, where the
// next request would be refused.
func TestTheFeedCursorNeverRunsAheadOfTheClock(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, _ := e.signInAt(t, "fake", nil)
	sid := e.sessionOf(t, ts.AccessToken)
	if _, err := e.store.Revoke(bg, sid, "logout", e.clock.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	feed, err := e.b.Revocations(bg, bridge.FeedRequest{Client: apiCreds})
	if err != nil || len(feed.Sessions) != 1 {
		t.Fatalf("Revocations() = %+v, %v; want the one revoked session", feed, err)
	}
	next, err := e.b.Revocations(bg, bridge.FeedRequest{Client: apiCreds, Cursor: feed.Cursor})
	if err != nil {
		t.Fatalf("Revocations(cursor %s) = %v, want it accepted", feed.Cursor, err)
	}
	if len(next.Sessions) != 1 || next.Reset {
		t.Errorf("the next read = %+v, want the future entry read again (the overlap), no reset", next)
	}
}

func TestBackendEndpointsDoNotTellWhichClientsExist(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	unknown := bridge.ClientCredentials{ID: "no-such-client", Secret: "x"}
	wrong := bridge.ClientCredentials{ID: apiCreds.ID, Secret: "wrong-secret"}
	var descs []string
	public := bridge.ClientCredentials{ID: "spa"} // a public client: no secret to authenticate with
	for _, creds := range []bridge.ClientCredentials{unknown, wrong, public} {
		_, err := e.b.Introspect(bg, bridge.IntrospectRequest{Client: creds, Token: "x"})
		var oe *bridge.OAuthError
		if !errors.As(err, &oe) || oe.Code != bridge.ErrCodeInvalidClient {
			t.Fatalf("Introspect(%s) = %v, want invalid_client", creds.ID, err)
		}
		descs = append(descs, oe.Description)
		_, err = e.b.Revocations(bg, bridge.FeedRequest{Client: creds})
		if !errors.As(err, &oe) || oe.Code != bridge.ErrCodeInvalidClient {
			t.Fatalf("Revocations(%s) = %v, want invalid_client", creds.ID, err)
		}
		descs = append(descs, oe.Description)
	}
	for _, d := range descs[1:] {
		if d != descs[0] {
			t.Errorf("descriptions differ: %q", descs)
		}
	}
}

// A sign-in refused at its code's redemption (its user was disabled
// meanwhile) is a failed sign-in in the audit trail, after its login.
func TestASignInRefusedAtRedemptionIsAuditedAsFailed(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	_, alice := e.signInAt(t, "fake", nil)
	grant, sid := e.pendingCode(t)
	if err := e.store.SetDisabled(bg, alice, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.ExchangeCode(bg, grant); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Fatalf("ExchangeCode() = %v, want invalid_grant", err)
	}
	ev := e.newestAudit(t, alice, bridge.AuditLoginFailed)
	if ev.SessionID != sid || ev.Detail["reason"] != "user_disabled" {
		t.Errorf("login_failed event = %+v, want session %s for user_disabled", ev, sid)
	}
}

// An access token never outlives its session: a refresh near the
// session's absolute end gets a token that expires with it, so that no
// token of a revoked session is still valid when the sweeper removes the
// session (and its revocation-feed entry).
func TestAnAccessTokenNeverOutlivesItsSession(t *testing.T) {
	t.Parallel()
	e := opsEnv(t).reconfigure(t, func(o *bridge.Options) {
		o.Clients = slices.Clone(o.Clients)
		for i := range o.Clients {
			if o.Clients[i].ID == "spa" {
				o.Clients[i].AccessTTL, o.Clients[i].RefreshIdleTTL, o.Clients[i].RefreshAbsoluteTTL = 15*time.Minute, 20*time.Minute, 20*time.Minute
			}
		}
	})
	ts, _ := e.signInAt(t, "fake", nil)
	if ts.ExpiresIn != 15*60 {
		t.Fatalf("expires_in at sign-in = %d, want 900", ts.ExpiresIn)
	}
	e.clock.Add(12 * time.Minute)
	next, err := refresh(e, ts.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	at, err := e.issuer.ParseAccess(next.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	end := e.session(t, e.sessionOf(t, next.AccessToken)).ExpiresAt
	if next.ExpiresIn != 8*60 || at.Expiry.After(end) {
		t.Errorf("refreshed 8 minutes before the session's end: expires_in %d, exp %s, session end %s; want 480 and no later than the end",
			next.ExpiresIn, at.Expiry, end)
	}
}
