package storetest

import (
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// newLinkFlow stores a ready link flow of provider google that links to
// user uid, started from a session of uid.
func newLinkFlow(t *testing.T, s store.Store, uid string, expires time.Time) *store.Session {
	t.Helper()
	f := &store.Session{
		ID: uniq("link"), State: store.StateReady, ExpiresAt: expires, CreatedAt: t0, ClientID: "spa",
		RedirectURI: "https://app.example/account", ClientState: "client-state", CodeChallenge: "challenge",
		Nonce: "client-nonce", Scope: "openid email", Provider: "google", LinkUserID: uid, LinkSessionID: uniq("session"),
	}
	if err := s.CreateFlow(ctx(), f); err != nil {
		t.Fatalf("CreateFlow(ready): %v", err)
	}
	return f
}

// claimedLinkFlow returns a link flow of uid that its browser started and
// its callback claimed.
func claimedLinkFlow(t *testing.T, s store.Store, uid string, expires time.Time) *store.Session {
	t.Helper()
	f := newLinkFlow(t, s, uid, expires)
	if _, err := s.StartFlow(ctx(), f.ID, t0); err != nil {
		t.Fatalf("StartFlow: %v", err)
	}
	claim(t, s, f.ID)
	return f
}

func testCreateLinkFlow(t *testing.T, s store.Store) {
	uid := uniq("user")
	f := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if f.State != store.StateReady {
		t.Errorf("CreateFlow changed the caller's State to %q", f.State)
	}
	got, err := s.GetSession(ctx(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateReady || got.LinkUserID != uid || got.LinkSessionID != f.LinkSessionID || got.UserID != "" ||
		got.ClientID != "spa" || got.RedirectURI != f.RedirectURI || got.Provider != "google" || got.CodeChallenge != "challenge" ||
		!sameTime(got.ExpiresAt, f.ExpiresAt) || !sameTime(got.CreatedAt, t0) {
		t.Errorf("GetSession() = %+v\nwant a ready flow like %+v", got, f)
	}
	// A sign-in flow carries no link fields.
	plain := newFlow(t, s, t0.Add(10*time.Minute))
	if got, err := s.GetSession(ctx(), plain.ID); err != nil || got.LinkUserID != "" || got.LinkSessionID != "" {
		t.Errorf("a sign-in flow = %+v, %v; want no link fields", got, err)
	}
	// Only ready is honoured; any other state starts pending.
	for _, state := range []string{store.StateLinked, store.StateCode, store.StateExchanging, store.StateFailed, "nonsense"} {
		odd := &store.Session{ID: uniq("flow"), State: state, ExpiresAt: t0.Add(time.Minute), CreatedAt: t0, Provider: "google", LinkUserID: uid}
		if err := s.CreateFlow(ctx(), odd); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSession(ctx(), odd.ID); err != nil || got.State != store.StatePending {
			t.Errorf("a flow created with State %q = %+v, %v; want it pending", state, got, err)
		}
	}
}

func testStartFlow(t *testing.T, s store.Store) {
	uid := uniq("user")
	f := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err := s.ClaimFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "ClaimFlow of a ready flow", err)
	_, err = s.StartFlow(ctx(), f.ID, t0.Add(10*time.Minute))
	mustNotFound(t, "StartFlow at the expiry instant", err)
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateReady {
		t.Fatalf("refused calls changed the flow: %+v, %v", got, err)
	}

	got, err := s.StartFlow(ctx(), f.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StatePending || got.LinkUserID != uid || got.LinkSessionID != f.LinkSessionID ||
		got.RedirectURI != f.RedirectURI || !sameTime(got.ExpiresAt, f.ExpiresAt) {
		t.Errorf("StartFlow() = %+v", got)
	}
	_, err = s.StartFlow(ctx(), f.ID, t0)
	mustNotFound(t, "a second StartFlow", err)
	if got, err := s.ClaimFlow(ctx(), f.ID, "google", t0); err != nil || got.State != store.StateExchanging || got.LinkUserID != uid {
		t.Errorf("ClaimFlow() of a started flow = %+v, %v", got, err)
	}

	_, err = s.StartFlow(ctx(), uniq("flow"), t0)
	mustNotFound(t, "StartFlow of an unknown flow", err)
	plain := newFlow(t, s, t0.Add(10*time.Minute))
	_, err = s.StartFlow(ctx(), plain.ID, t0)
	mustNotFound(t, "StartFlow of a pending flow", err)
	if got, err := s.GetSession(ctx(), plain.ID); err != nil || got.State != store.StatePending {
		t.Errorf("StartFlow changed a pending flow: %+v, %v", got, err)
	}
	sess := activeSession(t, s, uid)
	_, err = s.StartFlow(ctx(), sess.ID, t0)
	mustNotFound(t, "StartFlow of an active session", err)
}

func testCompleteLink(t *testing.T, s store.Store) {
	uid := uniq("user")
	ready := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err := s.CompleteLink(ctx(), ready.ID, "google", t0)
	mustNotFound(t, "CompleteLink of a ready flow", err)
	pending := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if _, err := s.StartFlow(ctx(), pending.ID, t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.CompleteLink(ctx(), pending.ID, "google", t0)
	mustNotFound(t, "CompleteLink of a flow nobody claimed", err)

	f := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err = s.CompleteLink(ctx(), f.ID, "facebook", t0)
	mustNotFound(t, "CompleteLink for another provider", err)
	_, err = s.CompleteLink(ctx(), f.ID, "google", t0.Add(10*time.Minute))
	mustNotFound(t, "CompleteLink at the expiry instant", err)
	_, err = s.IssueCode(ctx(), f.ID, "google", t0, issue(uid, "h"))
	mustNotFound(t, "IssueCode of a link flow", err)
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateExchanging || got.CodeHash != "" || got.UserID != "" {
		t.Fatalf("refused calls changed the flow: %+v, %v", got, err)
	}

	got, err := s.CompleteLink(ctx(), f.ID, "google", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateLinked || got.LinkUserID != uid || got.LinkSessionID != f.LinkSessionID ||
		got.RedirectURI != f.RedirectURI || got.ClientState != "client-state" || got.UserID != "" || got.CodeHash != "" {
		t.Errorf("CompleteLink() = %+v", got)
	}
	_, err = s.CompleteLink(ctx(), f.ID, "google", t0)
	mustNotFound(t, "a second CompleteLink", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "FailFlow of a linked flow", err)
	_, err = s.RedeemCode(ctx(), f.ID, redemption())
	mustNotFound(t, "RedeemCode of a linked flow", err)
	_, err = s.CompleteLink(ctx(), uniq("flow"), "google", t0)
	mustNotFound(t, "CompleteLink of an unknown flow", err)

	// A link flow can fail while exchanging, like any.
	failing := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if got, err := s.FailFlow(ctx(), failing.ID, "google", t0); err != nil || got.State != store.StateFailed {
		t.Errorf("FailFlow() of an exchanging link flow = %+v, %v", got, err)
	}
	_, err = s.CompleteLink(ctx(), failing.ID, "google", t0)
	mustNotFound(t, "CompleteLink of a failed flow", err)
}

func testCompleteLinkRefusesSignIns(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	_, err := s.CompleteLink(ctx(), f.ID, "google", t0)
	mustNotFound(t, "CompleteLink of a sign-in flow", err)
	if got, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h")); err != nil || got.State != store.StateCode {
		t.Errorf("IssueCode() after the refused CompleteLink = %+v, %v", got, err)
	}
}

func testFailReadyFlow(t *testing.T, s store.Store) {
	f := newLinkFlow(t, s, uniq("user"), t0.Add(10*time.Minute))
	_, err := s.FailFlow(ctx(), f.ID, "facebook", t0)
	mustNotFound(t, "FailFlow of a ready flow for another provider", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0.Add(10*time.Minute))
	mustNotFound(t, "FailFlow of a ready flow at its expiry", err)
	got, err := s.FailFlow(ctx(), f.ID, "google", t0)
	if err != nil || got.State != store.StateFailed || got.LinkUserID != f.LinkUserID || got.RedirectURI != f.RedirectURI {
		t.Fatalf("FailFlow() of a ready flow = %+v, %v", got, err)
	}
	_, err = s.StartFlow(ctx(), f.ID, t0)
	mustNotFound(t, "StartFlow of a failed flow", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "a second FailFlow", err)
}

func testLinkFlowsAreNotSessions(t *testing.T, s store.Store) {
	uid := uniq("user")
	ready := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	linked := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if _, err := s.CompleteLink(ctx(), linked.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*store.Session{ready, linked} {
		if ok, err := s.Revoke(ctx(), f.ID, "logout", t0.Add(time.Minute)); ok || err != nil {
			t.Errorf("Revoke(%s) of a link flow = %v, %v; want false, nil", f.ID, ok, err)
		}
	}
	if n, err := s.RevokeUserSessions(ctx(), uid, "logout_all", t0.Add(time.Minute)); n != 0 || err != nil {
		t.Errorf("RevokeUserSessions() of a user with link flows only = %d, %v; want 0", n, err)
	}
	if got, err := s.ListUserSessions(ctx(), uid, t0); err != nil || len(got) != 0 {
		t.Errorf("ListUserSessions() = [%s], %v; want no link flow", names(got), err)
	}
	if got := feedOf(t, s, t0.Add(-time.Hour), 10); len(got) != 0 {
		t.Errorf("RevocationsSince() = %s; want no link flow", entries(got))
	}
	for _, f := range []*store.Session{ready, linked} {
		got, err := s.GetSession(ctx(), f.ID)
		if err != nil || (got.State != store.StateReady && got.State != store.StateLinked) || !got.RevokedAt.IsZero() {
			t.Errorf("link flow after the revocations = %+v, %v; want it unchanged", got, err)
		}
	}
}

func testConcurrentStart(t *testing.T, s store.Store) {
	f := newLinkFlow(t, s, uniq("user"), t0.Add(10*time.Minute))
	if wins := race(t, 20, func(int) error {
		_, err := s.StartFlow(ctx(), f.ID, t0)
		return err
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent starts of one flow won, want exactly 1", wins)
	}
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StatePending {
		t.Errorf("after the race: %+v, %v; want the flow pending", got, err)
	}
}

func testSweepLinkFlows(t *testing.T, s store.Store) {
	uid := uniq("user")
	oldReady := newLinkFlow(t, s, uid, t0.Add(-48*time.Hour))
	linked := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if _, err := s.CompleteLink(ctx(), linked.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	fresh := newLinkFlow(t, s, uid, t0.Add(30*time.Hour))
	n, err := s.SweepExpired(ctx(), t0.Add(26*time.Hour), time.Hour)
	if err != nil || n != 2 {
		t.Errorf("SweepExpired() at t0+26h = %d, %v; want 2 (the old ready flow and the linked one)", n, err)
	}
	for _, id := range []string{oldReady.ID, linked.ID} {
		_, err := s.GetSession(ctx(), id)
		mustNotFound(t, "GetSession of a swept link flow", err)
	}
	if _, err := s.GetSession(ctx(), fresh.ID); err != nil {
		t.Errorf("GetSession of an unexpired ready flow after the sweep: %v", err)
	}
}
