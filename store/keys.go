package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// SigningKey is a persisted signing key. Its _id is use and generation, so
// that two replicas rotating at once cannot both add a generation.
type SigningKey struct {
	ID            string    `bson:"_id"`
	KID           string    `bson:"kid"`
	Use           string    `bson:"use"`
	Algorithm     string    `bson:"alg"`
	Generation    int       `bson:"generation"`
	PrivateSealed string    `bson:"private_sealed"`
	CreatedAt     time.Time `bson:"created_at"`
	SignFrom      time.Time `bson:"sign_from"`
}

// ListKeys returns every signing key, oldest generation first.
func (s *Store) ListKeys(ctx context.Context) ([]SigningKey, error) {
	cur, err := s.keys.Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "use", Value: 1}, {Key: "generation", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	var keys []SigningKey
	if err := cur.All(ctx, &keys); err != nil {
		return nil, fmt.Errorf("read signing keys: %w", err)
	}
	return keys, nil
}

// InsertKey adds a signing key; a duplicate-key error (see IsDuplicate)
// means another replica added this generation first.
func (s *Store) InsertKey(ctx context.Context, k SigningKey) error {
	if _, err := s.keys.InsertOne(ctx, k); err != nil {
		return fmt.Errorf("insert signing key %s: %w", k.ID, err)
	}
	return nil
}
