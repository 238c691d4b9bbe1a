package bridge_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/store"
)

// defaultWindow is the feed window of opsEnv: its longest access-token
// lifetime (15 minutes) plus a minute.
const defaultWindow = 16 * time.Minute

// feed reads the revocation feed as the api client.
func (e *env) feed(t testing.TB, cursor string) *bridge.Feed {
	t.Helper()
	f, err := e.b.Revocations(bg, bridge.FeedRequest{Client: apiCreds, Cursor: cursor})
	if err != nil {
		t.Fatalf("Revocations(%q): %v", cursor, err)
	}
	return f
}

// feedSIDs returns the session ids of a feed response, sorted.
func feedSIDs(f *bridge.Feed) []string {
	out := make([]string, 0, len(f.Sessions))
	for _, s := range f.Sessions {
		out = append(out, s.SID)
	}
	slices.Sort(out)
	return out
}

// feedSubs returns the user ids of a feed response's not-before entries,
// sorted.
func feedSubs(f *bridge.Feed) []string {
	out := make([]string, 0, len(f.Users))
	for _, u := range f.Users {
		out = append(out, u.Subject)
	}
	slices.Sort(out)
	return out
}

// logoutRT ends the session of a refresh token.
func (e *env) logoutRT(t testing.TB, ts *bridge.TokenSet) string {
	t.Helper()
	if _, err := e.b.Logout(bg, bridge.LogoutRequest{RefreshToken: ts.RefreshToken}); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	rt, err := e.issuer.ParseRefresh(ts.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	return rt.SessionID
}

func TestRevocationsAuthenticatesTheBackend(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	for _, tt := range backendRefusals {
		t.Run(tt.name, func(t *testing.T) {
			f, err := e.b.Revocations(bg, bridge.FeedRequest{Client: tt.creds})
			if f != nil || oauthCode(err) != tt.code {
				t.Errorf("Revocations() = %+v, %v; want %s", f, err, tt.code)
			}
		})
	}
}

func TestRevocationsWithoutACursorIsTheWholeWindow(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	old, _ := e.signInAt(t, "fake", nil)
	_, carol := e.signInAt(t, "fake", subject("carol"))
	oldSID := e.logoutRT(t, old)
	if _, err := e.b.DisableUser(bg, adminAction(carol)); err != nil {
		t.Fatal(err)
	}
	// Past the window of those, Alice logs out and Bob is cut off.
	e.clock.Add(defaultWindow + time.Second)
	recent, alice := e.signInAt(t, "fake", nil)
	bobTS, bob := e.signInAt(t, "fake", subject("bob"))
	e.clock.Add(time.Second)
	revokedAt := e.clock.Now()
	recentSID := e.logoutRT(t, recent)
	if _, err := e.b.RevokeUserTokens(bg, adminAction(bob)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)

	f := e.feed(t, "")
	if !f.Reset || f.More || !strings.HasPrefix(f.Cursor, "v1.c.") || f.Window != int64(defaultWindow/time.Second) || f.ETag == "" {
		t.Errorf("feed = reset %v, more %v, cursor %q, window %d, etag %q; want a reset, no more, a caught-up cursor, window %d",
			f.Reset, f.More, f.Cursor, f.Window, f.ETag, int64(defaultWindow/time.Second))
	}
	bobSID := e.sessionOf(t, bobTS.AccessToken)
	if got, want := feedSIDs(f), sorted(recentSID, bobSID); !slices.Equal(got, want) {
		t.Errorf("revoked sessions = %v, want %v (and not %s, older than the window)", got, want, oldSID)
	}
	if got := feedSubs(f); !slices.Equal(got, []string{bob}) {
		t.Errorf("users = %v, want Bob's only (not Carol's, older than the window)", got)
	}
	window := int64(defaultWindow / time.Second)
	for _, s := range f.Sessions {
		wantSub := map[string]string{recentSID: alice, bobSID: bob}[s.SID]
		if s.Subject != wantSub || s.RevokedAt != revokedAt.Unix() || s.Until != s.RevokedAt+window {
			t.Errorf("entry %+v, want sub %s, revoked at %d, until %d", s, wantSub, revokedAt.Unix(), revokedAt.Unix()+window)
		}
	}
	if u := f.Users[0]; u.NotBefore != revokedAt.Unix() || u.Until != revokedAt.Unix()+window {
		t.Errorf("user entry %+v, want not-before %d, until %d", u, revokedAt.Unix(), revokedAt.Unix()+window)
	}
}

func TestRevocationsFromACursor(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	t0 := e.clock.Now()
	var ts [3]*bridge.TokenSet
	for i := range ts {
		ts[i], _ = e.signInAt(t, "fake", nil)
	}
	s0 := e.logoutRT(t, ts[0]) // at t0
	e.clock.Add(2 * time.Minute)
	f1 := e.feed(t, "")
	if !f1.Reset || !slices.Equal(feedSIDs(f1), []string{s0}) {
		t.Fatalf("first read = reset %v, %v; want a reset with %s", f1.Reset, feedSIDs(f1), s0)
	}
	if want := "v1.c." + strconv.FormatInt(t0.Add(2*time.Minute-bridge.FeedOverlap).UnixMilli(), 10); f1.Cursor != want {
		t.Errorf("cursor = %q, want %q (now less the overlap)", f1.Cursor, want)
	}
	// Another replica commits a revocation stamped 50 seconds before the
	// first read, after it: within the overlap.
	s1 := e.sessionOf(t, ts[1].AccessToken)
	if _, err := e.store.Revoke(bg, s1, "logout", t0.Add(70*time.Second)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	s2 := e.logoutRT(t, ts[2]) // at t0+3m
	e.clock.Add(time.Second)

	f2 := e.feed(t, f1.Cursor)
	if f2.Reset || f2.More {
		t.Errorf("second read = reset %v, more %v; want neither", f2.Reset, f2.More)
	}
	if got, want := feedSIDs(f2), sorted(s1, s2); !slices.Equal(got, want) {
		t.Errorf("second read = %v, want %v: the newer ones and the late one within the overlap, not %s", got, want, s0)
	}
	if want := "v1.c." + strconv.FormatInt(t0.Add(3*time.Minute).UnixMilli(), 10); f2.Cursor != want {
		t.Errorf("cursor = %q, want %q (the newest entry)", f2.Cursor, want)
	}

	f3 := e.feed(t, f2.Cursor)
	if f3.Reset || !slices.Equal(feedSIDs(f3), []string{s2}) {
		t.Errorf("third read = reset %v, %v; want only %s again (the overlap)", f3.Reset, feedSIDs(f3), s2)
	}
}

func TestRevocationsFromACursorOlderThanTheWindowResets(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	a, _ := e.signInAt(t, "fake", nil)
	b, _ := e.signInAt(t, "fake", nil)
	sa := e.logoutRT(t, a)
	f1 := e.feed(t, "")
	e.clock.Add(defaultWindow - time.Minute)
	sb := e.logoutRT(t, b)
	e.clock.Add(2 * time.Minute)
	f2 := e.feed(t, f1.Cursor)
	if !f2.Reset || !slices.Equal(feedSIDs(f2), []string{sb}) {
		t.Errorf("read with a stale cursor = reset %v, %v; want a reset with %s only (%s is older than the window)", f2.Reset, feedSIDs(f2), sb, sa)
	}
	// A cursor of the epoch is stale too.
	if f := e.feed(t, "v1.c.0"); !f.Reset {
		t.Error("a cursor of the epoch did not reset")
	}
}

func TestRevocationsRefusesCursorsItDidNotReturn(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	now := e.clock.Now()
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	for _, cursor := range []string{
		"garbage", "v1", "v1.c", "v1.c.", "v2.c." + ms(0), "V1.c." + ms(0), "v1.x." + ms(0), "v1.C." + ms(0),
		"v1.c." + ms(0) + ".1", "v1.c.-1", "v1.c.abc", "v1.c. 1", "v1.c.1e9", "v1.c.1234567890123456", "v1.c.99999999999999999999",
		".c." + ms(0), "v1..c." + ms(0),
		"v1.c." + ms(2*time.Minute), "v1.p." + ms(2*time.Minute), "v1.c." + ms(365*24*time.Hour),
	} {
		t.Run(cursor, func(t *testing.T) {
			f, err := e.b.Revocations(bg, bridge.FeedRequest{Client: apiCreds, Cursor: cursor})
			if f != nil {
				t.Errorf("Revocations() = %+v", f)
			}
			isOAuthError(t, err, bridge.ErrCodeInvalidRequest, "cursor")
		})
	}
	// A replica whose clock is a little ahead hands out cursors a little
	// in the future.
	for _, cursor := range []string{"v1.c." + ms(30*time.Second), "v1.p." + ms(59*time.Second)} {
		if _, err := e.b.Revocations(bg, bridge.FeedRequest{Client: apiCreds, Cursor: cursor}); err != nil {
			t.Errorf("Revocations(%q): %v, want accepted", cursor, err)
		}
	}
}

func TestRevocationsETagDependsOnTheEntriesOnly(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	a, _ := e.signInAt(t, "fake", nil)
	b, _ := e.signInAt(t, "fake", nil)
	e.logoutRT(t, a)
	e.clock.Add(time.Minute)
	f1 := e.feed(t, "")
	e.clock.Add(10 * time.Second)
	f2 := e.feed(t, "")
	if f1.ETag != f2.ETag {
		t.Errorf("an unchanged feed read again has ETag %s, then %s", f1.ETag, f2.ETag)
	}
	if f1.Cursor == f2.Cursor {
		t.Errorf("both reads have cursor %s; the test wants them to differ", f1.Cursor)
	}

	d1 := e.feed(t, f1.Cursor)
	e.clock.Add(5 * time.Second)
	d2 := e.feed(t, f1.Cursor)
	if d1.ETag != d2.ETag {
		t.Errorf("an unchanged feed read again from one cursor has ETag %s, then %s", d1.ETag, d2.ETag)
	}
	if d1.ETag == f1.ETag {
		t.Errorf("a delta and a reset share ETag %s", d1.ETag)
	}

	e.logoutRT(t, b)
	d3 := e.feed(t, f1.Cursor)
	if d3.ETag == d2.ETag {
		t.Errorf("a new revocation left the delta's ETag %s", d3.ETag)
	}
	if f3 := e.feed(t, ""); f3.ETag == f2.ETag {
		t.Errorf("a new revocation left the reset's ETag %s", f3.ETag)
	}
}

func TestRevocationsPagesThroughABacklogOnce(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	tsA, uA := e.signInAt(t, "fake", subject("a"))
	_, uC := e.signInAt(t, "fake", subject("c"))
	base := e.clock.Now()
	// revokedAt is each session's revocation time, in Unix milliseconds.
	revokedAt := map[string]int64{e.sessionOf(t, tsA.AccessToken): base.Add(time.Millisecond).UnixMilli()}
	newSession := func(id, user string) {
		if err := e.store.CreateSession(bg, &store.Session{
			ID: id, UserID: user, ClientID: "spa", Provider: "fake", CreatedAt: base, RotatedAt: base,
			ExpiresAt: base.Add(24 * time.Hour), IdleExpiresAt: base.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	// 600 sessions of A (and its sign-in) revoked in one instant, with
	// A's not-before in that instant too; then 1500 sessions of 300
	// others, five each, each one's revoked together, two users to a
	// millisecond; and C's not-before in between.
	const groupA, others, each = 600, 300, 5
	for i := range groupA {
		id := fmt.Sprintf("bulk-a-%04d", i)
		newSession(id, uA)
		revokedAt[id] = base.Add(time.Millisecond).UnixMilli()
	}
	if n, err := e.store.RevokeUserSessions(bg, uA, "bulk", base.Add(time.Millisecond)); err != nil || n != groupA+1 {
		t.Fatalf("RevokeUserSessions() = %d, %v", n, err)
	}
	if err := e.store.SetUserNotBefore(bg, uA, base.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for u := range others {
		user := fmt.Sprintf("bulk-user-%03d", u)
		at := base.Add(time.Duration(2+u/2) * time.Millisecond)
		for i := range each {
			id := fmt.Sprintf("%s-%d", user, i)
			newSession(id, user)
			revokedAt[id] = at.UnixMilli()
		}
		if n, err := e.store.RevokeUserSessions(bg, user, "bulk", at); err != nil || n != each {
			t.Fatalf("RevokeUserSessions() = %d, %v", n, err)
		}
	}
	if err := e.store.SetUserNotBefore(bg, uC, base.Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Second)

	seenSessions, seenUsers := map[string]int{}, map[string]int{}
	instants := map[int64]int{} // revoked_at of each page's entries, by page
	cursor, pages := "", 0
	for {
		f := e.feed(t, cursor)
		pages++
		if f.Reset != (pages == 1) {
			t.Errorf("page %d: reset %v", pages, f.Reset)
		}
		n := len(f.Sessions) + len(f.Users)
		if f.More != (n >= bridge.FeedPageSize) || (f.More && !strings.HasPrefix(f.Cursor, "v1.p.")) || (!f.More && !strings.HasPrefix(f.Cursor, "v1.c.")) {
			t.Errorf("page %d: %d entries, more %v, cursor %q", pages, n, f.More, f.Cursor)
		}
		pageInstants := map[int64]bool{}
		for _, s := range f.Sessions {
			seenSessions[s.SID]++
			if s.RevokedAt != revokedAt[s.SID]/1000 {
				t.Errorf("session %s revoked at %d, want %d", s.SID, s.RevokedAt, revokedAt[s.SID]/1000)
			}
			pageInstants[revokedAt[s.SID]] = true
		}
		for _, u := range f.Users {
			seenUsers[u.Subject]++
		}
		for at := range pageInstants {
			instants[at]++
		}
		if !f.More {
			break
		}
		if pages > 10 {
			t.Fatal("the feed does not end")
		}
		cursor = f.Cursor
	}
	if pages < 3 {
		t.Errorf("%d pages, want at least 3 for %d entries", pages, len(revokedAt)+2)
	}
	if len(seenSessions) != len(revokedAt) || len(revokedAt) != groupA+1+others*each {
		t.Errorf("%d sessions read, want %d", len(seenSessions), len(revokedAt))
	}
	for sid, n := range seenSessions {
		if n != 1 {
			t.Errorf("session %s read %d times", sid, n)
		}
	}
	if want := map[string]int{uA: 1, uC: 1}; !maps.Equal(seenUsers, want) {
		t.Errorf("users read %v, want %v", seenUsers, want)
	}
	for at, n := range instants {
		if n != 1 {
			t.Errorf("the instant %d is split over %d pages", at, n)
		}
	}
}

func TestRevocationsWindowIsTheLongestAccessTTLPlusAMinute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		clients []bridge.Client
		want    time.Duration
	}{
		{"every client's tokens live 15 minutes (and api's 5)", nil, 16 * time.Minute},
		{"a client whose tokens live 45 minutes", []bridge.Client{{ID: "slow", Name: "Slow", RedirectURIs: []string{"https://slow.example.com/cb"},
			AccessTTL: 45 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour}}, 46 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := withOps(t, newEnvConfig(t, envConfig{clients: append([]bridge.Client{apiClient}, tt.clients...)}))
			ts, _ := e.signInAt(t, "fake", nil)
			sid := e.logoutRT(t, ts)
			at := e.clock.Now()
			e.clock.Add(tt.want - time.Second)
			f := e.feed(t, "")
			if f.Window != int64(tt.want/time.Second) {
				t.Errorf("window = %d, want %d", f.Window, int64(tt.want/time.Second))
			}
			if len(f.Sessions) != 1 || f.Sessions[0].SID != sid || f.Sessions[0].Until != at.Add(tt.want).Unix() {
				t.Errorf("sessions = %+v, want %s until %d", f.Sessions, sid, at.Add(tt.want).Unix())
			}
			e.clock.Add(2 * time.Second)
			if f := e.feed(t, ""); len(f.Sessions) != 0 {
				t.Errorf("past the window the feed still holds %+v", f.Sessions)
			}
		})
	}
}

func TestRevocationsTimesAreWholeSeconds(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, alice := e.signInAt(t, "fake", nil)
	second := e.clock.Now() // a whole second
	e.clock.Add(750 * time.Millisecond)
	if _, err := e.b.RevokeUserTokens(bg, adminAction(alice)); err != nil {
		t.Fatal(err)
	}
	if nb := e.user(t, alice).NotBefore; !nb.Equal(second.Add(750 * time.Millisecond)) {
		t.Fatalf("stored not-before = %v, want it to the millisecond", nb)
	}
	f := e.feed(t, "")
	window := int64(defaultWindow / time.Second)
	if len(f.Users) != 1 || f.Users[0] != (bridge.RevokedUser{Subject: alice, NotBefore: second.Unix(), Until: second.Unix() + window}) {
		t.Errorf("users = %+v, want not_before %d (truncated to the second), until %d", f.Users, second.Unix(), second.Unix()+window)
	}
	sid := e.sessionOf(t, ts.AccessToken)
	if len(f.Sessions) != 1 || f.Sessions[0] != (bridge.RevokedSession{SID: sid, Subject: alice, RevokedAt: second.Unix(), Until: second.Unix() + window}) {
		t.Errorf("sessions = %+v, want %s revoked at %d", f.Sessions, sid, second.Unix())
	}
}
