package bridge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// Admin error codes.
const (
	// ErrCodeAdminDisabled: no admin credential is configured.
	ErrCodeAdminDisabled = "admin_api_disabled"
	// ErrCodeUserNotFound: no user has this id.
	ErrCodeUserNotFound = "user_not_found"
)

// Admin is the actor recorded in the audit trail for the admin API.
const Admin = store.ActorAdmin

// CLI is the actor recorded in the audit trail for the command line's
// administrative subcommands.
const CLI = store.ActorCLI

// AuditUserDeleted records the deletion of a user (DeleteUser): the user
// id and the actor only, since everything else about the user is gone.
const AuditUserDeleted = "user_deleted"

// AuthenticateAdmin checks the administrators' credential, comparing
// digests in constant time. With no credential configured the admin API
// is off.
func (b *Bridge) AuthenticateAdmin(token string) error {
	if b.o.AdminToken == "" {
		return &OAuthError{Code: ErrCodeAdminDisabled, Description: "the admin API is off: set admin.token (or admin.token_file) to turn it on"}
	}
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(b.o.AdminToken))
	if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return &OAuthError{Code: ErrCodeInvalidToken, Description: "the admin credential is not valid"}
	}
	return nil
}

// UserSummary is a user as administrators see it: no provider tokens.
type UserSummary struct {
	ID        string         `json:"id"`
	Profile   claims.Profile `json:"profile"`
	Roles     []string       `json:"roles"`
	Disabled  bool           `json:"disabled"`
	NotBefore *time.Time     `json:"not_before,omitempty"`
	// Providers are the provider instances the user signs in with.
	Providers []string `json:"providers"`
	// Identities are the user's identities, oldest first.
	Identities []AdminIdentity `json:"identities"`
	// Sessions counts the active sessions, which SessionList lists, most
	// recently used first.
	Sessions    int           `json:"active_sessions"`
	SessionList []SessionInfo `json:"sessions"`
	CreatedAt   time.Time     `json:"created_at"`
	LastLoginAt time.Time     `json:"last_login_at"`
}

// AdminIdentity is one identity of a user as administrators see it: who
// it is at the provider, never its tokens.
type AdminIdentity struct {
	Provider      string `json:"provider"`
	ProviderLabel string `json:"provider_label"`
	// Subject is the identity's id at the provider (what
	// AdminFindUsers finds it by).
	Subject string `json:"subject"`
	// Email and Name are what the provider said at the identity's last
	// sign-in, when its link is the one stored.
	Email    string    `json:"email,omitempty"`
	Name     string    `json:"name,omitempty"`
	LinkedAt time.Time `json:"linked_at"`
}

