package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// rawDB opens the file at path the way the writer does, without
// migrating it, and closes it when the test ends.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	if err := prepareFile(path, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, "NORMAL", true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	latest := len(migrations)
	if latest < 2 {
		t.Fatalf("%d migrations; the tests below need a previous version", latest)
	}

	t.Run("an empty database is brought to the latest version", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		s, err := Open(ctx, Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v, err := schemaVersion(ctx, s.write); err != nil || v != latest {
			t.Errorf("schema version = %d, %v; want %d", v, err, latest)
		}
	})

	for from := 1; from < latest; from++ {
		t.Run(fmt.Sprintf("a database at version %d keeps its data and is migrated", from), func(t *testing.T) {
			testMigrateFrom(t, from)
		})
	}

	t.Run("a database newer than this code is refused, naming both versions", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		db := rawDB(t, path)
		if _, err := db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, Options{Path: path})
		if err == nil {
			s.Close()
			t.Fatal("Open of a newer database succeeded")
		}
		want := "database schema version 99 is newer than this socialbridge understands (" + strconv.Itoa(latest) + "); upgrade socialbridge"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open() = %v, want an error containing %q", err, want)
		}
	})

	t.Run("opening an up-to-date database changes nothing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		for range 2 {
			s, err := Open(ctx, Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestWriterTransactionsAreImmediate checks that a transaction on the
// writer takes the write lock at BEGIN: another Store on the file cannot
// write until it ends.
func TestWriterTransactionsAreImmediate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	a, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	tx, err := a.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = b.ClaimIdentity(wctx, "google|1", "google", "1", "u1", time.Now())
	if err == nil {
		t.Errorf("a write from another Store succeeded inside a's transaction; BEGIN did not take the write lock")
	}
	t.Logf("blocked write gave up after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ClaimIdentity(ctx, "google|1", "google", "1", "u1", time.Now()); err != nil {
		t.Errorf("write after the transaction ended: %v", err)
	}
}

// testMigrateFrom writes rows as version from wrote them (the tables of
// version 1, which later versions only extend), opens the database, and
// checks that they read back and that what later versions add works on
// them.
func testMigrateFrom(t *testing.T, from int) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	latest := len(migrations)
	path := filepath.Join(t.TempDir(), "db")
	db := rawDB(t, path)
	if err := migrateTo(ctx, db, from); err != nil {
		t.Fatal(err)
	}
	// ?1 is t0, ?2 t0+1h, ?3 t0+24h in unix milliseconds. User u2's link
	// holds a link email although no version before 5 wrote one, to check
	// that version 5 indexes the links it finds. From version 5 on, a link
	// flow waits for its provider's answer (exchanging), to check that
	// version 6 lets it issue and complete a link code. From version 3 on,
	// the audit trail holds events, to check that version 8's indexes
	// list them by type.
	rows := []string{
		`INSERT INTO identities (key, user_id, provider, subject, created_at) VALUES ('google|1', 'u1', 'google', '1', ?1)`,
		`INSERT INTO identities (key, user_id, provider, subject, created_at) VALUES ('facebook|1', 'u1', 'facebook', '1', ?2)`,
		`INSERT INTO users (id, profile, identities, providers, created_at, updated_at, last_login_at)
			VALUES ('u1', '{"email":"a@example.com","email_verified":true}', '["google|1","facebook|1"]',
				'{"google":{"subject":"1","profile":{"email_verified":false},"access_token":"sealed","refresh_token":"r-sealed","updated_at":"2026-11-23T12:00:00Z"},
				  "facebook":{"subject":"1","profile":{},"access_token":"fb-sealed","updated_at":"2026-11-23T13:00:00Z"}}',
				?1, ?1, ?1)`,
		`INSERT INTO users (id, profile, identities, providers, created_at, updated_at, last_login_at)
			VALUES ('u2', '{}', '["google|2"]',
				'{"google":{"subject":"2","profile":{},"link_email":"b@example.com","updated_at":"2026-11-23T12:00:00Z"}}',
				?1, ?1, ?1)`,
		`INSERT INTO sessions (id, state, expires_at, created_at, client_id, redirect_uri, code_challenge, provider,
			user_id, auth_time, claims, code_hash, generation, rotated_at, idle_expires_at)
			VALUES ('s1', 'active', ?3, ?1, 'spa', 'https://app.example/cb', 'c', 'google',
				'u1', ?1, '{"email":"a@example.com"}', 'h', 3, ?1, ?2)`,
		`INSERT INTO signing_keys (id, kid, use, alg, generation, private_sealed, created_at, sign_from)
			VALUES ('access-1', 'k1', 'access', 'ES256', 1, 'sealed', ?1, ?1)`,
		`INSERT INTO sessions (id, state, expires_at, created_at, client_id, redirect_uri, code_challenge, provider)
			VALUES ('f1', 'pending', ?2, ?1, 'spa', 'https://app.example/cb', 'c', 'google')`,
	}
	if from >= 5 {
		rows = append(rows, `INSERT INTO sessions (id, state, expires_at, created_at, client_id, redirect_uri, code_challenge, provider,
			link_user_id, link_session_id)
			VALUES ('l0', 'exchanging', ?2, ?1, 'spa', 'https://app.example/account', 'c', 'google', 'u1', 's1')`)
	}
	if from >= 3 {
		rows = append(rows,
			`INSERT INTO audit_events (id, at, type, user_id) VALUES ('a1', ?1, 'login', 'u1')`,
			`INSERT INTO audit_events (id, at, type, user_id, detail) VALUES ('a2', ?2, 'logout', 'u1', '{"reason":"user"}')`,
			`INSERT INTO audit_events (id, at, type, user_id) VALUES ('a3', ?2, 'login', 'u2')`,
			`INSERT INTO audit_events (id, at, type) VALUES ('a4', ?3, 'login_failed')`)
	}
	for _, q := range rows {
		args := []any{t0.UnixMilli(), t0.Add(time.Hour).UnixMilli(), t0.Add(24 * time.Hour).UnixMilli()}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := schemaVersion(ctx, s.write); err != nil || v != latest {
		t.Errorf("schema version = %d, %v; want %d", v, err, latest)
	}
	for _, tt := range []struct{ kind, name string }{
		{"index", "sessions_expires_at"}, {"index", "sessions_live_user"}, {"index", "sessions_revoked"},
		{"index", "sessions_idle_expires_at"}, {"index", "identities_user"}, {"index", "users_not_before"},
		{"index", "signing_keys_use_generation"}, {"index", "audit_events_at"}, {"index", "audit_events_user"},
		{"table", "user_link_emails"}, {"index", "user_link_emails_email"},
		{"trigger", "users_link_emails_insert"}, {"trigger", "users_link_emails_update"},
		{"table", "remembered_tokens"}, {"index", "remembered_tokens_expires_at"},
		{"index", "audit_events_type"}, {"index", "audit_events_user_type"},
	} {
		var n int
		err := s.write.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = ?1 AND name = ?2", tt.kind, tt.name).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("%s %s: %d, %v; want it created by the migration", tt.kind, tt.name, n, err)
		}
	}
	for _, gone := range []string{"sessions_active_user", "sessions_revoked_at"} {
		var n int
		err := s.write.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?1", gone).Scan(&n)
		if err != nil || n != 0 {
			t.Errorf("index %s: %d, %v; want it replaced by the migration", gone, n, err)
		}
	}
	u, err := s.GetUser(ctx, "u1")
	if err != nil || u.Profile.Email != "a@example.com" || u.Providers["google"].AccessTokenSealed != "sealed" || !u.CreatedAt.Equal(t0) ||
		!u.NotBefore.IsZero() || u.Providers["google"].LinkEmail != "" || u.Providers["google"].Scopes != nil {
		t.Errorf("GetUser() = %+v, %v", u, err)
	}
	ids, err := s.ListUserIdentities(ctx, "u1")
	if err != nil || len(ids) != 2 || ids[0].Key != "google|1" {
		t.Errorf("ListUserIdentities() = %+v, %v", ids, err)
	}
	list, err := s.ListUserSessions(ctx, "u1", t0)
	if err != nil || len(list) != 1 || list[0].Generation != 3 || list[0].Claims["email"] != "a@example.com" ||
		list[0].LinkUserID != "" || list[0].LinkSessionID != "" || list[0].UserAgent != "" || list[0].IP != "" {
		t.Errorf("ListUserSessions() = %+v, %v", list, err)
	}
	if _, err := s.Rotate(ctx, "s1", 3, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
		t.Errorf("Rotate of a migrated session: %v", err)
	}
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 1 || keys[0].KID != "k1" || !keys[0].RetiredAt.IsZero() {
		t.Errorf("ListKeys() = %+v, %v; want k1, not retired", keys, err)
	}
	// Version 9's retirement on a key stored before it.
	if err := s.RetireKey(ctx, "access-1", t0.Add(time.Hour)); err != nil {
		t.Errorf("RetireKey of a migrated key: %v", err)
	}
	if keys, err := s.ListKeys(ctx); err != nil || len(keys) != 1 || !keys[0].RetiredAt.Equal(t0.Add(time.Hour)) || !keys[0].SignFrom.Equal(t0) {
		t.Errorf("ListKeys() after RetireKey = %+v, %v; want k1 retired at t0+1h, signing from t0", keys, err)
	}
	// What the later versions add works on the migrated rows: a flow
	// stored before max_age existed has none, can be claimed, is no link
	// flow and issues its code.
	if f, err := s.ClaimFlow(ctx, "f1", "google", t0); err != nil || f.State != store.StateExchanging || f.MaxAge != nil || f.LinkUserID != "" {
		t.Errorf("ClaimFlow of a migrated flow = %+v, %v; want it exchanging with no max_age and no link user", f, err)
	}
	if f, err := s.IssueCode(ctx, "f1", "google", t0, store.CodeIssue{UserID: "u1", CodeHash: "h", CodeExpiresAt: t0.Add(time.Minute)}); err != nil || f.State != store.StateCode {
		t.Errorf("IssueCode of a migrated flow = %+v, %v", f, err)
	}
	if err := s.SetUserNotBefore(ctx, "u1", t0.Add(time.Minute)); err != nil {
		t.Errorf("SetUserNotBefore of a migrated user: %v", err)
	}
	if n, err := s.RevokeUserSessions(ctx, "u1", "logout_all", t0.Add(2*time.Minute)); err != nil || n != 2 {
		t.Errorf("RevokeUserSessions of a migrated user = %d, %v; want 2 (the session and the code)", n, err)
	}
	feed, err := s.RevocationsSince(ctx, t0, 10)
	if err != nil || len(feed) != 3 || feed[0].Kind != store.RevokedUser || feed[1].SessionID != "f1" || feed[2].SessionID != "s1" {
		t.Errorf("RevocationsSince() = %+v, %v; want the user's not-before, then f1 and s1", feed, err)
	}

	// Roles on a migrated user (the column is there since version 1).
	if err := s.SetRoles(ctx, "u2", []string{"admin", "reader"}, t0.Add(time.Minute)); err != nil {
		t.Errorf("SetRoles of a migrated user: %v", err)
	}
	if u, err := s.GetUser(ctx, "u2"); err != nil || !slices.Equal(u.Roles, []string{"admin", "reader"}) || !u.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("GetUser() after SetRoles = %+v, %v; want roles [admin reader] updated at t0+1m", u, err)
	}

	// The audit trail by type, on events stored before version 8 and one
	// appended after it.
	if err := s.AppendAudit(ctx, store.AuditEvent{ID: "a5", At: t0.Add(48 * time.Hour), Type: "login", UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    store.AuditQuery
		want string
	}{
		{store.AuditQuery{Type: "login", Limit: 10}, "a5 a3 a1"},
		{store.AuditQuery{UserID: "u1", Type: "login", Limit: 10}, "a5 a1"},
		{store.AuditQuery{UserID: "u1", Type: "logout", Limit: 10}, "a2"},
		{store.AuditQuery{Type: "login", Before: t0.Add(time.Hour), BeforeID: "a3", Limit: 10}, "a1"},
		{store.AuditQuery{UserID: "u1", Limit: 10}, "a5 a2 a1"},
	} {
		if from < 3 { // no audit trail to migrate: a5 alone
			tt.want = strings.Join(slices.DeleteFunc(strings.Fields(tt.want), func(id string) bool { return id != "a5" }), " ")
		}
		list, err := s.ListAudit(ctx, tt.q)
		var got []string
		for _, e := range list {
			got = append(got, e.ID)
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("ListAudit(%+v) on the migrated schema = %v, %v; want [%s]", tt.q, got, err, tt.want)
		}
	}

	// Account linking on the migrated rows.
	if got, err := s.FindUsersByLinkEmail(ctx, "b@example.com", []string{"google"}); err != nil || !slices.Equal(got, []string{"u2"}) {
		t.Errorf("FindUsersByLinkEmail() of a link email stored before version 5 = %v, %v; want [u2]", got, err)
	}
	if got, err := s.FindUsersByLinkEmail(ctx, "b@example.com", []string{"facebook"}); err != nil || len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail() through another provider = %v, %v; want none", got, err)
	}
	if err := s.UpdateProviderTokens(ctx, "u1", "facebook", t0.Add(time.Hour), store.ProviderLink{AccessTokenSealed: "fb-2", UpdatedAt: t0.Add(2 * time.Hour)}); err != nil {
		t.Errorf("UpdateProviderTokens of a migrated link: %v", err)
	}
	if err := s.UnlinkIdentity(ctx, "u1", "facebook|1", t0.Add(3*time.Hour)); err != nil {
		t.Errorf("UnlinkIdentity of a migrated identity: %v", err)
	}
	if u, err := s.GetUser(ctx, "u1"); err != nil || !slices.Equal(u.Identities, []string{"google|1"}) || len(u.Providers) != 1 {
		t.Errorf("GetUser() after the unlink = %+v, %v; want google only", u, err)
	}
	login := store.Login{
		IdentityKey: "google|1", Provider: "google", Now: t0.Add(4 * time.Hour),
		Link: store.ProviderLink{Subject: "1", LinkEmail: "a@example.com", Scopes: []string{"openid"}, UpdatedAt: t0.Add(4 * time.Hour)},
	}
	// The sign-in brings no refresh token: the migrated link's stays.
	if u, err := s.UpsertLogin(ctx, "u1", login); err != nil || u.Providers["google"].RefreshTokenSealed != "r-sealed" ||
		!slices.Equal(u.Providers["google"].Scopes, []string{"openid"}) {
		t.Fatalf("UpsertLogin() of a migrated user = %+v, %v; want the new link with the stored refresh token", u, err)
	}
	if got, err := s.FindUsersByLinkEmail(ctx, "a@example.com", []string{"google"}); err != nil || !slices.Equal(got, []string{"u1"}) {
		t.Errorf("FindUsersByLinkEmail() after a migrated user's sign-in = %v, %v; want [u1]", got, err)
	}
	ready := &store.Session{
		ID: "l1", State: store.StateReady, ExpiresAt: t0.Add(5 * time.Hour), ClientID: "spa", CodeChallenge: "c", Provider: "google",
		LinkUserID: "u1", LinkSessionID: "s1",
	}
	if err := s.CreateFlow(ctx, ready); err != nil {
		t.Fatal(err)
	}
	if f, err := s.StartFlow(ctx, "l1", t0.Add(4*time.Hour)); err != nil || f.State != store.StatePending || f.LinkUserID != "u1" || f.LinkSessionID != "s1" {
		t.Errorf("StartFlow() of a link flow = %+v, %v", f, err)
	}

	// Link codes on the migrated schema: a link flow created after the
	// migration and, from version 5 on, one stored before it (which
	// expires at t0+1h).
	if _, err := s.ClaimFlow(ctx, "l1", "google", t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	flows := []struct {
		id  string
		now time.Time
	}{{"l1", t0.Add(4 * time.Hour)}}
	if from >= 5 {
		if f, err := s.GetSession(ctx, "l0"); err != nil || f.LinkSealed != "" || f.LinkUserID != "u1" || f.State != store.StateExchanging {
			t.Errorf("GetSession() of a link flow stored before version 6 = %+v, %v; want it exchanging, with no sealed identity", f, err)
		}
		flows = append(flows, struct {
			id  string
			now time.Time
		}{"l0", t0.Add(30 * time.Minute)})
	}
	for _, f := range flows {
		c := store.LinkCodeIssue{CodeHash: "lh-" + f.id, CodeExpiresAt: f.now.Add(time.Minute), Sealed: "sealed-" + f.id}
		if got, err := s.IssueLinkCode(ctx, f.id, "google", f.now, c); err != nil || got.State != store.StateCode || got.LinkSealed != c.Sealed {
			t.Errorf("IssueLinkCode(%s) on the migrated schema = %+v, %v", f.id, got, err)
		}
		r := store.LinkRedemption{CodeHash: c.CodeHash, ClientID: "spa", CodeChallenge: "c", UserID: "u1", SessionID: "s1", Now: f.now}
		if got, err := s.CompleteLink(ctx, f.id, r); err != nil || got.State != store.StateLinked || got.LinkSealed != c.Sealed {
			t.Errorf("CompleteLink(%s) on the migrated schema = %+v, %v", f.id, got, err)
		}
		if got, err := s.GetSession(ctx, f.id); err != nil || got.State != store.StateLinked || got.LinkSealed != "" {
			t.Errorf("GetSession(%s) after CompleteLink = %+v, %v; want it linked without the sealed identity", f.id, got, err)
		}
	}

	// The token exchange on the migrated schema: a session created
	// active, with its device, listed and rotated beside the migrated
	// ones, and the replay guard of subject tokens, swept with them.
	now := t0.Add(5 * time.Hour)
	created := &store.Session{
		ID: "x1", UserID: "u2", ClientID: "mobile", Provider: "google", CreatedAt: now, RotatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), UserAgent: "ExampleApp/1.0", IP: "192.0.2.1",
	}
	if err := s.CreateSession(ctx, created); err != nil {
		t.Fatalf("CreateSession on the migrated schema: %v", err)
	}
	if list, err := s.ListUserSessions(ctx, "u2", now); err != nil || len(list) != 1 || list[0].ID != "x1" || list[0].Generation != 1 ||
		list[0].UserAgent != "ExampleApp/1.0" || list[0].IP != "192.0.2.1" {
		t.Errorf("ListUserSessions() of the created session = %+v, %v", list, err)
	}
	if got, err := s.Rotate(ctx, "x1", 1, now.Add(time.Minute), now.Add(time.Hour)); err != nil || got.Generation != 2 || got.UserAgent != "ExampleApp/1.0" {
		t.Errorf("Rotate() of the created session = %+v, %v", got, err)
	}
	if err := s.RememberToken(ctx, "hash-1", now.Add(time.Minute), now); err != nil {
		t.Errorf("RememberToken() on the migrated schema: %v", err)
	}
	if err := s.RememberToken(ctx, "hash-1", now.Add(time.Minute), now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("RememberToken() of the same hash again = %v, want ErrConflict", err)
	}
	// A week on, everything above has expired: the migrated rows, the
	// flows and sessions of this test and the remembered token.
	if n, err := s.SweepExpired(ctx, now.Add(7*24*time.Hour), time.Hour); err != nil || n < 2 {
		t.Errorf("SweepExpired() = %d, %v; want every row gone", n, err)
	}
	var left int
	if err := s.write.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM remembered_tokens)").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d sessions and remembered tokens left after the sweep, %v; want none", left, err)
	}
}
