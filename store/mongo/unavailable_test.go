package mongo_test

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
)

// storeCall is one method of store.Store called with plausible arguments.
type storeCall struct {
	method string
	call   func(ctx context.Context) error
}

// notDatabaseMethods are the methods of store.Store that
// TestEveryMethodAnswersErrUnavailableWhileMongoDBIsUnreachable does not
// call, and why.
var notDatabaseMethods = map[string]string{
	"Close": "releases the client; it reports no outage to anyone",
}

// checkCoversInterface fails t unless calls name every method of
// store.Store except those in exempt, once, and nothing else: a method
// added to the interface must be added to the table (or exempted with a
// reason).
func checkCoversInterface(t *testing.T, calls []storeCall, exempt map[string]string) {
	t.Helper()
	typ := reflect.TypeFor[store.Store]()
	var want []string
	for m := range typ.Methods() {
		if _, ok := exempt[m.Name]; !ok {
			want = append(want, m.Name)
		}
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.method)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the table calls\n%v\nbut store.Store has, besides %v,\n%v\nadd the missing methods to the table (or to the exempt list, with a reason)",
			got, slices.Sorted(maps.Keys(exempt)), want)
	}
}

// shortTimeouts adds to a mongodb:// URI the timeouts that bound a call
// during an outage: a second to select a server or to connect, three for a
// whole operation (the store's default is 10 s).
func shortTimeouts(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("serverSelectionTimeoutMS", "1000")
	q.Set("connectTimeoutMS", "1000")
	q.Set("timeoutMS", "3000")
	u.RawQuery = q.Encode()
	return u.String()
}

