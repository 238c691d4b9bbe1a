package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// Store times the hot operations of the store it embeds (those of a
// sign-in, a refresh, a logout and the revocation feed); every other
// operation passes through untimed.
type Store struct {
	store.Store
	m *Metrics
}

// WrapStore returns s with its hot operations timed in
// socialbridge_store_operation_duration_seconds.
func (m *Metrics) WrapStore(s store.Store) *Store { return &Store{Store: s, m: m} }

// observe records one operation that started at start.
func (s *Store) observe(op string, start time.Time, err error) {
	s.m.storeOps.WithLabelValues(op, storeResult(err)).Observe(time.Since(start).Seconds())
}

// storeResult names the outcomes callers branch on; anything else is an
// error.
func storeResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	}
	return "error"
}

// CreateFlow implements store.Store.
func (s *Store) CreateFlow(ctx context.Context, f *store.Session) error {
	start := time.Now()
	err := s.Store.CreateFlow(ctx, f)
	s.observe("CreateFlow", start, err)
	return err
}

// ClaimFlow implements store.Store.
func (s *Store) ClaimFlow(ctx context.Context, id, provider string, now time.Time) (*store.Session, error) {
	start := time.Now()
	sess, err := s.Store.ClaimFlow(ctx, id, provider, now)
	s.observe("ClaimFlow", start, err)
	return sess, err
}

// IssueCode implements store.Store.
func (s *Store) IssueCode(ctx context.Context, id, provider string, now time.Time, c store.CodeIssue) (*store.Session, error) {
	start := time.Now()
	sess, err := s.Store.IssueCode(ctx, id, provider, now, c)
	s.observe("IssueCode", start, err)
	return sess, err
}

// RedeemCode implements store.Store.
func (s *Store) RedeemCode(ctx context.Context, id string, r store.Redemption) (*store.Session, error) {
	start := time.Now()
	sess, err := s.Store.RedeemCode(ctx, id, r)
	s.observe("RedeemCode", start, err)
	return sess, err
}

// Rotate implements store.Store.
func (s *Store) Rotate(ctx context.Context, id string, gen int64, now, idleExpiresAt time.Time) (*store.Session, error) {
	start := time.Now()
	sess, err := s.Store.Rotate(ctx, id, gen, now, idleExpiresAt)
	s.observe("Rotate", start, err)
	return sess, err
}

// Revoke implements store.Store.
func (s *Store) Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error) {
	start := time.Now()
	ok, err := s.Store.Revoke(ctx, id, reason, now)
	s.observe("Revoke", start, err)
	return ok, err
}

// RevokeUserSessions implements store.Store.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, reason string, now time.Time) (int64, error) {
	start := time.Now()
	n, err := s.Store.RevokeUserSessions(ctx, userID, reason, now)
	s.observe("RevokeUserSessions", start, err)
	return n, err
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	start := time.Now()
	err := s.Store.CreateSession(ctx, sess)
	s.observe("CreateSession", start, err)
	return err
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	start := time.Now()
	sess, err := s.Store.GetSession(ctx, id)
	s.observe("GetSession", start, err)
	return sess, err
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	start := time.Now()
	list, err := s.Store.ListUserSessions(ctx, userID, now)
	s.observe("ListUserSessions", start, err)
	return list, err
}

// ClaimIdentity implements store.Store.
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (string, bool, error) {
	start := time.Now()
	userID, created, err := s.Store.ClaimIdentity(ctx, key, provider, subject, newUserID, now)
	s.observe("ClaimIdentity", start, err)
	return userID, created, err
}

// UpsertLogin implements store.Store.
func (s *Store) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	start := time.Now()
	u, err := s.Store.UpsertLogin(ctx, userID, l)
	s.observe("UpsertLogin", start, err)
	return u, err
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	start := time.Now()
	u, err := s.Store.GetUser(ctx, id)
	s.observe("GetUser", start, err)
	return u, err
}

// RevocationsSince implements store.Store.
func (s *Store) RevocationsSince(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error) {
	start := time.Now()
	list, err := s.Store.RevocationsSince(ctx, since, limit)
	s.observe("RevocationsSince", start, err)
	return list, err
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) error {
	start := time.Now()
	err := s.Store.AppendAudit(ctx, e)
	s.observe("AppendAudit", start, err)
	return err
}
