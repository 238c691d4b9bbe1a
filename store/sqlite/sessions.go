package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/internal/feed"
)

// CreateFlow stores a new login flow in state pending, or ready when
// f.State says so (a link flow); f is not modified. ErrConflict means the
// id is taken.
func (s *Store) CreateFlow(ctx context.Context, f *store.Session) error {
	claims, err := encodeClaims(f.Claims)
	if err != nil {
		return fmt.Errorf("create login flow: %w", err)
	}
	_, err = s.stmt.createFlow.ExecContext(ctx,
		f.ID, initialState(f.State), millis(f.ExpiresAt), millis(f.CreatedAt), f.ClientID, f.RedirectURI, f.ClientState,
		f.CodeChallenge, f.Nonce, f.Scope, f.Provider, f.UserID, millis(f.AuthTime), claims, f.CodeHash,
		f.Generation, millis(f.RotatedAt), millis(f.IdleExpiresAt), millis(f.RevokedAt), f.RevokeReason, nullInt(f.MaxAge),
		f.LinkUserID, f.LinkSessionID, f.LinkSealed, f.UserAgent, f.IP)
	if err != nil {
		return fmt.Errorf("create login flow: %w", mapErr(err))
	}
	return nil
}

// CreateSession stores a session of a token exchange, active at
// generation 1, in one INSERT. ErrConflict means the id is taken.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := store.ValidNewSession(sess); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	claims, err := encodeClaims(sess.Claims)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	_, err = s.stmt.createSession.ExecContext(ctx,
		sess.ID, sess.UserID, sess.ClientID, sess.Provider, sess.Scope, sess.Nonce, millis(sess.AuthTime),
		claims, millis(sess.CreatedAt), millis(sess.ExpiresAt), millis(sess.IdleExpiresAt), millis(sess.RotatedAt),
		sess.UserAgent, sess.IP)
	if err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// RememberToken records a subject token's hash until expiresAt in one
// upsert that replaces only an expired record; ErrConflict means the hash
// is recorded and unexpired (a replay).
func (s *Store) RememberToken(ctx context.Context, hash string, expiresAt, now time.Time) error {
	if err := store.ValidTokenRecord(hash, expiresAt, now); err != nil {
		return err
	}
	n, err := execCount(ctx, s.stmt.rememberToken, hash, expiresAt.UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("remember token: %w", mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("remember token: %w", store.ErrConflict)
	}
	return nil
}

// initialState is the state CreateFlow stores for a flow whose caller
// asked for state: ready for a link flow, pending for anything else.
func initialState(state string) string {
	if state == store.StateReady {
		return store.StateReady
	}
	return store.StatePending
}

// StartFlow moves a ready, unexpired flow to state pending in one
// UPDATE … RETURNING, and returns it.
func (s *Store) StartFlow(ctx context.Context, id string, now time.Time) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.startFlow, id, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("start flow: %w", mapErr(err))
	}
	return sess, nil
}

// ClaimFlow moves a pending, unexpired flow of provider to state
// exchanging in one UPDATE … RETURNING, and returns it.
func (s *Store) ClaimFlow(ctx context.Context, id, provider string, now time.Time) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.claimFlow, id, provider, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("claim flow: %w", mapErr(err))
	}
	return sess, nil
}

// IssueCode moves an exchanging, unexpired flow of provider that is not a
// link flow to state code and returns it.
func (s *Store) IssueCode(ctx context.Context, id, provider string, now time.Time, c store.CodeIssue) (*store.Session, error) {
	claims, err := encodeClaims(c.Claims)
	if err != nil {
		return nil, fmt.Errorf("issue code: %w", err)
	}
	sess, err := s.transition(ctx, s.stmt.issueCode,
		id, provider, now.UnixMilli(), c.UserID, millis(c.AuthTime), claims, c.CodeHash, millis(c.CodeExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("issue code: %w", mapErr(err))
	}
	return sess, nil
}

// IssueLinkCode moves an exchanging, unexpired link flow of provider to
// state code with its link code and sealed identity, and returns it.
func (s *Store) IssueLinkCode(ctx context.Context, id, provider string, now time.Time, c store.LinkCodeIssue) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.issueLinkCode,
		id, provider, now.UnixMilli(), c.CodeHash, millis(c.CodeExpiresAt), c.Sealed)
	if err != nil {
		return nil, fmt.Errorf("issue link code: %w", mapErr(err))
	}
	return sess, nil
}

