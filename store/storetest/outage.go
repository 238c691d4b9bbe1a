package storetest

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
)

// OutageCall is one method of store.Store called with arguments that, on
// the store SeedOutage seeded, succeed and, for a write, change a record.
type OutageCall struct {
	// Name is the method's name in store.Store.
	Name string
	// Write reports whether the method writes: a database that still
	// reads but cannot write (a full disk) fails it.
	Write bool
	// Call calls the method and returns its error.
	Call func(ctx context.Context) error
}

// Outage is what SeedOutage stored and the calls that would change it:
// a test of an outage (an unreachable server, a full disk) makes the calls
// during the outage, checks how each fails, and calls CheckRecovered once
// the database is back.
type Outage struct {
	// Calls calls every method of store.Store but Close, which reports no
	// outage to anyone, each once. They are grouped like the interface;
	// none depends on another having failed or succeeded before it.
	Calls []OutageCall

	s   store.Store
	now time.Time
}

// SeedOutage stores in s, through its own methods, the records every call
// of the result needs, and returns the calls. s must be empty.
//
// Each write changes a record of its own: a write that changes nothing,
// or rewrites a record with the bytes it holds, may commit nothing,
// write nothing and succeed whatever the database's state (SQLite skips
// such a commit), so it would prove nothing about an outage. Each read
// finds what it reads, so that it succeeds on a database that reads.
//
// The records are dated from a clock three hours ahead of the real one,
// so that a database that expires records itself (MongoDB's TTL indexes)
// keeps the expired ones the sweeps are called to delete for the whole
// test. SeedOutage fails t unless Calls names every method of store.Store
// but Close: a method added to the interface must be added to the calls.
func SeedOutage(t *testing.T, s store.Store) *Outage {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second).Add(3 * time.Hour)
	o := &Outage{s: s, now: now}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed: %s: %v", what, err)
		}
	}
	// must2(what)(call()) is must for a call that returns a value too.
	must2 := func(what string) func(any, error) {
		return func(_ any, err error) { t.Helper(); must(what, err) }
	}
	active := func(id, uid string) {
		t.Helper()
		must("flow of session "+id, s.CreateFlow(ctx, o.flow(id)))
		must2("claim it")(s.ClaimFlow(ctx, id, "google", now))
		must2("issue its code")(s.IssueCode(ctx, id, "google", now, store.CodeIssue{
			UserID: uid, AuthTime: now, CodeHash: "h-" + id, CodeExpiresAt: now.Add(time.Minute)}))
		must2("redeem it")(s.RedeemCode(ctx, id, o.redemption("h-"+id)))
	}

	// A record for every write to change.
	active("active-rotate", "user-ada")
	active("active-revoke", "user-ada")
	active("active-bob", "user-bob")
	must("flow to claim", s.CreateFlow(ctx, o.flow("pending-claim")))
	must("flow to fail", s.CreateFlow(ctx, o.flow("pending-fail")))
	must("flow to issue a code", s.CreateFlow(ctx, o.flow("exchanging")))
	must2("claim it")(s.ClaimFlow(ctx, "exchanging", "google", now))
	must("flow to redeem", s.CreateFlow(ctx, o.flow("code")))
	must2("claim it")(s.ClaimFlow(ctx, "code", "google", now))
	must2("issue its code")(s.IssueCode(ctx, "code", "google", now, store.CodeIssue{
		UserID: "user-ada", AuthTime: now, CodeHash: "h-code", CodeExpiresAt: now.Add(time.Minute)}))
	must("link flow to start", s.CreateFlow(ctx, o.linkFlow("link-ready")))
	must("link flow to issue a link code", s.CreateFlow(ctx, o.linkFlow("link-exchanging")))
	must2("start it")(s.StartFlow(ctx, "link-exchanging", now))
	must2("claim it")(s.ClaimFlow(ctx, "link-exchanging", "google", now))
	must("link flow to complete", s.CreateFlow(ctx, o.linkFlow("link-code")))
	must2("start it")(s.StartFlow(ctx, "link-code", now))
	must2("claim it")(s.ClaimFlow(ctx, "link-code", "google", now))
	must2("issue its link code")(s.IssueLinkCode(ctx, "link-code", "google", now, store.LinkCodeIssue{
		CodeHash: "h-link", CodeExpiresAt: now.Add(time.Minute), Sealed: "sealed"}))
	expired := o.flow("expired")
	expired.ExpiresAt = now.Add(-2 * store.SweepGrace)
	must("flow to sweep", s.CreateFlow(ctx, expired))
	for _, u := range []struct{ id, key, provider, subject string }{
		{"user-ada", "google|ada", "google", "ada"},
		{"user-ada", "github|ada", "github", "ada"}, // a second identity, to unlink
		{"user-carol", "google|carol", "google", "carol"},
	} {
		_, _, err := s.ClaimIdentity(ctx, u.key, u.provider, u.subject, u.id, now)
		must("claim identity "+u.key, err)
		must2("sign in " + u.key)(s.UpsertLogin(ctx, u.id, o.login(u.key, u.provider, u.subject)))
	}
	key := store.SigningKey{ID: "sig-1", KID: "kid-1", Use: "sig", Algorithm: "ES256", Generation: 1,
		PrivateSealed: "sealed", CreatedAt: now, SignFrom: now}
	must("signing key to retire", s.InsertKey(ctx, key))
	must("audit event to sweep", s.AppendAudit(ctx, store.AuditEvent{ID: "old-event", At: now.Add(-48 * time.Hour), Type: "login"}))
	oldWindow := o.oldWindow()
	must2("rate counter to sweep")(s.AddRateCounts(ctx, oldWindow, map[string]int64{"203.0.113.7": 1}, oldWindow.Add(time.Minute)))

	o.Calls = []OutageCall{
		// Sessions.
		{"CreateFlow", true, func(ctx context.Context) error { return s.CreateFlow(ctx, o.flow("during")) }},
		{"StartFlow", true, func(ctx context.Context) error { _, err := s.StartFlow(ctx, "link-ready", now); return err }},
		{"ClaimFlow", true, func(ctx context.Context) error {
			_, err := s.ClaimFlow(ctx, "pending-claim", "google", now)
			return err
		}},
		{"IssueCode", true, func(ctx context.Context) error {
			_, err := s.IssueCode(ctx, "exchanging", "google", now, store.CodeIssue{
				UserID: "user-ada", AuthTime: now, CodeHash: "h-issue", CodeExpiresAt: now.Add(time.Minute)})
			return err
		}},
		{"IssueLinkCode", true, func(ctx context.Context) error {
			_, err := s.IssueLinkCode(ctx, "link-exchanging", "google", now, store.LinkCodeIssue{
				CodeHash: "h-link2", CodeExpiresAt: now.Add(time.Minute), Sealed: "sealed"})
			return err
		}},
		{"CompleteLink", true, func(ctx context.Context) error {
			_, err := s.CompleteLink(ctx, "link-code", store.LinkRedemption{CodeHash: "h-link", ClientID: "spa",
				CodeChallenge: "c", UserID: "user-ada", SessionID: "active-rotate", Now: now})
			return err
		}},
		{"FailFlow", true, func(ctx context.Context) error { _, err := s.FailFlow(ctx, "pending-fail", "google", now); return err }},
		{"RedeemCode", true, func(ctx context.Context) error {
			_, err := s.RedeemCode(ctx, "code", o.redemption("h-code"))
			return err
		}},
		{"Rotate", true, func(ctx context.Context) error {
			_, err := s.Rotate(ctx, "active-rotate", 1, now, now.Add(time.Hour))
			return err
		}},
		{"Revoke", true, func(ctx context.Context) error { _, err := s.Revoke(ctx, "active-revoke", "logout", now); return err }},
		{"RevokeUserSessions", true, func(ctx context.Context) error {
			_, err := s.RevokeUserSessions(ctx, "user-bob", "logout_all", now)
			return err
		}},
		{"CreateSession", true, func(ctx context.Context) error {
			return s.CreateSession(ctx, &store.Session{ID: "created", UserID: "user-ada", ClientID: "app", Provider: "google",
				CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), RotatedAt: now})
		}},
		{"RememberToken", true, func(ctx context.Context) error { return s.RememberToken(ctx, "token-hash", now.Add(time.Hour), now) }},
		{"GetSession", false, func(ctx context.Context) error { _, err := s.GetSession(ctx, "pending-claim"); return err }},
		{"ListUserSessions", false, func(ctx context.Context) error { _, err := s.ListUserSessions(ctx, "user-ada", now); return err }},
		// Users.
		{"ClaimIdentity", true, func(ctx context.Context) error {
			_, _, err := s.ClaimIdentity(ctx, "google|dave", "google", "dave", "user-dave", now)
			return err
		}},
		{"UpsertLogin", true, func(ctx context.Context) error {
			// A later sign-in: the same one again would rewrite the record
			// with the very same bytes, which SQLite skips, so that the
			// commit writes nothing and succeeds.
			l := o.login("google|ada", "google", "ada")
			l.Now = now.Add(time.Minute)
			_, err := s.UpsertLogin(ctx, "user-ada", l)
			return err
		}},
		{"FindUsersByLinkEmail", false, func(ctx context.Context) error {
			_, err := s.FindUsersByLinkEmail(ctx, "ada@example.com", []string{"google"})
			return err
		}},
		{"UnlinkIdentity", true, func(ctx context.Context) error { return s.UnlinkIdentity(ctx, "user-ada", "github|ada", now) }},
		{"UpdateProviderTokens", true, func(ctx context.Context) error {
			return s.UpdateProviderTokens(ctx, "user-ada", "google", now, store.ProviderLink{
				Subject: "ada", AccessTokenSealed: "a2", Expiry: now.Add(2 * time.Hour), UpdatedAt: now.Add(time.Millisecond)})
		}},
		{"GetUser", false, func(ctx context.Context) error { _, err := s.GetUser(ctx, "user-ada"); return err }},
		{"GetIdentity", false, func(ctx context.Context) error { _, err := s.GetIdentity(ctx, "google|ada"); return err }},
		{"ListUserIdentities", false, func(ctx context.Context) error { _, err := s.ListUserIdentities(ctx, "user-ada"); return err }},
		{"CountUsers", false, func(ctx context.Context) error { _, err := s.CountUsers(ctx); return err }},
		{"SetDisabled", true, func(ctx context.Context) error { return s.SetDisabled(ctx, "user-ada", true) }},
		{"SetRoles", true, func(ctx context.Context) error { return s.SetRoles(ctx, "user-ada", []string{"admin"}, now) }},
		{"FindUsersByEmail", false, func(ctx context.Context) error { _, err := s.FindUsersByEmail(ctx, "ada@example.com", 10); return err }},
		{"DeleteUser", true, func(ctx context.Context) error { return s.DeleteUser(ctx, "user-carol", now) }},
		{"SetUserNotBefore", true, func(ctx context.Context) error { return s.SetUserNotBefore(ctx, "user-ada", now) }},
		// Audit.
		{"AppendAudit", true, func(ctx context.Context) error {
			return s.AppendAudit(ctx, store.AuditEvent{ID: "new-event", At: now, Type: "login", UserID: "user-ada"})
		}},
		{"ListAudit", false, func(ctx context.Context) error { _, err := s.ListAudit(ctx, store.AuditQuery{Limit: 10}); return err }},
		{"SweepAudit", true, func(ctx context.Context) error { _, err := s.SweepAudit(ctx, now.Add(-24*time.Hour)); return err }},
		// Keys.
		{"ListKeys", false, func(ctx context.Context) error { _, err := s.ListKeys(ctx); return err }},
		{"InsertKey", true, func(ctx context.Context) error {
			k := key
			k.ID, k.KID, k.Generation = "sig-2", "kid-2", 2
			return s.InsertKey(ctx, k)
		}},
		{"RetireKey", true, func(ctx context.Context) error { return s.RetireKey(ctx, "sig-1", now) }},
		// Rate counts.
		{"AddRateCounts", true, func(ctx context.Context) error {
			_, err := s.AddRateCounts(ctx, o.window(), map[string]int64{"203.0.113.7": 1}, o.window().Add(2*time.Minute))
			return err
		}},
		{"SweepRateCounts", true, func(ctx context.Context) error { _, err := s.SweepRateCounts(ctx, now); return err }},
		// The rest of Store.
		{"RevocationsSince", false, func(ctx context.Context) error {
			_, err := s.RevocationsSince(ctx, now.Add(-time.Hour), 100)
			return err
		}},
		{"SweepExpired", true, func(ctx context.Context) error { _, err := s.SweepExpired(ctx, now, store.SweepGrace); return err }},
		{"Ping", false, func(ctx context.Context) error { return s.Ping(ctx) }},
	}
	checkOutageCallsCoverInterface(t, o.Calls)
	return o
}

