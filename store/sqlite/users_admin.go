package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// FindUsersByEmail returns the ids of the users whose lower-cased profile
// email is email lower-cased, sorted, at most limit, through the index
// users_profile_email.
func (s *Store) FindUsersByEmail(ctx context.Context, email string, limit int) ([]string, error) {
	if limit < 1 || limit > store.MaxUsersByEmail {
		return nil, fmt.Errorf("find users by email: limit %d is not between 1 and %d", limit, store.MaxUsersByEmail)
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, nil
	}
	ids, err := queryAll(ctx, s.stmt.usersByEmail, func(r rowScanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}, email, limit)
	if err != nil {
		return nil, fmt.Errorf("find users by email: %w", mapErr(err))
	}
	return ids, nil
}

// DeleteUser erases the user in one transaction (see store.Users): the
// sessions are revoked and scrubbed, the link flows, identities, audit
// events, link emails and the user record deleted, and the id left in
// deleted_users (tombstones older than store.TombstoneTTL are removed).
// Being one transaction, a crash leaves all of it or none.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) (err error) {
	fail := func(err error) error { return fmt.Errorf("delete user %s: %w", id, mapErr(err)) }
	// The writer begins IMMEDIATE: no sign-in writes between the steps.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.StmtContext(ctx, s.stmt.userExists).QueryRowContext(ctx, id).Scan(&n); err != nil {
		return fail(err)
	}
	if n == 0 {
		return fail(store.ErrNotFound)
	}
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"revoke sessions", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.revokeUser).ExecContext(ctx, id, millis(now), store.ReasonUserDeleted)
			return err
		}},
		{"scrub sessions", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.scrubUserSessions).ExecContext(ctx, id)
			return err
		}},
		{"delete link flows", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.deleteLinkFlows).ExecContext(ctx, id)
			return err
		}},
		{"delete identities", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.deleteUserIdentities).ExecContext(ctx, id)
			return err
		}},
		{"delete audit events", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.deleteUserAudit).ExecContext(ctx, id)
			return err
		}},
		{"delete link emails", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.deleteUserLinkEmails).ExecContext(ctx, id)
			return err
		}},
		{"delete the user record", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.deleteUser).ExecContext(ctx, id)
			return err
		}},
		{"leave a tombstone", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.buryUser).ExecContext(ctx, id, millis(now))
			return err
		}},
		{"sweep old tombstones", func() error {
			_, err := tx.StmtContext(ctx, s.stmt.sweepTombstones).ExecContext(ctx, millis(now.Add(-store.TombstoneTTL)))
			return err
		}},
	} {
		if err := step.run(); err != nil {
			return fail(fmt.Errorf("%s: %w", step.what, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	return nil
}
