package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
)

// adminUserCases are what administrators do to users beyond disabling
// them: find them by email, and delete them with everything stored about
// them.
var adminUserCases = []testCase{
	{name: "users are found by profile email whatever its case, sorted and limited", run: testFindUsersByEmail},
	{name: "a user is found by the email of their last sign-in only", run: testFindUsersByEmailFollowsSignIns},
	{name: "an empty email finds no one and a limit out of range is an error", run: testFindUsersByEmailRefusals},
	{name: "deleting a user removes the user, identities, link emails, link flows and audit events, and revokes and scrubs the sessions", run: testDeleteUser},
	{name: "after a deletion a sign-in of the same identity creates a new user", run: testDeleteUserNewSignIn},
	{name: "deleting an unknown user, or one deleted already, is not found", run: testDeleteUnknownUser},
	{name: "deleting a user leaves other users and their sessions alone", run: testDeleteUserLeavesOthers},
	{name: "a sign-in that claimed its identity before the deletion cannot write the deleted user again", run: testDeleteUserRacingSignIn},
	{name: "an identity claimed for a deleted user is released by the refused write", run: testDeletedUserClaimReleased},
	{name: "a deleted user's id is no user for reads and updates", run: testDeletedUserIsNoUser},
	{name: "tombstones older than TombstoneTTL are removed by a later deletion", run: testTombstonesExpire},
}

func mustUserDeleted(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrUserDeleted) {
		t.Errorf("%s: err = %v, want store.ErrUserDeleted", what, err)
	}
}