// TestEveryMethodAnswersErrUnavailableWhileMongoDBIsUnreachable cuts the
// network to the server and calls every method of store.Store: each must
// fail with store.ErrUnavailable, which the web layer answers 503 with
// Retry-After, within a bounded time, whatever the method (a raw driver
// error would be a 500). The calls carry no deadline of their own: the
// store's timeouts must bound them. When the network is back, the store
// answers again with the data from before.
func TestEveryMethodAnswersErrUnavailableWhileMongoDBIsUnreachable(t *testing.T) {
	// Not parallel: it starts a FerretDB server (see mongotest).
	server := startFerretDB(t)
	p := mongotest.StartProxy(t, hostOf(t, server), false)
	s, err := mongo.Open(context.Background(), mongo.Options{URI: shortTimeouts(t, p.URI(server)), Database: newDatabaseName()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	profile := claims.Profile{Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	login := func(key, subject string) store.Login {
		return store.Login{IdentityKey: key, Provider: "google", Profile: profile, Now: now, Link: store.ProviderLink{
			Subject: subject, Profile: profile, AccessTokenSealed: "a", RefreshTokenSealed: "r",
			Expiry: now.Add(time.Hour), LinkEmail: profile.Email, UpdatedAt: now,
		}}
	}
	flow := func(id string) *store.Session {
		return &store.Session{ID: id, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now, ClientID: "spa",
			RedirectURI: "https://app.example/cb", CodeChallenge: "challenge", Scope: "openid", Provider: "google"}
	}

	// Data from before the outage, which must be there after it.
	if err := s.CreateFlow(ctx, flow("flow-before")); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	if _, _, err := s.ClaimIdentity(ctx, "google|ada", "google", "ada", "user-ada", now); err != nil {
		t.Fatalf("ClaimIdentity: %v", err)
	}
	if _, err := s.UpsertLogin(ctx, "user-ada", login("google|ada", "ada")); err != nil {
		t.Fatalf("UpsertLogin: %v", err)
	}
	key := store.SigningKey{ID: "sig-1", KID: "kid-1", Use: "sig", Algorithm: "ES256", Generation: 1,
		PrivateSealed: "sealed", CreatedAt: now, SignFrom: now}
	if err := s.InsertKey(ctx, key); err != nil {
		t.Fatalf("InsertKey: %v", err)
	}

	calls := []storeCall{
		// Sessions.
		{"CreateFlow", func(ctx context.Context) error { return s.CreateFlow(ctx, flow("flow-during")) }},
		{"StartFlow", func(ctx context.Context) error { _, err := s.StartFlow(ctx, "flow-before", now); return err }},
		{"ClaimFlow", func(ctx context.Context) error { _, err := s.ClaimFlow(ctx, "flow-before", "google", now); return err }},
		{"IssueCode", func(ctx context.Context) error {
			_, err := s.IssueCode(ctx, "flow-before", "google", now, store.CodeIssue{
				UserID: "user-ada", AuthTime: now, CodeHash: "code-hash", CodeExpiresAt: now.Add(time.Minute)})
			return err
		}},
		{"IssueLinkCode", func(ctx context.Context) error {
			_, err := s.IssueLinkCode(ctx, "flow-before", "google", now, store.LinkCodeIssue{
				CodeHash: "link-hash", CodeExpiresAt: now.Add(time.Minute), Sealed: "sealed"})
			return err
		}},
		{"CompleteLink", func(ctx context.Context) error {
			_, err := s.CompleteLink(ctx, "flow-before", store.LinkRedemption{CodeHash: "link-hash", ClientID: "spa",
				CodeChallenge: "challenge", UserID: "user-ada", SessionID: "session-1", Now: now})
			return err
		}},
		{"FailFlow", func(ctx context.Context) error { _, err := s.FailFlow(ctx, "flow-before", "google", now); return err }},
		{"RedeemCode", func(ctx context.Context) error {
			_, err := s.RedeemCode(ctx, "flow-before", store.Redemption{CodeHash: "code-hash", ClientID: "spa",
				RedirectURI: "https://app.example/cb", CodeChallenge: "challenge", Now: now,
				IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)})
			return err
		}},
		{"Rotate", func(ctx context.Context) error {
			_, err := s.Rotate(ctx, "session-1", 1, now, now.Add(time.Hour))
			return err
		}},
		{"Revoke", func(ctx context.Context) error { _, err := s.Revoke(ctx, "session-1", "logout", now); return err }},
		{"RevokeUserSessions", func(ctx context.Context) error {
			_, err := s.RevokeUserSessions(ctx, "user-ada", "logout_all", now)
			return err
		}},
		{"CreateSession", func(ctx context.Context) error {
			return s.CreateSession(ctx, &store.Session{ID: "session-2", UserID: "user-ada", ClientID: "app", Provider: "google",
				CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), RotatedAt: now})
		}},
		{"RememberToken", func(ctx context.Context) error { return s.RememberToken(ctx, "token-hash", now.Add(time.Hour), now) }},
		{"GetSession", func(ctx context.Context) error { _, err := s.GetSession(ctx, "flow-before"); return err }},
		{"ListUserSessions", func(ctx context.Context) error { _, err := s.ListUserSessions(ctx, "user-ada", now); return err }},
		// Users.
		{"ClaimIdentity", func(ctx context.Context) error {
			_, _, err := s.ClaimIdentity(ctx, "google|bob", "google", "bob", "user-bob", now)
			return err
		}},
		{"UpsertLogin", func(ctx context.Context) error {
			_, err := s.UpsertLogin(ctx, "user-ada", login("google|ada", "ada"))
			return err
		}},
		{"FindUsersByLinkEmail", func(ctx context.Context) error {
			_, err := s.FindUsersByLinkEmail(ctx, "ada@example.com", []string{"google"})
			return err
		}},
		{"UnlinkIdentity", func(ctx context.Context) error { return s.UnlinkIdentity(ctx, "user-ada", "google|ada", now) }},
		{"UpdateProviderTokens", func(ctx context.Context) error {
			return s.UpdateProviderTokens(ctx, "user-ada", "google", now, store.ProviderLink{
				Subject: "ada", AccessTokenSealed: "a2", Expiry: now.Add(2 * time.Hour), UpdatedAt: now.Add(time.Millisecond)})
		}},
		{"GetUser", func(ctx context.Context) error { _, err := s.GetUser(ctx, "user-ada"); return err }},
		{"GetIdentity", func(ctx context.Context) error { _, err := s.GetIdentity(ctx, "google|ada"); return err }},
		{"ListUserIdentities", func(ctx context.Context) error { _, err := s.ListUserIdentities(ctx, "user-ada"); return err }},
		{"CountUsers", func(ctx context.Context) error { _, err := s.CountUsers(ctx); return err }},
		{"SetDisabled", func(ctx context.Context) error { return s.SetDisabled(ctx, "user-ada", true) }},
		{"SetRoles", func(ctx context.Context) error { return s.SetRoles(ctx, "user-ada", []string{"admin"}, now) }},
		{"FindUsersByEmail", func(ctx context.Context) error { _, err := s.FindUsersByEmail(ctx, "ada@example.com", 10); return err }},
		{"DeleteUser", func(ctx context.Context) error { return s.DeleteUser(ctx, "user-ada", now) }},
		{"SetUserNotBefore", func(ctx context.Context) error { return s.SetUserNotBefore(ctx, "user-ada", now) }},
		// Audit.
		{"AppendAudit", func(ctx context.Context) error {
			return s.AppendAudit(ctx, store.AuditEvent{ID: "event-1", At: now, Type: "login", UserID: "user-ada"})
		}},
		{"ListAudit", func(ctx context.Context) error { _, err := s.ListAudit(ctx, store.AuditQuery{Limit: 10}); return err }},
		{"SweepAudit", func(ctx context.Context) error { _, err := s.SweepAudit(ctx, now.Add(-24*time.Hour)); return err }},
		// Keys.
		{"ListKeys", func(ctx context.Context) error { _, err := s.ListKeys(ctx); return err }},
		{"InsertKey", func(ctx context.Context) error {
			k := key
			k.ID, k.KID, k.Generation = "sig-2", "kid-2", 2
			return s.InsertKey(ctx, k)
		}},
		{"RetireKey", func(ctx context.Context) error { return s.RetireKey(ctx, "sig-1", now) }},
		// Rate counts.
		{"AddRateCounts", func(ctx context.Context) error {
			window := now.Truncate(time.Minute)
			_, err := s.AddRateCounts(ctx, window, map[string]int64{"203.0.113.7": 1}, window.Add(2*time.Minute))
			return err
		}},
		{"SweepRateCounts", func(ctx context.Context) error { _, err := s.SweepRateCounts(ctx, now); return err }},
		// The rest of Store.
		{"RevocationsSince", func(ctx context.Context) error {
			_, err := s.RevocationsSince(ctx, now.Add(-time.Hour), 100)
			return err
		}},
		{"SweepExpired", func(ctx context.Context) error { _, err := s.SweepExpired(ctx, now, store.SweepGrace); return err }},
		{"Ping", func(ctx context.Context) error { return s.Ping(ctx) }},
	}
	checkCoversInterface(t, calls, notDatabaseMethods)

	p.Cut()
	// The URI's timeouts bound each call to about 3 s; the context here
	// only keeps a broken bound from hanging the test.
	const bound = 5 * time.Second
	for _, c := range calls {
		t.Run(c.method, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*bound)
			defer cancel()
			began := time.Now()
			err := c.call(ctx)
			took := time.Since(began)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s while the server is unreachable: %v, want store.ErrUnavailable", c.method, err)
			}
			if took > bound {
				t.Errorf("%s while the server is unreachable took %s, want at most %s", c.method, took.Round(time.Millisecond), bound)
			}
		})
	}

	p.Restore()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err = s.Ping(ctx)
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("the store did not recover after the outage: %v", err)
	}
	if sess, err := s.GetSession(ctx, "flow-before"); err != nil || sess.State != store.StatePending {
		t.Errorf("the flow from before the outage: %+v, %v; want it pending, as it was", sess, err)
	}
	if u, err := s.GetUser(ctx, "user-ada"); err != nil || u.Disabled || u.Profile.Email != profile.Email {
		t.Errorf("the user from before the outage: %+v, %v; want it as it was", u, err)
	}
	if err := s.CreateFlow(ctx, flow("flow-after")); err != nil {
		t.Errorf("a write after the outage: %v", err)
	}
}
