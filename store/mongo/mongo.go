// Package mongo implements the storage contract of package store on MongoDB
// 5+ (replica sets, Atlas, sharded clusters) through
// go.mongodb.org/mongo-driver/v2.
//
// # Single-document atomicity
//
// Correctness relies on two guarantees only: an update of one document is
// atomic, and _id is unique. Every compare-and-set of the contract (claim a
// login flow, issue a code, redeem it, rotate a session, revoke it) is one
// findOneAndUpdate or updateOne whose filter carries the whole condition
// (state, expiry, generation, client, ...), so of racing callers exactly
// one matches. A sign-in writes its user in two such writes ordered so
// that a crash between them is repaired by the next sign-in: ClaimIdentity
// upserts the identity document (its _id is the identity key, so one
// identity can never belong to two users), then UpsertLogin upserts the
// user document with the profile and the provider's tokens in one update. Concurrent upserts of one _id can
// fail with a duplicate-key error; the loser retries a bounded number of
// times and finds the winner's document.
//
// There are no multi-document transactions and no queries that need a
// consistent view of several documents (UnlinkIdentity's count of a user's
// identities needs only to see each one as it was at some moment during
// the count), and every compare-and-set names its document by _id, so it
// goes to the one shard that owns it: the store runs unchanged on sharded
// clusters. Shard the collections on _id (hashed or ranged): _id is unique
// across the cluster only when it is the shard key. Listing a user's
// sessions or identities, revoking all of a user's sessions and counting
// a user's identities are then queries to every shard, which is correct
// and rare.
//
// # Account linking
//
// FindUsersByLinkEmail needs an index on the link emails of a user's
// links, which live under providers.<name>, a path per provider name that
// no index can name in advance. The user document therefore also keeps
// link_emails, an array of those emails with a multikey index. Every
// update that writes a link adds its email to link_emails in the same
// update ($addToSet), so the array always holds every link's email; but
// one update cannot also $pull the email the link held before (MongoDB
// refuses two operators on one path, and an aggregation-pipeline update,
// which could compute the array, is what the FerretDB stand-in lacks). So
// the array may hold an email no link holds any more for a moment: the
// write that left it (a sign-in that changed the link's email, an unlink)
// removes it with a second update conditional on link_rev, a counter that
// every such write increments, so that it cannot remove an email a newer
// write has just added. FindUsersByLinkEmail's filter also requires a link
// of one of the trusted providers that holds the email, so a stale email
// (one a crash between the two updates left) costs a skipped document,
// never a wrong answer.
//
// A sign-in without a provider refresh token keeps the stored one when the
// stored link has the same subject. No update operator can compare with a
// stored value, so UpsertLogin chooses between two alternative updates by
// their filters (same subject: write the link field by field, leaving the
// refresh token; another subject or none: replace the link whole); exactly
// one of them applies, and it is the whole sign-in (see
// Store.UpsertLogin).
//
// A link flow's sealed identity is taken out of its document by the same
// findOneAndUpdate that completes the flow, which returns the document as
// it was before, so the caller gets it and the finished flow no longer
// holds it.
//
// UnlinkIdentity deletes an identity document and updates the user
// document without a transaction, while a user must never lose its last
// identity: the identity is first marked (unlinking_at, unlink_token), the
// user's unmarked identities are counted, and the marked one is deleted
// only if another remained; see Store.UnlinkIdentity for the argument.
//
// RevokeUserSessions is two updateManys, each session's change atomic but
// neither a snapshot: the first revokes the user's codes, the second its
// active sessions, so that a code redeemed while the first runs (it moves
// out of the state that one reads) is active before the second begins
// and revoked by it. A sign-in that issues its code meanwhile may escape
// (see store.Sessions.RevokeUserSessions: callers also set the user's
// not-before). The revocation feed has no global sequence either: without
// transactions there is no counter to take, so it is ordered by the time
// each replica stamps, and its readers re-read an overlap window (see
// store.Store.RevocationsSince).
//
// # Token exchange
//
// A native app's token exchange creates its session active at once
// (CreateSession, one insert: _id uniqueness refuses a taken id), and
// remembers the hash of the provider token it accepted in remembered_tokens,
// one document {_id: hash, expires_at} per token, so that the token is
// accepted once. RememberToken is one updateOne with upsert whose filter is
// {_id: hash, expires_at: {$lte: now}}: it matches only a record that has
// expired, and then sets its new expiry; with no match it inserts {_id:
// hash, expires_at}. A live record is therefore never matched, and the
// insert of its _id fails with a duplicate-key error, which is the replay
// (store.ErrConflict). Racing calls with one hash have one winner: the
// inserts of a new hash collide on _id, which is unique, so one succeeds and
// the others fail with a duplicate key; the updates of an expired record are
// conditional updates of one document, atomic as every compare-and-set here
// is (the server applies them one at a time and checks the filter against
// the document as the previous one left it), so after the first has moved
// the expiry on the others no longer match, fall back to the insert, and
// collide with the _id. Either way the outcome rests on the two guarantees
// above and nothing else: an atomic single-document update and a unique _id.
// (The server's own retry of an upsert that hit a duplicate key applies only
// to filters of equality conditions on the key; this one has a range on
// expires_at, and a retry would fail the same way anyway.) The filter names
// its document by _id, so the operation goes to one shard.
//
// # Expiry
//
// Two TTL indexes let the server delete sessions an hour
// (store.SweepGrace) after their absolute expiry (expires_at, which flows
// and codes have too) or their idle expiry (idle_expires_at), whichever
// comes first; store.RunSweeper does the same through SweepExpired, with
// an $or of the two, also on servers without TTL indexes. Neither is needed
// for correctness: every conditional update and listing checks expiry
// itself, and the TTL monitor runs only about once a minute anyway.
// Remembered tokens have a TTL index on expires_at too, an hour after
// their expiry likewise, and SweepExpired deletes them as it does sessions.
//
// A single gc_at = min(idle_expires_at, expires_at) field with one TTL
// index would do the same with one index, but Rotate would have to compute
// the minimum with the stored expires_at, in an aggregation-pipeline update
// (which the FerretDB stand-in the tests use does not support) or a read
// before the write; and it would cost the same index write per rotation
// as the idle_expires_at index does.
//
// Audit events are removed by SweepAudit through the index on their time,
// not by TTL: their retention is a setting, which a TTL index would freeze
// into its definition (at is a BSON date, so an operator may still add
// one).
//
// # Indexes
//
// Open creates the indexes every query needs (creating one that exists is
// a no-op), with its own deadline, Options.IndexTimeout (2 minutes by
// default) rather than the 10 s each operation gets: building an index on
// a large existing collection takes a while. If it runs out, Open fails
// naming the index; creating it again at the next Open resumes or waits for
// a build the server kept going, or starts it anew.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/socialbridge/socialbridge/store"
)

