package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/sqlite"
	"github.com/socialbridge/socialbridge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, sqlite.Options{}) }, storetest.Options{})
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// open opens a store in a new temporary directory (unless o.Path is set)
// and closes it when the test ends.
func open(t testing.TB, o sqlite.Options) *sqlite.Store {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "socialbridge.db")
	}
	s, err := sqlite.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open(%+v): %v", o, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// activeSession stores a session of user uid at generation 1, valid for a
// day and idle for an hour from t0.
func activeSession(t testing.TB, s store.Store, id, uid string) *store.Session {
	t.Helper()
	ctx := context.Background()
	f := &store.Session{
		ID: id, ExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, ClientID: "spa",
		RedirectURI: "https://app.example/cb", CodeChallenge: "c", Provider: "google",
	}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	c := store.CodeIssue{
		UserID: uid, AuthTime: t0, CodeHash: "h", CodeExpiresAt: t0.Add(time.Minute),
		Claims: map[string]any{"email": "a@example.com", "email_verified": true, "roles": []any{"reader"}},
	}
	if _, err := s.ClaimFlow(ctx, id, "google", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueCode(ctx, id, "google", t0, c); err != nil {
		t.Fatal(err)
	}
	sess, err := s.RedeemCode(ctx, id, store.Redemption{
		CodeHash: "h", ClientID: "spa", RedirectURI: "https://app.example/cb", CodeChallenge: "c",
		Now: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    sqlite.Options
		wantErr string // substring; empty means Open succeeds
		pragma  string // PRAGMA synchronous as read back from the writer
		noPath  bool
	}{
		{name: "normal is the default synchronous mode", opts: sqlite.Options{}, pragma: "1"},
		{name: "synchronous normal is applied", opts: sqlite.Options{Synchronous: "normal"}, pragma: "1"},
		{name: "synchronous full is applied", opts: sqlite.Options{Synchronous: "full"}, pragma: "2"},
		{name: "an unknown synchronous mode is refused by name", opts: sqlite.Options{Synchronous: "extra"}, wantErr: `invalid Synchronous "extra"`},
		{name: "synchronous modes are spelled in lower case, as in the configuration", opts: sqlite.Options{Synchronous: "FULL"}, wantErr: `invalid Synchronous "FULL"`},
		{name: "a negative read pool is refused", opts: sqlite.Options{ReadConns: -1}, wantErr: "ReadConns is -1"},
		{name: "an empty path is refused", noPath: true, wantErr: "no database path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if !tt.noPath {
				o.Path = filepath.Join(t.TempDir(), "db")
			}
			if tt.wantErr != "" {
				s, err := sqlite.Open(context.Background(), o)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%+v) succeeded, want an error containing %q", o, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%+v) = %v, want an error containing %q", o, err, tt.wantErr)
				}
				return
			}
			s := open(t, o)
			// The setting is per connection: read it on the writer's.
			got, err := s.Pragma(context.Background(), "synchronous")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.pragma {
				t.Errorf("PRAGMA synchronous = %s, want %s", got, tt.pragma)
			}
		})
	}
}

