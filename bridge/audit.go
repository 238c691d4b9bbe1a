package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// Audit event types. Events hold ids, names and reasons, never token
// material.
const (
	AuditLogin             = "login"
	AuditLoginFailed       = "login_failed"
	AuditRefreshReuse      = "refresh_reuse"
	AuditCodeReuse         = "code_reuse"
	AuditLogout            = "logout"
	AuditSessionRevoked    = "session_revoked"
	AuditUserDisabled      = "user_disabled"
	AuditUserEnabled       = "user_enabled"
	AuditUserTokensRevoked = "user_tokens_revoked"
	AuditUserRolesChanged  = "user_roles_changed"
	AuditIdentityLinked    = "identity_linked"
	AuditIdentityUnlinked  = "identity_unlinked"
	AuditIdentityAutoLink  = "identity_auto_linked"
	AuditProviderToken     = "provider_token"
	// AuditUserViewed is an administrator reading a user (AdminUser, or
	// a user among AdminFindUsers' results); AuditAuditRead one reading
	// the audit trail (AuditEvents). Reads of personal data are audited
	// like changes.
	AuditUserViewed = "user_viewed"
	AuditAuditRead  = "audit_read"
)

// auditTimeout bounds an audit write: it happens after the action it
// records, which has succeeded by then, and must not keep the person
// waiting when the database is slow.
const auditTimeout = time.Second

// audit appends an audit event after the action it records. It never
// fails the action: the write has its own short deadline, detached from
// the request (a client that hangs up does not cancel it), and an event
// that cannot be stored is written to the log at error level instead,
// with the same fields, so that only the stored trail (what ListAudit and
// the admin API show) misses it.
func (b *Bridge) audit(ctx context.Context, e store.AuditEvent) {
	e.ID, e.At = randomToken(16), b.o.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := b.o.Store.AppendAudit(wctx, e); err != nil {
		b.o.Logger.ErrorContext(ctx, "audit event not stored", "type", e.Type, "user_id", e.UserID, "session_id", e.SessionID,
			"client_id", e.ClientID, "actor", e.Actor, "ip", e.IP, "detail", e.Detail, "at", e.At, "err", err)
	}
}

// Page sizes of AuditEvents.
const (
	// DefaultAuditPage is the page size when none is asked for.
	DefaultAuditPage = 100
	// MaxAuditPage is the most audit events one call returns.
	MaxAuditPage = 500
)

// AuditQuery selects audit events for an administrator.
type AuditQuery struct {
	// UserID and Type select one user's events, or one type's; empty
	// selects all.
	UserID string
	Type   string
	// Before and BeforeID continue a listing after its last event.
	Before   time.Time
	BeforeID string
	// Limit is the page size (default DefaultAuditPage, at most
	// MaxAuditPage).
	Limit int
	// By is who reads, for the audit trail (its UserID is unused).
	By AdminAction
}

// AuditEvents lists audit events for an administrator, newest first.
func (b *Bridge) AuditEvents(ctx context.Context, q AuditQuery) ([]store.AuditEvent, error) {
	switch {
	case q.Limit == 0:
		q.Limit = DefaultAuditPage
	case q.Limit < 0 || q.Limit > MaxAuditPage:
		return nil, invalidRequest(fmt.Sprintf("limit must be between 1 and %d", MaxAuditPage))
	}
	if q.BeforeID != "" && q.Before.IsZero() {
		return nil, invalidRequest("before_id needs before")
	}
	events, err := b.o.Store.ListAudit(ctx, store.AuditQuery{
		UserID: q.UserID, Type: q.Type, Before: q.Before, BeforeID: q.BeforeID, Limit: q.Limit,
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	if events == nil {
		events = []store.AuditEvent{}
	}
	// The reader's filters go in the detail, not in UserID: reading a
	// user's trail is not an event of that user's.
	detail := map[string]string{"events": fmt.Sprint(len(events))}
	for k, v := range map[string]string{"user_id": q.UserID, "type": q.Type} {
		if v != "" {
			detail[k] = v
		}
	}
	b.audit(ctx, store.AuditEvent{Type: AuditAuditRead, Actor: q.By.actor(), IP: q.By.IP, Detail: detail})
	return events, nil
}
