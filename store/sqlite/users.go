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
	if err := store.ValidProviderName(provider); err != nil {
		return "", false, fmt.Errorf("claim identity: %w", err)
	}
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
	if err := store.ValidProviderName(l.Provider); err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, err)
	}
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
	var row userRow
	err = writeReturning(ctx, s.stmt.upsertLogin, row.scan,
		userID, string(profile), l.IdentityKey, l.Provider, string(linkJSON), millis(l.Now))
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, mapErr(err))
	}
	u, err := row.user()
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: written, but %w", userID, err)
	}
	return u, nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	var row userRow
	if err := row.scan(s.stmt.getUser.QueryRowContext(ctx, id)); err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapErr(err))
	}
	u, err := row.user()
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetIdentity returns an identity by key.
func (s *Store) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	id, err := scanIdentity(s.stmt.getIdentity.QueryRowContext(ctx, key))
	if err != nil {
		return nil, fmt.Errorf("get identity: %w", mapErr(err))
	}
	return &id, nil
}

// ListUserIdentities returns the identities linked to a user, oldest
// first.
func (s *Store) ListUserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	list, err := queryAll(ctx, s.stmt.listIdentities, scanIdentity, userID)
	if err != nil {
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
	n, err := execCount(ctx, s.stmt.setDisabled, id, disabled)
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetUserNotBefore raises the user's not-before time to t, never lowering
// it; ErrNotFound means there is no such user.
func (s *Store) SetUserNotBefore(ctx context.Context, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("set not-before of user %s: zero time", id)
	}
	// SQLite counts a row the UPDATE matched even when no value changed.
	n, err := execCount(ctx, s.stmt.setNotBefore, id, t.UnixMilli())
	if err != nil {
		return fmt.Errorf("set not-before of user %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("set not-before of user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// userRow holds the columns of userColumns as scanned, before the JSON
// ones are decoded (see sessionRow).
type userRow struct {
	u                                     store.User
	profile, roles, identities, providers []byte
	created, updated, lastLogin, notBef   sql.NullInt64
}

func (row *userRow) scan(r rowScanner) error {
	return r.Scan(&row.u.ID, &row.profile, &row.roles, &row.u.Disabled, &row.identities, &row.providers,
		&row.created, &row.updated, &row.lastLogin, &row.notBef)
}

// user decodes the scanned row.
func (row *userRow) user() (*store.User, error) {
	u := row.u
	u.CreatedAt = fromMillis(row.created)
	u.UpdatedAt = fromMillis(row.updated)
	u.LastLoginAt = fromMillis(row.lastLogin)
	u.NotBefore = fromMillis(row.notBef)
	for _, f := range []struct {
		name string
		src  []byte
		dst  any
	}{
		{"profile", row.profile, &u.Profile},
		{"roles", row.roles, &u.Roles},
		{"identities", row.identities, &u.Identities},
		{"providers", row.providers, &u.Providers},
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
func scanIdentity(r rowScanner) (store.Identity, error) {
	var (
		id      store.Identity
		created sql.NullInt64
	)
	if err := r.Scan(&id.Key, &id.UserID, &id.Provider, &id.Subject, &created); err != nil {
		return id, err
	}
	id.CreatedAt = fromMillis(created)
	return id, nil
}

// normalizeTime is t as the store keeps it: millisecond precision, UTC.
func normalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Millisecond).UTC()
}
