package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var sessionCases = []testCase{
	{name: "a new flow is pending and reads back field for field", run: testCreateFlow},
	{name: "a flow id can be created only once", run: testCreateFlowConflict},
	{name: "an unknown session is not found", run: testUnknownSession},
	{name: "a flow is claimed once, only for its provider and only while unexpired", run: testClaimFlow},
	{name: "a claimed flow becomes a code once, only for its provider and only while unexpired", run: testIssueCode},
	{name: "a failed flow cannot then be claimed or issue a code", run: testFailFlow},
	{name: "a claimed flow can fail, and then cannot issue a code", run: testFailFlowExchanging},
	{name: "a flow cannot fail after it issued a code, or after it expired", run: testFailFlowRefusals},
	{name: "a code is redeemed once and only with matching code, client, redirect, challenge and time", run: testRedeemCode},
	{name: "a session rotates one generation at a time", run: testRotate},
	{name: "a session cannot rotate past its idle or absolute expiry", run: testRotateExpiry},
	{name: "only active sessions rotate", run: testRotateStates},
	{name: "revoking ends an active session or an unredeemed code, once", run: testRevoke},
	{name: "pending, exchanging and failed flows cannot be revoked", run: testRevokeRefusals},
	{name: "revoking a user's sessions ends their active and code-holding ones only, and counts them", run: testRevokeUserSessions},
	{name: "claims snapshot and times round-trip exactly", run: testRoundTrip},
	{name: "a user's sessions are the active, unexpired ones, latest first", run: testListUserSessions},
	{name: "a link flow is created ready with its user and session; other states still start pending", run: testCreateLinkFlow},
	{name: "a ready flow is started once, only while unexpired, and only then claimed", run: testStartFlow},
	{name: "a link flow's callback issues a link code once, only for its provider and only while exchanging and unexpired, and keeps the sealed identity", run: testIssueLinkCode},
	{name: "a sign-in flow cannot issue a link code", run: testIssueLinkCodeRefusesSignIns},
	{name: "a link code is completed once, only with its client, verifier, user and session and only while unexpired; it hands back the sealed identity and clears it", run: testCompleteLink},
	{name: "a sign-in code cannot complete a link", run: testCompleteLinkRefusesSignIns},
	{name: "a link code is never redeemed as a sign-in code", run: testRedeemRefusesLinkCode},
	{name: "a ready flow can fail, and then cannot start", run: testFailReadyFlow},
	{name: "link flows are not sessions, not even holding a link code: not listed, revoked or in the revocation feed", run: testLinkFlowsAreNotSessions},
	{name: "fifty concurrent rotations of one generation have exactly one winner", atomic: true, run: testConcurrentRotate},
	{name: "twenty concurrent claims of one flow have exactly one winner", atomic: true, run: testConcurrentClaim},
	{name: "twenty concurrent redemptions of one code have exactly one winner", atomic: true, run: testConcurrentRedeem},
	{name: "a revoke racing rotations leaves the session revoked", atomic: true, run: testRevokeRacesRotate},
	{name: "revoking a user's sessions while they rotate leaves them all revoked", atomic: true, run: testRevokeUserSessionsRacesRotate},
	{name: "revoking a user's sessions while their codes are redeemed leaves each revoked, as a code or once activated, never active", atomic: true, run: testRevokeUserSessionsRacesRedeem},
	{name: "twenty concurrent starts of one flow have exactly one winner", atomic: true, run: testConcurrentStart},
	{name: "twenty concurrent completions of one link code have exactly one winner, which alone gets the sealed identity", atomic: true, run: testConcurrentCompleteLink},
}

// newFlow stores a pending flow of provider google for client spa.
func newFlow(t *testing.T, s store.Store, expires time.Time) *store.Session {
	t.Helper()
	f := &store.Session{
		ID: uniq("flow"), ExpiresAt: expires, CreatedAt: t0, ClientID: "spa", RedirectURI: "https://app.example/cb",
		ClientState: "client-state", CodeChallenge: "challenge", Nonce: "client-nonce", Scope: "openid email", Provider: "google",
	}
	if err := s.CreateFlow(ctx(), f); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	return f
}

// claim claims flow id of provider google at t0, as the callback does
// before it calls the provider.
func claim(t *testing.T, s store.Store, id string) {
	t.Helper()
	if _, err := s.ClaimFlow(ctx(), id, "google", t0); err != nil {
		t.Fatalf("ClaimFlow: %v", err)
	}
}

// issue is the callback's write for user uid with code hash h.
func issue(uid, h string) store.CodeIssue {
	return store.CodeIssue{
		UserID: uid, AuthTime: t0, CodeHash: h, CodeExpiresAt: t0.Add(time.Minute),
		Claims: map[string]any{"email": "a@example.com", "email_verified": true, "roles": []any{"reader", "writer"}},
	}
}

// redemption is the matching redemption of a code issued by issue("…", "h").
func redemption() store.Redemption {
	return store.Redemption{
		CodeHash: "h", ClientID: "spa", RedirectURI: "https://app.example/cb", CodeChallenge: "challenge",
		Now: t0.Add(time.Second), IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
	}
}

