package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Session states. A session begins life as a login flow at /authorize and
// moves forward only, each step a conditional single-document update:
//
//	pending --(provider callback)--> code --(code redeemed)--> active --> revoked
//	pending --(provider error)--> failed
//
// Keeping the flow, the one-time code and the session in one document is
// what lets a sign-in finish in few round trips without transactions: a
// replayed callback or code finds the document already moved on.
const (
	StatePending = "pending"
	StateFailed  = "failed"
	StateCode    = "code"
	StateActive  = "active"
	StateRevoked = "revoked"
)

// Session is a login flow, then a signed-in session of one user at one
// client.
type Session struct {
	ID    string `bson:"_id"`
	State string `bson:"state"`
	// ExpiresAt is when the document's current state ends: the flow
	// deadline, then the code deadline, then the absolute session end.
	ExpiresAt time.Time `bson:"expires_at"`
	CreatedAt time.Time `bson:"created_at"`

	// The client's authorization request.
	ClientID      string `bson:"client_id"`
	RedirectURI   string `bson:"redirect_uri"`
	ClientState   string `bson:"client_state,omitempty"`
	CodeChallenge string `bson:"code_challenge"`
	Nonce         string `bson:"nonce,omitempty"`
	Scope         string `bson:"scope,omitempty"`
	Provider      string `bson:"provider"`

	// Set when the provider has vouched for the user.
	UserID   string    `bson:"user_id,omitempty"`
	AuthTime time.Time `bson:"auth_time,omitempty"`
	// Claims is the snapshot of normalized claims the access token
	// carries, so that a refresh needs no read of the user.
	Claims   map[string]any `bson:"claims,omitempty"`
	CodeHash string         `bson:"code_hash,omitempty"`

	// Set when the code is redeemed.
	Generation    int64     `bson:"generation,omitempty"`
	RotatedAt     time.Time `bson:"rotated_at,omitempty"`
	IdleExpiresAt time.Time `bson:"idle_expires_at,omitempty"`
	RevokedAt     time.Time `bson:"revoked_at,omitempty"`
	RevokeReason  string    `bson:"revoke_reason,omitempty"`
}

// CreateFlow stores a new login flow (state pending).
func (s *Store) CreateFlow(ctx context.Context, f *Session) error {
	f.State = StatePending
	if _, err := s.sessions.InsertOne(ctx, f); err != nil {
		return fmt.Errorf("create login flow: %w", err)
	}
	return nil
}

// CodeIssue is what the provider callback writes to a flow.
type CodeIssue struct {
	UserID        string
	AuthTime      time.Time
	Claims        map[string]any
	CodeHash      string
	CodeExpiresAt time.Time
}

// IssueCode moves a pending, unexpired flow of provider to state code and
// returns it. ErrNotFound means the flow is unknown, expired, for another
// provider or already used: the caller can tell which with GetSession.
func (s *Store) IssueCode(ctx context.Context, id, provider string, now time.Time, c CodeIssue) (*Session, error) {
	filter := bson.M{"_id": id, "state": StatePending, "provider": provider, "expires_at": bson.M{"$gt": now}}
	update := bson.M{"$set": bson.M{
		"state": StateCode, "user_id": c.UserID, "auth_time": c.AuthTime, "claims": c.Claims,
		"code_hash": c.CodeHash, "expires_at": c.CodeExpiresAt,
	}}
	return s.transition(ctx, "issue code", id, filter, update)
}

// FailFlow moves a pending flow of provider to state failed and returns
// it, so that the caller can send the client its error.
func (s *Store) FailFlow(ctx context.Context, id, provider string, now time.Time) (*Session, error) {
	filter := bson.M{"_id": id, "state": StatePending, "provider": provider, "expires_at": bson.M{"$gt": now}}
	return s.transition(ctx, "fail flow", id, filter, bson.M{"$set": bson.M{"state": StateFailed}})
}

// Redemption is a client's attempt to redeem a one-time code.
type Redemption struct {
	CodeHash      string
	ClientID      string
	RedirectURI   string
	CodeChallenge string
	Now           time.Time
	// IdleExpiresAt and ExpiresAt bound the new session.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
}

// RedeemCode activates the session whose code this is, in one conditional
// update that checks the code, client, redirect URI, PKCE challenge and
// expiry together. ErrNotFound means one of them did not hold (or the code
// was already redeemed).
func (s *Store) RedeemCode(ctx context.Context, id string, r Redemption) (*Session, error) {
	filter := bson.M{
		"_id": id, "state": StateCode, "code_hash": r.CodeHash, "client_id": r.ClientID,
		"redirect_uri": r.RedirectURI, "code_challenge": r.CodeChallenge, "expires_at": bson.M{"$gt": r.Now},
	}
	update := bson.M{"$set": bson.M{
		"state": StateActive, "generation": int64(1), "rotated_at": r.Now,
		"idle_expires_at": r.IdleExpiresAt, "expires_at": r.ExpiresAt,
	}}
	return s.transition(ctx, "redeem code", id, filter, update)
}

// Rotate advances an active, unexpired session from generation gen to
// gen+1 in one conditional update, and returns it. ErrNotFound means the
// session is unknown, revoked, expired, or not at gen (a reused or raced
// refresh token).
func (s *Store) Rotate(ctx context.Context, id string, gen int64, now, idleExpiresAt time.Time) (*Session, error) {
	filter := bson.M{
		"_id": id, "state": StateActive, "generation": gen,
		"expires_at": bson.M{"$gt": now}, "idle_expires_at": bson.M{"$gt": now},
	}
	update := bson.M{"$set": bson.M{"generation": gen + 1, "rotated_at": now, "idle_expires_at": idleExpiresAt}}
	return s.transition(ctx, "rotate session", id, filter, update)
}

// Revoke ends a session that is active or holds an unredeemed code. It
// reports whether this call revoked it.
func (s *Store) Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	defer s.locks.lock(collSessions, id)()
	res, err := s.sessions.UpdateOne(ctx,
		bson.M{"_id": id, "state": bson.M{"$in": bson.A{StateActive, StateCode}}},
		bson.M{"$set": bson.M{"state": StateRevoked, "revoked_at": now, "revoke_reason": reason}})
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	return res.ModifiedCount == 1, nil
}

// GetSession returns a session (or flow) by id.
func (s *Store) GetSession(ctx context.Context, id string) (*Session, error) {
	var sess Session
	if err := s.sessions.FindOne(ctx, bson.M{"_id": id}).Decode(&sess); err != nil {
		return nil, fmt.Errorf("get session: %w", notFound(err))
	}
	return &sess, nil
}

// transition runs one conditional findOneAndUpdate and returns the document
// after it.
func (s *Store) transition(ctx context.Context, what, id string, filter, update bson.M) (*Session, error) {
	defer s.locks.lock(collSessions, id)()
	var sess Session
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if err := s.sessions.FindOneAndUpdate(ctx, filter, update, opts).Decode(&sess); err != nil {
		return nil, fmt.Errorf("%s: %w", what, notFound(err))
	}
	return &sess, nil
}