// TestQueryPlansUseIndexes checks the plan of every statement the store
// prepares: each table is reached by SEARCH (an index lookup or range),
// never by SCAN, which reads a whole table or index, except where the
// query means to read everything.
func TestQueryPlansUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, sqlite.Options{Path: path})
	// Some rows, so the planner chooses as it would in production.
	ctx := context.Background()
	for i := range 20 {
		activeSession(t, s, fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i%5))
	}
	plans, err := s.QueryPlans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Full reads that are the query's meaning, by statement.
	scans := map[string]struct{ line, why string }{
		"count users": {"SCAN users USING COVERING INDEX", "counting every user reads the smallest index"},
		"list keys":   {"SCAN signing_keys USING INDEX signing_keys_use_generation", "ListKeys returns every key (a handful)"},
	}
	// Statements that page through a table with LIMIT must read it in
	// index order: a temporary B-tree would sort every matching row first.
	paged := []string{"revoked since", "not-before since", "list audit", "list user audit", "list type audit", "list user type audit", "users by link email", "users by email"}
	for name, plan := range plans {
		t.Run(name, func(t *testing.T) {
			t.Log(strings.Join(plan, "; "))
			for _, line := range plan {
				if !strings.HasPrefix(line, "SCAN ") {
					continue
				}
				// The JSON functions' virtual table is a list in one row,
				// and a SELECT of values (an INSERT ... SELECT) one row.
				if strings.HasPrefix(line, "SCAN json_each") || line == "SCAN CONSTANT ROW" {
					continue
				}
				if allowed, ok := scans[name]; ok && strings.HasPrefix(line, allowed.line) {
					t.Logf("allowed: %s (%s)", line, allowed.why)
					continue
				}
				t.Errorf("%s reads a whole table or index (%q):\n%s", name, line, strings.Join(plan, "\n"))
			}
			if slices.Contains(paged, name) && slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "TEMP B-TREE") }) {
				t.Errorf("%s sorts its rows instead of reading them in index order:\n%s", name, strings.Join(plan, "\n"))
			}
		})
	}
	for _, want := range []string{
		"rotate", "list user sessions", "revoke user sessions", "list user identities", "sweep", "revoked since", "revoked at",
		"not-before since", "not-before at", "upsert login", "count users", "list keys", "list audit", "list user audit", "sweep audit",
		"list type audit", "list user type audit", "set roles",
		"start flow", "issue link code", "complete link", "clear link sealed", "unlink identity", "identity owned", "unlink from user", "update provider tokens", "users by link email",
		"create session", "remember token", "sweep remembered tokens", "retire key",
		"users by email", "user exists", "scrub user sessions", "delete link flows", "delete user identities",
		"delete user audit", "delete user link emails", "delete user", "bury user", "sweep tombstones", "release identity",
	} {
		if _, ok := plans[want]; !ok {
			t.Errorf("no query plan for %q", want)
		}
	}
	// The indexes the plans must name, so that a plan that happens to
	// SEARCH some other way is noticed. The revocation feed
	// (RevocationsSince: a page of revoked sessions and of not-before
	// times, then the rest of the page's last instant of each), a user's
	// sessions and every audit listing are what backends and the account
	// and admin pages poll.
	for name, index := range map[string]string{
		"revoke user sessions":    "sessions_live_user",
		"list user sessions":      "sessions_live_user",
		"revoked since":           "sessions_revoked",
		"revoked at":              "sessions_revoked",
		"not-before since":        "users_not_before",
		"not-before at":           "users_not_before",
		"sweep":                   "sessions_idle_expires_at",
		"list user audit":         "audit_events_user",
		"list audit":              "audit_events_at",
		"list type audit":         "audit_events_type",
		"list user type audit":    "audit_events_user_type",
		"sweep audit":             "audit_events_at",
		"users by link email":     "user_link_emails_email",
		"unlink identity":         "identities_user",
		"sweep remembered tokens": "remembered_tokens_expires_at",
		"users by email":          "users_profile_email",
		"scrub user sessions":     "sessions_user",
		"delete link flows":       "sessions_link_user",
		"delete user identities":  "identities_user",
		// Either index that leads with user_id serves it; the planner
		// picks one (the statement also reads actor).
		"delete user audit": "audit_events_user|audit_events_user_type",
	} {
		uses := func(l string) bool {
			for _, ix := range strings.Split(index, "|") {
				if strings.Contains(l, ix+" ") {
					return true
				}
			}
			return false
		}
		if !slices.ContainsFunc(plans[name], uses) {
			t.Errorf("%s does not use index %s:\n%s", name, index, strings.Join(plans[name], "\n"))
		}
	}
}