// activeSession returns a session of user uid at generation 1.
func activeSession(t *testing.T, s store.Store, uid string) *store.Session {
	t.Helper()
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue(uid, "h")); err != nil {
		t.Fatalf("IssueCode: %v", err)
	}
	sess, err := s.RedeemCode(ctx(), f.ID, redemption())
	if err != nil {
		t.Fatalf("RedeemCode: %v", err)
	}
	return sess
}

func testCreateFlow(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	if f.State != "" {
		t.Errorf("CreateFlow set the caller's State to %q; it must not modify f", f.State)
	}
	got, err := s.GetSession(ctx(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *f
	want.State = store.StatePending
	if got.ID != want.ID || got.State != want.State || got.ClientID != want.ClientID || got.RedirectURI != want.RedirectURI ||
		got.ClientState != want.ClientState || got.CodeChallenge != want.CodeChallenge || got.Nonce != want.Nonce ||
		got.Scope != want.Scope || got.Provider != want.Provider || !sameTime(got.ExpiresAt, want.ExpiresAt) ||
		!sameTime(got.CreatedAt, want.CreatedAt) {
		t.Errorf("GetSession() = %+v\nwant %+v", got, want)
	}
	if got.UserID != "" || got.Generation != 0 || !got.AuthTime.IsZero() || !got.RotatedAt.IsZero() ||
		!got.IdleExpiresAt.IsZero() || !got.RevokedAt.IsZero() || got.CodeHash != "" || len(got.Claims) != 0 {
		t.Errorf("a new flow has session fields set: %+v", got)
	}

	// Whatever State the caller passes, the flow starts pending, and the
	// caller's struct is left alone.
	odd := &store.Session{ID: uniq("flow"), State: store.StateActive, ExpiresAt: t0.Add(time.Minute), CreatedAt: t0, Provider: "google"}
	if err := s.CreateFlow(ctx(), odd); err != nil {
		t.Fatal(err)
	}
	if odd.State != store.StateActive {
		t.Errorf("CreateFlow changed the caller's State to %q", odd.State)
	}
	if got, err := s.GetSession(ctx(), odd.ID); err != nil || got.State != store.StatePending {
		t.Errorf("a flow created with State active = %+v, %v; want it pending", got, err)
	}
}

func testCreateFlowConflict(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	again := &store.Session{ID: f.ID, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, ClientID: "other", RedirectURI: "https://evil.example/", Provider: "google"}
	if err := s.CreateFlow(ctx(), again); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second CreateFlow of one id: err = %v, want store.ErrConflict", err)
	}
	got, err := s.GetSession(ctx(), f.ID)
	if err != nil || got.ClientID != "spa" {
		t.Errorf("the first flow was changed: %+v, %v", got, err)
	}
}

func testUnknownSession(t *testing.T, s store.Store) {
	_, err := s.GetSession(ctx(), "no-such-session")
	mustNotFound(t, "GetSession", err)
	_, err = s.IssueCode(ctx(), "no-such-session", "google", t0, issue("u", "h"))
	mustNotFound(t, "IssueCode", err)
	_, err = s.FailFlow(ctx(), "no-such-session", "google", t0)
	mustNotFound(t, "FailFlow", err)
	_, err = s.RedeemCode(ctx(), "no-such-session", redemption())
	mustNotFound(t, "RedeemCode", err)
	_, err = s.Rotate(ctx(), "no-such-session", 1, t0, t0.Add(time.Hour))
	mustNotFound(t, "Rotate", err)
	if ok, err := s.Revoke(ctx(), "no-such-session", "logout", t0); ok || err != nil {
		t.Errorf("Revoke of an unknown session = %v, %v; want false, nil", ok, err)
	}
}

func testClaimFlow(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	_, err := s.ClaimFlow(ctx(), f.ID, "facebook", t0)
	mustNotFound(t, "ClaimFlow for another provider", err)
	_, err = s.ClaimFlow(ctx(), f.ID, "google", t0.Add(10*time.Minute))
	mustNotFound(t, "ClaimFlow at the expiry instant", err)
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StatePending {
		t.Fatalf("a refused ClaimFlow changed the flow: %+v, %v", got, err)
	}

	got, err := s.ClaimFlow(ctx(), f.ID, "google", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateExchanging || got.ClientID != "spa" || got.RedirectURI != "https://app.example/cb" ||
		got.ClientState != "client-state" || got.Nonce != "client-nonce" || got.Provider != "google" ||
		!sameTime(got.ExpiresAt, t0.Add(10*time.Minute)) || got.UserID != "" || got.CodeHash != "" {
		t.Errorf("ClaimFlow() = %+v", got)
	}
	_, err = s.ClaimFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "replayed ClaimFlow", err)

	unknown := uniq("flow")
	_, err = s.ClaimFlow(ctx(), unknown, "google", t0)
	mustNotFound(t, "ClaimFlow of an unknown flow", err)
	for _, finished := range []string{"code", "failed"} {
		g := newFlow(t, s, t0.Add(10*time.Minute))
		claim(t, s, g.ID)
		if finished == "code" {
			_, err = s.IssueCode(ctx(), g.ID, "google", t0, issue("u1", "h"))
		} else {
			_, err = s.FailFlow(ctx(), g.ID, "google", t0)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.ClaimFlow(ctx(), g.ID, "google", t0)
		mustNotFound(t, "ClaimFlow of a flow in state "+finished, err)
	}
}

func testIssueCode(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	_, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h"))
	mustNotFound(t, "IssueCode of a flow nobody claimed", err)
	claim(t, s, f.ID)
	_, err = s.IssueCode(ctx(), f.ID, "facebook", t0, issue("u1", "h"))
	mustNotFound(t, "IssueCode for another provider", err)
	_, err = s.IssueCode(ctx(), f.ID, "google", t0.Add(10*time.Minute), issue("u1", "h"))
	mustNotFound(t, "IssueCode at the expiry instant", err)

	got, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h"))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateCode || got.UserID != "u1" || got.CodeHash != "h" || got.ClientState != "client-state" ||
		got.RedirectURI != "https://app.example/cb" || !sameTime(got.ExpiresAt, t0.Add(time.Minute)) || !sameTime(got.AuthTime, t0) {
		t.Errorf("IssueCode() = %+v", got)
	}
	if !jsonEqual(t, got.Claims, issue("u1", "h").Claims) {
		t.Errorf("IssueCode() claims = %#v, want %#v", got.Claims, issue("u1", "h").Claims)
	}
	_, err = s.IssueCode(ctx(), f.ID, "google", t0, issue("u2", "h2"))
	mustNotFound(t, "replayed IssueCode", err)
	after, err := s.GetSession(ctx(), f.ID)
	if err != nil || after.UserID != "u1" || after.CodeHash != "h" {
		t.Errorf("a replayed IssueCode changed the flow: %+v, %v", after, err)
	}
}

func testFailFlow(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	_, err := s.FailFlow(ctx(), f.ID, "facebook", t0)
	mustNotFound(t, "FailFlow for another provider", err)
	got, err := s.FailFlow(ctx(), f.ID, "google", t0)
	if err != nil || got.State != store.StateFailed || got.RedirectURI != "https://app.example/cb" || got.ClientState != "client-state" {
		t.Fatalf("FailFlow() = %+v, %v", got, err)
	}
	_, err = s.ClaimFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "ClaimFlow after failure", err)
	_, err = s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h"))
	mustNotFound(t, "IssueCode after failure", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "second FailFlow", err)
}

func testFailFlowExchanging(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	_, err := s.FailFlow(ctx(), f.ID, "facebook", t0)
	mustNotFound(t, "FailFlow of an exchanging flow for another provider", err)
	got, err := s.FailFlow(ctx(), f.ID, "google", t0)
	if err != nil || got.State != store.StateFailed || got.RedirectURI != "https://app.example/cb" || got.ClientState != "client-state" {
		t.Fatalf("FailFlow() of an exchanging flow = %+v, %v", got, err)
	}
	_, err = s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h"))
	mustNotFound(t, "IssueCode after an exchanging flow failed", err)
	_, err = s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "second FailFlow", err)
}

