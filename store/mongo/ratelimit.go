package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

var _ store.RateCounts = (*Store)(nil)

// collRateCounts holds the counters of the shared rate limit: one document
// {_id: "<key>|<window start, unix ms>", count, expires_at} per key and
// window, expired by a TTL index on expires_at (created by ensureIndexes).
const collRateCounts = "rate_counts"

// duplicateKey is the server's code for a duplicate key.
const duplicateKey = 11000

// rateCount is a counter document as AddRateCounts reads it back.
type rateCount struct {
	ID    string `bson:"_id"`
	Count int64  `bson:"count"`
}

// rateCountID is the _id of key's counter in the window starting at
// window (unix ms). It is unique even for a key that holds a '|': the
// window is always the part after the last one.
func rateCountID(key string, window int64) string {
	return key + "|" + strconv.FormatInt(window, 10)
}

// rateCountsColl is the collection of the counters.
func (s *Store) rateCountsColl() *mongo.Collection { return s.db.Collection(collRateCounts) }

// AddRateCounts adds the counts with one unordered BulkWrite of $inc
// upserts, one per key, then reads the totals back with one find on their
// _ids: two round trips whatever the number of keys. A $inc is atomic on
// its document, so concurrent callers lose no increment. The totals read
// may include additions other replicas made between the two round trips,
// which is as current as the caller can get (see store.RateCounts).
//
// An upsert that lost the race to insert a new counter fails with a
// duplicate key without having added anything (MongoDB 4.2+ retries such
// an upsert itself; older servers and stand-ins do not): those operations,
// and only those, are sent again, at most upsertAttempts times.
func (s *Store) AddRateCounts(ctx context.Context, window time.Time, counts map[string]int64, expires time.Time) (map[string]int64, error) {
	if err := store.ValidRateCounts(window, counts, expires); err != nil {
		return nil, fmt.Errorf("add rate counts: %w", err)
	}
	if len(counts) == 0 {
		return nil, nil
	}
	coll := s.rateCountsColl()
	w := window.UnixMilli()
	exp := time.UnixMilli(expires.UnixMilli()).UTC()
	ids := make([]string, 0, len(counts))
	keyOf := make(map[string]string, len(counts))
	models := make([]mongo.WriteModel, 0, len(counts))
	for key, n := range counts {
		id := rateCountID(key, w)
		ids = append(ids, id)
		keyOf[id] = key
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: id}}).
			SetUpdate(bson.D{
				{Key: "$inc", Value: bson.D{{Key: "count", Value: n}}},
				{Key: "$max", Value: bson.D{{Key: "expires_at", Value: exp}}},
			}).
			SetUpsert(true))
	}
	for attempt := 1; len(models) > 0; attempt++ {
		_, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err == nil {
			break
		}
		retry := duplicateKeyRetries(err, models)
		if retry == nil || attempt == upsertAttempts {
			return nil, fmt.Errorf("add rate counts: %w", mapErr(err))
		}
		models = retry
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "count", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("add rate counts: read the totals: %w", mapErr(err))
	}
	var docs []rateCount
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("add rate counts: read the totals: %w", mapErr(err))
	}
	totals := make(map[string]int64, len(docs))
	for _, d := range docs {
		if key, ok := keyOf[d.ID]; ok {
			totals[key] = d.Count
		}
	}
	// A counter deleted between the two round trips (a sweep or the TTL
	// monitor, for an expiry already past) reads as what this call added.
	for key, n := range counts {
		if _, ok := totals[key]; !ok {
			totals[key] = n
		}
	}
	return totals, nil
}

// duplicateKeyRetries returns the operations of models that failed with a
// duplicate key, when err is a bulk write error made of those only (an
// unordered bulk write applies every other operation); nil otherwise.
func duplicateKeyRetries(err error, models []mongo.WriteModel) []mongo.WriteModel {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil
	}
	retry := make([]mongo.WriteModel, 0, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if we.Code != duplicateKey || we.Index < 0 || we.Index >= len(models) {
			return nil
		}
		retry = append(retry, models[we.Index])
	}
	return retry
}

// SweepRateCounts deletes the counters whose expiry is before now, through
// the expiry index (see store.RateCounts); the TTL index does the same on
// servers that support it.
func (s *Store) SweepRateCounts(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.rateCountsColl().DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: now}}}})
	if err != nil {
		return 0, fmt.Errorf("sweep rate counts: %w", mapErr(err))
	}
	return res.DeletedCount, nil
}