// CompleteLink redeems a link code. The compare-and-set is one UPDATE …
// RETURNING, which returns the sealed identity as it was; a second UPDATE
// clears it from the record, in the same transaction, so that no crash
// leaves a linked flow that holds it. (RETURNING gives only the values a
// statement writes, so the one statement cannot both clear the column and
// return what it held.)
func (s *Store) CompleteLink(ctx context.Context, id string, r store.LinkRedemption) (sess *store.Session, err error) {
	fail := func(err error) (*store.Session, error) { return nil, fmt.Errorf("complete link flow: %w", err) }
	if r.CodeHash == "" || r.ClientID == "" || r.CodeChallenge == "" || r.UserID == "" || r.SessionID == "" {
		return fail(store.ErrNotFound)
	}
	// The writer begins IMMEDIATE: nothing comes between the two
	// statements.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fail(mapErr(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var row sessionRow
	err = writeReturning(ctx, tx.StmtContext(ctx, s.stmt.completeLink), row.scan,
		id, r.CodeHash, r.ClientID, r.CodeChallenge, r.UserID, r.SessionID, r.Now.UnixMilli())
	if err != nil {
		return fail(mapErr(err))
	}
	if _, err := tx.StmtContext(ctx, s.stmt.clearLinkSealed).ExecContext(ctx, id); err != nil {
		return fail(fmt.Errorf("clear the sealed identity: %w", mapErr(err)))
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w", mapErr(err)))
	}
	sess, err = row.session()
	if err != nil {
		return fail(fmt.Errorf("completed, but %w", err))
	}
	return sess, nil
}

// FailFlow moves a pending, exchanging or ready, unexpired flow of
// provider to state failed and returns it.
func (s *Store) FailFlow(ctx context.Context, id, provider string, now time.Time) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.failFlow, id, provider, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("fail flow: %w", mapErr(err))
	}
	return sess, nil
}

// RedeemCode activates the session whose code this is, checking code
// hash, client, redirect URI, PKCE challenge and expiry in one update.
func (s *Store) RedeemCode(ctx context.Context, id string, r store.Redemption) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.redeemCode,
		id, r.CodeHash, r.ClientID, r.RedirectURI, r.CodeChallenge, r.Now.UnixMilli(),
		millis(r.IdleExpiresAt), millis(r.ExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("redeem code: %w", mapErr(err))
	}
	return sess, nil
}

// Rotate advances an active, unexpired session from generation gen to
// gen+1 in one prepared UPDATE … RETURNING: the refresh grant's only
// database round trip.
func (s *Store) Rotate(ctx context.Context, id string, gen int64, now, idleExpiresAt time.Time) (*store.Session, error) {
	sess, err := s.transition(ctx, s.stmt.rotate, id, gen, now.UnixMilli(), millis(idleExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("rotate session: %w", mapErr(err))
	}
	return sess, nil
}

// Revoke ends a session that is active or holds an unredeemed code, and
// reports whether this call revoked it.
func (s *Store) Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	n, err := execCount(ctx, s.stmt.revoke, id, millis(now), reason)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", mapErr(err))
	}
	return n == 1, nil
}

// RevokeUserSessions revokes every active or code-holding session of the
// user in one UPDATE, which finds them through the sessions_live_user
// index; being one statement, it revokes exactly the sessions in those
// states when it runs.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, reason string, now time.Time) (int64, error) {
	n, err := execCount(ctx, s.stmt.revokeUser, userID, millis(now), reason)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %s: %w", userID, mapErr(err))
	}
	return n, nil
}

// GetSession returns a flow or session by id, whatever its state and
// expiry.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	sess, err := scanSession(s.stmt.getSession.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("get session: %w", mapErr(err))
	}
	return sess, nil
}

// ListUserSessions returns the user's active sessions unexpired at now,
// most recently rotated first.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	list, err := queryAll(ctx, s.stmt.listUserSessions, func(r rowScanner) (store.Session, error) {
		sess, err := scanSession(r)
		if err != nil {
			return store.Session{}, err
		}
		return *sess, nil
	}, userID, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, mapErr(err))
	}
	return list, nil
}

// SweepExpired deletes flows and sessions whose absolute or idle expiry is
// older than now minus grace, then remembered tokens whose expiry is, in
// batches so that the write lock is held in short turns, and reports how
// many rows it deleted in all.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error) {
	cutoff := now.Add(-grace).UnixMilli()
	n, err := deleteInBatches(ctx, s.stmt.sweep, cutoff)
	if err != nil {
		return n, fmt.Errorf("sweep expired sessions: %w", mapErr(err))
	}
	m, err := deleteInBatches(ctx, s.stmt.sweepTokens, cutoff)
	if err != nil {
		return n + m, fmt.Errorf("sweep expired remembered tokens: %w", mapErr(err))
	}
	return n + m, nil
}

