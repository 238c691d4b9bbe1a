package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/internal/feed"
)

// CreateFlow stores a new login flow in state pending, or ready when
// f.State says so (a link flow); f is not modified. store.ErrConflict
// means the id is taken.
func (s *Store) CreateFlow(ctx context.Context, f *store.Session) error {
	doc := *f // a copy: the caller's State stays as it was
	if doc.State != store.StateReady {
		doc.State = store.StatePending
	}
	if _, err := s.sessions.InsertOne(ctx, &doc); err != nil {
		return fmt.Errorf("create login flow: %w", mapErr(err))
	}
	return nil
}

// CreateSession stores a session of a token exchange, active at
// generation 1, in one insert of a document that holds only the fields
// the contract keeps. store.ErrConflict means the id is taken.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := store.ValidNewSession(sess); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	doc := store.Session{
		ID: sess.ID, State: store.StateActive, Generation: 1,
		UserID: sess.UserID, ClientID: sess.ClientID, Provider: sess.Provider, Scope: sess.Scope, Nonce: sess.Nonce,
		AuthTime: sess.AuthTime, Claims: sess.Claims, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt,
		IdleExpiresAt: sess.IdleExpiresAt, RotatedAt: sess.RotatedAt, UserAgent: sess.UserAgent, IP: sess.IP,
	}
	if _, err := s.sessions.InsertOne(ctx, &doc); err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// RememberToken records a subject token's hash until expiresAt: one
// updateOne with upsert that matches only an expired record of the hash
// and otherwise inserts one, so that a live record makes the insert fail
// on _id, which is the replay (store.ErrConflict). See the package
// documentation for why racing calls have one winner.
func (s *Store) RememberToken(ctx context.Context, hash string, expiresAt, now time.Time) error {
	if err := store.ValidTokenRecord(hash, expiresAt, now); err != nil {
		return err
	}
	filter := bson.D{{Key: "_id", Value: hash}, {Key: "expires_at", Value: bson.M{"$lte": now}}}
	update := bson.M{"$set": bson.M{"expires_at": expiresAt}}
	if _, err := s.tokens.UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true)); err != nil {
		return fmt.Errorf("remember token: %w", mapErr(err))
	}
	return nil
}

// StartFlow moves a ready, unexpired flow to state pending in one
// findOneAndUpdate, and returns it. store.ErrNotFound means the flow is
// unknown, expired or not ready.
func (s *Store) StartFlow(ctx context.Context, id string, now time.Time) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateReady}, {Key: "expires_at", Value: bson.M{"$gt": now}},
	}
	return s.transition(ctx, "start login flow", filter, bson.M{"$set": bson.M{"state": store.StatePending}})
}

// ClaimFlow moves a pending, unexpired flow of provider to state
// exchanging in one findOneAndUpdate, and returns it. store.ErrNotFound
// means the flow is unknown, expired, for another provider or no longer
// pending.
func (s *Store) ClaimFlow(ctx context.Context, id, provider string, now time.Time) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StatePending}, {Key: "provider", Value: provider},
		{Key: "expires_at", Value: bson.M{"$gt": now}},
	}
	return s.transition(ctx, "claim login flow", filter, bson.M{"$set": bson.M{"state": store.StateExchanging}})
}

// notLinkFlow is the condition that a session is not a link flow:
// link_user_id is absent from every other flow (it is omitted when
// empty). Link flows are never sessions, not even in state code, where
// they hold their link code.
var notLinkFlow = bson.E{Key: "link_user_id", Value: bson.M{"$exists": false}}

// isLinkFlow is the condition that a session is a link flow.
var isLinkFlow = bson.E{Key: "link_user_id", Value: bson.M{"$exists": true, "$ne": ""}}

// IssueCode moves an exchanging, unexpired flow of provider to state code
// and returns it. store.ErrNotFound means the flow is unknown, expired, for
// another provider, not exchanging or a link flow.
func (s *Store) IssueCode(ctx context.Context, id, provider string, now time.Time, c store.CodeIssue) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateExchanging}, {Key: "provider", Value: provider},
		{Key: "expires_at", Value: bson.M{"$gt": now}}, notLinkFlow,
	}
	update := bson.M{"$set": bson.M{
		"state": store.StateCode, "user_id": c.UserID, "auth_time": c.AuthTime, "claims": c.Claims,
		"code_hash": c.CodeHash, "expires_at": c.CodeExpiresAt,
	}}
	return s.transition(ctx, "issue code", filter, update)
}

// IssueLinkCode moves an exchanging, unexpired link flow of provider to
// state code with its link code and sealed identity, and returns it.
// store.ErrNotFound means the flow is unknown, expired, for another
// provider, not exchanging or not a link flow.
func (s *Store) IssueLinkCode(ctx context.Context, id, provider string, now time.Time, c store.LinkCodeIssue) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateExchanging}, {Key: "provider", Value: provider},
		{Key: "expires_at", Value: bson.M{"$gt": now}}, isLinkFlow,
	}
	update := bson.M{"$set": bson.M{
		"state": store.StateCode, "code_hash": c.CodeHash, "expires_at": c.CodeExpiresAt, "link_sealed": c.Sealed,
	}}
	return s.transition(ctx, "issue link code", filter, update)
}