// AdminUser returns user a.UserID for administrators, and audits the
// read.
func (b *Bridge) AdminUser(ctx context.Context, a AdminAction) (*UserSummary, error) {
	sum, err := b.adminSummary(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	b.auditView(ctx, a, sum.ID, "get")
	return sum, nil
}

// auditView records that administrator a read user id, through via.
func (b *Bridge) auditView(ctx context.Context, a AdminAction, id, via string) {
	b.audit(ctx, store.AuditEvent{Type: AuditUserViewed, UserID: id, Actor: a.actor(), IP: a.IP, Detail: map[string]string{"via": via}})
}

// adminSummary reads user id as administrators see it.
func (b *Bridge) adminSummary(ctx context.Context, id string) (*UserSummary, error) {
	u, err := b.userForAdmin(ctx, id)
	if err != nil {
		return nil, err
	}
	idents, err := b.o.Store.ListUserIdentities(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	sessions, err := b.o.Store.ListUserSessions(ctx, id, b.o.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	sum := &UserSummary{ID: u.ID, Profile: u.Profile, Roles: u.Roles, Disabled: u.Disabled, Sessions: len(sessions),
		SessionList: b.sessionInfos(sessions, ""), CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
		Providers: []string{}, Identities: make([]AdminIdentity, 0, len(idents))}
	if sum.Roles == nil {
		sum.Roles = []string{}
	}
	if !u.NotBefore.IsZero() {
		nb := u.NotBefore
		sum.NotBefore = &nb
	}
	for _, ident := range idents {
		if !slices.Contains(sum.Providers, ident.Provider) {
			sum.Providers = append(sum.Providers, ident.Provider)
		}
		ai := AdminIdentity{Provider: ident.Provider, ProviderLabel: b.ProviderLabel(ident.Provider), Subject: ident.Subject, LinkedAt: ident.CreatedAt}
		if l, ok := u.Providers[ident.Provider]; ok && l.Subject == ident.Subject {
			ai.Email, ai.Name = l.Profile.Email, l.Profile.Name
		}
		sum.Identities = append(sum.Identities, ai)
	}
	return sum, nil
}

// possibleUserID reports whether id could name a user: one that cannot is
// not looked up.
func possibleUserID(id string) bool { return id != "" && len(id) <= 128 }

func (b *Bridge) userForAdmin(ctx context.Context, id string) (*store.User, error) {
	if !possibleUserID(id) {
		return nil, &OAuthError{Code: ErrCodeUserNotFound, Description: "no user has this id"}
	}
	u, err := b.o.Store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &OAuthError{Code: ErrCodeUserNotFound, Description: "no user has this id"}
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

// AdminAction is the context of an administrator's change.
type AdminAction struct {
	UserID string
	// IP is the administrator's address, for the audit trail.
	IP string
	// Actor is who acts, for the audit trail: Admin (the default, when
	// empty) for the admin API, CLI for the command line.
	Actor string
}

// actor is the audit trail's actor of a.
func (a AdminAction) actor() string {
	if a.Actor == "" {
		return Admin
	}
	return a.Actor
}

// DisableUser disables a user and cuts them off (see cutOff for the
// order of the steps): every session is revoked (refreshes fail), the
// user is marked disabled (new sign-ins fail), and the user's not-before
// becomes now (every access token they hold is refused by introspection
// and, through the revocation feed, by backends). A sign-in racing it
// cannot keep a session (see refuseDisabled); a failed call is safely
// repeated. It reports how many sessions it revoked.
func (b *Bridge) DisableUser(ctx context.Context, a AdminAction) (int64, error) {
	return b.cutOff(ctx, a, AuditUserDisabled, "user_disabled", func(now time.Time) error {
		return b.o.Store.SetDisabled(ctx, a.UserID, true)
	})
}

// EnableUser re-enables a disabled user. Their sessions stay revoked;
// they sign in again.
func (b *Bridge) EnableUser(ctx context.Context, a AdminAction) error {
	if _, err := b.userForAdmin(ctx, a.UserID); err != nil {
		return err
	}
	if err := b.o.Store.SetDisabled(ctx, a.UserID, false); err != nil {
		return fmt.Errorf("enable user: %w", err)
	}
	b.audit(ctx, store.AuditEvent{Type: AuditUserEnabled, UserID: a.UserID, Actor: a.actor(), IP: a.IP})
	b.o.Logger.InfoContext(ctx, "user enabled", "user_id", a.UserID, "actor", a.actor())
	return nil
}

// RevokeUserTokens revokes every token the user holds (log the user out
// everywhere): not-before now, then every session revoked. The user may
// sign in again at once.
func (b *Bridge) RevokeUserTokens(ctx context.Context, a AdminAction) (int64, error) {
	return b.cutOff(ctx, a, AuditUserTokensRevoked, "revoked_by_admin", nil)
}

// MaxRoles bounds the roles an administrator stores on one user.
const MaxRoles = 100

// SetUserRoles replaces the roles administrators store on a user (they
// join the roles of the claim rules at every sign-in), and revokes every
// token the user holds, as RevokeUserTokens does. It returns the roles
// stored (duplicates removed) and how many sessions it revoked; roles
// equal to the stored ones change nothing and revoke nothing.
//
// Revoking, rather than rewriting the claims snapshot of the user's live
// sessions, is deliberate: a session's roles are the stored roles joined
// with those the claim rules gave at its sign-in, from provider claims
// that are not kept, so the snapshot cannot be recomputed faithfully; and
// the access tokens already issued carry the old roles, which only a
// revocation takes away from backends. A role change is rare and made by
// an administrator; the user signs in again and gets the new roles.
func (b *Bridge) SetUserRoles(ctx context.Context, a AdminAction, roles []string) ([]string, int64, error) {
	clean, err := cleanRoles(roles)
	if err != nil {
		return nil, 0, err
	}
	u, err := b.userForAdmin(ctx, a.UserID)
	if err != nil {
		return nil, 0, err
	}
	if slices.Equal(u.Roles, clean) || (len(u.Roles) == 0 && len(clean) == 0) {
		// Nothing changes: a repeated PUT signs no one out.
		return clean, 0, nil
	}
	n, err := b.cutOff(ctx, a, AuditUserRolesChanged, "roles_changed", func(now time.Time) error {
		return b.o.Store.SetRoles(ctx, a.UserID, clean, now)
	})
	if err != nil {
		return nil, 0, err
	}
	return clean, n, nil
}

// cleanRoles checks and de-duplicates roles, keeping their order.
func cleanRoles(roles []string) ([]string, error) {
	if len(roles) > MaxRoles {
		return nil, invalidRequest(fmt.Sprintf("at most %d roles", MaxRoles))
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if err := claims.ValidRole(r); err != nil {
			return nil, invalidRequest(err.Error())
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// cutOff revokes every session of the user, applies change (if any) to
// the user, raises the user's not-before to now, revokes every session
// again, and records the event.
//
// The first revocation comes before anything else so that a call that
// fails half-way (a database error, a crash) has already ended every
// session the user had: refreshes read only the session, so a session
// left active would keep refreshing. What the second revocation catches
// are sign-ins that finished meanwhile; those that finish after it read
// the change or the not-before (taken after the change is written) when
// their code is redeemed, and are refused (refuseDisabled). Every step is
// idempotent: an administrator repeats a call that failed.
func (b *Bridge) cutOff(ctx context.Context, a AdminAction, event, reason string, change func(now time.Time) error) (int64, error) {
	if _, err := b.userForAdmin(ctx, a.UserID); err != nil {
		return 0, err
	}
	n, err := b.o.Store.RevokeUserSessions(ctx, a.UserID, reason, b.o.Now())
	if err != nil {
		return 0, fmt.Errorf("%s: revoke sessions: %w", event, err)
	}
	if change != nil {
		if err := change(b.o.Now()); err != nil {
			return 0, fmt.Errorf("%s: %w", event, err)
		}
	}
	now := b.o.Now()
	if err := b.o.Store.SetUserNotBefore(ctx, a.UserID, now); err != nil {
		return 0, fmt.Errorf("%s: set not-before: %w", event, err)
	}
	late, err := b.o.Store.RevokeUserSessions(ctx, a.UserID, reason, now)
	if err != nil {
		return 0, fmt.Errorf("%s: revoke sessions: %w", event, err)
	}
	n += late
	b.revoked(reason, n)
	b.audit(ctx, store.AuditEvent{Type: event, UserID: a.UserID, Actor: a.actor(), IP: a.IP,
		Detail: map[string]string{"sessions_revoked": fmt.Sprint(n)}})
	b.o.Logger.InfoContext(ctx, "user cut off", "event", event, "user_id", a.UserID, "sessions_revoked", n, "actor", a.actor())
	return n, nil
}

// AdminUserQuery selects users for AdminFindUsers: exactly one of ID,
// Email, or Provider with Subject (an identity).
type AdminUserQuery struct {
	ID string
	// Email is compared with the users' profile emails, case-insensitively.
	Email string
	// Provider and Subject name an identity: a provider instance and its
	// stable subject for the person.
	Provider string
	Subject  string
}

// MaxAdminFindUsers is the most users AdminFindUsers returns for an
// email.
const MaxAdminFindUsers = 50

// maxEmailLen bounds an email in a query (RFC 5321's path limit).
const maxEmailLen = 320

// AdminFindUsers returns the users q selects, for administrators: the
// user with an id, the users whose profile email is an email (at most
// MaxAdminFindUsers, by id), or the user an identity signs in as. No
// match is an empty list, not an error; a query that does not select by
// exactly one of these is invalid_request. Each user found is audited as
// read by administrator a (whose UserID is unused).
func (b *Bridge) AdminFindUsers(ctx context.Context, q AdminUserQuery, a AdminAction) ([]UserSummary, error) {
	var selectors []string
	if q.ID != "" {
		selectors = append(selectors, "id")
	}
	if q.Email != "" {
		selectors = append(selectors, "email")
	}
	if q.Provider != "" || q.Subject != "" {
		selectors = append(selectors, "provider and subject")
	}
	if len(selectors) != 1 {
		return nil, invalidRequest("select users by exactly one of: id, email, or provider with subject")
	}
	var ids []string
	switch {
	case q.ID != "":
		ids = []string{q.ID}
	case q.Email != "":
		if len(q.Email) > maxEmailLen {
			return nil, invalidRequest(fmt.Sprintf("email is longer than %d bytes", maxEmailLen))
		}
		found, err := b.o.Store.FindUsersByEmail(ctx, q.Email, MaxAdminFindUsers)
		if err != nil {
			return nil, fmt.Errorf("find users by email: %w", err)
		}
		ids = found
	default:
		if q.Provider == "" || q.Subject == "" {
			return nil, invalidRequest("an identity needs both provider and subject")
		}
		if err := store.ValidProviderName(q.Provider); err != nil {
			return nil, invalidRequest(err.Error())
		}
		if len(q.Subject) > 1024 {
			return nil, invalidRequest("subject is longer than 1024 bytes")
		}
		ident := providers.Identity{Provider: q.Provider, Subject: q.Subject}
		found, err := b.o.Store.GetIdentity(ctx, ident.Key())
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("read identity: %w", err)
		default:
			ids = []string{found.UserID}
		}
	}
	out := []UserSummary{}
	for _, id := range ids {
		u, err := b.adminSummary(ctx, id)
		if oauthErrorCode(err) == ErrCodeUserNotFound {
			// An identity whose user was never written (a crash in a
			// first sign-in), or a user deleted meanwhile.
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	for _, u := range out {
		b.auditView(ctx, a, u.ID, "find")
	}
	return out, nil
}

// oauthErrorCode is the code of err when it is an *OAuthError, else "".
func oauthErrorCode(err error) string {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}

// DeleteUser deletes a user and everything stored about them (the right
// to erasure), and reports how many live sessions it revoked. It first
// cuts the user off as DisableUser does (every session revoked, the user
// disabled, every session revoked again): a call that fails half-way has
// ended every session and left a user that cannot sign in or redeem a
// code, and is repeated. Then the store erases the user
// (store.Users.DeleteUser): sessions revoked and scrubbed of personal
// data (they stay in the revocation feed until swept, so backends go on
// refusing their tokens), link flows, identities, link emails, the audit
// events of the user (those of administrators' actions on the user stay)
// and the user record. A new sign-in of one of the user's identities then
// creates a new user. Last, one audit event records the deletion with the
// user id and the actor only.
//
// A user that reads as missing may be one whose deletion stopped half-way
// in the store (MongoDB marks the user deleted first, and it reads as
// missing from then on): the store is asked all the same, and finishes
// that deletion, or answers that there is no such user.
func (b *Bridge) DeleteUser(ctx context.Context, a AdminAction) (int64, error) {
	_, err := b.userForAdmin(ctx, a.UserID)
	if oauthErrorCode(err) == ErrCodeUserNotFound && possibleUserID(a.UserID) {
		return 0, b.finishDeletion(ctx, a)
	}
	if err != nil {
		return 0, err
	}
	n, err := b.o.Store.RevokeUserSessions(ctx, a.UserID, store.ReasonUserDeleted, b.o.Now())
	if err != nil {
		return 0, fmt.Errorf("delete user: revoke sessions: %w", err)
	}
	if err := b.o.Store.SetDisabled(ctx, a.UserID, true); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("delete user: disable: %w", err)
	}
	late, err := b.o.Store.RevokeUserSessions(ctx, a.UserID, store.ReasonUserDeleted, b.o.Now())
	if err != nil {
		return 0, fmt.Errorf("delete user: revoke sessions: %w", err)
	}
	n += late
	b.revoked(store.ReasonUserDeleted, n)
	err = b.o.Store.DeleteUser(ctx, a.UserID, b.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		// Deleted by a concurrent call.
		return 0, &OAuthError{Code: ErrCodeUserNotFound, Description: "no user has this id"}
	}
	if err != nil {
		return 0, fmt.Errorf("delete user: %w", err)
	}
	b.audit(ctx, store.AuditEvent{Type: AuditUserDeleted, UserID: a.UserID, Actor: a.actor()})
	b.o.Logger.InfoContext(ctx, "user deleted", "user_id", a.UserID, "sessions_revoked", n, "actor", a.actor())
	return n, nil
}

// finishDeletion asks the store to delete a user that reads as missing:
// it finishes a deletion that stopped half-way, or there is no such user.
func (b *Bridge) finishDeletion(ctx context.Context, a AdminAction) error {
	err := b.o.Store.DeleteUser(ctx, a.UserID, b.o.Now())
	if errors.Is(err, store.ErrNotFound) {
		return &OAuthError{Code: ErrCodeUserNotFound, Description: "no user has this id"}
	}
	if err != nil {
		return fmt.Errorf("delete user: finish an earlier deletion: %w", err)
	}
	b.audit(ctx, store.AuditEvent{Type: AuditUserDeleted, UserID: a.UserID, Actor: a.actor(), Detail: map[string]string{"finished": "true"}})
	b.o.Logger.InfoContext(ctx, "user deleted: finished a deletion that had stopped half-way", "user_id", a.UserID, "actor", a.actor())
	return nil
}