var _ store.Store = (*Store)(nil)

// Collection names.
const (
	collUsers      = "users"
	collIdentities = "identities"
	collSessions   = "sessions"
	collKeys       = "signing_keys"
	collAudit      = "audit_events"
	collTokens     = "remembered_tokens"
)

// upsertAttempts bounds the retries of an upsert that lost a race to create
// its document: the retry finds the winner's document and updates it.
const upsertAttempts = 8

// defaultTimeout bounds each operation (client-side operation timeout)
// unless the URI sets timeoutMS.
const defaultTimeout = 10 * time.Second

// DefaultIndexTimeout bounds the creation of the indexes at Open when
// Options.IndexTimeout is 0.
const DefaultIndexTimeout = 2 * time.Minute

// Server error codes.
const (
	// codeNotImplemented is an unsupported feature (FerretDB answers it
	// for TTL indexes).
	codeNotImplemented = 238
	// codeIndexNotFound answers the drop of an index that does not exist.
	codeIndexNotFound = 27
	// codeAuthenticationFailed answers wrong credentials: a configuration
	// error, never an outage.
	codeAuthenticationFailed = 18
)

// unavailableCodes are the server error codes of a replica set without a
// writable primary for now (an election, a step-down, a shutdown) or of a
// server that could not reach another (a mongos and its shards): the
// operation may succeed on a retry a little later.
var unavailableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// unavailableLabels are the error labels with which the server or the
// driver marks an error that a retry may not meet: a retryable write that
// failed (after the driver's own retry), and a transient failure of a
// transaction.
var unavailableLabels = []string{"RetryableWriteError", "TransientTransactionError"}

