package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var _ store.RateCounts = (*Store)(nil)

// The statements of the shared rate limit. They are prepared in the
// transaction that runs them (once per call, for every key of the call)
// rather than at Open with the others: the call is one per replica per
// second at most, so a prepare per call costs nothing measurable.
const (
	// ?1 key, ?2 window start, ?3 count to add, ?4 expiry. An existing
	// counter gets the addition and keeps the later expiry.
	sqlAddRateCount = `INSERT INTO rate_counts (key, window, count, expires) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (key, window) DO UPDATE SET count = count + excluded.count, expires = max(expires, excluded.expires)
		RETURNING count`
	// ?1 now, ?2 batch size; through rate_counts_expires.
	sqlSweepRateCounts = `DELETE FROM rate_counts WHERE (key, window) IN
		(SELECT key, window FROM rate_counts WHERE expires < ?1 LIMIT ?2)`
)

// AddRateCounts adds the counts in one transaction on the writer, one
// upsert per key (see store.RateCounts).
func (s *Store) AddRateCounts(ctx context.Context, window time.Time, counts map[string]int64, expires time.Time) (totals map[string]int64, err error) {
	if err := store.ValidRateCounts(window, counts, expires); err != nil {
		return nil, fmt.Errorf("add rate counts: %w", err)
	}
	if len(counts) == 0 {
		return nil, nil
	}
	fail := func(err error) error { return fmt.Errorf("add rate counts: %w", mapErr(err)) }
	// The writer begins IMMEDIATE.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fail(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, sqlAddRateCount)
	if err != nil {
		return nil, fail(err)
	}
	defer stmt.Close()
	totals = make(map[string]int64, len(counts))
	w, exp := window.UnixMilli(), expires.UnixMilli()
	for key, n := range counts {
		var total int64
		if err := writeReturning(ctx, stmt, func(r rowScanner) error { return r.Scan(&total) }, key, w, n, exp); err != nil {
			return nil, fail(err)
		}
		totals[key] = total
	}
	if err := tx.Commit(); err != nil {
		return nil, fail(err)
	}
	return totals, nil
}

// SweepRateCounts deletes expired counters in batches (see
// store.RateCounts).
func (s *Store) SweepRateCounts(ctx context.Context, now time.Time) (int64, error) {
	stmt, err := s.write.PrepareContext(ctx, sqlSweepRateCounts)
	if err != nil {
		return 0, fmt.Errorf("sweep rate counts: %w", mapErr(err))
	}
	defer stmt.Close()
	n, err := deleteInBatches(ctx, stmt, now.UnixMilli())
	if err != nil {
		return n, fmt.Errorf("sweep rate counts: %w", mapErr(err))
	}
	return n, nil
}
