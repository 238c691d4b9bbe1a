package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// exchangeCases are the token exchange's part of the contract: sessions
// that start active (CreateSession) and the replay guard of subject tokens
// (RememberToken).
var exchangeCases = []testCase{
	{name: "a session created by a token exchange is active at generation 1 and reads back field for field, with its device", run: testCreateSession},
	{name: "a created session keeps none of the flow, code, link or revocation fields it is given, and the caller's struct is left alone", run: testCreateSessionKeepsOnlyItsFields},
	{name: "a session id can be created only once, and not over a flow or a session from a code", run: testCreateSessionConflict},
	{name: "a session without an id, user, client, provider, absolute or idle expiry is refused and not stored", run: testCreateSessionInvalid},
	{name: "a created session rotates from generation 1, one generation at a time, until its idle or absolute expiry", run: testCreatedSessionRotates},
	{name: "a created session is revoked once, by id or with its user's sessions, and then enters the revocation feed", run: testCreatedSessionRevoked},
	{name: "a created session is listed with the sessions from codes, with its device, latest rotation first, until it expires", run: testCreatedSessionListed},
	{name: "a created session is swept past its idle or absolute expiry like any other", run: testCreatedSessionSwept},
	{name: "a browser sign-in keeps the device its flow was created with", run: testFlowDevice},
	{name: "a token hash is remembered until it expires and is refused as a replay meanwhile; then it can be remembered again", run: testRememberToken},
	{name: "remembering a token needs a hash and an expiry after now, and a refused call records nothing", run: testRememberTokenInvalid},
	{name: "twenty concurrent creations of one session id have exactly one winner", run: testConcurrentCreateSession},
	{name: "twenty concurrent records of one new token hash have exactly one winner", run: testConcurrentRememberNew},
	{name: "fifty concurrent rotations of a created session's generation 1 have exactly one winner", atomic: true, run: testConcurrentRotateCreated},
	{name: "twenty concurrent records of one expired token hash have exactly one winner", atomic: true, run: testConcurrentRememberExpired},
}

// exchanged returns a session of user uid as a token exchange creates it
// at t0 (not stored): idle until t0+1h, absolute until t0+24h.
func exchanged(uid string) *store.Session {
	return &store.Session{
		ID: uniq("session"), UserID: uid, ClientID: "mobile", Provider: "google", Scope: "openid email",
		Nonce: "app-nonce", AuthTime: t0.Add(-time.Minute),
		Claims:    map[string]any{"email": "a@example.com", "email_verified": true, "roles": []any{"reader"}},
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), IdleExpiresAt: t0.Add(time.Hour), RotatedAt: t0,
		UserAgent: "ExampleApp/1.4 (iPhone; iOS 18.1) CFNetwork/1.0", IP: "2001:db8::7",
	}
}

// createSession stores the session exchanged(uid) describes and returns
// it.
func createSession(t *testing.T, s store.Store, uid string) *store.Session {
	t.Helper()
	sess := exchanged(uid)
	if err := s.CreateSession(ctx(), sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return sess
}

// tokenHash is a subject token's hash as the bridge makes it: hex SHA-256.
func tokenHash() string {
	sum := sha256.Sum256([]byte(uniq("subject-token")))
	return hex.EncodeToString(sum[:])
}

// checkCreated compares a created session as read back with what was
// passed to CreateSession.
func checkCreated(t *testing.T, what string, got, want *store.Session) {
	t.Helper()
	if got.ID != want.ID || got.State != store.StateActive || got.Generation != 1 || got.UserID != want.UserID ||
		got.ClientID != want.ClientID || got.Provider != want.Provider || got.Scope != want.Scope || got.Nonce != want.Nonce ||
		got.UserAgent != want.UserAgent || got.IP != want.IP ||
		!sameTime(got.AuthTime, want.AuthTime) || !sameTime(got.CreatedAt, want.CreatedAt) ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) || !sameTime(got.IdleExpiresAt, want.IdleExpiresAt) ||
		!sameTime(got.RotatedAt, want.RotatedAt) {
		t.Errorf("%s = %+v\nwant an active session at generation 1 like %+v", what, got, want)
	}
	if !jsonEqual(t, got.Claims, want.Claims) {
		t.Errorf("%s claims = %#v, want %#v", what, got.Claims, want.Claims)
	}
}