func testDeleteUserRacingSignIn(t *testing.T, s store.Store) {
	sub := uniq("sub")
	key, email := "google|"+sub, sub+"@example.com"
	u := signInAs(t, s, "google", sub, email, t0)
	before, err := s.CountUsers(ctx())
	if err != nil {
		t.Fatal(err)
	}
	// A second sign-in claims the identity (finding u), then the user is
	// deleted, then the sign-in writes its user.
	uid, created, err := s.ClaimIdentity(ctx(), key, "google", sub, uniq("user"), t0.Add(time.Minute))
	if err != nil || uid != u.ID || created {
		t.Fatalf("ClaimIdentity = %q, %v, %v; want %q", uid, created, err, u.ID)
	}
	if err := s.DeleteUser(ctx(), u.ID, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	l := login(key, "google", claims.Profile{Email: email, EmailVerified: true}, "late-token", t0.Add(3*time.Minute))
	l.Link.LinkEmail = email
	_, err = s.UpsertLogin(ctx(), uid, l)
	mustUserDeleted(t, "UpsertLogin after DeleteUser", err)

	mustNotFound(t, "GetUser of the deleted user", func() error { _, err := s.GetUser(ctx(), u.ID); return err }())
	mustNotFound(t, "GetIdentity of the deleted user's identity", func() error { _, err := s.GetIdentity(ctx(), key); return err }())
	if ids, err := s.FindUsersByLinkEmail(ctx(), email, []string{"google"}); err != nil || len(ids) != 0 {
		t.Errorf("FindUsersByLinkEmail after the refused write = %v, %v; want none", ids, err)
	}
	if ids := findByEmail(t, s, email, 10); len(ids) != 0 {
		t.Errorf("FindUsersByEmail after the refused write = %v, want none", ids)
	}
	if n, err := s.CountUsers(ctx()); err != nil || n != before-1 {
		t.Errorf("CountUsers after the deletion = %d, %v; want %d", n, err, before-1)
	}
	// Starting over, the identity gets a new user.
	newID := uniq("user")
	got, created, err := s.ClaimIdentity(ctx(), key, "google", sub, newID, t0.Add(4*time.Minute))
	if err != nil || got != newID || !created {
		t.Fatalf("ClaimIdentity after the refused write = %q, %v, %v; want the new user %q, created", got, created, err, newID)
	}
	nu, err := s.UpsertLogin(ctx(), newID, l)
	if err != nil || nu.ID != newID {
		t.Fatalf("UpsertLogin of the new user = %v, %v", nu, err)
	}
}

func testDeletedUserClaimReleased(t *testing.T, s store.Store) {
	u := signInAs(t, s, "google", uniq("sub"), "", t0)
	if err := s.DeleteUser(ctx(), u.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An explicit link for u, racing the deletion: its claim creates the
	// identity for the deleted id; its write is refused and lets go.
	sub := uniq("sub")
	key := "facebook|" + sub
	got, created, err := s.ClaimIdentity(ctx(), key, "facebook", sub, u.ID, t0.Add(2*time.Minute))
	if err != nil || got != u.ID || !created {
		t.Fatalf("ClaimIdentity for the deleted user = %q, %v, %v", got, created, err)
	}
	_, err = s.UpsertLogin(ctx(), u.ID, login(key, "facebook", claims.Profile{}, "tok", t0.Add(2*time.Minute)))
	mustUserDeleted(t, "UpsertLogin of the link", err)
	mustNotFound(t, "GetIdentity of the released identity", func() error { _, err := s.GetIdentity(ctx(), key); return err }())
	mustNotFound(t, "GetUser of the deleted user", func() error { _, err := s.GetUser(ctx(), u.ID); return err }())
	if list, err := s.ListUserIdentities(ctx(), u.ID); err != nil || len(list) != 0 {
		t.Errorf("ListUserIdentities(deleted) = %v, %v; want none", list, err)
	}
	newID := uniq("user")
	if got, created, err := s.ClaimIdentity(ctx(), key, "facebook", sub, newID, t0.Add(3*time.Minute)); err != nil || got != newID || !created {
		t.Errorf("ClaimIdentity after the release = %q, %v, %v; want %q, created", got, created, err, newID)
	}
}

func testDeletedUserIsNoUser(t *testing.T, s store.Store) {
	u := signInAs(t, s, "google", uniq("sub"), "", t0)
	if err := s.SetUserNotBefore(ctx(), u.ID, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx(), u.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SetDisabled":      s.SetDisabled(ctx(), u.ID, true),
		"SetRoles":         s.SetRoles(ctx(), u.ID, []string{"admin"}, t0.Add(2*time.Minute)),
		"SetUserNotBefore": s.SetUserNotBefore(ctx(), u.ID, t0.Add(2*time.Minute)),
		"DeleteUser":       s.DeleteUser(ctx(), u.ID, t0.Add(2*time.Minute)),
	} {
		mustNotFound(t, name+" of a deleted user", err)
	}
	mustNotFound(t, "GetUser", func() error { _, err := s.GetUser(ctx(), u.ID); return err }())
	feed, err := s.RevocationsSince(ctx(), t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range feed {
		if r.Kind == store.RevokedUser && r.UserID == u.ID {
			t.Errorf("the deleted user's not-before is in the feed: %+v", r)
		}
	}
}

func testTombstonesExpire(t *testing.T, s store.Store) {
	old := signInAs(t, s, "google", uniq("sub"), "", t0)
	if err := s.DeleteUser(ctx(), old.ID, t0); err != nil {
		t.Fatal(err)
	}
	recent := signInAs(t, s, "google", uniq("sub"), "", t0)
	later := t0.Add(store.TombstoneTTL + time.Minute)
	if err := s.DeleteUser(ctx(), recent.ID, later); err != nil {
		t.Fatal(err)
	}
	// The old tombstone is gone: the id can be written again (what a
	// crash between a claim and its write leaves to the next sign-in).
	key := "google|" + uniq("sub")
	if _, err := s.UpsertLogin(ctx(), old.ID, login(key, "google", claims.Profile{}, "tok", later)); err != nil {
		t.Errorf("UpsertLogin of an id whose tombstone expired: %v", err)
	}
	// The recent one stays.
	_, err := s.UpsertLogin(ctx(), recent.ID, login(key, "google", claims.Profile{}, "tok", later))
	mustUserDeleted(t, "UpsertLogin of an id deleted just now", err)
}

// signInAs records a sign-in of identity provider|subject for a new user
// with profile email email.
func signInAs(t *testing.T, s store.Store, provider, subject, email string, now time.Time) *store.User {
	t.Helper()
	key := provider + "|" + subject
	uid, _, err := s.ClaimIdentity(ctx(), key, provider, subject, uniq("user"), now)
	if err != nil {
		t.Fatalf("ClaimIdentity(%s): %v", key, err)
	}
	u, err := s.UpsertLogin(ctx(), uid, login(key, provider, claims.Profile{Email: email, EmailVerified: true}, "tok-"+subject, now))
	if err != nil {
		t.Fatalf("UpsertLogin(%s): %v", key, err)
	}
	return u
}

func findByEmail(t *testing.T, s store.Store, email string, limit int) []string {
	t.Helper()
	ids, err := s.FindUsersByEmail(ctx(), email, limit)
	if err != nil {
		t.Fatalf("FindUsersByEmail(%q, %d): %v", email, limit, err)
	}
	return ids
}

func testFindUsersByEmail(t *testing.T, s store.Store) {
	email := uniq("ann") + "@example.com"
	var want []string
	for range 3 {
		want = append(want, signInAs(t, s, "google", uniq("sub"), email, t0).ID)
	}
	signInAs(t, s, "google", uniq("sub"), "other-"+email, t0)
	slices.Sort(want)
	if got := findByEmail(t, s, email, store.MaxUsersByEmail); !slices.Equal(got, want) {
		t.Errorf("FindUsersByEmail(%q) = %v, want %v", email, got, want)
	}
	// Profile emails are stored lower-cased; the query is compared lower-cased.
	upper := "  " + string([]rune(email)[0]-32) + email[1:] + " "
	if got := findByEmail(t, s, upper, store.MaxUsersByEmail); !slices.Equal(got, want) {
		t.Errorf("FindUsersByEmail(%q) = %v, want %v", upper, got, want)
	}
	if got := findByEmail(t, s, email, 2); !slices.Equal(got, want[:2]) {
		t.Errorf("FindUsersByEmail(%q, 2) = %v, want %v", email, got, want[:2])
	}
	if got := findByEmail(t, s, "nobody-"+email, 10); len(got) != 0 {
		t.Errorf("FindUsersByEmail(unknown) = %v, want none", got)
	}
}

func testFindUsersByEmailFollowsSignIns(t *testing.T, s store.Store) {
	first, second := uniq("first")+"@example.com", uniq("second")+"@example.com"
	subject := uniq("sub")
	u := signInAs(t, s, "google", subject, first, t0)
	key := "google|" + subject
	if _, err := s.UpsertLogin(ctx(), u.ID, login(key, "google", claims.Profile{Email: second}, "tok", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := findByEmail(t, s, first, 10); len(got) != 0 {
		t.Errorf("FindUsersByEmail(old email) = %v, want none", got)
	}
	if got := findByEmail(t, s, second, 10); !slices.Equal(got, []string{u.ID}) {
		t.Errorf("FindUsersByEmail(new email) = %v, want [%s]", got, u.ID)
	}
}

func testFindUsersByEmailRefusals(t *testing.T, s store.Store) {
	signInAs(t, s, "google", uniq("sub"), "", t0)
	if got := findByEmail(t, s, "", 10); len(got) != 0 {
		t.Errorf("FindUsersByEmail(\"\") = %v, want none", got)
	}
	for _, limit := range []int{0, -1, store.MaxUsersByEmail + 1} {
		if _, err := s.FindUsersByEmail(ctx(), "a@example.com", limit); err == nil {
			t.Errorf("FindUsersByEmail(limit %d) succeeded, want an error", limit)
		}
	}
}

// deletable is a user with everything the store keeps about one: two
// identities (one with a link email), sessions in every state a user's
// session has, a link flow and audit events.
type deletable struct {
	user                           *store.User
	keys                           []string
	email, linkEmail               string
	active, code, created, revoked *store.Session
	linkFlow                       *store.Session
	otherUser                      string
	otherEvent                     string
	adminEvent                     string // an administrator's action on the user
}

func newDeletable(t *testing.T, s store.Store) deletable {
	t.Helper()
	var d deletable
	sub1, sub2 := uniq("sub"), uniq("sub")
	d.email = sub1 + "@example.com"
	d.user = signInAs(t, s, "google", sub1, d.email, t0)
	d.linkEmail = uniq("link") + "@example.com"
	link(t, s, d.user.ID, "facebook", sub2, d.linkEmail, t0)
	d.keys = []string{"google|" + sub1, "facebook|" + sub2}

	d.active = activeSession(t, s, d.user.ID)
	f := newFlow(t, s, t0.Add(10*time.Minute))
	claim(t, s, f.ID)
	var err error
	if d.code, err = s.IssueCode(ctx(), f.ID, "google", t0, issue(d.user.ID, "h2")); err != nil {
		t.Fatal(err)
	}
	d.created = createSession(t, s, d.user.ID)
	d.revoked = createSession(t, s, d.user.ID)
	if ok, err := s.Revoke(ctx(), d.revoked.ID, "logout", t0.Add(time.Second)); err != nil || !ok {
		t.Fatalf("Revoke = %v, %v", ok, err)
	}
	d.linkFlow = linkCodeFlow(t, s, d.user.ID, t0.Add(10*time.Minute))

	d.otherUser = signInAs(t, s, "google", uniq("sub"), uniq("other")+"@example.com", t0).ID
	d.otherEvent = uniq("event")
	d.adminEvent = uniq("event")
	appendAll(t, s,
		store.AuditEvent{ID: uniq("event"), At: t0, Type: "login", UserID: d.user.ID, IP: "192.0.2.1", Detail: map[string]string{"provider": "google"}},
		store.AuditEvent{ID: uniq("event"), At: t0.Add(time.Second), Type: "logout", UserID: d.user.ID, SessionID: d.revoked.ID},
		store.AuditEvent{ID: d.otherEvent, At: t0, Type: "login", UserID: d.otherUser},
		store.AuditEvent{ID: d.adminEvent, At: t0.Add(2 * time.Second), Type: "user_viewed", UserID: d.user.ID, Actor: store.ActorAdmin, IP: "192.0.2.200"},
		// A client's action on the user's data is not an administrator's.
		store.AuditEvent{ID: uniq("event"), At: t0.Add(3 * time.Second), Type: "provider_token", UserID: d.user.ID, ClientID: "api", Actor: "api"},
	)
	return d
}

func testDeleteUser(t *testing.T, s store.Store) {
	d := newDeletable(t, s)
	now := t0.Add(time.Minute)
	if err := s.DeleteUser(ctx(), d.user.ID, now); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	mustNotFound(t, "GetUser after DeleteUser", func() error { _, err := s.GetUser(ctx(), d.user.ID); return err }())
	for _, key := range d.keys {
		mustNotFound(t, "GetIdentity("+key+")", func() error { _, err := s.GetIdentity(ctx(), key); return err }())
	}
	if ids, err := s.ListUserIdentities(ctx(), d.user.ID); err != nil || len(ids) != 0 {
		t.Errorf("ListUserIdentities = %v, %v; want none", ids, err)
	}
	if got := findByEmail(t, s, d.email, 10); len(got) != 0 {
		t.Errorf("FindUsersByEmail = %v, want none", got)
	}
	if got := foundBy(t, s, d.linkEmail); len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail = %v, want none", got)
	}
	mustNotFound(t, "GetSession(link flow)", func() error { _, err := s.GetSession(ctx(), d.linkFlow.ID); return err }())

	for _, c := range []struct {
		name   string
		sess   *store.Session
		reason string
		at     time.Time
	}{
		{"active", d.active, store.ReasonUserDeleted, now},
		{"code", d.code, store.ReasonUserDeleted, now},
		{"created", d.created, store.ReasonUserDeleted, now},
		{"revoked before", d.revoked, "logout", t0.Add(time.Second)},
	} {
		got, err := s.GetSession(ctx(), c.sess.ID)
		if err != nil {
			t.Errorf("GetSession(%s): %v; a revoked session stays until swept", c.name, err)
			continue
		}
		if got.State != store.StateRevoked || got.RevokeReason != c.reason || !sameTime(got.RevokedAt, c.at) {
			t.Errorf("%s session: state %s, reason %q, revoked at %v; want revoked, %q, %v", c.name, got.State, got.RevokeReason, got.RevokedAt, c.reason, c.at)
		}
		if len(got.Claims) != 0 || got.UserAgent != "" || got.IP != "" {
			t.Errorf("%s session keeps personal data: claims %v, user agent %q, IP %q", c.name, got.Claims, got.UserAgent, got.IP)
		}
		if got.UserID != d.user.ID {
			t.Errorf("%s session: user %q, want %q (the feed names it)", c.name, got.UserID, d.user.ID)
		}
	}
	if _, err := s.Rotate(ctx(), d.active.ID, 1, now, now.Add(time.Hour)); !isNotFound(err) {
		t.Errorf("Rotate of a deleted user's session: %v, want store.ErrNotFound", err)
	}
	feed, err := s.RevocationsSince(ctx(), t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	inFeed := map[string]bool{}
	for _, r := range feed {
		if r.Kind == store.RevokedSession {
			inFeed[r.SessionID] = true
		}
	}
	for _, sess := range []*store.Session{d.active, d.code, d.created, d.revoked} {
		if !inFeed[sess.ID] {
			t.Errorf("session %s is not in the revocation feed after the deletion", sess.ID)
		}
	}

	if got := listAudit(t, s, store.AuditQuery{UserID: d.user.ID, Limit: 10}); got != d.adminEvent {
		t.Errorf("audit events of the deleted user: %s, want only the administrator's action %s", got, d.adminEvent)
	}
	if got := listAudit(t, s, store.AuditQuery{UserID: d.otherUser, Limit: 10}); got != d.otherEvent {
		t.Errorf("audit events of another user: %s, want %s", got, d.otherEvent)
	}
	after := uniq("event")
	appendAll(t, s, store.AuditEvent{ID: after, At: now, Type: "user_deleted", UserID: d.user.ID, Actor: "admin"})
	if got, want := listAudit(t, s, store.AuditQuery{UserID: d.user.ID, Limit: 10}), after+" "+d.adminEvent; got != want {
		t.Errorf("audit events after the deletion: %s, want %s", got, want)
	}
}

func testDeleteUserNewSignIn(t *testing.T, s store.Store) {
	d := newDeletable(t, s)
	if err := s.DeleteUser(ctx(), d.user.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, key := range d.keys {
		provider, subject, _ := cutKey(key)
		newID := uniq("user")
		got, created, err := s.ClaimIdentity(ctx(), key, provider, subject, newID, t0.Add(2*time.Minute))
		if err != nil || got != newID || !created {
			t.Errorf("ClaimIdentity(%s) after the deletion = %q, %v, %v; want the new user %q, created", key, got, created, err, newID)
		}
	}
	mustNotFound(t, "GetUser after DeleteUser and new sign-ins", func() error { _, err := s.GetUser(ctx(), d.user.ID); return err }())
}

func cutKey(key string) (provider, subject string, ok bool) {
	for i := range len(key) {
		if key[i] == '|' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

func testDeleteUnknownUser(t *testing.T, s store.Store) {
	mustNotFound(t, "DeleteUser(unknown)", s.DeleteUser(ctx(), uniq("nobody"), t0))
	u := signInAs(t, s, "google", uniq("sub"), "", t0)
	if err := s.DeleteUser(ctx(), u.ID, t0); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "DeleteUser again", s.DeleteUser(ctx(), u.ID, t0))
}

func testDeleteUserLeavesOthers(t *testing.T, s store.Store) {
	d := newDeletable(t, s)
	other := activeSession(t, s, d.otherUser)
	if err := s.DeleteUser(ctx(), d.user.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx(), d.otherUser)
	if err != nil || u.Disabled {
		t.Fatalf("GetUser(other) = %+v, %v", u, err)
	}
	got, err := s.GetSession(ctx(), other.ID)
	if err != nil || got.State != store.StateActive || len(got.Claims) == 0 {
		t.Errorf("other user's session = %+v, %v; want active with its claims", got, err)
	}
	if ids, err := s.ListUserIdentities(ctx(), d.otherUser); err != nil || len(ids) != 1 {
		t.Errorf("ListUserIdentities(other) = %v, %v; want one", ids, err)
	}
}
