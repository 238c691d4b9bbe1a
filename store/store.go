// Package store persists socialbridge's users, identities, sessions (which
// begin life as login flows and carry the one-time code), and signing keys in
// MongoDB, or in the embedded FerretDB database in dev mode and tests.
//
// Correctness relies only on what MongoDB 5+, Atlas and FerretDB all
// guarantee: single-document atomic updates and _id uniqueness. There are no
// multi-document transactions; every multi-step operation is ordered so that
// a crash between two steps leaves a state the next attempt repairs.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// ErrNotFound means no document matched: it does not exist, or a condition
// of a conditional update (state, expiry, generation) did not hold.
var ErrNotFound = errors.New("not found")

// Collection names.
const (
	collUsers      = "users"
	collIdentities = "identities"
	collSessions   = "sessions"
	collKeys       = "signing_keys"
)

// upsertAttempts bounds retries of an upsert that lost a race: concurrent
// upserts of one _id can fail with a duplicate-key error on MongoDB and
// FerretDB alike, and the retry then finds the winner's document.
const upsertAttempts = 8

// Store is the database. It is safe for concurrent use.
type Store struct {
	client     *mongo.Client
	users      *mongo.Collection
	identities *mongo.Collection
	sessions   *mongo.Collection
	keys       *mongo.Collection
	// locks serializes per-document writes on the embedded database; nil
	// on MongoDB, whose single-document updates are atomic by themselves.
	locks *docLocks
}

// Options configures Open.
type Options struct {
	// URI is the mongodb:// address.
	URI string
	// Database is the database name.
	Database string
	// Embedded says URI is this process's embedded database, whose writes
	// the store must serialize itself (see docLocks).
	Embedded bool
}

// Open connects to the database at uri, checks it answers, and creates the
// indexes socialbridge needs.
func Open(ctx context.Context, o Options) (*Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(o.URI).SetTimeout(10 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("reach database: %w", err)
	}
	db := client.Database(o.Database)
	s := &Store{
		client:     client,
		users:      db.Collection(collUsers),
		identities: db.Collection(collIdentities),
		sessions:   db.Collection(collSessions),
		keys:       db.Collection(collKeys),
	}
	if o.Embedded {
		s.locks = newDocLocks()
		// No expiry index here: the embedded database cannot expire
		// documents by it, and maintaining it costs about 15% of every
		// session update (measured); the sweeper scans instead, which is
		// fine at dev-mode sizes.
		return s, nil
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error {
	return s.client.Disconnect(ctx)
}

// Ping checks the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	return s.client.Ping(ctx, readpref.Primary())
}

// ensureIndexes creates, on MongoDB, the TTL index that removes sessions an
// hour after they expire (the sweeper also uses it). A server without TTL
// support (NotImplemented) gets a plain index.
func (s *Store) ensureIndexes(ctx context.Context) error {
	ttl := mongo.IndexModel{
		Keys:    bson.D{{Key: "expires_at", Value: 1}},
		Options: options.Index().SetName("expires_at_ttl").SetExpireAfterSeconds(3600),
	}
	if _, err := s.sessions.Indexes().CreateOne(ctx, ttl); err != nil {
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 238 { // 238: NotImplemented
			return fmt.Errorf("create sessions expiry index: %w", err)
		}
		plain := mongo.IndexModel{Keys: bson.D{{Key: "expires_at", Value: 1}}, Options: options.Index().SetName("expires_at")}
		if _, err := s.sessions.Indexes().CreateOne(ctx, plain); err != nil {
			return fmt.Errorf("create sessions expiry index: %w", err)
		}
	}
	return nil
}

// IsDuplicate reports whether err is a duplicate-key error.
func (s *Store) IsDuplicate(err error) bool { return mongo.IsDuplicateKeyError(err) }

// SweepExpired deletes sessions and login flows that expired before
// now minus grace, and reports how many. Reads check expiry themselves; this
// only reclaims space.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error) {
	res, err := s.sessions.DeleteMany(ctx, bson.M{"expires_at": bson.M{"$lt": now.Add(-grace)}})
	if err != nil {
		return 0, fmt.Errorf("sweep expired sessions: %w", err)
	}
	return res.DeletedCount, nil
}

// notFound maps the driver's "no document" to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return ErrNotFound
	}
	return err
}

// DropDatabase deletes the whole database; tests use it to clean up.
func (s *Store) DropDatabase(ctx context.Context) error {
	return s.users.Database().Drop(ctx)
}