func testCreateSession(t *testing.T, s store.Store) {
	sess := createSession(t, s, uniq("user"))
	got, err := s.GetSession(ctx(), sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkCreated(t, "GetSession() of a created session", got, sess)

	// Odd times (milliseconds, another zone) and device strings read back
	// exactly, as the rest of a session does.
	odd := time.Date(2026, 11, 23, 12, 0, 0, 123_000_000, time.FixedZone("X", -7200))
	other := exchanged(uniq("user"))
	other.AuthTime, other.CreatedAt, other.RotatedAt = odd, odd.Add(time.Millisecond), odd.Add(2*time.Millisecond)
	other.IdleExpiresAt, other.ExpiresAt = odd.Add(time.Hour+3*time.Millisecond), odd.Add(48*time.Hour+5*time.Millisecond)
	other.UserAgent, other.IP = "Mozilla/5.0 (Linux; Android 15; Pixel 9) \"quoted\" ü \x01", "192.0.2.10"
	other.Claims = map[string]any{"name": "Zoë \"Z\" O'Neil", "org": map[string]any{"id": "o1", "tier": float64(3), "tags": []any{"a"}}}
	if err := s.CreateSession(ctx(), other); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx(), other.ID); err != nil {
		t.Error(err)
	} else {
		checkCreated(t, "GetSession() of a created session with odd values", got, other)
	}

	// Nothing but the ids and the times is required.
	bare := &store.Session{ID: uniq("session"), UserID: uniq("user"), ClientID: "mobile", Provider: "facebook",
		ExpiresAt: t0.Add(time.Hour), IdleExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx(), bare); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetSession(ctx(), bare.ID); err != nil {
		t.Error(err)
	} else {
		checkCreated(t, "GetSession() of a bare created session", got, bare)
	}
}

func testCreateSessionKeepsOnlyItsFields(t *testing.T, s store.Store) {
	uid := uniq("user")
	sess := exchanged(uid)
	maxAge := int64(0)
	sess.State, sess.Generation = store.StateRevoked, 7
	sess.RedirectURI, sess.ClientState, sess.CodeChallenge, sess.CodeHash = "https://app.example/cb", "client-state", "challenge", "h"
	sess.MaxAge = &maxAge
	sess.LinkUserID, sess.LinkSessionID, sess.LinkSealed = uniq("user"), uniq("session"), "sealed"
	sess.RevokedAt, sess.RevokeReason = t0, "logout"
	before := *sess
	if err := s.CreateSession(ctx(), sess); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*sess, before) {
		t.Errorf("CreateSession changed the caller's struct to %+v\nfrom %+v", *sess, before)
	}
	got, err := s.GetSession(ctx(), sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkCreated(t, "GetSession()", got, sess)
	if got.RedirectURI != "" || got.ClientState != "" || got.CodeChallenge != "" || got.CodeHash != "" || got.MaxAge != nil ||
		got.LinkUserID != "" || got.LinkSessionID != "" || got.LinkSealed != "" || !got.RevokedAt.IsZero() || got.RevokeReason != "" {
		t.Errorf("GetSession() = %+v; want no flow, code, link or revocation fields", got)
	}
	// It is a session, not a link flow and not revoked: listed, rotated,
	// and not in the feed until revoked.
	if list, err := s.ListUserSessions(ctx(), uid, t0); err != nil || names(list) != sess.ID {
		t.Errorf("ListUserSessions() = [%s], %v; want [%s]", names(list), err, sess.ID)
	}
	if feed := feedOf(t, s, time.Time{}, 10); len(feed) != 0 {
		t.Errorf("RevocationsSince() = %s; want nothing: nothing was revoked", entries(feed))
	}
	if got, err := s.Rotate(ctx(), sess.ID, 1, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil || got.Generation != 2 {
		t.Errorf("Rotate(1) = %+v, %v; want generation 2", got, err)
	}
}

func testCreateSessionConflict(t *testing.T, s store.Store) {
	uid := uniq("user")
	first := createSession(t, s, uid)
	flow := newFlow(t, s, t0.Add(10*time.Minute))
	code := activeSession(t, s, uid)
	for _, existing := range []struct {
		what string
		id   string
	}{{"a created session", first.ID}, {"a flow", flow.ID}, {"a session from a code", code.ID}} {
		again := exchanged(uniq("user"))
		again.ID, again.ClientID, again.UserAgent = existing.id, "other", "Evil/1.0"
		if err := s.CreateSession(ctx(), again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateSession over %s: err = %v, want store.ErrConflict", existing.what, err)
		}
	}
	if got, err := s.GetSession(ctx(), first.ID); err != nil {
		t.Error(err)
	} else {
		checkCreated(t, "the first created session after a conflict", got, first)
	}
	if got, err := s.GetSession(ctx(), flow.ID); err != nil || got.State != store.StatePending || got.ClientID != "spa" {
		t.Errorf("the flow after a conflicting CreateSession = %+v, %v; want it pending and unchanged", got, err)
	}
	if got, err := s.GetSession(ctx(), code.ID); err != nil || got.ClientID != "spa" || got.UserAgent != "" {
		t.Errorf("the session from a code after a conflicting CreateSession = %+v, %v; want it unchanged", got, err)
	}
	// Nor can a flow take a created session's id.
	f := &store.Session{ID: first.ID, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, ClientID: "spa", Provider: "google"}
	if err := s.CreateFlow(ctx(), f); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateFlow over a created session: err = %v, want store.ErrConflict", err)
	}
}