func testFailFlowRefusals(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h")); err != nil {
		t.Fatal(err)
	}
	_, err := s.FailFlow(ctx(), f.ID, "google", t0)
	mustNotFound(t, "FailFlow after IssueCode", err)
	expired := newFlow(t, s, t0.Add(time.Minute))
	_, err = s.FailFlow(ctx(), expired.ID, "google", t0.Add(2*time.Minute))
	mustNotFound(t, "FailFlow after expiry", err)
	claimed := newFlow(t, s, t0.Add(time.Minute))
	claim(t, s, claimed.ID)
	_, err = s.FailFlow(ctx(), claimed.ID, "google", t0.Add(2*time.Minute))
	mustNotFound(t, "FailFlow of an exchanging flow after expiry", err)
}

func testRedeemCode(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	_, err := s.RedeemCode(ctx(), f.ID, redemption())
	mustNotFound(t, "RedeemCode of a pending flow", err)
	claim(t, s, f.ID)
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h")); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name string
		edit func(r *store.Redemption)
	}{
		{"wrong code", func(r *store.Redemption) { r.CodeHash = "x" }},
		{"wrong client", func(r *store.Redemption) { r.ClientID = "other" }},
		{"wrong redirect URI", func(r *store.Redemption) { r.RedirectURI = "https://app.example/cb2" }},
		{"redirect URI differing in case", func(r *store.Redemption) { r.RedirectURI = "https://APP.example/cb" }},
		{"wrong verifier", func(r *store.Redemption) { r.CodeChallenge = "nope" }},
		{"no verifier", func(r *store.Redemption) { r.CodeChallenge = "" }},
		{"at the code's expiry", func(r *store.Redemption) { r.Now = t0.Add(time.Minute) }},
	} {
		r := redemption()
		w.edit(&r)
		_, err := s.RedeemCode(ctx(), f.ID, r)
		mustNotFound(t, w.name, err)
	}
	got, err := s.RedeemCode(ctx(), f.ID, redemption())
	if err != nil {
		t.Fatal(err)
	}
	r := redemption()
	if got.State != store.StateActive || got.Generation != 1 || got.UserID != "u1" || !sameTime(got.RotatedAt, r.Now) ||
		!sameTime(got.ExpiresAt, r.ExpiresAt) || !sameTime(got.IdleExpiresAt, r.IdleExpiresAt) || got.Scope != "openid email" || got.Nonce != "client-nonce" {
		t.Errorf("RedeemCode() = %+v", got)
	}
	if !jsonEqual(t, got.Claims, issue("u1", "h").Claims) {
		t.Errorf("RedeemCode() claims = %#v", got.Claims)
	}
	_, err = s.RedeemCode(ctx(), f.ID, redemption())
	mustNotFound(t, "second RedeemCode", err)
}