// notOutageCalls are the methods of store.Store that SeedOutage does not
// call, and why.
var notOutageCalls = map[string]string{
	"Close": "releases the database; it reports no outage to anyone",
}

// checkOutageCallsCoverInterface fails t unless calls name every method of
// store.Store except those in notOutageCalls, once, and nothing else.
func checkOutageCallsCoverInterface(t *testing.T, calls []OutageCall) {
	t.Helper()
	var want, got []string
	for m := range reflect.TypeFor[store.Store]().Methods() {
		if _, ok := notOutageCalls[m.Name]; !ok {
			want = append(want, m.Name)
		}
	}
	for _, c := range calls {
		got = append(got, c.Name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the outage calls are\n%v\nbut store.Store has, besides %v,\n%v\n"+
			"add each new method to the calls of storetest.SeedOutage (or to notOutageCalls, with a reason)",
			got, slices.Sorted(maps.Keys(notOutageCalls)), want)
	}
}

// CheckRecovered fails t unless, once the database is back, a write
// succeeds, every record SeedOutage stored is as it was, and nothing a
// write of Calls would have stored exists: it is what a store holds after
// an outage during which every write of Calls failed, none half done.
func (o *Outage) CheckRecovered(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	s := o.s
	if err := s.CreateFlow(ctx, o.flow("after")); err != nil {
		t.Errorf("a write once the database is back: %v", err)
	}
	for id, state := range map[string]string{
		"pending-claim": store.StatePending, "pending-fail": store.StatePending, "exchanging": store.StateExchanging,
		"code": store.StateCode, "link-ready": store.StateReady, "link-exchanging": store.StateExchanging,
		"link-code": store.StateCode, "active-revoke": store.StateActive, "active-bob": store.StateActive,
		"expired": store.StatePending,
	} {
		if sess, err := s.GetSession(ctx, id); err != nil || sess.State != state {
			t.Errorf("session %s after the outage: %+v, %v; want state %s", id, sess, err, state)
		}
	}
	if sess, err := s.GetSession(ctx, "active-rotate"); err != nil || sess.State != store.StateActive || sess.Generation != 1 {
		t.Errorf("session active-rotate after the outage: %+v, %v; want it active at generation 1", sess, err)
	}
	for _, id := range []string{"during", "created"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s, created during the outage: %v, want store.ErrNotFound", id, err)
		}
	}
	if u, err := s.GetUser(ctx, "user-ada"); err != nil || u.Disabled || u.Roles != nil || !u.NotBefore.IsZero() ||
		len(u.Identities) != 2 || u.Profile.Email != "ada@example.com" {
		t.Errorf("user-ada after the outage: %+v, %v; want it as it was", u, err)
	}
	if _, err := s.GetUser(ctx, "user-carol"); err != nil {
		t.Errorf("user-carol, whose deletion failed: %v", err)
	}
	if _, err := s.GetIdentity(ctx, "google|dave"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the identity claimed during the outage: %v, want store.ErrNotFound", err)
	}
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 1 || keys[0].ID != "sig-1" || !keys[0].RetiredAt.IsZero() {
		t.Errorf("signing keys after the outage: %+v, %v; want sig-1 alone, not retired", keys, err)
	}
	if events, err := s.ListAudit(ctx, store.AuditQuery{Limit: 10}); err != nil || len(events) != 1 || events[0].ID != "old-event" {
		t.Errorf("audit events after the outage: %+v, %v; want old-event alone", events, err)
	}
	// A count of 0 reads the total.
	for _, c := range []struct {
		what   string
		window time.Time
		want   int64
	}{
		{"the rate counter from before the outage", o.oldWindow(), 1},
		{"the rate counter added to during the outage", o.window(), 0},
	} {
		totals, err := s.AddRateCounts(ctx, c.window, map[string]int64{"203.0.113.7": 0}, c.window.Add(2*time.Minute))
		if err != nil || totals["203.0.113.7"] != c.want {
			t.Errorf("%s: %v, %v; want a total of %d", c.what, totals, err, c.want)
		}
	}
}

