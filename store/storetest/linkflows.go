package storetest

import (
	"sync"
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

// The link code linkCodeFlow issues, and the sealed identity it keeps.
const (
	linkCodeHash = "link-code-hash"
	linkSealed   = "sealed-identity"
)

// issueLink is the callback's write to a link flow.
func issueLink() store.LinkCodeIssue {
	return store.LinkCodeIssue{CodeHash: linkCodeHash, CodeExpiresAt: t0.Add(time.Minute), Sealed: linkSealed}
}

// linkCodeFlow returns a link flow of uid whose callback issued its link
// code (issueLink).
func linkCodeFlow(t *testing.T, s store.Store, uid string, expires time.Time) *store.Session {
	t.Helper()
	f := claimedLinkFlow(t, s, uid, expires)
	if _, err := s.IssueLinkCode(ctx(), f.ID, "google", t0, issueLink()); err != nil {
		t.Fatalf("IssueLinkCode: %v", err)
	}
	return f
}

// completion is the matching completion of link flow f's code: the
// application's client and challenge, and the access token of the user and
// session that started the flow.
func completion(f *store.Session) store.LinkRedemption {
	return store.LinkRedemption{
		CodeHash: linkCodeHash, ClientID: f.ClientID, CodeChallenge: f.CodeChallenge,
		UserID: f.LinkUserID, SessionID: f.LinkSessionID, Now: t0.Add(time.Second),
	}
}

// linkedFlow returns a link flow of uid that its application completed.
func linkedFlow(t *testing.T, s store.Store, uid string, expires time.Time) *store.Session {
	t.Helper()
	f := linkCodeFlow(t, s, uid, expires)
	if _, err := s.CompleteLink(ctx(), f.ID, completion(f)); err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	return f
}

func testIssueLinkCode(t *testing.T, s store.Store) {
	uid := uniq("user")
	ready := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err := s.IssueLinkCode(ctx(), ready.ID, "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of a ready flow", err)
	pending := newLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if _, err := s.StartFlow(ctx(), pending.ID, t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.IssueLinkCode(ctx(), pending.ID, "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of a flow nobody claimed", err)

	f := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err = s.IssueLinkCode(ctx(), f.ID, "facebook", t0, issueLink())
	mustNotFound(t, "IssueLinkCode for another provider", err)
	_, err = s.IssueLinkCode(ctx(), f.ID, "google", t0.Add(10*time.Minute), issueLink())
	mustNotFound(t, "IssueLinkCode at the expiry instant", err)
	_, err = s.IssueCode(ctx(), f.ID, "google", t0, issue(uid, "h"))
	mustNotFound(t, "IssueCode of a link flow", err)
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateExchanging || got.CodeHash != "" ||
		got.UserID != "" || got.LinkSealed != "" || !sameTime(got.ExpiresAt, f.ExpiresAt) {
		t.Fatalf("refused calls changed the flow: %+v, %v", got, err)
	}

	got, err := s.IssueLinkCode(ctx(), f.ID, "google", t0, issueLink())
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateCode || got.CodeHash != linkCodeHash || got.LinkSealed != linkSealed ||
		!sameTime(got.ExpiresAt, t0.Add(time.Minute)) || got.LinkUserID != uid || got.LinkSessionID != f.LinkSessionID ||
		got.ClientID != "spa" || got.CodeChallenge != "challenge" || got.RedirectURI != f.RedirectURI ||
		got.ClientState != "client-state" || got.UserID != "" || len(got.Claims) != 0 {
		t.Errorf("IssueLinkCode() = %+v", got)
	}
	if stored, err := s.GetSession(ctx(), f.ID); err != nil || stored.State != store.StateCode || stored.LinkSealed != linkSealed ||
		stored.CodeHash != linkCodeHash {
		t.Errorf("GetSession() after IssueLinkCode = %+v, %v", stored, err)
	}
	again := store.LinkCodeIssue{CodeHash: "other", CodeExpiresAt: t0.Add(time.Hour), Sealed: "other"}
	_, err = s.IssueLinkCode(ctx(), f.ID, "google", t0, again)
	mustNotFound(t, "a replayed IssueLinkCode", err)
	if stored, err := s.GetSession(ctx(), f.ID); err != nil || stored.CodeHash != linkCodeHash || stored.LinkSealed != linkSealed {
		t.Errorf("a replayed IssueLinkCode changed the flow: %+v, %v", stored, err)
	}

	_, err = s.IssueLinkCode(ctx(), uniq("flow"), "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of an unknown flow", err)
	// A link flow can fail while exchanging, like any, and then issues no
	// link code.
	failed := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	if got, err := s.FailFlow(ctx(), failed.ID, "google", t0); err != nil || got.State != store.StateFailed {
		t.Errorf("FailFlow() of an exchanging link flow = %+v, %v", got, err)
	}
	_, err = s.IssueLinkCode(ctx(), failed.ID, "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of a failed flow", err)
	_, err = s.CompleteLink(ctx(), failed.ID, completion(failed))
	mustNotFound(t, "CompleteLink of a failed flow", err)
	// A flow that holds its link code can no longer fail: it ends with
	// CompleteLink or expires.
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "FailFlow of a flow holding its link code", err)
}

func testIssueLinkCodeRefusesSignIns(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	_, err := s.IssueLinkCode(ctx(), f.ID, "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of a sign-in flow", err)
	if got, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h")); err != nil || got.State != store.StateCode || got.LinkSealed != "" {
		t.Errorf("IssueCode() after the refused IssueLinkCode = %+v, %v", got, err)
	}
}

