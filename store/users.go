package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/claims"
)

// Identity maps an identity key (provider|subject) to the user it belongs
// to. Its _id is the identity key, so uniqueness is guaranteed by the
// database: one identity can never belong to two users.
type Identity struct {
	Key       string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	Provider  string    `bson:"provider"`
	Subject   string    `bson:"subject"`
	CreatedAt time.Time `bson:"created_at"`
}

// User is one person. The profile and the provider tokens of a sign-in are
// written together in one update, so they always come from the same login.
type User struct {
	ID       string         `bson:"_id"`
	Profile  claims.Profile `bson:"profile"`
	Roles    []string       `bson:"roles,omitempty"`
	Disabled bool           `bson:"disabled,omitempty"`
	// Identities lists the identity keys that point here (informational;
	// the identities collection is authoritative).
	Identities []string `bson:"identities,omitempty"`
	// Providers holds, per provider name, what that provider last gave us.
	Providers   map[string]ProviderLink `bson:"providers,omitempty"`
	CreatedAt   time.Time               `bson:"created_at"`
	UpdatedAt   time.Time               `bson:"updated_at"`
	LastLoginAt time.Time               `bson:"last_login_at"`
}

// ProviderLink is a provider's view of a user: its subject and tokens,
// sealed (encrypted) by the caller before they reach the store.
type ProviderLink struct {
	Subject            string         `bson:"subject"`
	Profile            claims.Profile `bson:"profile"`
	AccessTokenSealed  string         `bson:"access_token,omitempty"`
	RefreshTokenSealed string         `bson:"refresh_token,omitempty"`
	IDTokenSealed      string         `bson:"id_token,omitempty"`
	Expiry             time.Time      `bson:"expiry,omitempty"`
	UpdatedAt          time.Time      `bson:"updated_at"`
}

// ClaimIdentity returns the user an identity belongs to, first creating the
// identity with newUserID when it does not exist yet. created reports
// whether this call created it. Concurrent first logins of one identity all
// get the same user id.
//
// This is step one of a sign-in: the identity exists before its user, so a
// crash after it leaves an identity whose user the next sign-in creates
// (UpsertLogin upserts by id).
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (userID string, created bool, err error) {
	update := bson.M{"$setOnInsert": bson.M{
		"user_id": newUserID, "provider": provider, "subject": subject, "created_at": now,
	}}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	defer s.locks.lock(collIdentities, key)()
	for range upsertAttempts {
		var id Identity
		err = s.identities.FindOneAndUpdate(ctx, bson.M{"_id": key}, update, opts).Decode(&id)
		if mongo.IsDuplicateKeyError(err) {
			continue // lost the race to create it; the retry finds the winner's
		}
		if err != nil {
			return "", false, fmt.Errorf("claim identity: %w", err)
		}
		return id.UserID, id.UserID == newUserID, nil
	}
	return "", false, fmt.Errorf("claim identity: gave up after %d duplicate-key retries: %w", upsertAttempts, err)
}

// Login is what one sign-in writes to its user.
type Login struct {
	IdentityKey string
	Provider    string
	Link        ProviderLink
	// Profile is the normalized profile to keep on the user.
	Profile claims.Profile
	Now     time.Time
}

// UpsertLogin writes a sign-in to user id in one atomic update, creating the
// user if needed (for a new identity, or one left behind by a crash), and
// returns the user as it is after the update.
func (s *Store) UpsertLogin(ctx context.Context, userID string, l Login) (*User, error) {
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
	defer s.locks.lock(collUsers, userID)()
	for range upsertAttempts {
		var u User
		err = s.users.FindOneAndUpdate(ctx, bson.M{"_id": userID}, update, opts).Decode(&u)
		if mongo.IsDuplicateKeyError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("upsert user: %w", err)
		}
		return &u, nil
	}
	return nil, fmt.Errorf("upsert user: gave up after %d duplicate-key retries: %w", upsertAttempts, err)
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*User, error) {
	var u User
	if err := s.users.FindOne(ctx, bson.M{"_id": id}).Decode(&u); err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, notFound(err))
	}
	return &u, nil
}

// GetIdentity returns an identity by key.
func (s *Store) GetIdentity(ctx context.Context, key string) (*Identity, error) {
	var id Identity
	if err := s.identities.FindOne(ctx, bson.M{"_id": key}).Decode(&id); err != nil {
		return nil, fmt.Errorf("get identity: %w", notFound(err))
	}
	return &id, nil
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	n, err := s.users.CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetDisabled disables or re-enables a user. A disabled user cannot sign in.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	defer s.locks.lock(collUsers, id)()
	res, err := s.users.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"disabled": disabled}})
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, ErrNotFound)
	}
	return nil
}
