package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// ListKeys returns every signing key, by use and then generation.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := s.stmt.listKeys.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", mapErr(err))
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var (
			k                          store.SigningKey
			created, signFrom, retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.KID, &k.Use, &k.Algorithm, &k.Generation, &k.PrivateSealed, &created, &signFrom, &retired); err != nil {
			return nil, fmt.Errorf("list signing keys: %w", mapErr(err))
		}
		k.CreatedAt = fromMillis(created)
		k.SignFrom = fromMillis(signFrom)
		k.RetiredAt = fromMillis(retired)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list signing keys: %w", mapErr(err))
	}
	return keys, nil
}

// InsertKey adds a signing key; ErrConflict means its id (use and
// generation) exists: another replica rotated first.
func (s *Store) InsertKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.stmt.insertKey.ExecContext(ctx,
		k.ID, k.KID, k.Use, k.Algorithm, k.Generation, k.PrivateSealed, millis(k.CreatedAt), millis(k.SignFrom), millis(k.RetiredAt))
	if err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, mapErr(err))
	}
	return nil
}

// RetireKey sets the key's retirement time unless it has one; ErrNotFound
// means no key has this id.
func (s *Store) RetireKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("retire signing key %s: zero time", id)
	}
	n, err := execCount(ctx, s.stmt.retireKey, id, at.UnixMilli())
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", id, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("retire signing key %s: %w", id, store.ErrNotFound)
	}
	return nil
}