func testCompleteLink(t *testing.T, s store.Store) {
	uid := uniq("user")
	exchanging := claimedLinkFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err := s.CompleteLink(ctx(), exchanging.ID, completion(exchanging))
	mustNotFound(t, "CompleteLink of a flow that holds no link code yet", err)

	f := linkCodeFlow(t, s, uid, t0.Add(10*time.Minute))
	for _, w := range []struct {
		name string
		edit func(r *store.LinkRedemption)
	}{
		{"wrong code", func(r *store.LinkRedemption) { r.CodeHash = "x" }},
		{"wrong client", func(r *store.LinkRedemption) { r.ClientID = "other" }},
		{"wrong verifier", func(r *store.LinkRedemption) { r.CodeChallenge = "nope" }},
		{"another user's access token", func(r *store.LinkRedemption) { r.UserID = uniq("user") }},
		{"another session's access token", func(r *store.LinkRedemption) { r.SessionID = uniq("session") }},
		{"no code", func(r *store.LinkRedemption) { r.CodeHash = "" }},
		{"no client", func(r *store.LinkRedemption) { r.ClientID = "" }},
		{"no verifier", func(r *store.LinkRedemption) { r.CodeChallenge = "" }},
		{"no user", func(r *store.LinkRedemption) { r.UserID = "" }},
		{"no session", func(r *store.LinkRedemption) { r.SessionID = "" }},
		{"at the link code's expiry", func(r *store.LinkRedemption) { r.Now = t0.Add(time.Minute) }},
	} {
		r := completion(f)
		w.edit(&r)
		_, err := s.CompleteLink(ctx(), f.ID, r)
		mustNotFound(t, "CompleteLink with "+w.name, err)
	}
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateCode || got.LinkSealed != linkSealed {
		t.Fatalf("refused completions changed the flow: %+v, %v", got, err)
	}

	got, err := s.CompleteLink(ctx(), f.ID, completion(f))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateLinked || got.LinkSealed != linkSealed || got.LinkUserID != uid || got.LinkSessionID != f.LinkSessionID ||
		got.Provider != "google" || got.ClientID != "spa" || got.RedirectURI != f.RedirectURI || got.ClientState != "client-state" ||
		got.UserID != "" {
		t.Errorf("CompleteLink() = %+v; want it linked, with the sealed identity", got)
	}
	stored, err := s.GetSession(ctx(), f.ID)
	if err != nil || stored.State != store.StateLinked || stored.LinkSealed != "" || stored.LinkUserID != uid {
		t.Errorf("GetSession() after CompleteLink = %+v, %v; want it linked, without the sealed identity", stored, err)
	}
	_, err = s.CompleteLink(ctx(), f.ID, completion(f))
	mustNotFound(t, "a second CompleteLink", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "FailFlow of a linked flow", err)
	_, err = s.IssueLinkCode(ctx(), f.ID, "google", t0, issueLink())
	mustNotFound(t, "IssueLinkCode of a linked flow", err)
	_, err = s.CompleteLink(ctx(), uniq("flow"), completion(f))
	mustNotFound(t, "CompleteLink of an unknown flow", err)
	if stored, err := s.GetSession(ctx(), f.ID); err != nil || stored.State != store.StateLinked || stored.LinkSealed != "" {
		t.Errorf("refused calls changed the linked flow: %+v, %v", stored, err)
	}

	// Another flow's code completes only that flow.
	other := linkCodeFlow(t, s, uid, t0.Add(10*time.Minute))
	_, err = s.CompleteLink(ctx(), other.ID, completion(f))
	mustNotFound(t, "CompleteLink with another flow's session", err)
	if got, err := s.CompleteLink(ctx(), other.ID, completion(other)); err != nil || got.LinkSealed != linkSealed {
		t.Errorf("CompleteLink() of the other flow = %+v, %v", got, err)
	}
}

