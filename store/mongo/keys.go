package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// ListKeys returns every signing key, by use and then generation.
func (s *Store) ListKeys(ctx context.Context) ([]store.SigningKey, error) {
	opts := options.Find().SetSort(bson.D{{Key: "use", Value: 1}, {Key: "generation", Value: 1}})
	cur, err := s.keys.Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	keys := []store.SigningKey{}
	if err := cur.All(ctx, &keys); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
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