// TestWALStaysBounded writes with the periodic checkpoint on. While no one
// holds the log, SQLite's own checkpoint keeps restarting it; when a long
// reader (an online backup, another process) has let it grow past
// WALTruncateAbove, the periodic checkpoint truncates it once the reader is
// gone.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, sqlite.Options{Path: path, CheckpointInterval: 20 * time.Millisecond})
	ctx := context.Background()
	const sessions = 50
	gens := make([]int64, sessions)
	for i := range sessions {
		activeSession(t, s, fmt.Sprintf("s%d", i), "u")
		gens[i] = 1
	}
	n := 0
	rotate := func() {
		t.Helper()
		i := n % sessions
		now := t0.Add(time.Duration(n) * time.Millisecond)
		if _, err := s.Rotate(ctx, fmt.Sprintf("s%d", i), gens[i], now, now.Add(time.Hour)); err != nil {
			t.Fatalf("rotation %d: %v", n, err)
		}
		gens[i]++
		n++
	}
	walSize := func() int64 {
		t.Helper()
		size, err := s.WALSize()
		if err != nil {
			t.Fatal(err)
		}
		return size
	}

	var peak int64
	for n < 4000 {
		rotate()
		if n%100 == 0 {
			peak = max(peak, walSize())
		}
	}
	t.Logf("largest WAL seen during %d rotations: %d bytes", n, peak)
	// Every rotation appends at least one 4 KiB page to the log: 4,000
	// of them would make ≥16 MB if nothing restarted it.
	const bound = 8 << 20
	if peak > bound {
		t.Errorf("WAL reached %d bytes during the run, want at most %d", peak, bound)
	}

	// A reader holds a snapshot: the log cannot restart and grows.
	reader := holdSnapshot(t, path)
	for walSize() <= sqlite.WALTruncateAbove {
		if n > 40000 {
			t.Fatalf("WAL is %d bytes after %d rotations under a long reader, want it past %d: did the reader hold it?", walSize(), n, sqlite.WALTruncateAbove)
		}
		rotate()
	}
	t.Logf("WAL grew to %d bytes under a long reader", walSize())
	reader()

	// No more writes, so SQLite's own checkpoint does not run: only the
	// periodic one can truncate the log. The deadline is generous for a
	// loaded machine; the checkpoint runs every 20 ms.
	deadline := time.Now().Add(60 * time.Second)
	for walSize() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes 60s after the reader left; the periodic checkpoint did not truncate it", walSize())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPeriodicCheckpointDoesNotWaitOutReaders runs the periodic checkpoint
// while a reader holds the log: it gives up (after a short busy timeout,
// not the writer's 5 s) and leaves the writer as it was.
func TestPeriodicCheckpointDoesNotWaitOutReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, sqlite.Options{Path: path, CheckpointInterval: -1})
	ctx := context.Background()
	sess := activeSession(t, s, "s", "u")
	gen := sess.Generation
	rotate := func() {
		t.Helper()
		if _, err := s.Rotate(ctx, sess.ID, gen, t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		gen++
	}

	rotate()
	if err := s.CheckpointIfLarge(ctx); err != nil {
		t.Fatal(err)
	}
	if size, err := s.WALSize(); err != nil || size == 0 {
		t.Errorf("WALSize() = %d, %v after the periodic checkpoint of a small log; want it left alone", size, err)
	}

	release := holdSnapshot(t, path)
	for {
		size, err := s.WALSize()
		if err != nil {
			t.Fatal(err)
		}
		if size > sqlite.WALTruncateAbove {
			break
		}
		rotate()
	}
	start := time.Now()
	err := s.CheckpointIfLarge(ctx)
	t.Logf("periodic checkpoint under a reader: %v after %v", err, time.Since(start).Round(time.Millisecond))
	if !sqlite.IsCheckpointBusy(err) {
		t.Errorf("CheckpointIfLarge() under a long reader = %v, want the busy error", err)
	}
	if got, err := s.Pragma(ctx, "busy_timeout"); err != nil || got != "5000" {
		t.Errorf("writer's busy_timeout after the checkpoint = %s, %v; want 5000 restored", got, err)
	}
	rotate() // writes go on

	release()
	if err := s.CheckpointIfLarge(ctx); err != nil {
		t.Fatal(err)
	}
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Errorf("WALSize() after the reader left and the periodic checkpoint ran = %d, %v; want 0", size, err)
	}
}

