package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Pragma returns the value of PRAGMA name on the writer connection.
func (s *Store) Pragma(ctx context.Context, name string) (string, error) {
	var v string
	if err := s.write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
		return "", fmt.Errorf("read PRAGMA %s: %w", name, err)
	}
	return v, nil
}

// sqlRevokedSince is the query the revocation feed will run: sessions
// revoked after a cursor.
const sqlRevokedSince = `SELECT id, user_id, revoked_at FROM sessions
	WHERE revoked_at > ?1 ORDER BY revoked_at LIMIT 1000`

// QueryPlans returns the EXPLAIN QUERY PLAN lines of the queries that run
// on every request or on large tables, by name.
func (s *Store) QueryPlans(ctx context.Context) (map[string][]string, error) {
	queries := map[string]string{
		"create flow":          sqlCreateFlow,
		"issue code":           sqlIssueCode,
		"fail flow":            sqlFailFlow,
		"redeem code":          sqlRedeemCode,
		"rotate":               sqlRotate,
		"revoke":               sqlRevoke,
		"get session":          sqlGetSession,
		"list user sessions":   sqlListUserSessions,
		"sweep":                sqlSweep,
		"claim identity":       sqlClaimIdentity,
		"identity user":        sqlIdentityUser,
		"upsert login":         sqlUpsertLogin,
		"get user":             sqlGetUser,
		"set disabled":         sqlSetDisabled,
		"get identity":         sqlGetIdentity,
		"list user identities": sqlListIdentities,
		"revoked since":        sqlRevokedSince,
	}
	plans := map[string][]string{}
	for name, q := range queries {
		// NULL parameters are enough to plan.
		args := make([]any, strings.Count(q, "?"))
		rows, err := s.write.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", name, err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return nil, fmt.Errorf("explain %s: %w", name, err)
			}
			plans[name] = append(plans[name], strings.TrimSpace(detail))
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("explain %s: %w", name, err)
		}
	}
	return plans, nil
}

// SeedSessions stores n active sessions of n/10 users in one transaction,
// with ids prefix0…prefix(n-1), each at generation 1, created and rotated
// at now, idle until now+1h and absolute until now+24h.
func (s *Store) SeedSessions(ctx context.Context, prefix string, n int, now time.Time) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?1, 'active', ?2, ?3, 'spa', 'https://app.example/cb', '', 'c', '', 'openid email', 'google',
			?4, ?3, ?5, '', 1, ?3, ?6, NULL, '')`)
	if err != nil {
		return err
	}
	claims, err := encodeClaims(map[string]any{"email": "a@example.com", "email_verified": true, "roles": []any{"reader"}})
	if err != nil {
		return err
	}
	for i := range n {
		_, err := stmt.ExecContext(ctx, fmt.Sprintf("%s%d", prefix, i), now.Add(24*time.Hour).UnixMilli(), now.UnixMilli(),
			fmt.Sprintf("user-%d", i/10), claims, now.Add(time.Hour).UnixMilli())
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}
