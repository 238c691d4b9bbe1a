package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/storetest"
)

// TestConformance runs the whole suite against every available backend:
// the embedded database always, MongoDB when MONGODB_URI is set.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := storetest.OpenBackend(t, b)
			for _, tc := range suite {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, s) })
			}
		})
	}
}

var suite = []struct {
	name string
	run  func(t *testing.T, s *store.Store)
}{
	{"twenty concurrent first logins of one identity create exactly one user", testConcurrentFirstLogin},
	{"a crash after the identity is claimed is repaired by the next login", testCrashRepair},
	{"a login writes profile and provider tokens together", testLoginWritesTogether},
	{"a flow becomes a code once and only while unexpired", testIssueCode},
	{"a failed flow cannot then issue a code", testFailFlow},
	{"a code is redeemed once and only with matching client, redirect and challenge", testRedeemCode},
	{"a session rotates one generation at a time", testRotate},
	{"a revoked session cannot rotate", testRevoke},
	{"the sweeper removes only expired documents", testSweep},
	{"signing keys are unique per id", testKeys},
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

func login(key string, p claims.Profile, token string) store.Login {
	return store.Login{
		IdentityKey: key, Provider: "google", Profile: p, Now: t0,
		Link: store.ProviderLink{Subject: key, Profile: p, AccessTokenSealed: token, UpdatedAt: t0},
	}
}

func testConcurrentFirstLogin(t *testing.T, s *store.Store) {
	key := uniq("google|concurrent")
	const n = 20
	var wg sync.WaitGroup
	userIDs := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			uid, _, err := s.ClaimIdentity(ctx(), key, "google", "concurrent", fmt.Sprintf("%s-user-%d", key, i), t0)
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = s.UpsertLogin(ctx(), uid, login(key, claims.Profile{Email: fmt.Sprintf("u%d@example.com", i)}, fmt.Sprintf("tok-%d", i)))
			userIDs[i] = uid
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	for i, uid := range userIDs {
		if uid != userIDs[0] {
			t.Fatalf("login %d got user %q, login 0 got %q: one identity mapped to two users", i, uid, userIDs[0])
		}
	}
	id, err := s.GetIdentity(ctx(), key)
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != userIDs[0] {
		t.Fatalf("identity points at %q, logins got %q", id.UserID, userIDs[0])
	}
	u, err := s.GetUser(ctx(), userIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Identities) != 1 || u.Identities[0] != key {
		t.Errorf("user identities = %v, want [%s]", u.Identities, key)
	}
	// Exactly one of the 20 candidate user ids exists.
	found := 0
	for i := range n {
		if _, err := s.GetUser(ctx(), fmt.Sprintf("%s-user-%d", key, i)); err == nil {
			found++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if found != 1 {
		t.Errorf("%d users exist for one identity, want 1", found)
	}
}

func testCrashRepair(t *testing.T, s *store.Store) {
	key := uniq("google|crash")
	// First login crashes right after claiming the identity.
	uid, created, err := s.ClaimIdentity(ctx(), key, "google", "crash", key+"-u1", t0)
	if err != nil || !created {
		t.Fatalf("ClaimIdentity() = %q, %v, %v; want created", uid, created, err)
	}
	if _, err := s.GetUser(ctx(), uid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user exists before UpsertLogin: %v", err)
	}
	// The next login finds the identity and creates its user.
	uid2, created, err := s.ClaimIdentity(ctx(), key, "google", "crash", key+"-u2", t0)
	if err != nil || created || uid2 != uid {
		t.Fatalf("second ClaimIdentity() = %q, %v, %v; want %q, not created", uid2, created, err, uid)
	}
	u, err := s.UpsertLogin(ctx(), uid2, login(key, claims.Profile{Email: "c@example.com"}, "t2"))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != uid || u.Profile.Email != "c@example.com" || u.CreatedAt.IsZero() {
		t.Errorf("repaired user = %+v", u)
	}
}

func testLoginWritesTogether(t *testing.T, s *store.Store) {
	key := uniq("google|together")
	uid, _, err := s.ClaimIdentity(ctx(), key, "google", "together", key+"-u", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertLogin(ctx(), uid, login(key, claims.Profile{Name: "First"}, "tok-first")); err != nil {
		t.Fatal(err)
	}
	second := login(key, claims.Profile{Name: "Second"}, "tok-second")
	second.Now = t0.Add(time.Hour)
	u, err := s.UpsertLogin(ctx(), uid, second)
	if err != nil {
		t.Fatal(err)
	}
	link := u.Providers["google"]
	if u.Profile.Name != "Second" || link.AccessTokenSealed != "tok-second" || link.Profile.Name != "Second" {
		t.Errorf("after second login: profile %q, token %q", u.Profile.Name, link.AccessTokenSealed)
	}
	if !u.CreatedAt.Equal(t0) || !u.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("created %v updated %v", u.CreatedAt, u.UpdatedAt)
	}
	if len(u.Identities) != 1 {
		t.Errorf("identities = %v, want one", u.Identities)
	}
}

func newFlow(t *testing.T, s *store.Store, expires time.Time) *store.Session {
	t.Helper()
	f := &store.Session{
		ID: uniq("flow"), ExpiresAt: expires, CreatedAt: t0, ClientID: "spa", RedirectURI: "https://app/cb",
		ClientState: "st", CodeChallenge: "chal", Provider: "google",
	}
	if err := s.CreateFlow(ctx(), f); err != nil {
		t.Fatal(err)
	}
	return f
}

func issue(code string) store.CodeIssue {
	return store.CodeIssue{
		UserID: "u1", AuthTime: t0, Claims: map[string]any{"email": "a@example.com", "roles": []string{"r"}},
		CodeHash: code, CodeExpiresAt: t0.Add(time.Minute),
	}
}

func testIssueCode(t *testing.T, s *store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	if _, err := s.IssueCode(ctx(), f.ID, "facebook", t0, issue("h")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IssueCode for another provider: %v, want ErrNotFound", err)
	}
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0.Add(11*time.Minute), issue("h")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IssueCode after expiry: %v, want ErrNotFound", err)
	}
	got, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("h"))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateCode || got.UserID != "u1" || got.ClientState != "st" || got.Claims["email"] != "a@example.com" {
		t.Errorf("IssueCode() = %+v", got)
	}
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("h2")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replayed IssueCode: %v, want ErrNotFound", err)
	}
}