// flow is a login flow valid for ten minutes.
func (o *Outage) flow(id string) *store.Session {
	return &store.Session{ID: id, ExpiresAt: o.now.Add(10 * time.Minute), CreatedAt: o.now, ClientID: "spa",
		RedirectURI: "https://app.example/cb", CodeChallenge: "c", Scope: "openid", Provider: "google"}
}

// linkFlow is a ready link flow of user-ada's session active-rotate.
func (o *Outage) linkFlow(id string) *store.Session {
	f := o.flow(id)
	f.State, f.LinkUserID, f.LinkSessionID = store.StateReady, "user-ada", "active-rotate"
	return f
}

// redemption redeems the code with hash codeHash of a flow made by flow.
func (o *Outage) redemption(codeHash string) store.Redemption {
	return store.Redemption{CodeHash: codeHash, ClientID: "spa", RedirectURI: "https://app.example/cb",
		CodeChallenge: "c", Now: o.now, IdleExpiresAt: o.now.Add(time.Hour), ExpiresAt: o.now.Add(24 * time.Hour)}
}

// login is a sign-in of Ada's profile with the given identity.
func (o *Outage) login(key, provider, subject string) store.Login {
	profile := claims.Profile{Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	return store.Login{IdentityKey: key, Provider: provider, Profile: profile, Now: o.now, Link: store.ProviderLink{
		Subject: subject, Profile: profile, AccessTokenSealed: "a", RefreshTokenSealed: "r",
		Expiry: o.now.Add(time.Hour), LinkEmail: profile.Email, UpdatedAt: o.now,
	}}
}

// window is the rate-count window AddRateCounts adds to during the outage.
func (o *Outage) window() time.Time { return o.now.Truncate(time.Minute) }

// oldWindow is the window of the counter SweepRateCounts would delete.
func (o *Outage) oldWindow() time.Time { return o.window().Add(-2 * time.Hour) }