func testCreateSessionInvalid(t *testing.T, s store.Store) {
	for _, tt := range []struct {
		name string
		edit func(*store.Session)
	}{
		{"no id", func(s *store.Session) { s.ID = "" }},
		{"no user", func(s *store.Session) { s.UserID = "" }},
		{"no client", func(s *store.Session) { s.ClientID = "" }},
		{"no provider", func(s *store.Session) { s.Provider = "" }},
		{"no absolute expiry", func(s *store.Session) { s.ExpiresAt = time.Time{} }},
		{"no idle expiry", func(s *store.Session) { s.IdleExpiresAt = time.Time{} }},
	} {
		sess := exchanged(uniq("user"))
		tt.edit(sess)
		err := s.CreateSession(ctx(), sess)
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("CreateSession with %s: err = %v, want an error that is neither ErrConflict nor ErrNotFound", tt.name, err)
		}
		if sess.ID != "" {
			_, err := s.GetSession(ctx(), sess.ID)
			mustNotFound(t, "GetSession of a refused session ("+tt.name+")", err)
		}
		if list, err := s.ListUserSessions(ctx(), sess.UserID, t0); sess.UserID != "" && (err != nil || len(list) != 0) {
			t.Errorf("ListUserSessions() after a refused session (%s) = [%s], %v; want none", tt.name, names(list), err)
		}
	}
}

