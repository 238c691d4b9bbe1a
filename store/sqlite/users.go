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

// claimAttempts bounds ClaimIdentity's retries when the identity it found
// is unlinked before it reads its owner.
const claimAttempts = 8

// ClaimIdentity returns the user an identity belongs to, first creating
// the identity with newUserID when it does not exist. The insert either
// creates the row or does nothing; the primary key on the identity key
// makes concurrent first sign-ins, in this process or another, agree on
// one user.
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (string, bool, error) {
	if err := store.ValidProviderName(provider); err != nil {
		return "", false, fmt.Errorf("claim identity: %w", err)
	}
	for range claimAttempts {
		var userID string
		err := writeReturning(ctx, s.stmt.claimIdentity, func(r rowScanner) error { return r.Scan(&userID) },
			key, newUserID, provider, subject, millis(now))
		if err == nil {
			return userID, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("claim identity: %w", mapErr(err))
		}
		// The identity exists, committed (the insert saw it while holding
		// the write lock), and the read pool sees it, unless an unlink
		// deleted it in between: then the insert is tried again.
		err = s.stmt.identityUser.QueryRowContext(ctx, key).Scan(&userID)
		if err == nil {
			return userID, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", false, fmt.Errorf("claim identity: read its user: %w", mapErr(err))
		}
	}
	return "", false, fmt.Errorf("claim identity: unlinked and linked again %d times while claimed", claimAttempts)
}

// UpsertLogin writes one sign-in to user userID in one statement: it
// creates the user or updates profile, the provider's link, the identity
// list and the timestamps together, and returns the user after the write.
// The statement writes nothing for a tombstoned id (store.ErrUserDeleted).
// The statement also decides, from the stored link it replaces, whether
// the stored refresh token stays (see sqlUpsertLogin), so no write can
// come between the decision and the write.
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
	if errors.Is(err, sql.ErrNoRows) {
		// A tombstone: the user was deleted since the identity was
		// claimed. Let go of the identity if it still points here.
		if _, err := s.stmt.releaseIdentity.ExecContext(ctx, l.IdentityKey, userID); err != nil {
			return nil, fmt.Errorf("upsert user %s: deleted, and releasing identity: %w", userID, mapErr(err))
		}
		return nil, fmt.Errorf("upsert user %s: %w", userID, store.ErrUserDeleted)
	}
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, mapErr(err))
	}
	u, err := row.user()
	if err != nil {
		return nil, fmt.Errorf("upsert user %s: written, but %w", userID, err)
	}
	return u, nil
}

// FindUsersByLinkEmail returns the ids of the users holding a link of one
// of providers with link email email, sorted, at most
// store.MaxUsersByLinkEmail, through the user_link_emails table (which
// triggers keep equal to the links).
func (s *Store) FindUsersByLinkEmail(ctx context.Context, email string, providers []string) ([]string, error) {
	for _, p := range providers {
		if err := store.ValidProviderName(p); err != nil {
			return nil, fmt.Errorf("find users by link email: %w", err)
		}
	}
	if email == "" || len(providers) == 0 {
		return nil, nil
	}
	names, err := json.Marshal(providers)
	if err != nil {
		return nil, fmt.Errorf("find users by link email: %w", err)
	}
	ids, err := queryAll(ctx, s.stmt.usersByLinkEmail, func(r rowScanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	}, email, string(names), store.MaxUsersByLinkEmail)
	if err != nil {
		return nil, fmt.Errorf("find users by link email: %w", mapErr(err))
	}
	return ids, nil
}

