package sqlite

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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

// WALTruncateAbove is walTruncateAbove, for tests.
const WALTruncateAbove = walTruncateAbove

// CheckpointIfLarge runs the periodic checkpoint once.
func (s *Store) CheckpointIfLarge(ctx context.Context) error { return s.checkpointIfLarge(ctx) }

// IsCheckpointBusy reports whether err says readers kept a checkpoint from
// truncating the WAL.
func IsCheckpointBusy(err error) bool { return errors.Is(err, errCheckpointBusy) }

// QueryPlans returns the EXPLAIN QUERY PLAN lines of every statement the
// store prepares, by name.
func (s *Store) QueryPlans(ctx context.Context) (map[string][]string, error) {
	plans := map[string][]string{}
	for _, q := range queries {
		// NULL parameters are enough to plan.
		args := make([]any, numParams(q.sql))
		rows, err := s.write.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, args...)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", q.name, err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return nil, fmt.Errorf("explain %s: %w", q.name, err)
			}
			plans[q.name] = append(plans[q.name], strings.TrimSpace(detail))
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("explain %s: %w", q.name, err)
		}
		if _, ok := plans[q.name]; !ok {
			plans[q.name] = nil // a plain INSERT has no plan lines
		}
	}
	return plans, nil
}

// numParams is the highest ?N in query.
func numParams(query string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\?(\d+)`).FindAllStringSubmatch(query, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
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
			?4, ?3, ?5, '', 1, ?3, ?6, NULL, '', NULL, '', '', '', '', '')`)
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
