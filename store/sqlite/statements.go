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
	createFlow, claimFlow, issueCode, failFlow, redeemCode, rotate, revoke *sql.Stmt
	startFlow, issueLinkCode, completeLink, clearLinkSealed                *sql.Stmt
	revokeUser, claimIdentity, upsertLogin, setDisabled, setNotBefore      *sql.Stmt
	setRoles                                                               *sql.Stmt
	unlinkIdentity, identityOwned, unlinkUser, updateTokens                *sql.Stmt
	insertKey, retireKey, sweep, appendAudit, sweepAudit                   *sql.Stmt
	createSession, rememberToken, sweepTokens                              *sql.Stmt
	userExists, scrubUserSessions, deleteLinkFlows, deleteUserIdentities   *sql.Stmt
	deleteUserAudit, deleteUserLinkEmails, deleteUser                      *sql.Stmt
	buryUser, sweepTombstones, releaseIdentity                             *sql.Stmt
	// read pool
	getSession, listUserSessions                                   *sql.Stmt
	getUser, getIdentity, identityUser, listIdentities, countUsers *sql.Stmt
	usersByLinkEmail, usersByEmail                                 *sql.Stmt
	listKeys                                                       *sql.Stmt
	revokedSince, revokedAt, notBeforeSince, notBeforeAt           *sql.Stmt
	listAudit, listUserAudit, listTypeAudit, listUserTypeAudit     *sql.Stmt

	// all lists every statement prepared so far, for close.
	all []*sql.Stmt
}

// query is one statement of the store: a name for errors and query plans,
// where it runs, and its SQL.
type query struct {
	name   string
	writer bool
	sql    string
	stmt   func(*statements) **sql.Stmt
}

