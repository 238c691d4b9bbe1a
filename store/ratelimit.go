package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxRateCountKeys bounds how many keys one RateCounts.AddRateCounts call
// may carry, so that one call stays one short write.
const MaxRateCountKeys = 10_000

// RateCounts keeps the request counters of a rate limit shared by every
// replica on the database: per key (a client IP) and fixed window, the
// number of requests the replicas allowed. Each replica adds what it
// allowed since its last call in one batched call and gets back the totals
// of all replicas, so the cost is one call per replica per flush, whatever
// the request rate.
//
// The counters only protect capacity: they are never read by anything
// that decides who a user is, and losing them (a database restored from a
// backup, a sweep) lets a client start its window afresh, no more.
type RateCounts interface {
	// AddRateCounts adds counts[key] to the counter of each key in the
	// window that starts at window, creating a counter that does not exist
	// yet, and returns the total of each of those keys after its addition:
	// the requests every caller added to that key and window so far. Each
	// key's addition is atomic: concurrent calls, from this process or
	// others, lose no increment. The calls of one key are not ordered with
	// those of other keys; a total may include additions of other callers
	// made after this one's.
	//
	// expires is when the counter may go (SweepRateCounts, or the
	// database's own expiry); a counter keeps the latest expiry it was
	// given. A count of 0 adds nothing and reads the total. An empty
	// counts is a no-op that returns no totals (and does not reach the
	// database). counts, window and expires must pass ValidRateCounts.
	AddRateCounts(ctx context.Context, window time.Time, counts map[string]int64, expires time.Time) (totals map[string]int64, err error)
	// SweepRateCounts deletes the counters whose expiry is before now and
	// reports how many it deleted. Reads never need it (a window is named
	// by its start, so an old counter is never added to by a caller in a
	// later window); it only reclaims space, and MongoDB also expires the
	// counters by itself with a TTL index.
	SweepRateCounts(ctx context.Context, now time.Time) (int64, error)
}

// ValidRateCounts reports whether RateCounts.AddRateCounts can add counts
// to window with expiry expires: window is set, expires is after it to the
// millisecond (times are stored so), at most MaxRateCountKeys keys, none
// empty, and no count negative.
func ValidRateCounts(window time.Time, counts map[string]int64, expires time.Time) error {
	switch {
	case window.IsZero():
		return errors.New("rate counts: no window")
	case expires.UnixMilli() <= window.UnixMilli():
		return fmt.Errorf("rate counts: expiry %s is not after the window's start %s",
			expires.UTC().Format(time.RFC3339Nano), window.UTC().Format(time.RFC3339Nano))
	case len(counts) > MaxRateCountKeys:
		return fmt.Errorf("rate counts: %d keys in one call, want at most %d", len(counts), MaxRateCountKeys)
	}
	for k, n := range counts {
		switch {
		case k == "":
			return errors.New("rate counts: empty key")
		case n < 0:
			return fmt.Errorf("rate counts: negative count %d for %q", n, k)
		}
	}
	return nil
}
