package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// ListKeys returns every signing key, by use and then generation.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	opts := options.Find().SetSort(bson.D{{Key: "use", Value: 1}, {Key: "generation", Value: 1}})
	cur, err := s.keys.Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", mapErr(err))
	}
	keys := []store.SigningKey{}
	if err := cur.All(ctx, &keys); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", mapErr(err))
	}
	return keys, nil
}

// InsertKey adds a signing key. store.ErrConflict means a key with this id
// (use and generation) exists: another replica rotated first.
func (s *Store) InsertKey(ctx context.Context, k store.SigningKey) error {
	if _, err := s.keys.InsertOne(ctx, k); err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, mapErr(err))
	}
	return nil
}

// RetireKey sets the key's retirement time unless it has one, in one
// conditional update: retired_at is absent until a key is retired, so the
// condition holds only the first time. When nothing matched, the key is
// either retired already (the first time stays) or unknown
// (store.ErrNotFound); a read tells which.
func (s *Store) RetireKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("retire signing key %s: zero time", id)
	}
	res, err := s.keys.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "retired_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "retired_at", Value: at}}}})
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", id, mapErr(err))
	}
	if res.MatchedCount > 0 {
		return nil
	}
	err = s.keys.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if err != nil {
		return fmt.Errorf("retire signing key %s: %w", id, mapErr(err)) // store.ErrNotFound when there is none
	}
	return nil // retired already
}