// queries lists every statement the store prepares. The query-plan test
// reads the same list, so a new statement cannot miss its index check.
var queries = []query{
	{"create flow", true, sqlCreateFlow, func(st *statements) **sql.Stmt { return &st.createFlow }},
	{"claim flow", true, sqlClaimFlow, func(st *statements) **sql.Stmt { return &st.claimFlow }},
	{"issue code", true, sqlIssueCode, func(st *statements) **sql.Stmt { return &st.issueCode }},
	{"fail flow", true, sqlFailFlow, func(st *statements) **sql.Stmt { return &st.failFlow }},
	{"start flow", true, sqlStartFlow, func(st *statements) **sql.Stmt { return &st.startFlow }},
	{"issue link code", true, sqlIssueLinkCode, func(st *statements) **sql.Stmt { return &st.issueLinkCode }},
	{"complete link", true, sqlCompleteLink, func(st *statements) **sql.Stmt { return &st.completeLink }},
	{"clear link sealed", true, sqlClearLinkSealed, func(st *statements) **sql.Stmt { return &st.clearLinkSealed }},
	{"redeem code", true, sqlRedeemCode, func(st *statements) **sql.Stmt { return &st.redeemCode }},
	{"rotate", true, sqlRotate, func(st *statements) **sql.Stmt { return &st.rotate }},
	{"revoke", true, sqlRevoke, func(st *statements) **sql.Stmt { return &st.revoke }},
	{"revoke user sessions", true, sqlRevokeUserSessions, func(st *statements) **sql.Stmt { return &st.revokeUser }},
	{"sweep", true, sqlSweep, func(st *statements) **sql.Stmt { return &st.sweep }},
	{"create session", true, sqlCreateSession, func(st *statements) **sql.Stmt { return &st.createSession }},
	{"remember token", true, sqlRememberToken, func(st *statements) **sql.Stmt { return &st.rememberToken }},
	{"sweep remembered tokens", true, sqlSweepTokens, func(st *statements) **sql.Stmt { return &st.sweepTokens }},
	{"claim identity", true, sqlClaimIdentity, func(st *statements) **sql.Stmt { return &st.claimIdentity }},
	{"upsert login", true, sqlUpsertLogin, func(st *statements) **sql.Stmt { return &st.upsertLogin }},
	{"set disabled", true, sqlSetDisabled, func(st *statements) **sql.Stmt { return &st.setDisabled }},
	{"set not-before", true, sqlSetNotBefore, func(st *statements) **sql.Stmt { return &st.setNotBefore }},
	{"set roles", true, sqlSetRoles, func(st *statements) **sql.Stmt { return &st.setRoles }},
	{"unlink identity", true, sqlUnlinkIdentity, func(st *statements) **sql.Stmt { return &st.unlinkIdentity }},
	{"identity owned", true, sqlIdentityOwned, func(st *statements) **sql.Stmt { return &st.identityOwned }},
	{"unlink from user", true, sqlUnlinkUser, func(st *statements) **sql.Stmt { return &st.unlinkUser }},
	{"update provider tokens", true, sqlUpdateProviderTokens, func(st *statements) **sql.Stmt { return &st.updateTokens }},
	{"insert key", true, sqlInsertKey, func(st *statements) **sql.Stmt { return &st.insertKey }},
	{"retire key", true, sqlRetireKey, func(st *statements) **sql.Stmt { return &st.retireKey }},
	{"append audit", true, sqlAppendAudit, func(st *statements) **sql.Stmt { return &st.appendAudit }},
	{"sweep audit", true, sqlSweepAudit, func(st *statements) **sql.Stmt { return &st.sweepAudit }},
	{"user exists", true, sqlUserExists, func(st *statements) **sql.Stmt { return &st.userExists }},
	{"scrub user sessions", true, sqlScrubUserSessions, func(st *statements) **sql.Stmt { return &st.scrubUserSessions }},
	{"delete link flows", true, sqlDeleteLinkFlows, func(st *statements) **sql.Stmt { return &st.deleteLinkFlows }},
	{"delete user identities", true, sqlDeleteUserIdentities, func(st *statements) **sql.Stmt { return &st.deleteUserIdentities }},
	{"delete user audit", true, sqlDeleteUserAudit, func(st *statements) **sql.Stmt { return &st.deleteUserAudit }},
	{"delete user link emails", true, sqlDeleteUserLinkEmails, func(st *statements) **sql.Stmt { return &st.deleteUserLinkEmails }},
	{"delete user", true, sqlDeleteUser, func(st *statements) **sql.Stmt { return &st.deleteUser }},
	{"bury user", true, sqlBuryUser, func(st *statements) **sql.Stmt { return &st.buryUser }},
	{"sweep tombstones", true, sqlSweepTombstones, func(st *statements) **sql.Stmt { return &st.sweepTombstones }},
	{"release identity", true, sqlReleaseIdentity, func(st *statements) **sql.Stmt { return &st.releaseIdentity }},
	{"users by email", false, sqlUsersByEmail, func(st *statements) **sql.Stmt { return &st.usersByEmail }},
	{"get session", false, sqlGetSession, func(st *statements) **sql.Stmt { return &st.getSession }},
	{"list user sessions", false, sqlListUserSessions, func(st *statements) **sql.Stmt { return &st.listUserSessions }},
	{"get user", false, sqlGetUser, func(st *statements) **sql.Stmt { return &st.getUser }},
	{"get identity", false, sqlGetIdentity, func(st *statements) **sql.Stmt { return &st.getIdentity }},
	{"identity user", false, sqlIdentityUser, func(st *statements) **sql.Stmt { return &st.identityUser }},
	{"list user identities", false, sqlListIdentities, func(st *statements) **sql.Stmt { return &st.listIdentities }},
	{"count users", false, sqlCountUsers, func(st *statements) **sql.Stmt { return &st.countUsers }},
	{"users by link email", false, sqlUsersByLinkEmail, func(st *statements) **sql.Stmt { return &st.usersByLinkEmail }},
	{"list keys", false, sqlListKeys, func(st *statements) **sql.Stmt { return &st.listKeys }},
	{"revoked since", false, sqlRevokedSince, func(st *statements) **sql.Stmt { return &st.revokedSince }},
	{"revoked at", false, sqlRevokedAt, func(st *statements) **sql.Stmt { return &st.revokedAt }},
	{"not-before since", false, sqlNotBeforeSince, func(st *statements) **sql.Stmt { return &st.notBeforeSince }},
	{"not-before at", false, sqlNotBeforeAt, func(st *statements) **sql.Stmt { return &st.notBeforeAt }},
	{"list audit", false, sqlListAudit, func(st *statements) **sql.Stmt { return &st.listAudit }},
	{"list user audit", false, sqlListUserAudit, func(st *statements) **sql.Stmt { return &st.listUserAudit }},
	{"list type audit", false, sqlListTypeAudit, func(st *statements) **sql.Stmt { return &st.listTypeAudit }},
	{"list user type audit", false, sqlListUserTypeAudit, func(st *statements) **sql.Stmt { return &st.listUserTypeAudit }},
}

