package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// ClaimIdentity returns the user an identity belongs to, first creating
// the identity with newUserID when it does not exist. The insert either
// creates the row or does nothing; the primary key on the identity key
// makes concurrent first sign-ins, in this process or another, agree on
// one user.
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (string, bool, error) {
	var userID string
	err := writeReturning(ctx, s.stmt.claimIdentity, func(r rowScanner) error { return r.Scan(&userID) },
		key, newUserID, provider, subject, millis(now))
	if err == nil {
		return userID, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", false, fmt.Errorf("claim identity: %w", err)
	}
	// The identity exists, committed (the insert saw it while holding the
	// write lock), and identities are never deleted.
	if err := s.stmt.identityUser.QueryRowContext(ctx, key).Scan(&userID); err != nil {
		return "", false, fmt.Errorf("claim identity: read its user: %w", mapErr(err))
	}
	return userID, false, nil
}

// UpsertLogin writes one sign-in to user userID in one statement: it
// creates the user or updates profile, the provider's link, the identity
// list and the timestamps together, and returns the user after the write.
func (s *Store) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	profile, err := json.Marshal(l.Profile)
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: encode profile: %w", userID, err)
	}
	link := l.Link
	// Times inside the link are JSON text; store them as the columns are,
	// to the millisecond and in UTC, so that they read back equal.
	link.Expiry = normalizeTime(link.Expiry)
	link.UpdatedAt = normalizeTime(link.UpdatedAt)
	linkJSON, err := json.Marshal(link)
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: encode provider link: %w", userID, err)
	}
	var u *store.User
	err = writeReturning(ctx, s.stmt.upsertLogin, func(r rowScanner) error {
		var err error
		u, err = scanUser(r)
		return err
	}, userID, string(profile), l.IdentityKey, l.Provider, string(linkJSON), millis(l.Now))
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, mapErr(err))
	}
	return u, nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.stmt.getUser.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapErr(err))
	}
	return u, nil
}

// GetIdentity returns an identity by key.
func (s *Store) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	id, err := scanIdentity(s.stmt.getIdentity.QueryRowContext(ctx, key))
	if err != nil {
		return nil, fmt.Errorf("get identity: %w", mapErr(err))
	}
	return id, nil
}

// ListUserIdentities returns the identities linked to a user, oldest
// first.
func (s *Store) ListUserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	rows, err := s.stmt.listIdentities.QueryContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %s: %w", userID, err)
	}
	defer rows.Close()
	var list []store.Identity
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("list identities of user %s: %w", userID, err)
		}
		list = append(list, *id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list identities of user %s: %w", userID, err)
	}
	return list, nil
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.stmt.countUsers.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// SetDisabled disables or re-enables a user; ErrNotFound means there is no
// such user.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := s.stmt.setDisabled.ExecContext(ctx, id, disabled)
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, store.ErrNotFound)
	}
	return nil
}

// scanUser reads the columns of userColumns.
func scanUser(r rowScanner) (*store.User, error) {
	var (
		u                              store.User
		profile, identities, providers []byte
		roles                          []byte
		created, updated, lastLogin    sql.NullInt64
	)
	err := r.Scan(&u.ID, &profile, &roles, &u.Disabled, &identities, &providers, &created, &updated, &lastLogin)
	if err != nil {
		return nil, err
	}
	u.CreatedAt = fromMillis(created)
	u.UpdatedAt = fromMillis(updated)
	u.LastLoginAt = fromMillis(lastLogin)
	for _, f := range []struct {
		name string
		src  []byte
		dst  any
	}{
		{"profile", profile, &u.Profile},
		{"roles", roles, &u.Roles},
		{"identities", identities, &u.Identities},
		{"providers", providers, &u.Providers},
	} {
		if len(f.src) == 0 {
			continue
		}
		if err := json.Unmarshal(f.src, f.dst); err != nil {
			return nil, fmt.Errorf("decode %s of user: %w", f.name, err)
		}
	}
	return &u, nil
}

// scanIdentity reads the columns of identityColumns.
func scanIdentity(r rowScanner) (*store.Identity, error) {
	var (
		id      store.Identity
		created sql.NullInt64
	)
	if err := r.Scan(&id.Key, &id.UserID, &id.Provider, &id.Subject, &created); err != nil {
		return nil, err
	}
	id.CreatedAt = fromMillis(created)
	return &id, nil
}

// normalizeTime is t as the store keeps it: millisecond precision, UTC.
func normalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Millisecond).UTC()
}