// CompleteLink redeems a link code in one findOneAndUpdate whose filter
// is the whole condition: it moves the flow to state linked and takes
// link_sealed out of it, and returns the document as it was before, which
// still holds link_sealed, with the state the update wrote.
// store.ErrNotFound means the flow is unknown, expired, not a link flow,
// holds no code, or a value of r did not match.
func (s *Store) CompleteLink(ctx context.Context, id string, r store.LinkRedemption) (*store.Session, error) {
	if r.CodeHash == "" || r.ClientID == "" || r.CodeChallenge == "" || r.UserID == "" || r.SessionID == "" {
		return nil, fmt.Errorf("complete link flow: %w", store.ErrNotFound)
	}
	// link_user_id equal to a non-empty r.UserID is what makes it a link
	// flow (a filter must not name a field twice).
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateCode},
		{Key: "code_hash", Value: r.CodeHash}, {Key: "client_id", Value: r.ClientID},
		{Key: "code_challenge", Value: r.CodeChallenge}, {Key: "link_user_id", Value: r.UserID},
		{Key: "link_session_id", Value: r.SessionID}, {Key: "expires_at", Value: bson.M{"$gt": r.Now}},
	}
	update := bson.M{"$set": bson.M{"state": store.StateLinked}, "$unset": bson.M{"link_sealed": ""}}
	var sess store.Session
	opts := options.FindOneAndUpdate().SetReturnDocument(options.Before)
	if err := s.sessions.FindOneAndUpdate(ctx, filter, update, opts).Decode(&sess); err != nil {
		return nil, fmt.Errorf("complete link flow: %w", mapErr(err))
	}
	sess.State = store.StateLinked
	return &sess, nil
}

// FailFlow moves a pending, exchanging or ready, unexpired flow of
// provider to state failed and returns it. store.ErrNotFound means the flow
// is unknown, expired, for another provider or already finished.
func (s *Store) FailFlow(ctx context.Context, id, provider string, now time.Time) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "state", Value: bson.M{"$in": bson.A{store.StatePending, store.StateExchanging, store.StateReady}}},
		{Key: "provider", Value: provider},
		{Key: "expires_at", Value: bson.M{"$gt": now}},
	}
	return s.transition(ctx, "fail login flow", filter, bson.M{"$set": bson.M{"state": store.StateFailed}})
}

// RedeemCode activates the session whose code this is, in one conditional
// update that checks code hash, client, redirect URI, PKCE challenge and
// expiry together; the session starts at generation 1. store.ErrNotFound
// means one of them did not hold or the code was redeemed.
func (s *Store) RedeemCode(ctx context.Context, id string, r store.Redemption) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateCode}, {Key: "code_hash", Value: r.CodeHash},
		{Key: "client_id", Value: r.ClientID}, {Key: "redirect_uri", Value: r.RedirectURI},
		{Key: "code_challenge", Value: r.CodeChallenge}, {Key: "expires_at", Value: bson.M{"$gt": r.Now}}, notLinkFlow,
	}
	update := bson.M{"$set": bson.M{
		"state": store.StateActive, "generation": int64(1), "rotated_at": r.Now,
		"idle_expires_at": r.IdleExpiresAt, "expires_at": r.ExpiresAt,
	}}
	return s.transition(ctx, "redeem code", filter, update)
}

// Rotate advances an active session that is unexpired (absolute and idle)
// from generation gen to gen+1, and returns it. store.ErrNotFound means the
// session is unknown, not active, expired, or not at gen (a reused or raced
// refresh token).
func (s *Store) Rotate(ctx context.Context, id string, gen int64, now, idleExpiresAt time.Time) (*store.Session, error) {
	filter := bson.D{
		{Key: "_id", Value: id}, {Key: "state", Value: store.StateActive}, {Key: "generation", Value: gen},
		{Key: "expires_at", Value: bson.M{"$gt": now}}, {Key: "idle_expires_at", Value: bson.M{"$gt": now}},
	}
	update := bson.M{"$set": bson.M{"generation": gen + 1, "rotated_at": now, "idle_expires_at": idleExpiresAt}}
	return s.transition(ctx, "rotate session", filter, update)
}

// Revoke ends a session that is active or holds an unredeemed code,
// recording when and why. It reports whether this call revoked it.
func (s *Store) Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	res, err := s.sessions.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "state", Value: bson.M{"$in": bson.A{store.StateActive, store.StateCode}}}, notLinkFlow},
		bson.M{"$set": bson.M{"state": store.StateRevoked, "revoked_at": now, "revoke_reason": reason}})
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", mapErr(err))
	}
	return res.ModifiedCount == 1, nil
}