// Options configures Open.
type Options struct {
	// URI is the mongodb:// or mongodb+srv:// connection string.
	URI string
	// Database is the name of the database that holds socialbridge's
	// collections.
	Database string
	// Logger receives the few things Open has to say (a server that cannot
	// expire documents by itself). Nil discards them.
	Logger *slog.Logger
	// IndexTimeout bounds the creation of the indexes at Open, which on a
	// large existing collection takes longer than an ordinary operation;
	// 0 means DefaultIndexTimeout. A deadline of the context given to Open
	// that comes earlier wins.
	IndexTimeout time.Duration
	// WaitForServer makes Open wait for a server that does not answer yet
	// (one starting alongside socialbridge) rather than fail: it tries
	// again with exponential backoff (RetryMinWait doubling up to
	// RetryMaxWait) until the server answers or the context given to Open
	// ends, and logs each wait. Errors the server answers (authentication
	// refused) are not retried.
	WaitForServer bool
	// Redact removes from the text of a driver error what the URI's
	// credentials may have put there, before Open logs it while waiting
	// for the server. Nil logs no error text.
	Redact func(string) string
}

// The waits between Open's attempts to reach a server that does not answer
// yet (Options.WaitForServer), and how long each attempt waits for it.
const (
	RetryMinWait = 500 * time.Millisecond
	RetryMaxWait = 5 * time.Second
	// pingAttempt bounds one attempt: the driver keeps dialling an
	// unreachable server until the operation's deadline, so without a
	// bound of its own the first attempt would take the whole timeout.
	// The driver goes on connecting in the background between attempts.
	pingAttempt = 2 * time.Second
)

// Store is the MongoDB implementation of store.Store. It is safe for
// concurrent use by many goroutines and by many processes sharing one
// database.
type Store struct {
	client     *mongo.Client
	db         *mongo.Database
	users      *mongo.Collection
	identities *mongo.Collection
	sessions   *mongo.Collection
	keys       *mongo.Collection
	audit      *mongo.Collection
	tokens     *mongo.Collection
	logger     *slog.Logger
}