// RevocationsSince reads the revocation feed: revoked sessions and users'
// not-before times at or after since, through the sessions_revoked and
// users_not_before indexes.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error) {
	list, err := feed.Page(ctx, feed.Source{
		From: func(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error) {
			sessions, err := queryAll(ctx, s.stmt.revokedSince, scanRevokedSession, since.UnixMilli(), limit)
			if err != nil {
				return nil, err
			}
			users, err := queryAll(ctx, s.stmt.notBeforeSince, scanNotBefore, since.UnixMilli(), limit)
			return append(sessions, users...), err
		},
		At: func(ctx context.Context, at time.Time) ([]store.Revocation, error) {
			sessions, err := queryAll(ctx, s.stmt.revokedAt, scanRevokedSession, at.UnixMilli())
			if err != nil {
				return nil, err
			}
			users, err := queryAll(ctx, s.stmt.notBeforeAt, scanNotBefore, at.UnixMilli())
			return append(sessions, users...), err
		},
	}, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", mapErr(err))
	}
	return list, nil
}

// scanRevokedSession reads a row of sqlRevokedSince or sqlRevokedAt.
func scanRevokedSession(r rowScanner) (store.Revocation, error) {
	var (
		rev         store.Revocation
		at, expires sql.NullInt64
	)
	if err := r.Scan(&rev.SessionID, &rev.UserID, &at, &expires); err != nil {
		return rev, err
	}
	rev.Kind = store.RevokedSession
	rev.At = fromMillis(at)
	rev.ExpiresAt = fromMillis(expires)
	return rev, nil
}

// scanNotBefore reads a row of sqlNotBeforeSince or sqlNotBeforeAt.
func scanNotBefore(r rowScanner) (store.Revocation, error) {
	var (
		rev store.Revocation
		at  sql.NullInt64
	)
	if err := r.Scan(&rev.UserID, &at); err != nil {
		return rev, err
	}
	rev.Kind = store.RevokedUser
	rev.At = fromMillis(at)
	return rev, nil
}

// transition runs one of the session's conditional UPDATE … RETURNING
// statements and returns the session after it.
func (s *Store) transition(ctx context.Context, stmt *sql.Stmt, args ...any) (*store.Session, error) {
	var row sessionRow
	if err := writeReturning(ctx, stmt, row.scan, args...); err != nil {
		return nil, err
	}
	return row.session()
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// sessionRow holds the columns of sessionColumns as scanned, before the
// claims are decoded: scanning only copies, so that writeReturning can
// step its statement to completion before anything can fail.
type sessionRow struct {
	s                                           store.Session
	expires, created, auth, rotated, idle, revd sql.NullInt64
	maxAge                                      sql.NullInt64
	claims                                      []byte
}

func (row *sessionRow) scan(r rowScanner) error {
	s := &row.s
	return r.Scan(&s.ID, &s.State, &row.expires, &row.created, &s.ClientID, &s.RedirectURI, &s.ClientState,
		&s.CodeChallenge, &s.Nonce, &s.Scope, &s.Provider, &s.UserID, &row.auth, &row.claims, &s.CodeHash, &s.Generation,
		&row.rotated, &row.idle, &row.revd, &s.RevokeReason, &row.maxAge, &s.LinkUserID, &s.LinkSessionID, &s.LinkSealed,
		&s.UserAgent, &s.IP)
}

// session decodes the scanned row.
func (row *sessionRow) session() (*store.Session, error) {
	s := row.s
	s.ExpiresAt = fromMillis(row.expires)
	s.CreatedAt = fromMillis(row.created)
	s.AuthTime = fromMillis(row.auth)
	s.RotatedAt = fromMillis(row.rotated)
	s.IdleExpiresAt = fromMillis(row.idle)
	s.RevokedAt = fromMillis(row.revd)
	if row.maxAge.Valid {
		v := row.maxAge.Int64
		s.MaxAge = &v
	}
	if len(row.claims) > 0 {
		if err := json.Unmarshal(row.claims, &s.Claims); err != nil {
			return nil, fmt.Errorf("decode claims of session %s: %w", s.ID, err)
		}
	}
	return &s, nil
}

// scanSession reads the columns of sessionColumns.
func scanSession(r rowScanner) (*store.Session, error) {
	var row sessionRow
	if err := row.scan(r); err != nil {
		return nil, err
	}
	return row.session()
}

// nullInt is the stored form of an optional integer: NULL when unset.
func nullInt(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// encodeClaims is the stored form of a claims snapshot: JSON text, NULL
// when there are none.
func encodeClaims(c map[string]any) (any, error) {
	if len(c) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode claims: %w", err)
	}
	return string(b), nil
}