// RevokeUserSessions revokes every active or code-holding session of the
// user through the user_id_state index, and reports how many it revoked.
// It is two updateManys, the codes' first and the active sessions'
// second: each document's update is atomic, but an updateMany is no
// snapshot, and a code redeemed while one that reads both states runs
// moves from the part of the index it has yet to read to the part it has
// read, and escapes. In this order a code redeemed while the first runs
// is active, for good, before the second begins, which revokes it (see
// store.Sessions.RevokeUserSessions).
func (s *Store) RevokeUserSessions(ctx context.Context, userID, reason string, now time.Time) (int64, error) {
	var n int64
	for _, state := range []string{store.StateCode, store.StateActive} {
		res, err := s.sessions.UpdateMany(ctx,
			bson.D{{Key: "user_id", Value: userID}, {Key: "state", Value: state}, notLinkFlow},
			bson.M{"$set": bson.M{"state": store.StateRevoked, "revoked_at": now, "revoke_reason": reason}})
		if err != nil {
			return n, fmt.Errorf("revoke %s sessions of user %s: %w", state, userID, mapErr(err))
		}
		n += res.ModifiedCount
	}
	return n, nil
}

// RevocationsSince reads the revocation feed: revoked sessions and users'
// not-before times at or after since, through the revoked_at_id and
// not_before_id indexes.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error) {
	sessionsOpts := func(limit int) *options.FindOptionsBuilder {
		o := options.Find().SetProjection(bson.M{"user_id": 1, "revoked_at": 1, "expires_at": 1}).
			SetSort(bson.D{{Key: "revoked_at", Value: 1}, {Key: "_id", Value: 1}})
		if limit > 0 {
			o.SetLimit(int64(limit))
		}
		return o
	}
	usersOpts := func(limit int) *options.FindOptionsBuilder {
		o := options.Find().SetProjection(bson.M{"not_before": 1}).
			SetSort(bson.D{{Key: "not_before", Value: 1}, {Key: "_id", Value: 1}})
		if limit > 0 {
			o.SetLimit(int64(limit))
		}
		return o
	}
	read := func(ctx context.Context, at any, limit int) ([]store.Revocation, error) {
		var sessions []struct {
			ID        string    `bson:"_id"`
			UserID    string    `bson:"user_id"`
			RevokedAt time.Time `bson:"revoked_at"`
			ExpiresAt time.Time `bson:"expires_at"`
		}
		cur, err := s.sessions.Find(ctx, bson.D{{Key: "revoked_at", Value: at}, notLinkFlow}, sessionsOpts(limit))
		if err != nil {
			return nil, err
		}
		if err := cur.All(ctx, &sessions); err != nil {
			return nil, err
		}
		var users []struct {
			ID        string    `bson:"_id"`
			NotBefore time.Time `bson:"not_before"`
		}
		cur, err = s.users.Find(ctx, bson.M{"not_before": at}, usersOpts(limit))
		if err != nil {
			return nil, err
		}
		if err := cur.All(ctx, &users); err != nil {
			return nil, err
		}
		list := make([]store.Revocation, 0, len(sessions)+len(users))
		for _, d := range sessions {
			list = append(list, store.Revocation{Kind: store.RevokedSession, SessionID: d.ID, UserID: d.UserID, At: d.RevokedAt, ExpiresAt: d.ExpiresAt})
		}
		for _, d := range users {
			list = append(list, store.Revocation{Kind: store.RevokedUser, UserID: d.ID, At: d.NotBefore})
		}
		return list, nil
	}
	list, err := feed.Page(ctx, feed.Source{
		From: func(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error) {
			return read(ctx, bson.M{"$gte": since}, limit)
		},
		At: func(ctx context.Context, at time.Time) ([]store.Revocation, error) {
			return read(ctx, at, 0)
		},
	}, since, limit)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", mapErr(err))
	}
	return list, nil
}

// GetSession returns a flow or session by id whatever its state and expiry.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	var sess store.Session
	if err := s.sessions.FindOne(ctx, bson.M{"_id": id}).Decode(&sess); err != nil {
		return nil, fmt.Errorf("get session: %w", mapErr(err))
	}
	return &sess, nil
}

// ListUserSessions returns the user's active sessions that have not expired
// at now (absolute or idle), most recently rotated first.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	filter := bson.D{
		{Key: "user_id", Value: userID}, {Key: "state", Value: store.StateActive},
		{Key: "expires_at", Value: bson.M{"$gt": now}}, {Key: "idle_expires_at", Value: bson.M{"$gt": now}}, notLinkFlow,
	}
	opts := options.Find().SetSort(bson.D{{Key: "rotated_at", Value: -1}, {Key: "_id", Value: 1}})
	cur, err := s.sessions.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", userID, mapErr(err))
	}
	list := []store.Session{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("read sessions of user %s: %w", userID, mapErr(err))
	}
	return list, nil
}

// transition runs one conditional findOneAndUpdate of a session and returns
// the document as it is after the update.
func (s *Store) transition(ctx context.Context, what string, filter bson.D, update bson.M) (*store.Session, error) {
	var sess store.Session
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if err := s.sessions.FindOneAndUpdate(ctx, filter, update, opts).Decode(&sess); err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return &sess, nil
}