// Open connects to the database at o.URI, checks that it answers and creates
// the indexes the store's queries need (creating an index that exists is a
// no-op).
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Database == "" {
		return nil, errors.New("open mongodb store: no database name")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	copts := options.Client().ApplyURI(o.URI).SetRegistry(registry())
	if copts.Timeout == nil { // the URI's timeoutMS wins
		copts.SetTimeout(defaultTimeout)
	}
	if copts.AppName == nil { // the URI's appName wins
		copts.SetAppName("socialbridge")
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", mapErr(err))
	}
	if err := ping(ctx, client, o, logger); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	db := client.Database(o.Database)
	s := &Store{
		client:     client,
		db:         db,
		users:      db.Collection(collUsers),
		identities: db.Collection(collIdentities),
		sessions:   db.Collection(collSessions),
		keys:       db.Collection(collKeys),
		audit:      db.Collection(collAudit),
		tokens:     db.Collection(collTokens),
		logger:     logger,
	}
	indexTimeout := o.IndexTimeout
	if indexTimeout <= 0 {
		indexTimeout = DefaultIndexTimeout
	}
	// A deadline on the context replaces the client's per-operation
	// timeout.
	ictx, cancel := context.WithTimeout(ctx, indexTimeout)
	defer cancel()
	if err := s.ensureIndexes(ictx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// ping checks that the server answers, waiting for it as
// Options.WaitForServer says.
func ping(ctx context.Context, client *mongo.Client, o Options, logger *slog.Logger) error {
	if !o.WaitForServer {
		if err := client.Ping(ctx, readpref.Primary()); err != nil {
			return fmt.Errorf("reach mongodb: %w", mapErr(err))
		}
		return nil
	}
	wait := RetryMinWait
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, pingAttempt)
		err := client.Ping(actx, readpref.Primary())
		cancel()
		switch {
		case err == nil:
			if attempt > 1 {
				logger.Info("MongoDB reachable", "attempts", attempt)
			}
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("reach mongodb: gave up waiting for the server after %d attempts (%w): %w", attempt, context.Cause(ctx), mapErr(err))
		case !unavailable(err):
			// The server answered (wrong credentials, say): waiting will
			// not change it.
			return fmt.Errorf("reach mongodb: %w", mapErr(err))
		}
		attrs := []any{"attempt", attempt}
		if o.Redact != nil {
			attrs = append(attrs, "error", o.Redact(err.Error()))
		}
		logger.Warn(fmt.Sprintf("MongoDB not reachable yet; retrying in %s", wait), attrs...)
		select {
		case <-ctx.Done():
			return fmt.Errorf("reach mongodb: gave up waiting for the server after %d attempts (%w): %w", attempt, context.Cause(ctx), mapErr(err))
		case <-time.After(wait):
		}
		wait = min(2*wait, RetryMaxWait)
	}
}

// registry is the driver's default BSON registry, except that values
// decoded into an interface (the claims snapshot of a session) come back in
// the shapes encoding/json produces, as the contract and store/sqlite
// (which keeps claims as JSON text) do: documents as map[string]any rather
// than bson.D, arrays as []any rather than bson.A, and every number as
// float64. Dates, which JSON has not, come back as time.Time.
func registry() *bson.Registry {
	r := bson.NewRegistry()
	r.RegisterTypeMapEntry(bson.TypeEmbeddedDocument, reflect.TypeFor[map[string]any]())
	r.RegisterTypeMapEntry(bson.TypeArray, reflect.TypeFor[[]any]())
	r.RegisterTypeMapEntry(bson.TypeInt32, reflect.TypeFor[float64]())
	r.RegisterTypeMapEntry(bson.TypeInt64, reflect.TypeFor[float64]())
	r.RegisterTypeMapEntry(bson.TypeDateTime, reflect.TypeFor[time.Time]())
	return r
}

