package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// AppendAudit stores an audit event, its ID as _id. store.ErrConflict
// means the ID exists.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if err := store.ValidAuditEvent(e); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if _, err := s.audit.InsertOne(ctx, e); err != nil {
		return fmt.Errorf("append audit event %s: %w", e.ID, mapErr(err))
	}
	return nil
}

// ListAudit returns the events q selects, newest first, each selection
// through the index that leads with its equalities and then holds the
// order (at, _id): at_id for everyone's events, user_id_at_id for one
// user's, type_at_id for one type's and user_id_type_at_id for one user's
// of one type.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("list audit events: limit is %d, want at least 1", q.Limit)
	}
	filter := bson.D{}
	if q.UserID != "" {
		filter = append(filter, bson.E{Key: "user_id", Value: q.UserID})
	}
	if q.Type != "" {
		filter = append(filter, bson.E{Key: "type", Value: q.Type})
	}
	switch {
	case q.Before.IsZero():
	case q.BeforeID == "":
		filter = append(filter, bson.E{Key: "at", Value: bson.M{"$lt": q.Before}})
	default:
		// After (Before, BeforeID) in the order (at desc, _id desc). The
		// bound on at alone is implied by the $or; it is there so that the
		// index scan starts at Before whatever the planner makes of the
		// $or (which it may only filter by), rather than at the newest
		// event.
		filter = append(filter,
			bson.E{Key: "at", Value: bson.M{"$lte": q.Before}},
			bson.E{Key: "$or", Value: bson.A{
				bson.M{"at": bson.M{"$lt": q.Before}},
				bson.M{"at": q.Before, "_id": bson.M{"$lt": q.BeforeID}},
			}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(q.Limit))
	cur, err := s.audit.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapErr(err))
	}
	list := []store.AuditEvent{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("read audit events: %w", mapErr(err))
	}
	return list, nil
}

// SweepAudit deletes the audit events older than before.
func (s *Store) SweepAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.audit.DeleteMany(ctx, bson.M{"at": bson.M{"$lt": before}})
	if err != nil {
		return 0, fmt.Errorf("sweep audit events: %w", mapErr(err))
	}
	return res.DeletedCount, nil
}