func testRotate(t *testing.T, s store.Store) {
	sess := activeSession(t, s, "u1")
	now := t0.Add(time.Minute)
	got, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2 || !sameTime(got.RotatedAt, now) || !sameTime(got.IdleExpiresAt, now.Add(time.Hour)) ||
		got.UserID != "u1" || got.ClientID != "spa" || got.Scope != "openid email" || got.Provider != "google" ||
		!sameTime(got.AuthTime, t0) || !sameTime(got.ExpiresAt, sess.ExpiresAt) {
		t.Errorf("Rotate(1) = %+v", got)
	}
	if !jsonEqual(t, got.Claims, sess.Claims) {
		t.Errorf("Rotate() claims = %#v, want %#v", got.Claims, sess.Claims)
	}
	_, err = s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
	mustNotFound(t, "Rotate of a used generation", err)
	_, err = s.Rotate(ctx(), sess.ID, 3, now, now.Add(time.Hour))
	mustNotFound(t, "Rotate of a future generation", err)
	if got, err := s.Rotate(ctx(), sess.ID, 2, now, now.Add(time.Hour)); err != nil || got.Generation != 3 {
		t.Errorf("Rotate(2) = %+v, %v", got, err)
	}
}

func testRotateExpiry(t *testing.T, s store.Store) {
	sess := activeSession(t, s, "u1") // idle until t0+1h, absolute until t0+24h
	_, err := s.Rotate(ctx(), sess.ID, 1, t0.Add(time.Hour), t0.Add(2*time.Hour))
	mustNotFound(t, "Rotate at the idle expiry", err)
	// Kept alive by use, it still ends at the absolute expiry.
	now := t0
	for gen := int64(1); now.Add(50 * time.Minute).Before(t0.Add(24 * time.Hour)); gen++ {
		now = now.Add(50 * time.Minute)
		if _, err := s.Rotate(ctx(), sess.ID, gen, now, now.Add(time.Hour)); err != nil {
			t.Fatalf("Rotate(%d) at %v: %v", gen, now, err)
		}
	}
	last, err := s.GetSession(ctx(), sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Rotate(ctx(), sess.ID, last.Generation, t0.Add(24*time.Hour), t0.Add(25*time.Hour))
	mustNotFound(t, "Rotate at the absolute expiry", err)
}

func testRotateStates(t *testing.T, s store.Store) {
	pending := newFlow(t, s, t0.Add(10*time.Minute))
	_, err := s.Rotate(ctx(), pending.ID, 0, t0, t0.Add(time.Hour))
	mustNotFound(t, "Rotate of a pending flow", err)
	code := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, code.ID)
	if _, err := s.IssueCode(ctx(), code.ID, "google", t0, issue("u1", "h")); err != nil {
		t.Fatal(err)
	}
	_, err = s.Rotate(ctx(), code.ID, 0, t0, t0.Add(time.Hour))
	mustNotFound(t, "Rotate of an unredeemed code", err)
	sess := activeSession(t, s, "u1")
	if _, err := s.Revoke(ctx(), sess.ID, "logout", t0); err != nil {
		t.Fatal(err)
	}
	_, err = s.Rotate(ctx(), sess.ID, 1, t0.Add(time.Second), t0.Add(time.Hour))
	mustNotFound(t, "Rotate of a revoked session", err)
}