func testCompleteLinkRefusesSignIns(t *testing.T, s store.Store) {
	uid := uniq("user")
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	c := issue(uid, linkCodeHash)
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, c); err != nil {
		t.Fatal(err)
	}
	// The sign-in code's own values, whatever user and session are
	// presented with them.
	for _, r := range []store.LinkRedemption{
		{CodeHash: linkCodeHash, ClientID: "spa", CodeChallenge: "challenge", UserID: uid, SessionID: f.ID, Now: t0.Add(time.Second)},
		{CodeHash: linkCodeHash, ClientID: "spa", CodeChallenge: "challenge", UserID: uid, SessionID: uniq("session"), Now: t0.Add(time.Second)},
		{CodeHash: linkCodeHash, ClientID: "spa", CodeChallenge: "challenge", Now: t0.Add(time.Second)},
	} {
		_, err := s.CompleteLink(ctx(), f.ID, r)
		mustNotFound(t, "CompleteLink of a sign-in code", err)
	}
	r := redemption()
	r.CodeHash = linkCodeHash
	if got, err := s.RedeemCode(ctx(), f.ID, r); err != nil || got.State != store.StateActive {
		t.Errorf("RedeemCode() after the refused completions = %+v, %v", got, err)
	}
}

func testRedeemRefusesLinkCode(t *testing.T, s store.Store) {
	uid := uniq("user")
	f := linkCodeFlow(t, s, uid, t0.Add(10*time.Minute))
	// Every value a sign-in code's redemption checks matches the link
	// flow's.
	r := store.Redemption{
		CodeHash: linkCodeHash, ClientID: f.ClientID, RedirectURI: f.RedirectURI, CodeChallenge: f.CodeChallenge,
		Now: t0.Add(time.Second), IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
	}
	_, err := s.RedeemCode(ctx(), f.ID, r)
	mustNotFound(t, "RedeemCode of a link code", err)
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateCode || got.Generation != 0 || got.LinkSealed != linkSealed {
		t.Fatalf("a refused RedeemCode changed the link flow: %+v, %v", got, err)
	}
	_, err = s.Rotate(ctx(), f.ID, 0, t0.Add(time.Second), t0.Add(time.Hour))
	mustNotFound(t, "Rotate of a link code", err)
	if got, err := s.CompleteLink(ctx(), f.ID, completion(f)); err != nil || got.State != store.StateLinked {
		t.Errorf("CompleteLink() after the refused RedeemCode = %+v, %v", got, err)
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
	code := linkCodeFlow(t, s, uid, t0.Add(10*time.Minute))
	linked := linkedFlow(t, s, uid, t0.Add(10*time.Minute))
	flows := []*store.Session{ready, code, linked}
	before := map[string]*store.Session{}
	for _, f := range flows {
		got, err := s.GetSession(ctx(), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		before[f.ID] = got
	}
	for _, f := range flows {
		if ok, err := s.Revoke(ctx(), f.ID, "logout", t0.Add(time.Minute)); ok || err != nil {
			t.Errorf("Revoke(%s) of a %s link flow = %v, %v; want false, nil", f.ID, before[f.ID].State, ok, err)
		}
	}
	// A link flow's UserID is empty (LinkUserID is its user): not even
	// the sessions of the empty user id include it.
	for _, user := range []string{uid, ""} {
		if n, err := s.RevokeUserSessions(ctx(), user, "logout_all", t0.Add(time.Minute)); n != 0 || err != nil {
			t.Errorf("RevokeUserSessions(%q) of a user with link flows only = %d, %v; want 0", user, n, err)
		}
		if got, err := s.ListUserSessions(ctx(), user, t0); err != nil || len(got) != 0 {
			t.Errorf("ListUserSessions(%q) = [%s], %v; want no link flow", user, names(got), err)
		}
	}
	if got := feedOf(t, s, t0.Add(-time.Hour), 10); len(got) != 0 {
		t.Errorf("RevocationsSince() = %s; want no link flow", entries(got))
	}
	for _, f := range flows {
		got, err := s.GetSession(ctx(), f.ID)
		if err != nil || got.State != before[f.ID].State || !got.RevokedAt.IsZero() || got.RevokeReason != "" {
			t.Errorf("link flow after the revocations = %+v, %v; want it unchanged (%s)", got, err, before[f.ID].State)
		}
	}
	// The link code still completes.
	if got, err := s.CompleteLink(ctx(), code.ID, completion(code)); err != nil || got.LinkSealed != linkSealed {
		t.Errorf("CompleteLink() after the revocations = %+v, %v", got, err)
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

func testConcurrentCompleteLink(t *testing.T, s store.Store) {
	f := linkCodeFlow(t, s, uniq("user"), t0.Add(10*time.Minute))
	var sealed []string
	var mu sync.Mutex
	if wins := race(t, 20, func(int) error {
		got, err := s.CompleteLink(ctx(), f.ID, completion(f))
		if err == nil {
			mu.Lock()
			sealed = append(sealed, got.LinkSealed)
			mu.Unlock()
		}
		return err
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent completions of one link code won, want exactly 1", wins)
	}
	if len(sealed) != 1 || sealed[0] != linkSealed {
		t.Errorf("the winners got sealed identities %q, want one, %q", sealed, linkSealed)
	}
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateLinked || got.LinkSealed != "" {
		t.Errorf("after the race: %+v, %v; want the flow linked without the sealed identity", got, err)
	}
}

func testSweepLinkFlows(t *testing.T, s store.Store) {
	uid := uniq("user")
	oldReady := newLinkFlow(t, s, uid, t0.Add(-48*time.Hour))
	code := linkCodeFlow(t, s, uid, t0.Add(10*time.Minute)) // the link code expires at t0+1m
	linked := linkedFlow(t, s, uid, t0.Add(10*time.Minute))
	fresh := newLinkFlow(t, s, uid, t0.Add(30*time.Hour))
	// Within the grace after the link code's expiry, the flow stays.
	if n, err := s.SweepExpired(ctx(), t0.Add(time.Hour), time.Hour); err != nil || n != 1 {
		t.Errorf("SweepExpired() at t0+1h = %d, %v; want 1 (the old ready flow)", n, err)
	}
	if _, err := s.GetSession(ctx(), code.ID); err != nil {
		t.Errorf("GetSession of a link code within the grace: %v", err)
	}
	n, err := s.SweepExpired(ctx(), t0.Add(26*time.Hour), time.Hour)
	if err != nil || n != 2 {
		t.Errorf("SweepExpired() at t0+26h = %d, %v; want 2 (the expired link code and the linked flow)", n, err)
	}
	for _, id := range []string{oldReady.ID, code.ID, linked.ID} {
		_, err := s.GetSession(ctx(), id)
		mustNotFound(t, "GetSession of a swept link flow", err)
	}
	if _, err := s.GetSession(ctx(), fresh.ID); err != nil {
		t.Errorf("GetSession of an unexpired ready flow after the sweep: %v", err)
	}
}
