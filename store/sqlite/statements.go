package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// statements are the queries of the contract, prepared once at Open:
// writes on the writer connection, reads on the read pool.
type statements struct {
	// writer
	createFlow, issueCode, failFlow, redeemCode, rotate, revoke *sql.Stmt
	claimIdentity, upsertLogin, setDisabled                     *sql.Stmt
	insertKey, sweep                                            *sql.Stmt
	// read pool
	getSession, listUserSessions                       *sql.Stmt
	getUser, getIdentity, identityUser, listIdentities *sql.Stmt
	countUsers, listKeys                               *sql.Stmt

	// all lists every statement prepared so far, for close.
	all []*sql.Stmt
}

// sessionColumns is the column list scanSession reads, in its order.
const sessionColumns = `id, state, expires_at, created_at, client_id, redirect_uri, client_state,
	code_challenge, nonce, scope, provider, user_id, auth_time, claims, code_hash, generation,
	rotated_at, idle_expires_at, revoked_at, revoke_reason`

// userColumns is the column list scanUser reads, in its order.
const userColumns = `id, profile, roles, disabled, identities, providers, created_at, updated_at, last_login_at`

// identityColumns is the column list scanIdentity reads, in its order.
const identityColumns = `key, user_id, provider, subject, created_at`

// sweepBatch bounds how many rows one sweep statement deletes, so that a
// large sweep holds the write lock in short turns and lets refreshes in
// between.
const sweepBatch = 1000

// The statements. Every state change of a session is one UPDATE whose
// WHERE clause is the whole precondition; RETURNING gives the record as it
// is after the change, so no statement reads before it writes.
const (
	sqlCreateFlow = `INSERT INTO sessions (` + sessionColumns + `)
		VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)`

	sqlIssueCode = `UPDATE sessions
		SET state = 'code', user_id = ?4, auth_time = ?5, claims = ?6, code_hash = ?7, expires_at = ?8
		WHERE id = ?1 AND state = 'pending' AND provider = ?2 AND expires_at > ?3
		RETURNING ` + sessionColumns

	sqlFailFlow = `UPDATE sessions SET state = 'failed'
		WHERE id = ?1 AND state = 'pending' AND provider = ?2 AND expires_at > ?3
		RETURNING ` + sessionColumns

	sqlRedeemCode = `UPDATE sessions
		SET state = 'active', generation = 1, rotated_at = ?6, idle_expires_at = ?7, expires_at = ?8
		WHERE id = ?1 AND state = 'code' AND code_hash = ?2 AND client_id = ?3 AND redirect_uri = ?4
			AND code_challenge = ?5 AND expires_at > ?6
		RETURNING ` + sessionColumns

	sqlRotate = `UPDATE sessions SET generation = ?2 + 1, rotated_at = ?3, idle_expires_at = ?4
		WHERE id = ?1 AND state = 'active' AND generation = ?2 AND expires_at > ?3 AND idle_expires_at > ?3
		RETURNING ` + sessionColumns

	sqlRevoke = `UPDATE sessions SET state = 'revoked', revoked_at = ?2, revoke_reason = ?3
		WHERE id = ?1 AND state IN ('active', 'code')`

	sqlGetSession = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?1`

	// state = 'active' is a literal so that the partial index
	// sessions_active_user applies.
	sqlListUserSessions = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE user_id = ?1 AND state = 'active' AND expires_at > ?2 AND idle_expires_at > ?2
		ORDER BY rotated_at DESC, id`

	sqlSweep = `DELETE FROM sessions WHERE rowid IN
		(SELECT rowid FROM sessions WHERE expires_at < ?1 LIMIT ?2)`

	// DO NOTHING returns no row when the identity exists; the caller then
	// reads its owner (identities are never deleted).
	sqlClaimIdentity = `INSERT INTO identities (` + identityColumns + `) VALUES (?1, ?2, ?3, ?4, ?5)
		ON CONFLICT (key) DO NOTHING RETURNING user_id`

	sqlIdentityUser = `SELECT user_id FROM identities WHERE key = ?1`

	// One statement creates or updates the user: ?1 id, ?2 profile JSON,
	// ?3 identity key, ?4 provider name, ?5 provider link JSON, ?6 now.
	// The identity key is appended only when absent, so the list keeps
	// first-sign-in order. The provider's link is replaced whole; its
	// path is built with json_quote, so any provider name is one key.
	sqlUpsertLogin = `INSERT INTO users (id, profile, identities, providers, created_at, updated_at, last_login_at)
		VALUES (?1, ?2, json_array(?3), json_object(?4, json(?5)), ?6, ?6, ?6)
		ON CONFLICT (id) DO UPDATE SET
			profile = excluded.profile,
			identities = CASE
				WHEN EXISTS (SELECT 1 FROM json_each(users.identities) WHERE json_each.value = ?3)
				THEN users.identities
				ELSE json_insert(users.identities, '$[#]', ?3)
			END,
			providers = json_set(users.providers, '$.' || json_quote(?4), json(?5)),
			updated_at = excluded.updated_at,
			last_login_at = excluded.last_login_at
		RETURNING ` + userColumns

	sqlGetUser = `SELECT ` + userColumns + ` FROM users WHERE id = ?1`

	sqlSetDisabled = `UPDATE users SET disabled = ?2 WHERE id = ?1`

	sqlCountUsers = `SELECT count(*) FROM users`

	sqlGetIdentity = `SELECT ` + identityColumns + ` FROM identities WHERE key = ?1`

	sqlListIdentities = `SELECT ` + identityColumns + ` FROM identities
		WHERE user_id = ?1 ORDER BY created_at, rowid`

	sqlInsertKey = `INSERT INTO signing_keys (id, kid, use, alg, generation, private_sealed, created_at, sign_from)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`

	sqlListKeys = `SELECT id, kid, use, alg, generation, private_sealed, created_at, sign_from
		FROM signing_keys ORDER BY use, generation`
)

// prepare prepares every statement.
func (st *statements) prepare(ctx context.Context, write, read *sql.DB) error {
	list := []struct {
		dst   **sql.Stmt
		db    *sql.DB
		query string
	}{
		{&st.createFlow, write, sqlCreateFlow},
		{&st.issueCode, write, sqlIssueCode},
		{&st.failFlow, write, sqlFailFlow},
		{&st.redeemCode, write, sqlRedeemCode},
		{&st.rotate, write, sqlRotate},
		{&st.revoke, write, sqlRevoke},
		{&st.sweep, write, sqlSweep},
		{&st.claimIdentity, write, sqlClaimIdentity},
		{&st.upsertLogin, write, sqlUpsertLogin},
		{&st.setDisabled, write, sqlSetDisabled},
		{&st.insertKey, write, sqlInsertKey},
		{&st.getSession, read, sqlGetSession},
		{&st.listUserSessions, read, sqlListUserSessions},
		{&st.getUser, read, sqlGetUser},
		{&st.getIdentity, read, sqlGetIdentity},
		{&st.identityUser, read, sqlIdentityUser},
		{&st.listIdentities, read, sqlListIdentities},
		{&st.countUsers, read, sqlCountUsers},
		{&st.listKeys, read, sqlListKeys},
	}
	for _, p := range list {
		stmt, err := p.db.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.query, err)
		}
		*p.dst = stmt
		st.all = append(st.all, stmt)
	}
	return nil
}

// close closes every prepared statement.
func (st *statements) close() error {
	var errs []error
	for _, s := range st.all {
		errs = append(errs, s.Close())
	}
	st.all = nil
	return errors.Join(errs...)
}
