//go:build linux

package sqlite_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/sqlite"
)

// failWrites makes every write of this process to a regular file fail, as
// a full disk does, until the returned function restores the limit (which
// t.Cleanup also does, whatever happens). It is cmd/socialbridge's helper
// of the same name: a file-size limit of zero (RLIMIT_FSIZE) is
// process-wide, needs no privilege to lower or to raise back to the hard
// limit, and makes a write(2) that would extend a file fail with EFBIG
// (the Go runtime ignores SIGXFSZ), which SQLite reports as SQLITE_IOERR
// or SQLITE_FULL. Making the directory read-only would not do: the tests
// run as root in CI containers. The caller must not run in parallel with
// other tests, which cannot write files either while the limit holds.
func failWrites(t *testing.T) (restore func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: 0, Max: old.Max}); err != nil {
		t.Skipf("cannot lower RLIMIT_FSIZE: %v", err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restore RLIMIT_FSIZE: %v", err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// readOnlyMethods are the methods of store.Store that
// TestEveryWriteAnswersErrUnavailableWhenTheDiskCannotBeWritten does not
// call as writes, and why. A full or read-only disk still reads, so
// these answer as usual during such an outage (the test checks a few).
var readOnlyMethods = map[string]string{
	"GetSession":           "a read",
	"ListUserSessions":     "a read",
	"FindUsersByLinkEmail": "a read",
	"GetUser":              "a read",
	"GetIdentity":          "a read",
	"ListUserIdentities":   "a read",
	"CountUsers":           "a read",
	"FindUsersByEmail":     "a read",
	"ListAudit":            "a read",
	"ListKeys":             "a read",
	"RevocationsSince":     "a read",
	"Ping":                 "checked on its own: it must fail too, as readiness",
	"Close":                "releases the database; it reports no outage",
}

// writeCall is one write method of store.Store, called so that it has a
// row to change.
type writeCall struct {
	method string
	call   func(ctx context.Context) error
}

// TestEveryWriteAnswersErrUnavailableWhenTheDiskCannotBeWritten stops the
// process from extending files, as a full disk does, and calls every
// write method of store.Store: each must fail with store.ErrUnavailable,
// which the web layer answers 503 with Retry-After (a raw driver error
// would be a 500), and Ping must report the store unavailable. When
// writes work again, Ping succeeds, writes succeed, and everything stored
// before is as it was.
//
// SQLite writes a commit by appending frames to the WAL, and after a
// checkpoint restarts the log it overwrites the old frames instead, which
// a full disk (or the file-size limit here) allows: a write can succeed
// during such an outage when the log has room. The test therefore
// truncates the WAL to zero bytes first (Store.Checkpoint), so that every
// commit has to extend the file, and seeds, for every call, a row that
// the call changes: a statement that changes nothing, or rewrites a row
// with the bytes it holds, commits nothing, writes nothing and succeeds.
// Every call must then fail; none may succeed. In production, a write
// that finds room in the WAL succeeds, and the first that needs more
// fails with store.ErrUnavailable.
func TestEveryWriteAnswersErrUnavailableWhenTheDiskCannotBeWritten(t *testing.T) {
	// Not parallel: failWrites stops every file write of the test binary.
	s := open(t, sqlite.Options{CheckpointInterval: -1})
	ctx := context.Background()
	now := t0
	profile := claims.Profile{Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	login := func(key, provider, subject string) store.Login {
		return store.Login{IdentityKey: key, Provider: provider, Profile: profile, Now: now, Link: store.ProviderLink{
			Subject: subject, Profile: profile, AccessTokenSealed: "a", RefreshTokenSealed: "r",
			Expiry: now.Add(time.Hour), LinkEmail: profile.Email, UpdatedAt: now,
		}}
	}
	flow := func(id string) *store.Session {
		return &store.Session{ID: id, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now, ClientID: "spa",
			RedirectURI: "https://app.example/cb", CodeChallenge: "c", Scope: "openid", Provider: "google"}
	}
	linkFlow := func(id string) *store.Session {
		f := flow(id)
		f.State, f.LinkUserID, f.LinkSessionID = store.StateReady, "user-ada", "active-rotate"
		return f
	}
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

	// A row for every write to change.
	activeSession(t, s, "active-rotate", "user-ada")
	activeSession(t, s, "active-revoke", "user-ada")
	activeSession(t, s, "active-bob", "user-bob")
	must("flow to claim", s.CreateFlow(ctx, flow("pending-claim")))
	must("flow to fail", s.CreateFlow(ctx, flow("pending-fail")))
	must("flow to issue a code", s.CreateFlow(ctx, flow("exchanging")))
	must2("claim it")(s.ClaimFlow(ctx, "exchanging", "google", now))
	must("flow to redeem", s.CreateFlow(ctx, flow("code")))
	must2("claim it")(s.ClaimFlow(ctx, "code", "google", now))
	must2("issue its code")(s.IssueCode(ctx, "code", "google", now, store.CodeIssue{
		UserID: "user-ada", AuthTime: now, CodeHash: "h-code", CodeExpiresAt: now.Add(time.Minute)}))
	must("link flow to start", s.CreateFlow(ctx, linkFlow("link-ready")))
	must("link flow to issue a link code", s.CreateFlow(ctx, linkFlow("link-exchanging")))
	must2("start it")(s.StartFlow(ctx, "link-exchanging", now))
	must2("claim it")(s.ClaimFlow(ctx, "link-exchanging", "google", now))
	must("link flow to complete", s.CreateFlow(ctx, linkFlow("link-code")))
	must2("start it")(s.StartFlow(ctx, "link-code", now))
	must2("claim it")(s.ClaimFlow(ctx, "link-code", "google", now))
	must2("issue its link code")(s.IssueLinkCode(ctx, "link-code", "google", now, store.LinkCodeIssue{
		CodeHash: "h-link", CodeExpiresAt: now.Add(time.Minute), Sealed: "sealed"}))
	expired := flow("expired")
	expired.ExpiresAt = now.Add(-2 * store.SweepGrace)
	must("flow to sweep", s.CreateFlow(ctx, expired))
	for _, u := range []struct{ id, key, provider, subject string }{
		{"user-ada", "google|ada", "google", "ada"},
		{"user-ada", "github|ada", "github", "ada"}, // a second identity, to unlink
		{"user-carol", "google|carol", "google", "carol"},
	} {
		_, _, err := s.ClaimIdentity(ctx, u.key, u.provider, u.subject, u.id, now)
		must("claim identity "+u.key, err)
		must2("sign in " + u.key)(s.UpsertLogin(ctx, u.id, login(u.key, u.provider, u.subject)))
	}
	key := store.SigningKey{ID: "sig-1", KID: "kid-1", Use: "sig", Algorithm: "ES256", Generation: 1,
		PrivateSealed: "sealed", CreatedAt: now, SignFrom: now}
	must("signing key to retire", s.InsertKey(ctx, key))
	must("audit event to sweep", s.AppendAudit(ctx, store.AuditEvent{ID: "old-event", At: now.Add(-48 * time.Hour), Type: "login"}))
	oldWindow := now.Add(-2 * time.Hour)
	must2("rate counter to sweep")(s.AddRateCounts(ctx, oldWindow, map[string]int64{"203.0.113.7": 1}, oldWindow.Add(time.Minute)))

	calls := []writeCall{
		// Sessions.
		{"CreateFlow", func(ctx context.Context) error { return s.CreateFlow(ctx, flow("during")) }},
		{"StartFlow", func(ctx context.Context) error { _, err := s.StartFlow(ctx, "link-ready", now); return err }},
		{"ClaimFlow", func(ctx context.Context) error {
			_, err := s.ClaimFlow(ctx, "pending-claim", "google", now)
			return err
		}},
		{"IssueCode", func(ctx context.Context) error {
			_, err := s.IssueCode(ctx, "exchanging", "google", now, store.CodeIssue{
				UserID: "user-ada", AuthTime: now, CodeHash: "h-issue", CodeExpiresAt: now.Add(time.Minute)})
			return err
		}},
		{"IssueLinkCode", func(ctx context.Context) error {
			_, err := s.IssueLinkCode(ctx, "link-exchanging", "google", now, store.LinkCodeIssue{
				CodeHash: "h-link2", CodeExpiresAt: now.Add(time.Minute), Sealed: "sealed"})
			return err
		}},
		{"CompleteLink", func(ctx context.Context) error {
			_, err := s.CompleteLink(ctx, "link-code", store.LinkRedemption{CodeHash: "h-link", ClientID: "spa",
				CodeChallenge: "c", UserID: "user-ada", SessionID: "active-rotate", Now: now})
			return err
		}},
		{"FailFlow", func(ctx context.Context) error { _, err := s.FailFlow(ctx, "pending-fail", "google", now); return err }},
		{"RedeemCode", func(ctx context.Context) error {
			_, err := s.RedeemCode(ctx, "code", store.Redemption{CodeHash: "h-code", ClientID: "spa",
				RedirectURI: "https://app.example/cb", CodeChallenge: "c", Now: now,
				IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)})
			return err
		}},
		{"Rotate", func(ctx context.Context) error {
			_, err := s.Rotate(ctx, "active-rotate", 1, now, now.Add(time.Hour))
			return err
		}},
		{"Revoke", func(ctx context.Context) error { _, err := s.Revoke(ctx, "active-revoke", "logout", now); return err }},
		{"RevokeUserSessions", func(ctx context.Context) error {
			_, err := s.RevokeUserSessions(ctx, "user-bob", "logout_all", now)
			return err
		}},
		{"CreateSession", func(ctx context.Context) error {
			return s.CreateSession(ctx, &store.Session{ID: "created", UserID: "user-ada", ClientID: "app", Provider: "google",
				CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), RotatedAt: now})
		}},
		{"RememberToken", func(ctx context.Context) error { return s.RememberToken(ctx, "token-hash", now.Add(time.Hour), now) }},
		// Users.
		{"ClaimIdentity", func(ctx context.Context) error {
			_, _, err := s.ClaimIdentity(ctx, "google|dave", "google", "dave", "user-dave", now)
			return err
		}},
		{"UpsertLogin", func(ctx context.Context) error {
			// A later sign-in: the same one again would rewrite the row
			// with the very same bytes, which SQLite skips, so that the
			// commit writes nothing and succeeds.
			l := login("google|ada", "google", "ada")
			l.Now = now.Add(time.Minute)
			_, err := s.UpsertLogin(ctx, "user-ada", l)
			return err
		}},
		{"UnlinkIdentity", func(ctx context.Context) error { return s.UnlinkIdentity(ctx, "user-ada", "github|ada", now) }},
		{"UpdateProviderTokens", func(ctx context.Context) error {
			return s.UpdateProviderTokens(ctx, "user-ada", "google", now, store.ProviderLink{
				Subject: "ada", AccessTokenSealed: "a2", Expiry: now.Add(2 * time.Hour), UpdatedAt: now.Add(time.Millisecond)})
		}},
		{"SetDisabled", func(ctx context.Context) error { return s.SetDisabled(ctx, "user-ada", true) }},
		{"SetRoles", func(ctx context.Context) error { return s.SetRoles(ctx, "user-ada", []string{"admin"}, now) }},
		{"DeleteUser", func(ctx context.Context) error { return s.DeleteUser(ctx, "user-carol", now) }},
		{"SetUserNotBefore", func(ctx context.Context) error { return s.SetUserNotBefore(ctx, "user-ada", now) }},
		// Audit.
		{"AppendAudit", func(ctx context.Context) error {
			return s.AppendAudit(ctx, store.AuditEvent{ID: "new-event", At: now, Type: "login", UserID: "user-ada"})
		}},
		{"SweepAudit", func(ctx context.Context) error { _, err := s.SweepAudit(ctx, now.Add(-24*time.Hour)); return err }},
		// Keys.
		{"InsertKey", func(ctx context.Context) error {
			k := key
			k.ID, k.KID, k.Generation = "sig-2", "kid-2", 2
			return s.InsertKey(ctx, k)
		}},
		{"RetireKey", func(ctx context.Context) error { return s.RetireKey(ctx, "sig-1", now) }},
		// Rate counts.
		{"AddRateCounts", func(ctx context.Context) error {
			_, err := s.AddRateCounts(ctx, now, map[string]int64{"203.0.113.7": 1}, now.Add(2*time.Minute))
			return err
		}},
		{"SweepRateCounts", func(ctx context.Context) error { _, err := s.SweepRateCounts(ctx, now); return err }},
		// The rest of Store.
		{"SweepExpired", func(ctx context.Context) error { _, err := s.SweepExpired(ctx, now, store.SweepGrace); return err }},
	}
	checkWritesCoverInterface(t, calls)

	// Every commit from here on has to extend the WAL.
	must("truncate the WAL", s.Checkpoint(ctx))
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Fatalf("the WAL after a TRUNCATE checkpoint: %d bytes, %v; want 0", size, err)
	}
	restore := failWrites(t)

	const bound = 2 * time.Second
	for _, c := range calls {
		t.Run(c.method, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*bound)
			defer cancel()
			began := time.Now()
			err := c.call(ctx)
			if took := time.Since(began); took > bound {
				t.Errorf("%s took %s, want at most %s", c.method, took.Round(time.Millisecond), bound)
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s when the disk cannot be written: %v, want store.ErrUnavailable", c.method, err)
			}
		})
	}
	t.Run("Ping", func(t *testing.T) {
		if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Ping when the disk cannot be written: %v, want store.ErrUnavailable", err)
		}
	})
	t.Run("reads still answer", func(t *testing.T) {
		if _, err := s.GetSession(ctx, "pending-claim"); err != nil {
			t.Errorf("GetSession: %v", err)
		}
		if _, err := s.GetUser(ctx, "user-ada"); err != nil {
			t.Errorf("GetUser: %v", err)
		}
		if _, err := s.ListKeys(ctx); err != nil {
			t.Errorf("ListKeys: %v", err)
		}
	})
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Errorf("the WAL after the outage: %d bytes, %v; want 0, no write having reached it", size, err)
	}

	restore()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once the disk can be written again: %v", err)
	}
	if err := s.CreateFlow(ctx, flow("after")); err != nil {
		t.Errorf("a write once the disk can be written again: %v", err)
	}
	// Nothing that failed was half done: what was stored before is as it
	// was.
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
	if sess, err := s.GetSession(ctx, "active-rotate"); err != nil || sess.Generation != 1 {
		t.Errorf("session active-rotate after the outage: %+v, %v; want generation 1", sess, err)
	}
	for _, id := range []string{"during", "created"} {
		if _, err := s.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s, created during the outage: %v, want store.ErrNotFound", id, err)
		}
	}
	if u, err := s.GetUser(ctx, "user-ada"); err != nil || u.Disabled || u.Roles != nil || !u.NotBefore.IsZero() || len(u.Identities) != 2 {
		t.Errorf("user-ada after the outage: %+v, %v; want it as it was", u, err)
	}
	if _, err := s.GetUser(ctx, "user-carol"); err != nil {
		t.Errorf("user-carol, whose deletion failed: %v", err)
	}
	if _, err := s.GetIdentity(ctx, "google|dave"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the identity claimed during the outage: %v, want store.ErrNotFound", err)
	}
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 1 || !keys[0].RetiredAt.IsZero() {
		t.Errorf("signing keys after the outage: %+v, %v; want sig-1 alone, not retired", keys, err)
	}
	if events, err := s.ListAudit(ctx, store.AuditQuery{Limit: 10}); err != nil || len(events) != 1 || events[0].ID != "old-event" {
		t.Errorf("audit events after the outage: %+v, %v; want old-event alone", events, err)
	}
	// A count of 0 reads the total.
	totals, err := s.AddRateCounts(ctx, oldWindow, map[string]int64{"203.0.113.7": 0}, oldWindow.Add(time.Minute))
	if err != nil || totals["203.0.113.7"] != 1 {
		t.Errorf("the rate counter from before the outage: %v, %v; want a total of 1", totals, err)
	}
	totals, err = s.AddRateCounts(ctx, now, map[string]int64{"203.0.113.7": 0}, now.Add(2*time.Minute))
	if err != nil || totals["203.0.113.7"] != 0 {
		t.Errorf("the rate counter added to during the outage: %v, %v; want a total of 0", totals, err)
	}
}

// checkWritesCoverInterface fails t unless calls and readOnlyMethods
// together name every method of store.Store, each once, and nothing else:
// a method added to the interface must be added to one or the other.
func checkWritesCoverInterface(t *testing.T, calls []writeCall) {
	t.Helper()
	var want, got []string
	for m := range reflect.TypeFor[store.Store]().Methods() {
		want = append(want, m.Name)
	}
	for _, c := range calls {
		got = append(got, c.method)
	}
	for name := range readOnlyMethods {
		got = append(got, name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the writes called and the methods exempted are\n%v\nbut store.Store has\n%v\n"+
			"add each new method to the table of writes, or to readOnlyMethods with a reason", got, want)
	}
}