// holdSnapshot opens the database at path as another process would and
// keeps a read transaction open on it until the returned release is
// called (or the test ends).
func holdSnapshot(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	// The snapshot starts at the transaction's first read.
	if err := tx.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback()
			_ = db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// TestSQLiteCheckpointsByItselfBetweenPeriodicCheckpoints turns the
// periodic checkpoint off: the writes must step to completion so that
// SQLite's own automatic checkpoint keeps restarting the log (reading a
// RETURNING row with QueryRow does not, and the log grew by a page per
// write).
func TestSQLiteCheckpointsByItselfBetweenPeriodicCheckpoints(t *testing.T) {
	s := open(t, sqlite.Options{CheckpointInterval: -1})
	ctx := context.Background()
	const sessions, rotations = 20, 3000
	for i := range sessions {
		activeSession(t, s, fmt.Sprintf("s%d", i), "u")
	}
	for n := range rotations {
		i := n % sessions
		now := t0.Add(time.Duration(n) * time.Millisecond)
		if _, err := s.Rotate(ctx, fmt.Sprintf("s%d", i), int64(n/sessions+1), now, now.Add(time.Hour)); err != nil {
			t.Fatalf("rotation %d: %v", n, err)
		}
	}
	for n := range 1000 {
		key := fmt.Sprintf("google|%d", n)
		if _, _, err := s.ClaimIdentity(ctx, key, "google", key, key, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertLogin(ctx, key, store.Login{IdentityKey: key, Provider: "google", Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	size, err := s.WALSize()
	if err != nil {
		t.Fatal(err)
	}
	// SQLite restarts the log every ~1,000 pages (4 MB); 5,000 writes
	// without it would leave well over 16 MB.
	const bound = 8 << 20
	if size > bound {
		t.Errorf("WAL is %d bytes after %d writes with no periodic checkpoint, want at most %d: SQLite's own checkpoint did not run", size, rotations+2000, bound)
	}
}

func TestCheckpointTruncatesTheWAL(t *testing.T) {
	s := open(t, sqlite.Options{CheckpointInterval: -1})
	ctx := context.Background()
	sess := activeSession(t, s, "s", "u")
	for gen := sess.Generation; gen < 200; gen++ {
		if _, err := s.Rotate(ctx, sess.ID, gen, t0, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if size, err := s.WALSize(); err != nil || size == 0 {
		t.Fatalf("WALSize() after 200 rotations = %d, %v; want a non-empty log", size, err)
	}
	if err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if size, err := s.WALSize(); err != nil || size != 0 {
		t.Errorf("WALSize() after Checkpoint = %d, %v; want 0", size, err)
	}
}

// TestTwoProcesses opens two Stores on one file, as two processes on one
// host would be, and races them.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	a := open(t, sqlite.Options{Path: path})
	b := open(t, sqlite.Options{Path: path})
	ctx := context.Background()

	t.Run("fifty rotations of one generation from both have one winner", func(t *testing.T) {
		sess := activeSession(t, a, "shared-session", "u1")
		wins := raceBoth(t, a, b, 50, func(s store.Store, i int) error {
			now := t0.Add(time.Minute)
			_, err := s.Rotate(ctx, sess.ID, 1, now, now.Add(time.Hour))
			return err
		})
		if wins != 1 {
			t.Errorf("%d rotations won, want 1", wins)
		}
		got, err := b.GetSession(ctx, sess.ID)
		if err != nil || got.Generation != 2 {
			t.Errorf("GetSession() = %+v, %v; want generation 2", got, err)
		}
	})

	t.Run("fifty records of one subject token's hash from both have one winner, new or expired", func(t *testing.T) {
		for _, expired := range []bool{false, true} {
			hash := fmt.Sprintf("shared-hash-%v", expired)
			now := t0
			if expired {
				if err := a.RememberToken(ctx, hash, t0.Add(time.Minute), t0); err != nil {
					t.Fatal(err)
				}
				now = t0.Add(2 * time.Minute)
			}
			wins := raceBoth(t, a, b, 50, func(s store.Store, i int) error {
				err := s.RememberToken(ctx, hash, now.Add(10*time.Minute), now)
				if errors.Is(err, store.ErrConflict) {
					return store.ErrNotFound // a replay: the loser's answer
				}
				return err
			})
			if wins != 1 {
				t.Errorf("%d records of one hash won (expired before: %v), want 1", wins, expired)
			}
		}
	})

	t.Run("concurrent first sign-ins of one identity from both get one user", func(t *testing.T) {
		var mu sync.Mutex
		users := map[string]bool{}
		created := 0
		raceBoth(t, a, b, 20, func(s store.Store, i int) error {
			uid, c, err := s.ClaimIdentity(ctx, "google|shared", "google", "shared", fmt.Sprintf("user-%d", i), t0)
			if err != nil {
				return err
			}
			if _, err := s.UpsertLogin(ctx, uid, store.Login{
				IdentityKey: "google|shared", Provider: "google", Now: t0,
				Profile: claims.Profile{Email: fmt.Sprintf("u%d@example.com", i)},
				Link:    store.ProviderLink{Subject: "shared", UpdatedAt: t0},
			}); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			users[uid] = true
			if c {
				created++
			}
			return nil
		})
		if len(users) != 1 || created != 1 {
			t.Errorf("sign-ins got users %v with %d creations, want one user created once", users, created)
		}
		if n, err := a.CountUsers(ctx); err != nil || n != 1 {
			t.Errorf("CountUsers() = %d, %v; want 1", n, err)
		}
	})
}

// raceBoth runs f n times at once, alternating between stores a and b,
// and returns how many calls succeeded; errors other than ErrNotFound
// fail the test.
func raceBoth(t *testing.T, a, b store.Store, n int, f func(s store.Store, i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			errs[i] = f(s, i)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("call %d: %v", i, err)
		}
	}
	return wins
}

func TestErrorsAreWrapped(t *testing.T) {
	s := open(t, sqlite.Options{})
	ctx := context.Background()
	_, err := s.Rotate(ctx, "missing", 1, t0, t0.Add(time.Hour))
	if !errors.Is(err, store.ErrNotFound) || !strings.HasPrefix(err.Error(), "rotate session: ") {
		t.Errorf("Rotate of a missing session: %v, want ErrNotFound wrapped as \"rotate session: …\"", err)
	}
	err = s.SetDisabled(ctx, "nobody", true)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDisabled of a missing user: %v, want ErrNotFound", err)
	}
	f := &store.Session{ID: "f", ExpiresAt: t0, Provider: "google"}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFlow(ctx, f); !errors.Is(err, store.ErrConflict) || !strings.HasPrefix(err.Error(), "create login flow: ") {
		t.Errorf("second CreateFlow: %v, want ErrConflict wrapped as \"create login flow: …\"", err)
	}
}

// TestProviderNamesAreKeysNotPaths signs in with provider names that
// ValidProviderName allows but a JSON path would not take bare ('-'
// starts no path segment): each must stay one key of the providers
// object.
func TestProviderNamesAreKeysNotPaths(t *testing.T) {
	s := open(t, sqlite.Options{})
	ctx := context.Background()
	names := []string{"google", "azure-work", "oidc_2", "1st", "-", "_"}
	for i, name := range names {
		login := store.Login{
			IdentityKey: name + "|1", Provider: name, Now: t0.Add(time.Duration(i) * time.Second),
			Link: store.ProviderLink{Subject: name, AccessTokenSealed: "tok-" + name, UpdatedAt: t0},
		}
		if _, err := s.UpsertLogin(ctx, "u1", login); err != nil {
			t.Fatalf("UpsertLogin(provider %q): %v", name, err)
		}
	}
	u, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Providers) != len(names) {
		t.Errorf("providers = %v, want %d", u.Providers, len(names))
	}
	for _, name := range names {
		if got := u.Providers[name]; got.AccessTokenSealed != "tok-"+name {
			t.Errorf("provider %q link = %+v", name, got)
		}
	}
	if len(u.Identities) != len(names) || u.Identities[1] != "azure-work|1" {
		t.Errorf("identities = %v, want %d in sign-in order", u.Identities, len(names))
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