// sessionColumns is the column list sessionRow reads, in its order.
const sessionColumns = `id, state, expires_at, created_at, client_id, redirect_uri, client_state,
	code_challenge, nonce, scope, provider, user_id, auth_time, claims, code_hash, generation,
	rotated_at, idle_expires_at, revoked_at, revoke_reason, max_age, link_user_id, link_session_id, link_sealed,
	user_agent, ip`

// userColumns is the column list userRow reads, in its order.
const userColumns = `id, profile, roles, disabled, identities, providers, created_at, updated_at, last_login_at, not_before`

// identityColumns is the column list scanIdentity reads, in its order.
const identityColumns = `key, user_id, provider, subject, created_at`

// auditColumns is the column list scanAudit reads, in its order.
const auditColumns = `id, at, type, user_id, session_id, client_id, actor, ip, detail`

// sweepBatch bounds how many rows one sweep statement deletes, so that a
// large sweep holds the write lock in short turns and lets refreshes in
// between.
const sweepBatch = 1000

// The statements. Every state change of a session is one UPDATE whose
// WHERE clause is the whole precondition; RETURNING gives the record as it
// is after the change, so no statement reads before it writes.
const (
	// ?2 is the state: CreateFlow passes pending or ready.
	sqlCreateFlow = `INSERT INTO sessions (` + sessionColumns + `)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,
			?25, ?26)`

	// A session of a token exchange starts active at generation 1; the
	// columns of a flow, a code, a link flow and a revocation keep their
	// defaults.
	sqlCreateSession = `INSERT INTO sessions (id, state, generation, user_id, client_id, provider, scope, nonce, auth_time,
			claims, created_at, expires_at, idle_expires_at, rotated_at, user_agent, ip)
		VALUES (?1, 'active', 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)`

	// The replay guard: ?1 hash, ?2 its expiry, ?3 now. A new hash is
	// inserted; a recorded one is replaced only when it has expired
	// (expires_at <= now), otherwise the statement changes no row, which
	// is the replay. One statement, so concurrent calls are serialized by
	// the write lock and exactly one of them changes the row.
	sqlRememberToken = `INSERT INTO remembered_tokens (hash, expires_at) VALUES (?1, ?2)
		ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at
		WHERE remembered_tokens.expires_at <= ?3`

	sqlStartFlow = `UPDATE sessions SET state = 'pending'
		WHERE id = ?1 AND state = 'ready' AND expires_at > ?2
		RETURNING ` + sessionColumns

	sqlClaimFlow = `UPDATE sessions SET state = 'exchanging'
		WHERE id = ?1 AND state = 'pending' AND provider = ?2 AND expires_at > ?3
		RETURNING ` + sessionColumns

	// A link flow never becomes a session: its code is a link code
	// (sqlIssueLinkCode), which only sqlCompleteLink redeems.
	sqlIssueCode = `UPDATE sessions
		SET state = 'code', user_id = ?4, auth_time = ?5, claims = ?6, code_hash = ?7, expires_at = ?8
		WHERE id = ?1 AND state = 'exchanging' AND provider = ?2 AND expires_at > ?3 AND link_user_id = ''
		RETURNING ` + sessionColumns

	sqlIssueLinkCode = `UPDATE sessions SET state = 'code', code_hash = ?4, expires_at = ?5, link_sealed = ?6
		WHERE id = ?1 AND state = 'exchanging' AND provider = ?2 AND expires_at > ?3 AND link_user_id <> ''
		RETURNING ` + sessionColumns

	// The compare-and-set of a link completion: ?2 code hash, ?3 client,
	// ?4 PKCE challenge, ?5 user, ?6 session of the access token, ?7
	// now. It returns link_sealed as it was; sqlClearLinkSealed, in the
	// same transaction, clears it.
	sqlCompleteLink = `UPDATE sessions SET state = 'linked'
		WHERE id = ?1 AND state = 'code' AND link_user_id <> '' AND code_hash = ?2 AND client_id = ?3
			AND code_challenge = ?4 AND link_user_id = ?5 AND link_session_id = ?6 AND expires_at > ?7
		RETURNING ` + sessionColumns

	sqlClearLinkSealed = `UPDATE sessions SET link_sealed = '' WHERE id = ?1`

	sqlFailFlow = `UPDATE sessions SET state = 'failed'
		WHERE id = ?1 AND state IN ('pending', 'exchanging', 'ready') AND provider = ?2 AND expires_at > ?3
		RETURNING ` + sessionColumns

	sqlRedeemCode = `UPDATE sessions
		SET state = 'active', generation = 1, rotated_at = ?6, idle_expires_at = ?7, expires_at = ?8
		WHERE id = ?1 AND state = 'code' AND code_hash = ?2 AND client_id = ?3 AND redirect_uri = ?4
			AND code_challenge = ?5 AND expires_at > ?6 AND link_user_id = ''
		RETURNING ` + sessionColumns

	sqlRotate = `UPDATE sessions SET generation = ?2 + 1, rotated_at = ?3, idle_expires_at = ?4
		WHERE id = ?1 AND state = 'active' AND generation = ?2 AND expires_at > ?3 AND idle_expires_at > ?3
		RETURNING ` + sessionColumns

	// Link flows are not sessions (link_user_id = ''), not even holding
	// their link code in state code: here, in sqlRevokeUserSessions,
	// sqlListUserSessions and the revocation feed.
	sqlRevoke = `UPDATE sessions SET state = 'revoked', revoked_at = ?2, revoke_reason = ?3
		WHERE id = ?1 AND state IN ('active', 'code') AND link_user_id = ''`

	// The state condition is written exactly as the partial index
	// sessions_live_user's, so that the planner can use it.
	sqlRevokeUserSessions = `UPDATE sessions SET state = 'revoked', revoked_at = ?2, revoke_reason = ?3
		WHERE user_id = ?1 AND (state = 'active' OR state = 'code') AND link_user_id = ''`

	sqlGetSession = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = ?1`

	// state = 'active' is a literal so that the partial index
	// sessions_live_user applies.
	sqlListUserSessions = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE user_id = ?1 AND state = 'active' AND expires_at > ?2 AND idle_expires_at > ?2 AND link_user_id = ''
		ORDER BY rotated_at DESC, id`

	// A session goes at its absolute or its idle expiry, whichever is
	// first; each condition has its index (a MULTI-INDEX OR plan).
	sqlSweep = `DELETE FROM sessions WHERE rowid IN
		(SELECT rowid FROM sessions WHERE expires_at < ?1 OR idle_expires_at < ?1 LIMIT ?2)`

	sqlSweepTokens = `DELETE FROM remembered_tokens WHERE hash IN
		(SELECT hash FROM remembered_tokens WHERE expires_at < ?1 LIMIT ?2)`

	sqlRevokedSince = `SELECT id, user_id, revoked_at, expires_at FROM sessions
		WHERE revoked_at >= ?1 AND link_user_id = '' ORDER BY revoked_at, id LIMIT ?2`

	sqlRevokedAt = `SELECT id, user_id, revoked_at, expires_at FROM sessions WHERE revoked_at = ?1 AND link_user_id = ''`

	// DO NOTHING returns no row when the identity exists; the caller then
	// reads its owner.
	sqlClaimIdentity = `INSERT INTO identities (` + identityColumns + `) VALUES (?1, ?2, ?3, ?4, ?5)
		ON CONFLICT (key) DO NOTHING RETURNING user_id`

	sqlIdentityUser = `SELECT user_id FROM identities WHERE key = ?1`

	// One statement creates or updates the user: ?1 id, ?2 profile JSON,
	// ?3 identity key, ?4 provider name, ?5 provider link JSON, ?6 now.
	// The identity key is appended only when absent, so the list keeps
	// first-sign-in order. The provider's link is replaced whole, except
	// that a link without a refresh token (the JSON omits an empty one)
	// keeps the stored link's when the stored link has the same subject:
	// the CASE reads the stored link in the same statement that replaces
	// it. Paths are built with json_quote, so a provider name is one key
	// whatever it holds (store.ValidProviderName restricts them anyway).
	// A tombstoned id (deleted_users) is neither inserted nor updated
	// (there is no live row to update): the statement returns no row.
	sqlUpsertLogin = `INSERT INTO users (id, profile, identities, providers, created_at, updated_at, last_login_at)
		SELECT ?1, ?2, json_array(?3), json_object(?4, json(?5)), ?6, ?6, ?6
		WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE id = ?1)
		ON CONFLICT (id) DO UPDATE SET
			profile = excluded.profile,
			identities = CASE
				WHEN EXISTS (SELECT 1 FROM json_each(users.identities) WHERE json_each.value = ?3)
				THEN users.identities
				ELSE json_insert(users.identities, '$[#]', ?3)
			END,
			providers = json_set(users.providers, '$.' || json_quote(?4), json(CASE
				WHEN json_type(?5, '$.refresh_token') IS NULL
					AND json_extract(users.providers, '$.' || json_quote(?4) || '.subject') = json_extract(?5, '$.subject')
					AND json_type(users.providers, '$.' || json_quote(?4) || '.refresh_token') = 'text'
				THEN json_set(?5, '$.refresh_token', json_extract(users.providers, '$.' || json_quote(?4) || '.refresh_token'))
				ELSE ?5
			END)),
			updated_at = excluded.updated_at,
			last_login_at = excluded.last_login_at
		RETURNING ` + userColumns

	sqlGetUser = `SELECT ` + userColumns + ` FROM users WHERE id = ?1`

	// The steps of UnlinkIdentity, in one transaction. sqlUnlinkIdentity
	// deletes identity ?1 of user ?2 unless it is the user's last, and
	// returns its provider and subject; when it deletes nothing,
	// sqlIdentityOwned tells ErrNotFound from ErrLastIdentity.
	// sqlUnlinkUser then takes key ?2 out of user ?1's list and, when the
	// link of provider ?3 is identity subject ?4's, the link (the
	// user_link_emails trigger drops its email).
	sqlUnlinkIdentity = `DELETE FROM identities
		WHERE key = ?1 AND user_id = ?2 AND (SELECT count(*) FROM identities WHERE user_id = ?2) > 1
		RETURNING provider, subject`

	sqlIdentityOwned = `SELECT count(*) FROM identities WHERE key = ?1 AND user_id = ?2`

	sqlUnlinkUser = `UPDATE users SET
			identities = (SELECT json_group_array(value) FROM json_each(users.identities) WHERE value <> ?2),
			providers = CASE
				WHEN json_extract(providers, '$.' || json_quote(?3) || '.subject') = ?4
				THEN json_remove(providers, '$.' || json_quote(?3))
				ELSE providers
			END,
			updated_at = ?5
		WHERE id = ?1`

	// The compare-and-set of a provider's tokens: ?1 user, ?2 provider,
	// ?3 a JSON merge patch (RFC 7396) of the link, ?4 the link's
	// updated_at as the link JSON holds it. A missing link has no
	// updated_at, so it does not match either.
	sqlUpdateProviderTokens = `UPDATE users SET providers = json_patch(providers, json_object(?2, json(?3)))
		WHERE id = ?1 AND json_extract(providers, '$.' || json_quote(?2) || '.updated_at') = ?4`

	// ?2 is the JSON array of the trusted providers' names. The index
	// user_link_emails_email holds the provider too (the table's primary
	// key), so the filter needs no read of the table.
	sqlUsersByLinkEmail = `SELECT DISTINCT user_id FROM user_link_emails
		WHERE email = ?1 AND provider IN (SELECT value FROM json_each(?2)) ORDER BY user_id LIMIT ?3`

	sqlSetDisabled = `UPDATE users SET disabled = ?2 WHERE id = ?1`

	// The expression is the index users_profile_email's, so that the
	// planner uses it; ?1 is the lower-cased email.
	sqlUsersByEmail = `SELECT id FROM users WHERE lower(json_extract(profile, '$.email')) = ?1 ORDER BY id LIMIT ?2`

	// The steps of DeleteUser, in one transaction (with
	// sqlRevokeUserSessions). The conditions user_id <> '' and
	// link_user_id <> '' are written as the partial indexes' are, so
	// that the planner can use sessions_user and sessions_link_user.
	sqlUserExists = `SELECT count(*) FROM users WHERE id = ?1`

	sqlScrubUserSessions = `UPDATE sessions SET claims = NULL, user_agent = '', ip = ''
		WHERE user_id = ?1 AND user_id <> '' AND (claims IS NOT NULL OR user_agent <> '' OR ip <> '')`

	sqlDeleteLinkFlows = `DELETE FROM sessions WHERE link_user_id = ?1 AND link_user_id <> ''`

	sqlDeleteUserIdentities = `DELETE FROM identities WHERE user_id = ?1`

	// Administrators' actions on the user stay (store.ActorAdmin,
	// store.ActorCLI).
	sqlDeleteUserAudit = `DELETE FROM audit_events WHERE user_id = ?1 AND actor NOT IN ('admin', 'cli')`

	// user_link_emails has triggers for the inserts and updates of users
	// only: a deleted user's rows go by this statement.
	sqlDeleteUserLinkEmails = `DELETE FROM user_link_emails WHERE user_id = ?1`

	sqlDeleteUser = `DELETE FROM users WHERE id = ?1`

	// The tombstone of a deleted user (store.Users.DeleteUser): its id
	// and when, kept store.TombstoneTTL; ?1 is the cut-off of the sweep.
	sqlBuryUser = `INSERT INTO deleted_users (id, deleted_at) VALUES (?1, ?2)
		ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at`

	sqlSweepTombstones = `DELETE FROM deleted_users WHERE deleted_at < ?1`

	// An identity left pointing at a deleted user lets go of it, so that
	// the identity's next claim creates a new user.
	sqlReleaseIdentity = `DELETE FROM identities
		WHERE key = ?1 AND user_id = ?2 AND EXISTS (SELECT 1 FROM deleted_users WHERE id = ?2)`

	// ?2 is the roles' JSON array, or NULL to clear them.
	sqlSetRoles = `UPDATE users SET roles = ?2, updated_at = ?3 WHERE id = ?1`

	// The not-before only moves forward. (A multi-argument max() is NULL
	// when an argument is.)
	sqlSetNotBefore = `UPDATE users SET not_before = max(coalesce(not_before, ?2), ?2) WHERE id = ?1`

	sqlNotBeforeSince = `SELECT id, not_before FROM users
		WHERE not_before >= ?1 ORDER BY not_before, id LIMIT ?2`

	sqlNotBeforeAt = `SELECT id, not_before FROM users WHERE not_before = ?1`

	sqlCountUsers = `SELECT count(*) FROM users`

	sqlGetIdentity = `SELECT ` + identityColumns + ` FROM identities WHERE key = ?1`

	sqlListIdentities = `SELECT ` + identityColumns + ` FROM identities
		WHERE user_id = ?1 ORDER BY created_at, rowid`

	sqlInsertKey = `INSERT INTO signing_keys (id, kid, use, alg, generation, private_sealed, created_at, sign_from, retired_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`

	// The first retirement stays: coalesce keeps a stored time. The row
	// counts as changed either way, so no row means no such key.
	sqlRetireKey = `UPDATE signing_keys SET retired_at = coalesce(retired_at, ?2) WHERE id = ?1`

	sqlListKeys = `SELECT id, kid, use, alg, generation, private_sealed, created_at, sign_from, retired_at
		FROM signing_keys ORDER BY use, generation`

	sqlAppendAudit = `INSERT INTO audit_events (` + auditColumns + `) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`

	// The listings page by the row value (at, id): the caller binds the
	// largest time and an empty id when there is no bound, and an empty id
	// for "strictly before this time". Each has its own statement, so that
	// each reads the index that leads with its equalities and then holds
	// (at, id): audit_events_at, audit_events_user, audit_events_type and
	// audit_events_user_type.
	sqlListAudit = `SELECT ` + auditColumns + ` FROM audit_events
		WHERE (at, id) < (?1, ?2) ORDER BY at DESC, id DESC LIMIT ?3`

	sqlListUserAudit = `SELECT ` + auditColumns + ` FROM audit_events
		WHERE user_id = ?1 AND (at, id) < (?2, ?3) ORDER BY at DESC, id DESC LIMIT ?4`

	sqlListTypeAudit = `SELECT ` + auditColumns + ` FROM audit_events
		WHERE type = ?1 AND (at, id) < (?2, ?3) ORDER BY at DESC, id DESC LIMIT ?4`

	sqlListUserTypeAudit = `SELECT ` + auditColumns + ` FROM audit_events
		WHERE user_id = ?1 AND type = ?2 AND (at, id) < (?3, ?4) ORDER BY at DESC, id DESC LIMIT ?5`

	sqlSweepAudit = `DELETE FROM audit_events WHERE rowid IN
		(SELECT rowid FROM audit_events WHERE at < ?1 LIMIT ?2)`
)

// prepare prepares every statement of queries.
func (st *statements) prepare(ctx context.Context, write, read *sql.DB) error {
	for _, q := range queries {
		db := read
		if q.writer {
			db = write
		}
		stmt, err := db.PrepareContext(ctx, q.sql)
		if err != nil {
			return fmt.Errorf("prepare %s: %w", q.name, err)
		}
		*q.stmt(st) = stmt
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
