package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var revocationCases = []testCase{
	{name: "the feed lists revoked sessions and not-before times in time order, ties by kind and id", run: testFeedOrder},
	{name: "the feed's since is inclusive", run: testFeedSinceInclusive},
	{name: "a page holds at most limit entries but never splits an instant", run: testFeedLimit},
	{name: "sessions that were never revoked are not in the feed", run: testFeedOnlyRevoked},
	{name: "revoked sessions leave the feed when the sweeper removes them", run: testFeedAfterSweep},
	{name: "the feed refuses a limit below 1", run: testFeedBadLimit},
}

// entry is how a test names a feed entry: kind:id@offset-from-t0.
func entry(r store.Revocation) string {
	id := r.SessionID
	if r.Kind == store.RevokedUser {
		id = r.UserID
	}
	return fmt.Sprintf("%s:%s@%v", r.Kind, id, r.At.Sub(t0))
}

func entries(list []store.Revocation) string {
	s := make([]string, len(list))
	for i, r := range list {
		s[i] = entry(r)
	}
	return strings.Join(s, " ")
}

// feedOf returns the whole feed since since, failing the test on error.
func feedOf(t *testing.T, s store.Store, since time.Time, limit int) []store.Revocation {
	t.Helper()
	list, err := s.RevocationsSince(ctx(), since, limit)
	if err != nil {
		t.Fatalf("RevocationsSince(%v, %d): %v", since.Sub(t0), limit, err)
	}
	return list
}

// revokeAt revokes a new active session of uid at t0+at and returns its
// id.
func revokeAt(t *testing.T, s store.Store, uid string, at time.Duration) string {
	t.Helper()
	sess := activeSession(t, s, uid)
	if ok, err := s.Revoke(ctx(), sess.ID, "logout", t0.Add(at)); err != nil || !ok {
		t.Fatalf("Revoke() = %v, %v", ok, err)
	}
	return sess.ID
}