func testRevoke(t *testing.T, s store.Store) {
	sess := activeSession(t, s, "u1")
	at := t0.Add(5 * time.Second)
	ok, err := s.Revoke(ctx(), sess.ID, "logout", at)
	if err != nil || !ok {
		t.Fatalf("Revoke() = %v, %v; want true", ok, err)
	}
	if ok, err := s.Revoke(ctx(), sess.ID, "other", at.Add(time.Second)); ok || err != nil {
		t.Errorf("second Revoke() = %v, %v; want false, nil", ok, err)
	}
	got, err := s.GetSession(ctx(), sess.ID)
	if err != nil || got.State != store.StateRevoked || got.RevokeReason != "logout" || !sameTime(got.RevokedAt, at) || got.UserID != "u1" {
		t.Errorf("GetSession() after revoke = %+v, %v", got, err)
	}

	code := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, code.ID)
	if _, err := s.IssueCode(ctx(), code.ID, "google", t0, issue("u1", "h")); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Revoke(ctx(), code.ID, "code_reuse", at); !ok || err != nil {
		t.Errorf("Revoke of an unredeemed code = %v, %v; want true", ok, err)
	}
	_, err = s.RedeemCode(ctx(), code.ID, redemption())
	mustNotFound(t, "RedeemCode after revoke", err)
}

func testRevokeRefusals(t *testing.T, s store.Store) {
	pending := newFlow(t, s, t0.Add(10*time.Minute))
	exchanging := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, exchanging.ID)
	failed := newFlow(t, s, t0.Add(10*time.Minute))
	if _, err := s.FailFlow(ctx(), failed.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{pending.ID, exchanging.ID, failed.ID} {
		before, _ := s.GetSession(ctx(), id)
		if ok, err := s.Revoke(ctx(), id, "logout", t0); ok || err != nil {
			t.Errorf("Revoke(%s flow) = %v, %v; want false, nil", before.State, ok, err)
		}
		after, err := s.GetSession(ctx(), id)
		if err != nil || after.State != before.State {
			t.Errorf("Revoke changed a %s flow to %+v, %v", before.State, after, err)
		}
	}
}

