package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations move the schema forward one version each: migrations[i]
// takes a database from version i to i+1 (PRAGMA user_version). They are
// append-only: a released step is never edited, a change is a new step.
//
// Conventions: times are INTEGER unix milliseconds, NULL when unset;
// strings that may be empty are NOT NULL DEFAULT ”; JSON is TEXT. Tables
// are STRICT, so a value of the wrong type is an error rather than a
// silent conversion.
var migrations = []string{
	// 1: the tables of the first slice (sign-in, refresh, keys), with the
	// sweeper's index.
	`
CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	state           TEXT NOT NULL,
	expires_at      INTEGER,
	created_at      INTEGER,
	client_id       TEXT NOT NULL DEFAULT '',
	redirect_uri    TEXT NOT NULL DEFAULT '',
	client_state    TEXT NOT NULL DEFAULT '',
	code_challenge  TEXT NOT NULL DEFAULT '',
	nonce           TEXT NOT NULL DEFAULT '',
	scope           TEXT NOT NULL DEFAULT '',
	provider        TEXT NOT NULL DEFAULT '',
	user_id         TEXT NOT NULL DEFAULT '',
	auth_time       INTEGER,
	claims          TEXT,
	code_hash       TEXT NOT NULL DEFAULT '',
	generation      INTEGER NOT NULL DEFAULT 0,
	rotated_at      INTEGER,
	idle_expires_at INTEGER,
	revoked_at      INTEGER,
	revoke_reason   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE identities (
	key        TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	provider   TEXT NOT NULL,
	subject    TEXT NOT NULL,
	created_at INTEGER
) STRICT;

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	profile       TEXT NOT NULL DEFAULT '{}',
	roles         TEXT,
	disabled      INTEGER NOT NULL DEFAULT 0,
	identities    TEXT NOT NULL DEFAULT '[]',
	providers     TEXT NOT NULL DEFAULT '{}',
	created_at    INTEGER,
	updated_at    INTEGER,
	last_login_at INTEGER
) STRICT;

CREATE TABLE signing_keys (
	id             TEXT PRIMARY KEY,
	kid            TEXT NOT NULL,
	use            TEXT NOT NULL,
	alg            TEXT NOT NULL,
	generation     INTEGER NOT NULL,
	private_sealed TEXT NOT NULL,
	created_at     INTEGER,
	sign_from      INTEGER
) STRICT;
CREATE INDEX signing_keys_use_generation ON signing_keys (use, generation);
`,
	// 2: indexes for the account page (a user's sessions and identities)
	// and the revocation feed (sessions revoked since a cursor). The
	// sessions index is partial: only active sessions are listed, and a
	// rotation changes none of its columns, so refreshes never touch it.
	`
CREATE INDEX sessions_active_user ON sessions (user_id) WHERE state = 'active';
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX identities_user ON identities (user_id, created_at);
`,
	// 3: revocation and audit. Users get a not-before time; the revocation
	// feed reads revoked sessions and not-before times in (time, id)
	// order; revoking all of a user's sessions finds those holding a code
	// too, so the user's sessions index covers both states (ListUserSessions'
	// state = 'active' implies its condition, so it serves that query as
	// well); the sweeper finds idle-expired sessions by index. The
	// idle-expiry index is the one index a rotation changes.
	`
ALTER TABLE users ADD COLUMN not_before INTEGER;
CREATE INDEX users_not_before ON users (not_before, id) WHERE not_before IS NOT NULL;

DROP INDEX sessions_active_user;
CREATE INDEX sessions_live_user ON sessions (user_id) WHERE state = 'active' OR state = 'code';
DROP INDEX sessions_revoked_at;
CREATE INDEX sessions_revoked ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at) WHERE idle_expires_at IS NOT NULL;

CREATE TABLE audit_events (
	id         TEXT PRIMARY KEY,
	at         INTEGER NOT NULL,
	type       TEXT NOT NULL,
	user_id    TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	client_id  TEXT NOT NULL DEFAULT '',
	actor      TEXT NOT NULL DEFAULT '',
	ip         TEXT NOT NULL DEFAULT '',
	detail     TEXT
) STRICT;
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, at, id);
`,
	// 4: the client's OpenID Connect max_age, kept on the login flow so
	// that the callback can check the provider's auth_time against it.
	// (The flow's new state, exchanging, needs no change: state has no
	// CHECK constraint, and no partial index covers flows.)
	`
ALTER TABLE sessions ADD COLUMN max_age INTEGER;
`,
	// 5: account linking. Link flows carry the user they link to and the
	// session that started them (no index: they are found by id only).
	// FindUsersByLinkEmail reads user_link_emails, one row per provider
	// link with a link email, which two triggers derive from
	// users.providers in the statement that changes it: whatever writes a
	// link (a sign-in, an unlink, a token refresh) keeps the table exact
	// without a statement of its own. The update trigger first deletes the
	// rows whose link is gone or now holds another email, then adds the
	// missing ones, so a write that leaves the emails as they were (every
	// refresh, most sign-ins) writes nothing here.
	`
ALTER TABLE sessions ADD COLUMN link_user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN link_session_id TEXT NOT NULL DEFAULT '';

CREATE TABLE user_link_emails (
	user_id  TEXT NOT NULL,
	provider TEXT NOT NULL,
	email    TEXT NOT NULL,
	PRIMARY KEY (user_id, provider)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_link_emails_email ON user_link_emails (email, user_id);

INSERT INTO user_link_emails (user_id, provider, email)
	SELECT users.id, p.key, json_extract(p.value, '$.link_email')
	FROM users, json_each(users.providers) AS p
	WHERE coalesce(json_extract(p.value, '$.link_email'), '') <> '';

CREATE TRIGGER users_link_emails_insert AFTER INSERT ON users BEGIN
	INSERT INTO user_link_emails (user_id, provider, email)
		SELECT NEW.id, p.key, json_extract(p.value, '$.link_email')
		FROM json_each(NEW.providers) AS p
		WHERE coalesce(json_extract(p.value, '$.link_email'), '') <> '';
END;

CREATE TRIGGER users_link_emails_update AFTER UPDATE OF providers ON users BEGIN
	DELETE FROM user_link_emails
		WHERE user_id = NEW.id AND NOT EXISTS (
			SELECT 1 FROM json_each(NEW.providers) AS p
			WHERE p.key = user_link_emails.provider AND json_extract(p.value, '$.link_email') = user_link_emails.email);
	INSERT INTO user_link_emails (user_id, provider, email)
		SELECT NEW.id, p.key, json_extract(p.value, '$.link_email')
		FROM json_each(NEW.providers) AS p
		WHERE coalesce(json_extract(p.value, '$.link_email'), '') <> ''
			AND NOT EXISTS (SELECT 1 FROM user_link_emails AS e WHERE e.user_id = NEW.id AND e.provider = p.key);
END;
`,
	// 6: link codes. A link flow's callback no longer links: it keeps the
	// identity the provider vouched for, sealed, in link_sealed until the
	// application completes the flow with its link code (which uses the
	// existing code_hash column; the flow is then in state code, like a
	// sign-in's code, and told apart by link_user_id). No index: link
	// flows are found by id, and the statements that find sessions by
	// user or revocation time exclude them with link_user_id = ''.
	// FindUsersByLinkEmail's filter on the trusted providers needs none
	// either: user_link_emails_email covers the provider (it is part of
	// the table's primary key).
	`
ALTER TABLE sessions ADD COLUMN link_sealed TEXT NOT NULL DEFAULT '';
`,
	// 7: mobile sign-in by token exchange. Sessions record the device
	// they were created for (no index: they are read with the session).
	// remembered_tokens is the replay guard of subject tokens, one row
	// per accepted token's hash until it expires: the hash is the primary
	// key, so RememberToken is one upsert on it, and the sweeper finds
	// expired rows through their expiry's index. WITHOUT ROWID: the rows
	// are a key and a time, and no query needs a rowid.
	`
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';

CREATE TABLE remembered_tokens (
	hash       TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX remembered_tokens_expires_at ON remembered_tokens (expires_at);
`,
	// 8: audit listings by type. ListAudit selects by type alone or by
	// user and type; each gets an index that leads with its equalities
	// and then holds the listing's order (at, id), so that a page is a
	// range read in order, with no sort and no row of another type read.
	// audit_events_user stays: a user's listing of every type needs its
	// rows in time order, which (user_id, type, ...) does not keep.
	// (Users' roles need no change: users.roles is there since version 1.)
	`
CREATE INDEX audit_events_type ON audit_events (type, at, id);
CREATE INDEX audit_events_user_type ON audit_events (user_id, type, at, id);
`,
	// 9: signing key retirement. A key an administrator retired carries
	// the time (NULL for every key stored before, none of which was
	// retired). No index: RetireKey finds its key by id, and ListKeys
	// reads every key.
	`
ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;
`,
	// 10: finding and deleting users. FindUsersByEmail reads an index on
	// the lower-cased profile email, an expression over the profile's
	// JSON: the index follows every write of the profile, with no column
	// or trigger to keep in step, and covers the users stored before.
	// DeleteUser scrubs every session record of the user, revoked and
	// expired ones too, which sessions_live_user (active and code only)
	// does not reach, and deletes the user's link flows, which carry the
	// user in link_user_id; each gets a partial index that leaves out the
	// records without (flows before their callback, and sign-ins'
	// sessions, respectively). A sign-in writes sessions_user once, when
	// its code is issued; a rotation touches neither.
	`
CREATE INDEX users_profile_email ON users (lower(json_extract(profile, '$.email')), id);
CREATE INDEX sessions_user ON sessions (user_id) WHERE user_id <> '';
CREATE INDEX sessions_link_user ON sessions (link_user_id) WHERE link_user_id <> '';
`,
	// 11: tombstones of deleted users. DeleteUser leaves the id of the
	// user it deleted here, and UpsertLogin does not write a user whose id
	// is here: a sign-in that claimed an identity before the deletion and
	// writes its user after it is refused instead of creating the user
	// again. The users table keeps only live users, so no read of it
	// changes. DeleteUser removes tombstones older than a day
	// (store.TombstoneTTL), long after any sign-in that began before.
	`
CREATE TABLE deleted_users (
	id         TEXT PRIMARY KEY,
	deleted_at INTEGER NOT NULL
) STRICT;
CREATE INDEX deleted_users_at ON deleted_users (deleted_at);
`,
	// 12: the counters of the rate limit shared by the replicas
	// (store.RateCounts): requests per key (client IP) and fixed window
	// (its start, unix milliseconds), added to by one upsert per key.
	// WITHOUT ROWID: the rows are small and always found by their key.
	// SweepRateCounts deletes expired counters through the expiry index.
	`
CREATE TABLE rate_counts (
	key     TEXT NOT NULL,
	window  INTEGER NOT NULL,
	count   INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (key, window)
) STRICT, WITHOUT ROWID;
CREATE INDEX rate_counts_expires ON rate_counts (expires);
`,
}

// schemaVersion reads the schema version of the database.
func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// migrateTo moves the schema of db forward to version target, one
// migration per transaction. db must begin its transactions IMMEDIATE: the
// version is read again inside each transaction, so that processes opening
// one file at once apply each step once. A database newer than this code
// is an error naming both versions.
func migrateTo(ctx context.Context, db *sql.DB, target int) error {
	if target < 0 || target > len(migrations) {
		return fmt.Errorf("migrate schema: no version %d (latest is %d)", target, len(migrations))
	}
	for {
		done, err := migrateStep(ctx, db, target)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration towards target in one
// transaction, and reports whether the schema had already reached it.
func migrateStep(ctx context.Context, db *sql.DB, target int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate schema: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	if v > len(migrations) {
		return false, fmt.Errorf("database schema version %d is newer than this socialbridge understands (%d); upgrade socialbridge", v, len(migrations))
	}
	if v >= target {
		return true, tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v+1 is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: commit: %w", v+1, err)
	}
	return false, nil
}