// userWithNotBefore signs in a new user and sets its not-before to
// t0+at.
func userWithNotBefore(t *testing.T, s store.Store, at time.Duration) string {
	t.Helper()
	u := signIn(t, s, "google", uniq("feed"), uniq("user"), t0)
	if err := s.SetUserNotBefore(ctx(), u.ID, t0.Add(at)); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func testFeedOrder(t *testing.T, s store.Store) {
	uid := uniq("user")
	late := revokeAt(t, s, uid, 3*time.Second)
	early := revokeAt(t, s, uid, time.Second)
	// Three entries at t0+2s: two sessions (ordered by id) and a user
	// (after the sessions: "session" < "user").
	tieB := revokeAt(t, s, uid, 2*time.Second)
	tieA := revokeAt(t, s, uid, 2*time.Second)
	if tieA > tieB {
		tieA, tieB = tieB, tieA
	}
	user := userWithNotBefore(t, s, 2*time.Second)
	signIn(t, s, "google", uniq("plain"), uniq("user"), t0) // no not-before: not in the feed

	got := feedOf(t, s, time.Time{}, 100)
	want := fmt.Sprintf("session:%s@1s session:%s@2s session:%s@2s user:%s@2s session:%s@3s", early, tieA, tieB, user, late)
	if entries(got) != want {
		t.Fatalf("RevocationsSince() =\n  %s\nwant\n  %s", entries(got), want)
	}
	for _, r := range got {
		switch r.Kind {
		case store.RevokedSession:
			if r.UserID != uid || !sameTime(r.ExpiresAt, redemption().ExpiresAt) {
				t.Errorf("session entry %+v: want user %s and the session's absolute expiry %v", r, uid, redemption().ExpiresAt)
			}
		case store.RevokedUser:
			if r.SessionID != "" || !r.ExpiresAt.IsZero() {
				t.Errorf("user entry %+v: want no session and no expiry", r)
			}
		}
		if r.At.Location() != time.UTC {
			t.Errorf("entry %+v: At is not in UTC", r)
		}
	}
}

func testFeedSinceInclusive(t *testing.T, s store.Store) {
	uid := uniq("user")
	revokeAt(t, s, uid, time.Second)
	at2 := revokeAt(t, s, uid, 2*time.Second)
	user := userWithNotBefore(t, s, 2*time.Second)
	at3 := revokeAt(t, s, uid, 3*time.Second)

	want := fmt.Sprintf("session:%s@2s user:%s@2s session:%s@3s", at2, user, at3)
	if got := entries(feedOf(t, s, t0.Add(2*time.Second), 100)); got != want {
		t.Errorf("RevocationsSince(t0+2s) = %s, want %s", got, want)
	}
	want = fmt.Sprintf("session:%s@3s", at3)
	if got := entries(feedOf(t, s, t0.Add(2*time.Second+time.Millisecond), 100)); got != want {
		t.Errorf("RevocationsSince(t0+2.001s) = %s, want %s", got, want)
	}
	if got := feedOf(t, s, t0.Add(4*time.Second), 100); len(got) != 0 {
		t.Errorf("RevocationsSince(after the last) = %s, want nothing", entries(got))
	}
}

func testFeedLimit(t *testing.T, s store.Store) {
	uid := uniq("user")
	var ids []string
	for i := range 4 {
		ids = append(ids, revokeAt(t, s, uid, time.Duration(i+1)*time.Second))
	}
	got := feedOf(t, s, time.Time{}, 2)
	if want := fmt.Sprintf("session:%s@1s session:%s@2s", ids[0], ids[1]); entries(got) != want {
		t.Errorf("RevocationsSince(limit 2) = %s, want %s", entries(got), want)
	}
	// Logging out everywhere revokes several sessions at one instant; a
	// page that would end among them takes them all.
	many := uniq("user")
	for range 3 {
		activeSession(t, s, many)
	}
	if n, err := s.RevokeUserSessions(ctx(), many, "logout_all", t0.Add(5*time.Second)); err != nil || n != 3 {
		t.Fatalf("RevokeUserSessions() = %d, %v; want 3", n, err)
	}
	user := userWithNotBefore(t, s, 5*time.Second)
	ids = append(ids, revokeAt(t, s, uid, 6*time.Second))

	// Page through it all, two at a time, as a catching-up reader does.
	var pages []string
	var all []store.Revocation
	since := time.Time{}
	for range 10 {
		page := feedOf(t, s, since, 2)
		pages = append(pages, entries(page))
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		since = page[len(page)-1].At.Add(time.Millisecond)
	}
	if len(all) != 4+3+1+1 {
		t.Errorf("paging two at a time read %d entries, want 9:\n%s", len(all), strings.Join(pages, "\n"))
	}
	if len(pages) < 4 {
		t.Fatalf("pages = %q", pages)
	}
	// The third page starts at t0+5s: three sessions and a user share it.
	third := feedOf(t, s, t0.Add(5*time.Second), 2)
	if len(third) != 4 || third[3].Kind != store.RevokedUser || third[3].UserID != user {
		t.Errorf("RevocationsSince(t0+5s, limit 2) = %s; want the four entries at t0+5s, the user's last", entries(third))
	}
	for _, r := range third[:3] {
		if r.UserID != many || !sameTime(r.At, t0.Add(5*time.Second)) {
			t.Errorf("entry %s: want a session of %s revoked at t0+5s", entry(r), many)
		}
	}
	// A limit past the end is no error.
	if got := feedOf(t, s, time.Time{}, 1000); len(got) != 9 {
		t.Errorf("RevocationsSince(limit 1000) = %d entries, want 9", len(got))
	}
	// A page cut inside the entries at t0+1s..t0+4s (no ties) has exactly
	// limit entries.
	if got := feedOf(t, s, time.Time{}, 3); len(got) != 3 {
		t.Errorf("RevocationsSince(limit 3) = %s, want 3 entries", entries(got))
	}
}

func testFeedOnlyRevoked(t *testing.T, s store.Store) {
	uid := uniq("user")
	activeSession(t, s, uid)
	newFlow(t, s, t0.Add(time.Hour))
	failed := newFlow(t, s, t0.Add(time.Hour))
	if _, err := s.FailFlow(ctx(), failed.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	code := newFlow(t, s, t0.Add(time.Hour))
	claim(t, s, code.ID)
	if _, err := s.IssueCode(ctx(), code.ID, "google", t0, issue(uid, "h")); err != nil {
		t.Fatal(err)
	}
	if got := feedOf(t, s, time.Time{}, 100); len(got) != 0 {
		t.Errorf("RevocationsSince() = %s, want nothing: nothing was revoked", entries(got))
	}
	// A revoked code is a revoked session like any other.
	if _, err := s.Revoke(ctx(), code.ID, "code_reuse", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(feedOf(t, s, time.Time{}, 100)), fmt.Sprintf("session:%s@1s", code.ID); got != want {
		t.Errorf("RevocationsSince() = %s, want %s", got, want)
	}
}

func testFeedAfterSweep(t *testing.T, s store.Store) {
	uid := uniq("user")
	gone := revokeAt(t, s, uid, time.Second) // absolute expiry t0+24h, idle t0+1h
	// Kept alive by use past gone's sweep, then revoked at t0+21h.
	kept := activeSession(t, s, uid)
	now := t0
	for gen := int64(1); now.Before(t0.Add(20 * time.Hour)); gen++ {
		now = now.Add(50 * time.Minute)
		if _, err := s.Rotate(ctx(), kept.ID, gen, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	user := userWithNotBefore(t, s, 2*time.Second)
	if got := feedOf(t, s, time.Time{}, 100); len(got) != 2 {
		t.Fatalf("RevocationsSince() before the sweep = %s, want 2 entries", entries(got))
	}
	// gone is idle-expired since t0+1h; at t0+21h with an hour's grace it
	// is swept, kept (idle until about t0+21h) is not.
	if _, err := s.SweepExpired(ctx(), t0.Add(21*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(feedOf(t, s, time.Time{}, 100)), fmt.Sprintf("user:%s@2s", user); got != want {
		t.Errorf("RevocationsSince() after the sweep = %s, want %s (session %s swept)", got, want, gone)
	}
	if ok, err := s.Revoke(ctx(), kept.ID, "logout", t0.Add(21*time.Hour)); err != nil || !ok {
		t.Fatalf("Revoke() = %v, %v", ok, err)
	}
	if got := feedOf(t, s, time.Time{}, 100); len(got) != 2 {
		t.Errorf("RevocationsSince() = %s, want the user and %s", entries(got), kept.ID)
	}
	// Past its absolute expiry plus the grace, it goes too.
	if _, err := s.SweepExpired(ctx(), t0.Add(25*time.Hour+time.Second), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, want := entries(feedOf(t, s, time.Time{}, 100)), fmt.Sprintf("user:%s@2s", user); got != want {
		t.Errorf("RevocationsSince() after the absolute expiry = %s, want %s", got, want)
	}
}

func testFeedBadLimit(t *testing.T, s store.Store) {
	revokeAt(t, s, uniq("user"), time.Second)
	for _, limit := range []int{0, -1} {
		if got, err := s.RevocationsSince(ctx(), time.Time{}, limit); err == nil {
			t.Errorf("RevocationsSince(limit %d) = %s, nil; want an error", limit, entries(got))
		}
	}
}
