package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// AppendAudit stores an audit event; ErrConflict means its ID exists.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	if err := store.ValidAuditEvent(e); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	var detail any // NULL when empty
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("append audit event %s: encode detail: %w", e.ID, err)
		}
		detail = string(b)
	}
	_, err := s.stmt.appendAudit.ExecContext(ctx,
		e.ID, e.At.UnixMilli(), e.Type, e.UserID, e.SessionID, e.ClientID, e.Actor, e.IP, detail)
	if err != nil {
		return fmt.Errorf("append audit event %s: %w", e.ID, mapErr(err))
	}
	return nil
}

// ListAudit returns the events q selects, newest first, each selection
// through its own statement and index: audit_events_at for everyone's
// events, audit_events_user for one user's, audit_events_type for one
// type's and audit_events_user_type for one user's of one type.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("list audit events: limit is %d, want at least 1", q.Limit)
	}
	// (at, id) < (before, beforeID); an empty id sorts before every other,
	// so it means "strictly before this time".
	before, beforeID := int64(math.MaxInt64), ""
	if !q.Before.IsZero() {
		before, beforeID = q.Before.UnixMilli(), q.BeforeID
	}
	var (
		list []store.AuditEvent
		err  error
	)
	switch {
	case q.UserID == "" && q.Type == "":
		list, err = queryAll(ctx, s.stmt.listAudit, scanAudit, before, beforeID, q.Limit)
	case q.Type == "":
		list, err = queryAll(ctx, s.stmt.listUserAudit, scanAudit, q.UserID, before, beforeID, q.Limit)
	case q.UserID == "":
		list, err = queryAll(ctx, s.stmt.listTypeAudit, scanAudit, q.Type, before, beforeID, q.Limit)
	default:
		list, err = queryAll(ctx, s.stmt.listUserTypeAudit, scanAudit, q.UserID, q.Type, before, beforeID, q.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapErr(err))
	}
	return list, nil
}

// SweepAudit deletes the audit events older than before, in batches.
func (s *Store) SweepAudit(ctx context.Context, before time.Time) (int64, error) {
	n, err := deleteInBatches(ctx, s.stmt.sweepAudit, before.UnixMilli())
	if err != nil {
		return n, fmt.Errorf("sweep audit events: %w", mapErr(err))
	}
	return n, nil
}

// scanAudit reads the columns of auditColumns.
func scanAudit(r rowScanner) (store.AuditEvent, error) {
	var (
		e      store.AuditEvent
		at     sql.NullInt64
		detail []byte
	)
	if err := r.Scan(&e.ID, &at, &e.Type, &e.UserID, &e.SessionID, &e.ClientID, &e.Actor, &e.IP, &detail); err != nil {
		return e, err
	}
	e.At = fromMillis(at)
	if len(detail) > 0 {
		if err := json.Unmarshal(detail, &e.Detail); err != nil {
			return e, fmt.Errorf("decode detail of audit event %s: %w", e.ID, err)
		}
	}
	return e, nil
}
