package mongo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// FindUsersByEmail returns the ids of the users whose profile email is
// email lower-cased, sorted, at most limit, through the profile_email_id
// index. Profile emails are stored lower-cased (claims.Map lower-cases
// them), so an equality on the stored value is the case-insensitive
// comparison without a collation, which not every server supports.
func (s *Store) FindUsersByEmail(ctx context.Context, email string, limit int) ([]string, error) {
	if limit < 1 || limit > store.MaxUsersByEmail {
		return nil, fmt.Errorf("find users by email: limit %d is not between 1 and %d", limit, store.MaxUsersByEmail)
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, nil
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).
		SetProjection(bson.M{"_id": 1})
	cur, err := s.users.Find(ctx, bson.D{{Key: "profile.email", Value: email}, notDeleted}, opts)
	if err != nil {
		return nil, fmt.Errorf("find users by email: %w", mapErr(err))
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find users by email: %w", mapErr(err))
	}
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// DeleteUser erases the user in single-document and per-collection steps,
// ordered so that a crash between two leaves nothing that signs in as a
// half-deleted user (see store.Users):
//
//  1. mark the user disabled and deleted (deleted_at): from then on it
//     reads as no user, a code redeemed is refused, and UpsertLogin
//     refuses the id;
//  2. revoke the user's sessions (codes first, as RevokeUserSessions);
//  3. scrub the claims, user agent and IP of every session of the user;
//  4. delete the user's link flows;
//  5. delete the identity records: a sign-in of one of them from then on
//     claims it anew and creates a new user;
//  6. delete the user's audit events;
//  7. replace the user document, with its links, sealed tokens and link
//     emails (the link_emails index entries go with it), by its
//     tombstone: the id, deleted_at and erased.
//
// Then, as housekeeping that does not fail the deletion, it deletes the
// tombstones older than store.TombstoneTTL.
//
// Every step is idempotent; a crash before step 7 leaves a user marked
// deleted that a repeated call finishes (only an erased tombstone is no
// user to delete).
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	fail := func(err error) error { return fmt.Errorf("delete user %s: %w", id, mapErr(err)) }
	res, err := s.users.UpdateOne(ctx, bson.M{"_id": id, "erased": bson.M{"$exists": false}},
		bson.M{"$set": bson.M{"disabled": true}, "$min": bson.M{"deleted_at": now}})
	if err != nil {
		return fail(fmt.Errorf("mark the user: %w", err))
	}
	if res.MatchedCount == 0 {
		return fail(store.ErrNotFound)
	}
	if _, err := s.RevokeUserSessions(ctx, id, store.ReasonUserDeleted, now); err != nil {
		return fail(err)
	}
	if _, err := s.sessions.UpdateMany(ctx, bson.M{"user_id": id},
		bson.M{"$unset": bson.M{"claims": "", "user_agent": "", "ip": ""}}); err != nil {
		return fail(fmt.Errorf("scrub sessions: %w", err))
	}
	if _, err := s.sessions.DeleteMany(ctx, bson.M{"link_user_id": id}); err != nil {
		return fail(fmt.Errorf("delete link flows: %w", err))
	}
	if _, err := s.identities.DeleteMany(ctx, bson.M{"user_id": id}); err != nil {
		return fail(fmt.Errorf("delete identities: %w", err))
	}
	// Administrators' actions on the user stay ($nin matches events
	// without an actor too).
	if _, err := s.audit.DeleteMany(ctx, bson.M{"user_id": id,
		"actor": bson.M{"$nin": bson.A{store.ActorAdmin, store.ActorCLI}}}); err != nil {
		return fail(fmt.Errorf("delete audit events: %w", err))
	}
	if _, err := s.users.ReplaceOne(ctx, bson.M{"_id": id, "erased": bson.M{"$exists": false}},
		bson.M{"deleted_at": now, "erased": true}); err != nil {
		return fail(fmt.Errorf("replace the user document by its tombstone: %w", err))
	}
	// Housekeeping, not part of this deletion, which is done: a failure
	// is logged, and the next deletion removes them.
	if _, err := s.users.DeleteMany(ctx, bson.M{"erased": true, "deleted_at": bson.M{"$lt": now.Add(-store.TombstoneTTL)}}); err != nil {
		s.logger.WarnContext(ctx, "could not delete old tombstones of deleted users; the next deletion will", "err", err)
	}
	return nil
}
