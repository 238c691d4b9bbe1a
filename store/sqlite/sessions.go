package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// CreateFlow stores a new login flow in state pending. f.State is set to
// pending; ErrConflict means the id is taken.
func (s *Store) CreateFlow(ctx context.Context, f *store.Session) error {
	claims, err := encodeClaims(f.Claims)
	if err != nil {
		return fmt.Errorf("create login flow: %w", err)
	}
	f.State = store.StatePending
	_, err = s.stmt.createFlow.ExecContext(ctx,
		f.ID, millis(f.ExpiresAt), millis(f.CreatedAt), f.ClientID, f.RedirectURI, f.ClientState,
		f.CodeChallenge, f.Nonce, f.Scope, f.Provider, f.UserID, millis(f.AuthTime), claims, f.CodeHash,
		f.Generation, millis(f.RotatedAt), millis(f.IdleExpiresAt), millis(f.RevokedAt), f.RevokeReason)
	if err != nil {
		return fmt.Errorf("create login flow: %w", mapErr(err))
	}
	return nil
}

// IssueCode moves a pending, unexpired flow of provider to state code and
// returns it.
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

// FailFlow moves a pending, unexpired flow of provider to state failed
// and returns it.
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
	res, err := s.stmt.revoke.ExecContext(ctx, id, millis(now), reason)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return n == 1, nil
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
	rows, err := s.stmt.listUserSessions.QueryContext(ctx, userID, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, err)
	}
	defer rows.Close()
	var list []store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions of user %s: %w", userID, err)
		}
		list = append(list, *sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, err)
	}
	return list, nil
}

// SweepExpired deletes flows and sessions that expired before now minus
// grace, in batches so that the write lock is held in short turns.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error) {
	cutoff := now.Add(-grace).UnixMilli()
	var total int64
	for {
		res, err := s.stmt.sweep.ExecContext(ctx, cutoff, sweepBatch)
		if err != nil {
			return total, fmt.Errorf("sweep expired sessions: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sweep expired sessions: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
}

// transition runs one of the session's conditional UPDATE … RETURNING
// statements and returns the session after it.
func (s *Store) transition(ctx context.Context, stmt *sql.Stmt, args ...any) (*store.Session, error) {
	var sess *store.Session
	err := writeReturning(ctx, stmt, func(r rowScanner) error {
		var err error
		sess, err = scanSession(r)
		return err
	}, args...)
	return sess, err
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanSession reads the columns of sessionColumns.
func scanSession(r rowScanner) (*store.Session, error) {
	var (
		s                                           store.Session
		expires, created, auth, rotated, idle, revd sql.NullInt64
		claims                                      []byte
	)
	err := r.Scan(&s.ID, &s.State, &expires, &created, &s.ClientID, &s.RedirectURI, &s.ClientState,
		&s.CodeChallenge, &s.Nonce, &s.Scope, &s.Provider, &s.UserID, &auth, &claims, &s.CodeHash, &s.Generation,
		&rotated, &idle, &revd, &s.RevokeReason)
	if err != nil {
		return nil, err
	}
	s.ExpiresAt = fromMillis(expires)
	s.CreatedAt = fromMillis(created)
	s.AuthTime = fromMillis(auth)
	s.RotatedAt = fromMillis(rotated)
	s.IdleExpiresAt = fromMillis(idle)
	s.RevokedAt = fromMillis(revd)
	if len(claims) > 0 {
		if err := json.Unmarshal(claims, &s.Claims); err != nil {
			return nil, fmt.Errorf("decode claims of session: %w", err)
		}
	}
	return &s, nil
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