func testRevokeUserSessions(t *testing.T, s store.Store) {
	uid := uniq("user")
	a := activeSession(t, s, uid)
	b := activeSession(t, s, uid)
	code := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, code.ID)
	if _, err := s.IssueCode(ctx(), code.ID, "google", t0, issue(uid, "h")); err != nil {
		t.Fatal(err)
	}
	already := activeSession(t, s, uid)
	if _, err := s.Revoke(ctx(), already.ID, "logout", t0); err != nil {
		t.Fatal(err)
	}
	pending := newFlow(t, s, t0.Add(10*time.Minute))
	failed := newFlow(t, s, t0.Add(10*time.Minute))
	if _, err := s.FailFlow(ctx(), failed.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	other := activeSession(t, s, uniq("user"))

	at := t0.Add(5 * time.Minute)
	n, err := s.RevokeUserSessions(ctx(), uid, "logout_all", at)
	if err != nil || n != 3 {
		t.Fatalf("RevokeUserSessions() = %d, %v; want 3 (two active sessions and a code)", n, err)
	}
	for _, id := range []string{a.ID, b.ID, code.ID} {
		got, err := s.GetSession(ctx(), id)
		if err != nil || got.State != store.StateRevoked || got.RevokeReason != "logout_all" || !sameTime(got.RevokedAt, at) {
			t.Errorf("GetSession(%s) after RevokeUserSessions = %+v, %v; want revoked at %v for logout_all", id, got, err, at)
		}
	}
	if got, err := s.GetSession(ctx(), already.ID); err != nil || got.RevokeReason != "logout" || !sameTime(got.RevokedAt, t0) {
		t.Errorf("an already revoked session was revoked again: %+v, %v", got, err)
	}
	for _, f := range []*store.Session{pending, failed} {
		if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State == store.StateRevoked {
			t.Errorf("a %s flow was revoked: %+v, %v", got.State, got, err)
		}
	}
	if got, err := s.GetSession(ctx(), other.ID); err != nil || got.State != store.StateActive {
		t.Errorf("another user's session = %+v, %v; want it active", got, err)
	}
	_, err = s.Rotate(ctx(), a.ID, 1, at, at.Add(time.Hour))
	mustNotFound(t, "Rotate after RevokeUserSessions", err)
	_, err = s.RedeemCode(ctx(), code.ID, redemption())
	mustNotFound(t, "RedeemCode after RevokeUserSessions", err)

	if n, err := s.RevokeUserSessions(ctx(), uid, "again", at.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("second RevokeUserSessions() = %d, %v; want 0", n, err)
	}
	if n, err := s.RevokeUserSessions(ctx(), "nobody", "logout_all", at); err != nil || n != 0 {
		t.Errorf("RevokeUserSessions(nobody) = %d, %v; want 0, nil", n, err)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	odd := time.Date(2026, 11, 23, 12, 0, 0, 123_000_000, time.FixedZone("X", 3600)) // ms precision, not UTC
	f := &store.Session{
		ID: uniq("flow"), ExpiresAt: odd.Add(time.Hour), CreatedAt: odd, ClientID: "spa", RedirectURI: "https://app.example/cb?x=1&y=ü",
		ClientState: "état \"quoted\" \x01", CodeChallenge: "c", Provider: "google", Scope: "openid",
		MaxAge: new(int64), // zero is a value (authenticate again now), distinct from none
	}
	if err := s.CreateFlow(ctx(), f); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimFlow(ctx(), f.ID, "google", odd); err != nil || got.MaxAge == nil || *got.MaxAge != 0 {
		t.Fatalf("ClaimFlow() = %+v, %v; want max_age 0 read back", got, err)
	}
	plain := newFlow(t, s, t0.Add(time.Hour))
	if got, err := s.GetSession(ctx(), plain.ID); err != nil || got.MaxAge != nil {
		t.Errorf("a flow without max_age reads back with %v, %v; want nil", got.MaxAge, err)
	}
	day := int64(86400)
	withAge := &store.Session{ID: uniq("flow"), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, Provider: "google", MaxAge: &day}
	if err := s.CreateFlow(ctx(), withAge); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx(), withAge.ID); err != nil || got.MaxAge == nil || *got.MaxAge != day {
		t.Errorf("max_age %d reads back as %v, %v", day, got.MaxAge, err)
	}
	claims := map[string]any{
		"email": "ü@example.com", "email_verified": false, "name": "Zoë \"Z\" O'Neil", "roles": []any{},
		"org": map[string]any{"id": "o1", "tier": float64(3), "tags": []any{"a", "b"}},
	}
	c := store.CodeIssue{UserID: "u1", AuthTime: odd, Claims: claims, CodeHash: "h", CodeExpiresAt: odd.Add(time.Minute)}
	if _, err := s.IssueCode(ctx(), f.ID, "google", odd, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(ctx(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RedirectURI != f.RedirectURI || got.ClientState != f.ClientState {
		t.Errorf("strings changed: %q %q", got.RedirectURI, got.ClientState)
	}
	if !sameTime(got.CreatedAt, odd) || !sameTime(got.AuthTime, odd) || !sameTime(got.ExpiresAt, odd.Add(time.Minute)) {
		t.Errorf("times: created %v auth %v expires %v; want %v in UTC", got.CreatedAt, got.AuthTime, got.ExpiresAt, odd)
	}
	if !jsonEqual(t, got.Claims, claims) {
		t.Errorf("claims = %#v\nwant %#v", got.Claims, claims)
	}

	// The session's own times, each at a different odd instant.
	r := store.Redemption{
		CodeHash: "h", ClientID: "spa", RedirectURI: f.RedirectURI, CodeChallenge: "c", Now: odd.Add(time.Second),
		IdleExpiresAt: odd.Add(time.Hour + 7*time.Millisecond), ExpiresAt: odd.Add(24*time.Hour + 9*time.Millisecond),
	}
	if _, err := s.RedeemCode(ctx(), f.ID, r); err != nil {
		t.Fatal(err)
	}
	rotated, idle := odd.Add(2*time.Second+1*time.Millisecond), odd.Add(2*time.Hour+3*time.Millisecond)
	if _, err := s.Rotate(ctx(), f.ID, 1, rotated, idle); err != nil {
		t.Fatal(err)
	}
	revoked := odd.Add(3*time.Second + 5*time.Millisecond)
	if ok, err := s.Revoke(ctx(), f.ID, "logout", revoked); err != nil || !ok {
		t.Fatalf("Revoke() = %v, %v", ok, err)
	}
	got, err = s.GetSession(ctx(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		got, want time.Time
	}{
		{"RotatedAt", got.RotatedAt, rotated},
		{"IdleExpiresAt", got.IdleExpiresAt, idle},
		{"RevokedAt", got.RevokedAt, revoked},
		{"ExpiresAt", got.ExpiresAt, r.ExpiresAt},
		{"CreatedAt", got.CreatedAt, odd},
		{"AuthTime", got.AuthTime, odd},
	} {
		if !sameTime(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v in UTC", tt.name, tt.got, tt.want)
		}
	}
	if got.Generation != 2 || got.State != store.StateRevoked || !jsonEqual(t, got.Claims, claims) {
		t.Errorf("after redeem, rotate and revoke: %+v", got)
	}
}

func testListUserSessions(t *testing.T, s store.Store) {
	uid := uniq("user")
	older := activeSession(t, s, uid)
	newer := activeSession(t, s, uid)
	if _, err := s.Rotate(ctx(), newer.ID, 1, t0.Add(time.Minute), t0.Add(time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	revoked := activeSession(t, s, uid)
	if _, err := s.Revoke(ctx(), revoked.ID, "logout", t0); err != nil {
		t.Fatal(err)
	}
	other := activeSession(t, s, uniq("user"))
	pending := newFlow(t, s, t0.Add(time.Hour))

	got, err := s.ListUserSessions(ctx(), uid, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := newer.ID + "," + older.ID; names(got) != want {
		t.Errorf("ListUserSessions() = [%s], want [%s] (not revoked %s, other user's %s, flow %s)", names(got), want, revoked.ID, other.ID, pending.ID)
	}
	// older is idle-expired at t0+1h; newer lives until t0+1h1m.
	got, err = s.ListUserSessions(ctx(), uid, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != newer.ID {
		t.Errorf("ListUserSessions() after older's idle expiry = [%s], want [%s]", names(got), newer.ID)
	}
	// Even with an idle expiry past it, newer ends at its absolute expiry
	// (t0+24h).
	end := newer.ExpiresAt
	if _, err := s.Rotate(ctx(), newer.ID, 2, t0.Add(time.Hour), end.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListUserSessions(ctx(), uid, end.Add(-time.Millisecond)); err != nil || names(got) != newer.ID {
		t.Errorf("ListUserSessions() just before the absolute expiry = [%s], %v; want [%s]", names(got), err, newer.ID)
	}
	if got, err := s.ListUserSessions(ctx(), uid, end); err != nil || len(got) != 0 {
		t.Errorf("ListUserSessions() at the absolute expiry = [%s], %v; want none", names(got), err)
	}
	if got, err := s.ListUserSessions(ctx(), "nobody", t0); err != nil || len(got) != 0 {
		t.Errorf("ListUserSessions(nobody) = %v, %v; want none", got, err)
	}
}

// race starts n goroutines at once and returns how many of f's calls
// succeeded; other errors than ErrNotFound fail the test.
func race(t *testing.T, n int, f func(i int) error) int {
	t.Helper()
	return raceLosing(t, n, store.ErrNotFound, f)
}

// raceLosing starts n goroutines at once and returns how many of f's calls
// succeeded; a call that lost returns lose (errors.Is), and other errors
// fail the test.
func raceLosing(t *testing.T, n int, lose error, f func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	var errs []error
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := f(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, lose):
				errs = append(errs, fmt.Errorf("call %d: %w", i, err))
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	return wins
}

func testConcurrentRotate(t *testing.T, s store.Store) {
	sess := activeSession(t, s, "u1")
	now := t0.Add(time.Minute)
	if wins := race(t, 50, func(int) error {
		_, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
		return err
	}); wins != 1 {
		t.Errorf("%d of 50 concurrent rotations of generation 1 won, want exactly 1", wins)
	}
	got, err := s.GetSession(ctx(), sess.ID)
	if err != nil || got.Generation != 2 {
		t.Errorf("after the race: generation %d, %v; want 2", got.Generation, err)
	}
}

func testConcurrentClaim(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	if wins := race(t, 20, func(int) error {
		_, err := s.ClaimFlow(ctx(), f.ID, "google", t0)
		return err
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent claims of one flow won, want exactly 1", wins)
	}
	if got, err := s.GetSession(ctx(), f.ID); err != nil || got.State != store.StateExchanging {
		t.Errorf("after the race: %+v, %v; want the flow exchanging", got, err)
	}
}

func testConcurrentRedeem(t *testing.T, s store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("u1", "h")); err != nil {
		t.Fatal(err)
	}
	if wins := race(t, 20, func(int) error {
		_, err := s.RedeemCode(ctx(), f.ID, redemption())
		return err
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent redemptions of one code won, want exactly 1", wins)
	}
}

// rotateRacing rotates session id from generation 1 on as a client
// refreshing as fast as it can would, each generation once, while other
// goroutines do the same and something revokes it; ErrNotFound (revoked,
// or another goroutine took the generation) is expected. It counts the
// rotations it won in won, and checks each returned the session active at
// the next generation.
func rotateRacing(s store.Store, id string, now time.Time, won *atomic.Int64) error {
	for gen := int64(1); gen < 30; gen++ {
		got, err := s.Rotate(ctx(), id, gen, now, now.Add(time.Hour))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case got.State != store.StateActive || got.Generation != gen+1:
			return fmt.Errorf("Rotate(%s, %d) = state %s at generation %d; want active at %d", id, gen, got.State, got.Generation, gen+1)
		default:
			won.Add(1)
		}
	}
	return nil
}

// checkRevokedForGood checks that session id ended revoked at at for
// reason, at generation gen (1 plus the rotations that won; 0 for a code
// revoked before it was redeemed), and stays so: a rotation of its
// generation, or of any other, is refused and changes nothing, it is not
// listed among its user's sessions and it is in the revocation feed.
func checkRevokedForGood(t *testing.T, s store.Store, id, reason string, at time.Time, gen int64) {
	t.Helper()
	got, err := s.GetSession(ctx(), id)
	if err != nil {
		t.Fatalf("GetSession(%s): %v", id, err)
	}
	if got.State != store.StateRevoked || got.RevokeReason != reason || !sameTime(got.RevokedAt, at) || got.Generation != gen {
		t.Errorf("GetSession(%s) = state %s, reason %q, revoked at %v, generation %d; want revoked for %s at %v, generation %d",
			id, got.State, got.RevokeReason, got.RevokedAt, got.Generation, reason, at, gen)
	}
	for _, g := range []int64{gen, gen + 1, 1} {
		_, err := s.Rotate(ctx(), id, g, at, at.Add(time.Hour))
		mustNotFound(t, fmt.Sprintf("Rotate(%s, generation %d) of the revoked session", id, g), err)
	}
	if again, err := s.GetSession(ctx(), id); err != nil || again.State != store.StateRevoked || again.Generation != gen {
		t.Errorf("GetSession(%s) after the refused rotations = %+v, %v; want it revoked at generation %d", id, again, err, gen)
	}
	list, err := s.ListUserSessions(ctx(), got.UserID, at)
	if err != nil {
		t.Fatalf("ListUserSessions(%s): %v", got.UserID, err)
	}
	if slices.ContainsFunc(list, func(l store.Session) bool { return l.ID == id }) {
		t.Errorf("ListUserSessions(%s) = [%s]; it lists the revoked session %s", got.UserID, names(list), id)
	}
	feed, err := s.RevocationsSince(ctx(), at, 1000)
	if err != nil {
		t.Fatalf("RevocationsSince: %v", err)
	}
	if !slices.ContainsFunc(feed, func(r store.Revocation) bool { return r.Kind == store.RevokedSession && r.SessionID == id }) {
		t.Errorf("the revocation feed since %v does not list session %s", at, id)
	}
}

func testRevokeRacesRotate(t *testing.T, s store.Store) {
	sess := activeSession(t, s, "u1")
	now := t0.Add(time.Minute)
	var rotations atomic.Int64
	var revoked atomic.Bool
	race(t, 20, func(i int) error {
		if i == 10 {
			ok, err := s.Revoke(ctx(), sess.ID, "logout", now)
			revoked.Store(ok)
			return err
		}
		return rotateRacing(s, sess.ID, now, &rotations)
	})
	// The session was active until the revoke: it is the revoke's.
	if !revoked.Load() {
		t.Errorf("Revoke() of a session active until then reported that it did not revoke it")
	}
	checkRevokedForGood(t, s, sess.ID, "logout", now, 1+rotations.Load())
}

func testRevokeUserSessionsRacesRotate(t *testing.T, s store.Store) {
	uid := uniq("user")
	const sessions = 5
	var ids []string
	for range sessions {
		ids = append(ids, activeSession(t, s, uid).ID)
	}
	now := t0.Add(time.Minute)
	var revoked int64
	var rotations [sessions]atomic.Int64
	race(t, 21, func(i int) error {
		if i == 10 {
			n, err := s.RevokeUserSessions(ctx(), uid, "logout_all", now)
			revoked = n
			return err
		}
		return rotateRacing(s, ids[i%sessions], now, &rotations[i%sessions])
	})
	if revoked != sessions {
		t.Errorf("RevokeUserSessions() revoked %d sessions, want %d", revoked, sessions)
	}
	for i, id := range ids {
		checkRevokedForGood(t, s, id, "logout_all", now, 1+rotations[i].Load())
	}
	if list, err := s.ListUserSessions(ctx(), uid, now); err != nil || len(list) != 0 {
		t.Errorf("ListUserSessions() after RevokeUserSessions = [%s], %v; want none", names(list), err)
	}
}

func testRevokeUserSessionsRacesRedeem(t *testing.T, s store.Store) {
	const rounds, codes = 10, 5
	now := redemption().Now
	redeemedCodes := 0
	for round := range rounds {
		uid := uniq("user")
		var ids []string
		for range codes {
			f := newFlow(t, s, t0.Add(10*time.Minute))
			claim(t, s, f.ID)
			if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue(uid, "h")); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, f.ID)
		}
		var revoked int64
		redeemed := make([]bool, codes)
		race(t, codes+1, func(i int) error {
			if i == codes {
				n, err := s.RevokeUserSessions(ctx(), uid, "logout_all", now)
				revoked = n
				return err
			}
			got, err := s.RedeemCode(ctx(), ids[i], redemption())
			if err != nil {
				return err
			}
			redeemed[i] = true
			if got.State != store.StateActive || got.Generation != 1 {
				return fmt.Errorf("RedeemCode(%s) = state %s at generation %d; want active at 1", ids[i], got.State, got.Generation)
			}
			return nil
		})
		// Each session is revoked once, as a code or after it was
		// activated.
		if revoked != codes {
			t.Errorf("round %d: RevokeUserSessions() revoked %d sessions, want %d", round, revoked, codes)
		}
		for i, id := range ids {
			// A redeemed code was activated at generation 1 and then
			// revoked; one that was not was revoked as a code, at 0.
			var gen int64
			if redeemed[i] {
				gen = 1
				redeemedCodes++
			}
			checkRevokedForGood(t, s, id, "logout_all", now, gen)
			_, err := s.RedeemCode(ctx(), id, redemption())
			mustNotFound(t, "RedeemCode after the race", err)
		}
		if list, err := s.ListUserSessions(ctx(), uid, now); err != nil || len(list) != 0 {
			t.Errorf("round %d: ListUserSessions() after the race = [%s], %v; want none", round, names(list), err)
		}
	}
	t.Logf("of %d codes, %d were redeemed before the revocation and %d revoked as codes", rounds*codes, redeemedCodes, rounds*codes-redeemedCodes)
}