// ensureIndexes creates an index for every query the store makes.
func (s *Store) ensureIndexes(ctx context.Context) error {
	// The TTL indexes both expire sessions and serve SweepExpired.
	for _, field := range []string{"expires_at", "idle_expires_at"} {
		if err := s.ensureTTLIndex(ctx, s.sessions, field, store.SweepGrace); err != nil {
			return err
		}
	}
	// Remembered subject tokens go like sessions, SweepGrace after their
	// expiry (RememberToken replaces an expired one anyway).
	if err := s.ensureTTLIndex(ctx, s.tokens, "expires_at", store.SweepGrace); err != nil {
		return err
	}
	// Rate-limit counters go at their expiry (see AddRateCounts).
	if err := s.ensureTTLIndex(ctx, s.rateCountsColl(), "expires_at", 0); err != nil {
		return err
	}
	for _, ix := range []struct {
		coll *mongo.Collection
		name string
		keys bson.D
		opts *options.IndexOptionsBuilder
	}{
		// ListUserSessions and RevokeUserSessions.
		{s.sessions, "user_id_state", bson.D{{Key: "user_id", Value: 1}, {Key: "state", Value: 1}}, options.Index()},
		// The revocation feed, in its order. Sparse: revoked_at is absent
		// (not a zero date) until a session is revoked, so the index holds
		// revoked sessions only.
		{s.sessions, "revoked_at_id", bson.D{{Key: "revoked_at", Value: 1}, {Key: "_id", Value: 1}}, options.Index().SetSparse(true)},
		// The revocation feed's not-before times; sparse likewise.
		{s.users, "not_before_id", bson.D{{Key: "not_before", Value: 1}, {Key: "_id", Value: 1}}, options.Index().SetSparse(true)},
		// FindUsersByLinkEmail, in its order (multikey: one entry per
		// email). Sparse: users without link emails have no link_emails.
		{s.users, "link_emails_id", bson.D{{Key: "link_emails", Value: 1}, {Key: "_id", Value: 1}}, options.Index().SetSparse(true)},
		// FindUsersByEmail, in its order. Sparse: a profile without an
		// email has no profile.email.
		{s.users, "profile_email_id", bson.D{{Key: "profile.email", Value: 1}, {Key: "_id", Value: 1}}, options.Index().SetSparse(true)},
		// DeleteUser's removal of old tombstones. Sparse: only a user
		// being deleted, and a tombstone, have deleted_at.
		{s.users, "deleted_at", bson.D{{Key: "deleted_at", Value: 1}}, options.Index().SetSparse(true)},
		// DeleteUser's deletion of the user's link flows. Sparse: only
		// link flows have link_user_id.
		{s.sessions, "link_user_id", bson.D{{Key: "link_user_id", Value: 1}}, options.Index().SetSparse(true)},
		// ListUserIdentities, and DeleteUser's deletion of them.
		{s.identities, "user_id", bson.D{{Key: "user_id", Value: 1}}, options.Index()},
		// ListKeys.
		{s.keys, "use_generation", bson.D{{Key: "use", Value: 1}, {Key: "generation", Value: 1}}, options.Index()},
		// ListAudit of everyone, and SweepAudit.
		{s.audit, "at_id", bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}, options.Index()},
		// ListAudit of one user.
		{s.audit, "user_id_at_id", bson.D{{Key: "user_id", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}, options.Index()},
		// ListAudit of one type, and of one user's events of one type:
		// the equalities first, then the listing's order.
		{s.audit, "type_at_id", bson.D{{Key: "type", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}, options.Index()},
		{s.audit, "user_id_type_at_id", bson.D{{Key: "user_id", Value: 1}, {Key: "type", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}, options.Index()},
	} {
		model := mongo.IndexModel{Keys: ix.keys, Options: ix.opts.SetName(ix.name)}
		if _, err := ix.coll.Indexes().CreateOne(ctx, model); err != nil {
			return fmt.Errorf("create index %s.%s: %w", ix.coll.Name(), ix.name, mapErr(err))
		}
	}
	// Replaced by revoked_at_id, which also orders the feed's ties.
	if err := s.sessions.Indexes().DropOne(ctx, "revoked_at"); err != nil {
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != codeIndexNotFound {
			return fmt.Errorf("drop the replaced index sessions.revoked_at: %w", mapErr(err))
		}
	}
	return nil
}

// ensureTTLIndex creates a TTL index named <field>_ttl that deletes a
// document of coll once field is older than after. A server without TTL
// support (NotImplemented, e.g. FerretDB 1.x) gets a plain index named
// <field>, and the sweeper does the deleting.
func (s *Store) ensureTTLIndex(ctx context.Context, coll *mongo.Collection, field string, after time.Duration) error {
	ttl := mongo.IndexModel{
		Keys:    bson.D{{Key: field, Value: 1}},
		Options: options.Index().SetName(field + "_ttl").SetExpireAfterSeconds(int32(after / time.Second)),
	}
	_, err := coll.Indexes().CreateOne(ctx, ttl)
	if err == nil {
		return nil
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != codeNotImplemented {
		return fmt.Errorf("create index %s.%s_ttl: %w", coll.Name(), field, mapErr(err))
	}
	s.logger.Warn("the database cannot expire documents by TTL index; they are removed by the sweeper only", "collection", coll.Name(), "field", field)
	plain := mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}, Options: options.Index().SetName(field)}
	if _, err := coll.Indexes().CreateOne(ctx, plain); err != nil {
		return fmt.Errorf("create index %s.%s: %w", coll.Name(), field, mapErr(err))
	}
	return nil
}

// Close disconnects from the database, waiting up to defaultTimeout for
// operations in flight.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from mongodb: %w", mapErr(err))
	}
	return nil
}