// UnlinkIdentity removes identity key from user userID in one
// transaction: the identity record (unless it is the user's last), its key
// in the user's list, and the provider's link when it is this identity's.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, key string, now time.Time) (err error) {
	// The writer begins IMMEDIATE: the count of the user's identities
	// cannot change before the commit.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("unlink identity from user %s: %w", userID, mapErr(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var provider, subject string
	err = writeReturning(ctx, tx.StmtContext(ctx, s.stmt.unlinkIdentity),
		func(r rowScanner) error { return r.Scan(&provider, &subject) }, key, userID)
	if errors.Is(err, sql.ErrNoRows) {
		var owned int
		if err := tx.StmtContext(ctx, s.stmt.identityOwned).QueryRowContext(ctx, key, userID).Scan(&owned); err != nil {
			return fmt.Errorf("unlink identity from user %s: %w", userID, mapErr(err))
		}
		if owned == 1 {
			return fmt.Errorf("unlink identity from user %s: %w", userID, store.ErrLastIdentity)
		}
		return fmt.Errorf("unlink identity from user %s: %w", userID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("unlink identity from user %s: %w", userID, mapErr(err))
	}
	// A user that was never written (a crash after ClaimIdentity) has
	// nothing to update.
	if _, err := tx.StmtContext(ctx, s.stmt.unlinkUser).ExecContext(ctx, userID, key, provider, subject, millis(now)); err != nil {
		return fmt.Errorf("unlink identity from user %s: update the user: %w", userID, mapErr(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("unlink identity from user %s: commit: %w", userID, mapErr(err))
	}
	return nil
}

// UpdateProviderTokens replaces the refreshed parts of a provider's link
// in one UPDATE whose WHERE clause compares the link's updated_at with
// prev, merging them into the link's JSON (RFC 7396) so that the rest of
// it stays as stored.
func (s *Store) UpdateProviderTokens(ctx context.Context, userID, provider string, prev time.Time, link store.ProviderLink) error {
	if err := store.ValidProviderName(provider); err != nil {
		return fmt.Errorf("update %s tokens of user %s: %w", provider, userID, err)
	}
	prev, updated := normalizeTime(prev), normalizeTime(link.UpdatedAt)
	if updated.Equal(prev) {
		return fmt.Errorf("update %s tokens of user %s: the new UpdatedAt equals prev", provider, userID)
	}
	// A null removes a member, as the link's omitempty fields are absent
	// when empty.
	orNull := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	patch := map[string]any{
		"access_token": orNull(link.AccessTokenSealed),
		"expiry":       nil,
		"scopes":       nil,
		"updated_at":   updated,
	}
	if !link.Expiry.IsZero() {
		patch["expiry"] = normalizeTime(link.Expiry)
	}
	if len(link.Scopes) > 0 {
		patch["scopes"] = link.Scopes
	}
	if link.RefreshTokenSealed != "" {
		patch["refresh_token"] = link.RefreshTokenSealed
	}
	if link.IDTokenSealed != "" {
		patch["id_token"] = link.IDTokenSealed
	}
	patchJSON, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("update %s tokens of user %s: encode: %w", provider, userID, err)
	}
	// updated_at is compared as the text the link's JSON holds, which is
	// how encoding/json writes the normalized time.
	prevJSON, err := json.Marshal(prev)
	if err != nil {
		return fmt.Errorf("update %s tokens of user %s: encode: %w", provider, userID, err)
	}
	var prevText string
	if err := json.Unmarshal(prevJSON, &prevText); err != nil {
		return fmt.Errorf("update %s tokens of user %s: encode: %w", provider, userID, err)
	}
	n, err := execCount(ctx, s.stmt.updateTokens, userID, provider, string(patchJSON), prevText)
	if err != nil {
		return fmt.Errorf("update %s tokens of user %s: %w", provider, userID, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("update %s tokens of user %s: %w", provider, userID, store.ErrNotFound)
	}
	return nil
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
		return nil, fmt.Errorf("list identities of user %s: %w", userID, mapErr(err))
	}
	return list, nil
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.stmt.countUsers.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", mapErr(err))
	}
	return n, nil
}

// SetDisabled disables or re-enables a user; ErrNotFound means there is no
// such user.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	n, err := execCount(ctx, s.stmt.setDisabled, id, disabled)
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetRoles replaces the user's roles (a JSON array, NULL when there are
// none, as on a user whose roles were never set) and its updated_at in
// one statement; ErrNotFound means there is no such user.
func (s *Store) SetRoles(ctx context.Context, id string, roles []string, now time.Time) error {
	var encoded any // NULL when empty
	if len(roles) > 0 {
		b, err := json.Marshal(roles)
		if err != nil {
			return fmt.Errorf("set roles of user %s: encode roles: %w", id, err)
		}
		encoded = string(b)
	}
	n, err := execCount(ctx, s.stmt.setRoles, id, encoded, millis(now))
	if err != nil {
		return fmt.Errorf("set roles of user %s: %w", id, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("set roles of user %s: %w", id, store.ErrNotFound)
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
		return fmt.Errorf("set not-before of user %s: %w", id, mapErr(err))
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