func testCreatedSessionRotates(t *testing.T, s store.Store) {
	sess := createSession(t, s, uniq("user")) // idle until t0+1h, absolute until t0+24h
	_, err := s.Rotate(ctx(), sess.ID, 0, t0.Add(time.Minute), t0.Add(time.Hour))
	mustNotFound(t, "Rotate of generation 0", err)
	_, err = s.Rotate(ctx(), sess.ID, 2, t0.Add(time.Minute), t0.Add(time.Hour))
	mustNotFound(t, "Rotate of a future generation", err)
	_, err = s.Rotate(ctx(), sess.ID, 1, t0.Add(time.Hour), t0.Add(2*time.Hour))
	mustNotFound(t, "Rotate at the idle expiry", err)

	now := t0.Add(time.Minute)
	got, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := *sess
	want.RotatedAt, want.IdleExpiresAt = now, now.Add(time.Hour)
	if got.Generation != 2 {
		t.Errorf("Rotate(1) generation = %d, want 2", got.Generation)
	}
	got.Generation = 1 // the rest must be as created, but for the rotation
	checkCreated(t, "Rotate(1)", got, &want)
	_, err = s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
	mustNotFound(t, "Rotate of a used generation", err)

	// Kept alive by use, it still ends at its absolute expiry.
	gen := int64(2)
	for now.Add(50 * time.Minute).Before(sess.ExpiresAt) {
		now = now.Add(50 * time.Minute)
		if _, err := s.Rotate(ctx(), sess.ID, gen, now, now.Add(time.Hour)); err != nil {
			t.Fatalf("Rotate(%d) at %v: %v", gen, now.Sub(t0), err)
		}
		gen++
	}
	_, err = s.Rotate(ctx(), sess.ID, gen, sess.ExpiresAt, sess.ExpiresAt.Add(time.Hour))
	mustNotFound(t, "Rotate at the absolute expiry", err)
}

func testCreatedSessionRevoked(t *testing.T, s store.Store) {
	uid := uniq("user")
	alone := createSession(t, s, uniq("user"))
	at := t0.Add(5 * time.Second)
	if ok, err := s.Revoke(ctx(), alone.ID, "logout", at); err != nil || !ok {
		t.Fatalf("Revoke() of a created session = %v, %v; want true", ok, err)
	}
	if ok, err := s.Revoke(ctx(), alone.ID, "again", at.Add(time.Second)); ok || err != nil {
		t.Errorf("second Revoke() = %v, %v; want false, nil", ok, err)
	}
	got, err := s.GetSession(ctx(), alone.ID)
	if err != nil || got.State != store.StateRevoked || got.RevokeReason != "logout" || !sameTime(got.RevokedAt, at) ||
		got.UserAgent != alone.UserAgent || got.IP != alone.IP {
		t.Errorf("GetSession() after Revoke = %+v, %v; want revoked at %v for logout, its device kept", got, err, at)
	}
	_, err = s.Rotate(ctx(), alone.ID, 1, at, at.Add(time.Hour))
	mustNotFound(t, "Rotate of a revoked created session", err)

	// With the user's other sessions: a created one and one from a code.
	created := createSession(t, s, uid)
	code := activeSession(t, s, uid)
	all := t0.Add(10 * time.Second)
	if n, err := s.RevokeUserSessions(ctx(), uid, "logout_all", all); err != nil || n != 2 {
		t.Errorf("RevokeUserSessions() = %d, %v; want 2 (the created session and the one from a code)", n, err)
	}
	if got, err := s.GetSession(ctx(), created.ID); err != nil || got.State != store.StateRevoked || !sameTime(got.RevokedAt, all) {
		t.Errorf("GetSession() of the created session after RevokeUserSessions = %+v, %v; want revoked at %v", got, err, all)
	}
	_, err = s.Rotate(ctx(), created.ID, 1, all, all.Add(time.Hour))
	mustNotFound(t, "Rotate after RevokeUserSessions", err)

	// The feed holds both created sessions with their user and absolute
	// expiry, like the one from a code.
	want := fmt.Sprintf("session:%s@5s session:%s@10s session:%s@10s", alone.ID, min(created.ID, code.ID), max(created.ID, code.ID))
	feed := feedOf(t, s, t0, 10)
	if got := entries(feed); got != want {
		t.Errorf("RevocationsSince() = %s, want %s", got, want)
	}
	for _, r := range feed {
		if r.SessionID == created.ID && (r.UserID != uid || !sameTime(r.ExpiresAt, created.ExpiresAt)) {
			t.Errorf("the created session's feed entry = %+v; want user %s and expiry %v", r, uid, created.ExpiresAt)
		}
	}
}

