package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// ClaimIdentity returns the user an identity belongs to, first creating the
// identity with newUserID when it does not exist yet; created reports
// whether this call created it. Concurrent first logins of one identity all
// get the same user id.
//
// The identity's _id is its key, so of concurrent first logins exactly one
// upsert inserts; the others match the inserted document or fail with a
// duplicate key and retry. The update only sets fields on insert and
// returns the document as it was before, so "no document before" is
// exactly "this call created it".
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (userID string, created bool, err error) {
	update := bson.M{"$setOnInsert": bson.M{
		"user_id": newUserID, "provider": provider, "subject": subject, "created_at": now,
	}}
	if err := store.ValidProviderName(provider); err != nil {
		return "", false, fmt.Errorf("claim identity: %w", err)
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)
	for range upsertAttempts {
		var id store.Identity
		err = s.identities.FindOneAndUpdate(ctx, bson.M{"_id": key}, update, opts).Decode(&id)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return newUserID, true, nil
		case mongo.IsDuplicateKeyError(err):
			continue // lost the race to insert it; the retry finds the winner's
		case err != nil:
			return "", false, fmt.Errorf("claim identity: %w", err)
		}
		return id.UserID, false, nil
	}
	return "", false, fmt.Errorf("claim identity: gave up after %d duplicate-key retries: %w", upsertAttempts, err)
}

// UpsertLogin writes one sign-in to user userID in one atomic update
// (profile, the provider's link with its sealed tokens, the identity key and
// the timestamps together), creating the user if needed, and returns the
// user as it is after the write.
func (s *Store) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	// The provider name becomes part of a field path: a '.' or a '$'
	// would reach elsewhere, and ValidProviderName allows neither.
	if err := store.ValidProviderName(l.Provider); err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, err)
	}
	update := bson.M{
		"$set": bson.M{
			"profile":                 l.Profile,
			"providers." + l.Provider: l.Link,
			"updated_at":              l.Now,
			"last_login_at":           l.Now,
		},
		"$setOnInsert": bson.M{"created_at": l.Now},
		"$addToSet":    bson.M{"identities": l.IdentityKey},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var err error
	for range upsertAttempts {
		var u store.User
		err = s.users.FindOneAndUpdate(ctx, bson.M{"_id": userID}, update, opts).Decode(&u)
		if mongo.IsDuplicateKeyError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("upsert user %s: %w", userID, err)
		}
		return &u, nil
	}
	return nil, fmt.Errorf("upsert user %s: gave up after %d duplicate-key retries: %w", userID, upsertAttempts, err)
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	var u store.User
	if err := s.users.FindOne(ctx, bson.M{"_id": id}).Decode(&u); err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapErr(err))
	}
	return &u, nil
}

// GetIdentity returns an identity by key.
func (s *Store) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	var id store.Identity
	if err := s.identities.FindOne(ctx, bson.M{"_id": key}).Decode(&id); err != nil {
		return nil, fmt.Errorf("get identity: %w", mapErr(err))
	}
	return &id, nil
}

// ListUserIdentities returns the identities linked to a user, oldest first
// (ties broken by key).
func (s *Store) ListUserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}})
	cur, err := s.identities.Find(ctx, bson.M{"user_id": userID}, opts)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %s: %w", userID, err)
	}
	list := []store.Identity{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("read identities of user %s: %w", userID, err)
	}
	return list, nil
}

// CountUsers returns how many users exist. It counts documents rather than
// reading the collection's metadata, which can be off on sharded clusters.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	n, err := s.users.CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetDisabled disables or re-enables a user. store.ErrNotFound means there
// is no such user.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := s.users.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"disabled": disabled}})
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetUserNotBefore raises the user's not-before time to t with $max, which
// never lowers it. store.ErrNotFound means there is no such user.
func (s *Store) SetUserNotBefore(ctx context.Context, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("set not-before of user %s: zero time", id)
	}
	res, err := s.users.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$max": bson.M{"not_before": t}})
	if err != nil {
		return fmt.Errorf("set not-before of user %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set not-before of user %s: %w", id, store.ErrNotFound)
	}
	return nil
}