func testFailFlow(t *testing.T, s *store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	got, err := s.FailFlow(ctx(), f.ID, "google", t0)
	if err != nil || got.State != store.StateFailed || got.RedirectURI != "https://app/cb" {
		t.Fatalf("FailFlow() = %+v, %v", got, err)
	}
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("h")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("IssueCode after failure: %v, want ErrNotFound", err)
	}
}

func redemption() store.Redemption {
	return store.Redemption{
		CodeHash: "h", ClientID: "spa", RedirectURI: "https://app/cb", CodeChallenge: "chal", Now: t0.Add(time.Second),
		IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
	}
}

func testRedeemCode(t *testing.T, s *store.Store) {
	f := newFlow(t, s, t0.Add(10*time.Minute))
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("h")); err != nil {
		t.Fatal(err)
	}
	wrong := []struct {
		name string
		edit func(r *store.Redemption)
	}{
		{"wrong code", func(r *store.Redemption) { r.CodeHash = "x" }},
		{"wrong client", func(r *store.Redemption) { r.ClientID = "other" }},
		{"wrong redirect", func(r *store.Redemption) { r.RedirectURI = "https://app/cb2" }},
		{"wrong verifier", func(r *store.Redemption) { r.CodeChallenge = "nope" }},
		{"too late", func(r *store.Redemption) { r.Now = t0.Add(2 * time.Minute) }},
	}
	for _, w := range wrong {
		r := redemption()
		w.edit(&r)
		if _, err := s.RedeemCode(ctx(), f.ID, r); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: RedeemCode() err = %v, want ErrNotFound", w.name, err)
		}
	}
	got, err := s.RedeemCode(ctx(), f.ID, redemption())
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.StateActive || got.Generation != 1 || !got.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("RedeemCode() = %+v", got)
	}
	if _, err := s.RedeemCode(ctx(), f.ID, redemption()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RedeemCode: %v, want ErrNotFound", err)
	}
}