// Ping checks, for readiness probes, that the primary answers: the server
// every write goes to is reachable and primary now. An unreachable server,
// or a replica set without a primary, makes it fail with
// store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping mongodb: %w", mapErr(err))
	}
	return nil
}

// DropDatabase deletes the store's whole database. Tests use it to clean
// up; nothing in the application calls it.
func (s *Store) DropDatabase(ctx context.Context) error {
	if err := s.db.Drop(ctx); err != nil {
		return fmt.Errorf("drop database %s: %w", s.db.Name(), mapErr(err))
	}
	return nil
}

// SweepExpired deletes flows and sessions whose absolute or idle expiry is
// older than now minus grace, then remembered tokens whose expiry is, and
// reports how many documents it deleted in all. Each branch of the $or,
// and the tokens' expiry, has its index.
func (s *Store) SweepExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error) {
	cutoff := now.Add(-grace)
	res, err := s.sessions.DeleteMany(ctx, bson.M{"$or": bson.A{
		bson.M{"expires_at": bson.M{"$lt": cutoff}},
		bson.M{"idle_expires_at": bson.M{"$lt": cutoff}},
	}})
	if err != nil {
		return 0, fmt.Errorf("sweep expired sessions: %w", mapErr(err))
	}
	n := res.DeletedCount
	res, err = s.tokens.DeleteMany(ctx, bson.M{"expires_at": bson.M{"$lt": cutoff}})
	if err != nil {
		return n, fmt.Errorf("sweep expired remembered tokens: %w", mapErr(err))
	}
	return n + res.DeletedCount, nil
}

// mapErr turns the driver's "no document" into store.ErrNotFound, a
// duplicate key into store.ErrConflict, and the errors of a server that
// cannot be reached or cannot write for now (see unavailable) into
// store.ErrUnavailable, so that callers can branch on them. Other errors,
// and those mapped already, come back as they are, so that mapping twice
// is harmless.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrUnavailable):
		return err
	case errors.Is(err, mongo.ErrNoDocuments):
		return store.ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	default:
		return err
	}
}

// unavailable reports whether err means the server could not be reached,
// did not answer in time or cannot write for now, rather than that it
// refused the operation: network errors, timeouts, no server selectable,
// a disconnected client, the server errors of an election or a shutdown
// (unavailableCodes) and the labels of a transient failure
// (unavailableLabels). A failed authentication is a configuration error
// and never counts, even when it shows as a server that cannot be selected
// (the driver marks a server whose handshake failed unknown).
func unavailable(err error) bool {
	if authFailure(err) {
		return false
	}
	var sse topology.ServerSelectionError
	if errors.As(err, &sse) {
		for _, srv := range sse.Desc.Servers {
			if srv.LastError != nil && authFailure(srv.LastError) {
				return false
			}
		}
		return true
	}
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, code := range unavailableCodes {
			if se.HasErrorCode(code) {
				return true
			}
		}
		for _, label := range unavailableLabels {
			if se.HasErrorLabel(label) {
				return true
			}
		}
	}
	return false
}

// authFailure reports whether err is the server's refusal of the
// credentials, as the driver's operations return it (a mongo.ServerError)
// or as it keeps it in a server's description (a driver.Error).
func authFailure(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(codeAuthenticationFailed) {
		return true
	}
	var de driver.Error
	return errors.As(err, &de) && de.Code == codeAuthenticationFailed
}