func testCreatedSessionListed(t *testing.T, s store.Store) {
	uid := uniq("user")
	code := activeSession(t, s, uid) // rotated at t0+1s, idle until t0+1h
	older := exchanged(uid)          // rotated at t0
	if err := s.CreateSession(ctx(), older); err != nil {
		t.Fatal(err)
	}
	newer := exchanged(uid)
	newer.RotatedAt, newer.IdleExpiresAt = t0.Add(2*time.Second), t0.Add(2*time.Hour)
	newer.UserAgent, newer.IP = "ExampleApp/1.4 (Android 15; Pixel 9)", "198.51.100.23"
	if err := s.CreateSession(ctx(), newer); err != nil {
		t.Fatal(err)
	}
	createSession(t, s, uniq("user")) // another user's

	list, err := s.ListUserSessions(ctx(), uid, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := newer.ID + "," + code.ID + "," + older.ID; names(list) != want {
		t.Fatalf("ListUserSessions() = [%s], want [%s] (latest rotation first)", names(list), want)
	}
	checkCreated(t, "the listed newer session", &list[0], newer)
	checkCreated(t, "the listed older session", &list[2], older)
	if list[1].UserAgent != "" || list[1].IP != "" {
		t.Errorf("a session from a flow without a device lists user agent %q, IP %q; want none", list[1].UserAgent, list[1].IP)
	}
	// At t0+1h the code's and older's idle expiry have come; newer's has
	// not, until its absolute expiry.
	if list, err := s.ListUserSessions(ctx(), uid, t0.Add(time.Hour)); err != nil || names(list) != newer.ID {
		t.Errorf("ListUserSessions() at t0+1h = [%s], %v; want [%s]", names(list), err, newer.ID)
	}
	if _, err := s.Rotate(ctx(), newer.ID, 1, t0.Add(90*time.Minute), newer.ExpiresAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListUserSessions(ctx(), uid, newer.ExpiresAt); err != nil || len(list) != 0 {
		t.Errorf("ListUserSessions() at the absolute expiry = [%s], %v; want none", names(list), err)
	}
}

func testCreatedSessionSwept(t *testing.T, s store.Store) {
	uid := uniq("user")
	idle := createSession(t, s, uid) // idle until t0+1h, absolute until t0+24h
	revoked := createSession(t, s, uid)
	if _, err := s.Revoke(ctx(), revoked.ID, "logout", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	kept := createSession(t, s, uid)
	if _, err := s.Rotate(ctx(), kept.ID, 1, t0.Add(50*time.Minute), t0.Add(170*time.Minute)); err != nil {
		t.Fatal(err) // idle until t0+2h50m
	}
	// At t0+2h30m with an hour's grace, the sessions idle since t0+1h go.
	if n, err := s.SweepExpired(ctx(), t0.Add(150*time.Minute), time.Hour); err != nil || n != 2 {
		t.Errorf("SweepExpired() at t0+2h30m = %d, %v; want 2 (the created sessions idle since t0+1h)", n, err)
	}
	for _, id := range []string{idle.ID, revoked.ID} {
		_, err := s.GetSession(ctx(), id)
		mustNotFound(t, "GetSession of a swept created session", err)
	}
	if got := feedOf(t, s, time.Time{}, 10); len(got) != 0 {
		t.Errorf("RevocationsSince() after the sweep = %s; want the swept revoked session gone", entries(got))
	}
	if list, err := s.ListUserSessions(ctx(), uid, t0.Add(150*time.Minute)); err != nil || names(list) != kept.ID {
		t.Errorf("ListUserSessions() after the sweep = [%s], %v; want [%s]", names(list), err, kept.ID)
	}
	// With an idle expiry past its absolute one, it goes an hour after
	// the absolute expiry.
	if _, err := s.Rotate(ctx(), kept.ID, 2, t0.Add(2*time.Hour), kept.ExpiresAt.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepExpired(ctx(), kept.ExpiresAt.Add(time.Hour), time.Hour); err != nil || n != 0 {
		t.Errorf("SweepExpired() exactly the grace after the absolute expiry = %d, %v; want 0", n, err)
	}
	if n, err := s.SweepExpired(ctx(), kept.ExpiresAt.Add(time.Hour+time.Millisecond), time.Hour); err != nil || n != 1 {
		t.Errorf("SweepExpired() past the absolute expiry and the grace = %d, %v; want 1", n, err)
	}
	_, err := s.GetSession(ctx(), kept.ID)
	mustNotFound(t, "GetSession of a created session swept at its absolute expiry", err)
}

func testFlowDevice(t *testing.T, s store.Store) {
	uid := uniq("user")
	f := &store.Session{
		ID: uniq("flow"), ExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, ClientID: "spa", RedirectURI: "https://app.example/cb",
		CodeChallenge: "challenge", Provider: "google", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", IP: "203.0.113.9",
	}
	if err := s.CreateFlow(ctx(), f); err != nil {
		t.Fatal(err)
	}
	claim(t, s, f.ID)
	if got, err := s.IssueCode(ctx(), f.ID, "google", t0, issue(uid, "h")); err != nil || got.UserAgent != f.UserAgent || got.IP != f.IP {
		t.Fatalf("IssueCode() = %+v, %v; want the flow's device", got, err)
	}
	sess, err := s.RedeemCode(ctx(), f.ID, redemption())
	if err != nil || sess.UserAgent != f.UserAgent || sess.IP != f.IP {
		t.Fatalf("RedeemCode() = %+v, %v; want the flow's device", sess, err)
	}
	if got, err := s.Rotate(ctx(), f.ID, 1, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil || got.UserAgent != f.UserAgent || got.IP != f.IP {
		t.Errorf("Rotate() = %+v, %v; want the flow's device", got, err)
	}
	list, err := s.ListUserSessions(ctx(), uid, t0.Add(time.Minute))
	if err != nil || len(list) != 1 || list[0].UserAgent != f.UserAgent || list[0].IP != f.IP {
		t.Errorf("ListUserSessions() = %+v, %v; want the session with its flow's device", list, err)
	}
}

// mustConflict fails the test unless err is store.ErrConflict.
func mustConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("%s: err = %v, want store.ErrConflict", what, err)
	}
}

func testRememberToken(t *testing.T, s store.Store) {
	h := tokenHash()
	exp := t0.Add(10 * time.Minute)
	if err := s.RememberToken(ctx(), h, exp, t0); err != nil {
		t.Fatalf("RememberToken() of a new hash: %v", err)
	}
	mustConflict(t, "RememberToken() of the same hash again", s.RememberToken(ctx(), h, exp, t0))
	// A replay with a later expiry is refused too, and does not move the
	// record's expiry.
	mustConflict(t, "RememberToken() of the same hash with a later expiry", s.RememberToken(ctx(), h, t0.Add(time.Hour), t0.Add(time.Minute)))
	mustConflict(t, "RememberToken() a millisecond before the record's expiry", s.RememberToken(ctx(), h, exp.Add(time.Hour), exp.Add(-time.Millisecond)))

	// Hashes are independent, and apart from sessions' ids.
	other := tokenHash()
	if err := s.RememberToken(ctx(), other, exp, t0); err != nil {
		t.Errorf("RememberToken() of another hash: %v", err)
	}
	flow := newFlow(t, s, t0.Add(time.Hour))
	if err := s.RememberToken(ctx(), flow.ID, exp, t0); err != nil {
		t.Errorf("RememberToken() of a hash equal to a flow's id: %v", err)
	}
	if got, err := s.GetSession(ctx(), flow.ID); err != nil || got.State != store.StatePending || !sameTime(got.ExpiresAt, flow.ExpiresAt) {
		t.Errorf("the flow after a token with its id was remembered = %+v, %v; want it unchanged", got, err)
	}

	// At its expiry the record has expired: the hash is remembered anew,
	// until the new expiry.
	exp2 := t0.Add(20 * time.Minute)
	if err := s.RememberToken(ctx(), h, exp2, exp); err != nil {
		t.Fatalf("RememberToken() at the record's expiry: %v; want the expired record replaced", err)
	}
	mustConflict(t, "RememberToken() within the new record's life", s.RememberToken(ctx(), h, exp2.Add(time.Hour), exp2.Add(-time.Second)))
	if err := s.RememberToken(ctx(), h, exp2.Add(time.Hour), exp2.Add(time.Hour-time.Second)); err != nil {
		t.Errorf("RememberToken() long after the new record's expiry: %v", err)
	}
	mustConflict(t, "RememberToken() of the other hash before its expiry", s.RememberToken(ctx(), other, exp, exp.Add(-time.Second)))
}

func testRememberTokenInvalid(t *testing.T, s store.Store) {
	h := tokenHash()
	for _, tt := range []struct {
		name           string
		hash           string
		expiresAt, now time.Time
	}{
		{"an empty hash", "", t0.Add(time.Minute), t0},
		{"an expiry at now", h, t0, t0},
		{"an expiry before now", h, t0.Add(-time.Minute), t0},
		{"an expiry within now's millisecond", h, t0.Add(500 * time.Microsecond), t0},
	} {
		err := s.RememberToken(ctx(), tt.hash, tt.expiresAt, tt.now)
		if err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("RememberToken() with %s: err = %v, want an error that is neither ErrConflict nor ErrNotFound", tt.name, err)
		}
	}
	// None of them recorded h.
	if err := s.RememberToken(ctx(), h, t0.Add(time.Minute), t0); err != nil {
		t.Errorf("RememberToken() after the refused calls: %v; want them to have recorded nothing", err)
	}
}

func testConcurrentCreateSession(t *testing.T, s store.Store) {
	id := uniq("session")
	if wins := raceLosing(t, 20, store.ErrConflict, func(i int) error {
		sess := exchanged(fmt.Sprintf("user-%d", i))
		sess.ID = id
		return s.CreateSession(ctx(), sess)
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent creations of one session id won, want exactly 1", wins)
	}
	got, err := s.GetSession(ctx(), id)
	if err != nil || got.State != store.StateActive || got.Generation != 1 {
		t.Fatalf("after the race: %+v, %v; want one active session at generation 1", got, err)
	}
	if list, err := s.ListUserSessions(ctx(), got.UserID, t0); err != nil || names(list) != id {
		t.Errorf("the winner's user lists [%s], %v; want [%s]", names(list), err, id)
	}
}

func testConcurrentRememberNew(t *testing.T, s store.Store) {
	h := tokenHash()
	if wins := raceLosing(t, 20, store.ErrConflict, func(int) error {
		return s.RememberToken(ctx(), h, t0.Add(10*time.Minute), t0)
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent records of one new token hash won, want exactly 1: the others are replays", wins)
	}
	mustConflict(t, "RememberToken() after the race", s.RememberToken(ctx(), h, t0.Add(10*time.Minute), t0.Add(time.Minute)))
}

func testConcurrentRotateCreated(t *testing.T, s store.Store) {
	sess := createSession(t, s, uniq("user"))
	now := t0.Add(time.Minute)
	if wins := race(t, 50, func(int) error {
		_, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
		return err
	}); wins != 1 {
		t.Errorf("%d of 50 concurrent rotations of a created session's generation 1 won, want exactly 1", wins)
	}
	if got, err := s.GetSession(ctx(), sess.ID); err != nil || got.Generation != 2 {
		t.Errorf("after the race: %+v, %v; want generation 2", got, err)
	}
}

func testConcurrentRememberExpired(t *testing.T, s store.Store) {
	h := tokenHash()
	if err := s.RememberToken(ctx(), h, t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Minute) // the record has expired
	if wins := raceLosing(t, 20, store.ErrConflict, func(int) error {
		return s.RememberToken(ctx(), h, now.Add(10*time.Minute), now)
	}); wins != 1 {
		t.Errorf("%d of 20 concurrent records of one expired token hash won, want exactly 1: the others are replays", wins)
	}
	mustConflict(t, "RememberToken() after the race, within the winner's record", s.RememberToken(ctx(), h, now.Add(time.Hour), now.Add(9*time.Minute)))
}