func activeSession(t *testing.T, s *store.Store) *store.Session {
	t.Helper()
	f := newFlow(t, s, t0.Add(10*time.Minute))
	if _, err := s.IssueCode(ctx(), f.ID, "google", t0, issue("h")); err != nil {
		t.Fatal(err)
	}
	sess, err := s.RedeemCode(ctx(), f.ID, redemption())
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func testRotate(t *testing.T, s *store.Store) {
	sess := activeSession(t, s)
	now := t0.Add(time.Minute)
	got, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour))
	if err != nil || got.Generation != 2 {
		t.Fatalf("Rotate(1) = %+v, %v", got, err)
	}
	if _, err := s.Rotate(ctx(), sess.ID, 1, now, now.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rotate of a used generation: %v, want ErrNotFound", err)
	}
	if _, err := s.Rotate(ctx(), sess.ID, 2, now.Add(2*time.Hour), now.Add(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rotate after idle expiry: %v, want ErrNotFound", err)
	}
	// Concurrent rotations of one generation: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Rotate(ctx(), sess.ID, 2, now, now.Add(time.Hour)); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent rotations of one generation won, want 1", wins)
	}
}

func testRevoke(t *testing.T, s *store.Store) {
	sess := activeSession(t, s)
	ok, err := s.Revoke(ctx(), sess.ID, "logout", t0)
	if err != nil || !ok {
		t.Fatalf("Revoke() = %v, %v", ok, err)
	}
	if ok, _ := s.Revoke(ctx(), sess.ID, "logout", t0); ok {
		t.Error("second Revoke() reported a change")
	}
	if _, err := s.Rotate(ctx(), sess.ID, 1, t0, t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rotate after revoke: %v, want ErrNotFound", err)
	}
	got, err := s.GetSession(ctx(), sess.ID)
	if err != nil || got.State != store.StateRevoked || got.RevokeReason != "logout" {
		t.Errorf("GetSession() = %+v, %v", got, err)
	}
}

func testSweep(t *testing.T, s *store.Store) {
	old := newFlow(t, s, t0.Add(-48*time.Hour))
	fresh := newFlow(t, s, t0.Add(time.Hour))
	if _, err := s.SweepExpired(ctx(), t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx(), old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired flow survived the sweep: %v", err)
	}
	if _, err := s.GetSession(ctx(), fresh.ID); err != nil {
		t.Errorf("unexpired flow swept: %v", err)
	}
}

func testKeys(t *testing.T, s *store.Store) {
	id := uniq("access")
	k := store.SigningKey{ID: id, KID: "k1", Use: "access", Algorithm: "ES256", Generation: 1, PrivateSealed: "x", CreatedAt: t0, SignFrom: t0}
	if err := s.InsertKey(ctx(), k); err != nil {
		t.Fatal(err)
	}
	k.KID = "k2"
	if err := s.InsertKey(ctx(), k); !s.IsDuplicate(err) {
		t.Errorf("second InsertKey of one id: %v, want a duplicate-key error", err)
	}
	keys, err := s.ListKeys(ctx())
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, kk := range keys {
		if kk.ID == id {
			found = append(found, kk.KID)
		}
	}
	if len(found) != 1 || found[0] != "k1" {
		t.Errorf("keys with id %s: %v, want [k1]", id, found)
	}
}
