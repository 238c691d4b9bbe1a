// Package store is socialbridge's storage contract: the records it keeps
// (login flows that become sessions, users, identities, signing keys), the
// operations the use cases need on them, and the errors callers branch on.
//
// Two implementations satisfy it: store/sqlite, the embedded default (one
// file, transactions), and store/mongo, for MongoDB at scale (single-document
// atomic updates and _id uniqueness only, so it also runs on sharded
// clusters). Package storetest is the conformance suite both must pass;
// behaviour that is not in that suite is not part of the contract.
//
// Every compare-and-set in the contract is one atomic operation on one
// record, and every multi-step use case (a sign-in, an unlink on MongoDB) is
// ordered so that a crash between two steps leaves a state the next attempt
// repairs. Times are stored with millisecond precision and read back in UTC.
//
// Besides the records of sign-ins, the store keeps what revocation and
// administration need: a per-user not-before time, the revocation feed
// that backends poll (RevocationsSince) and an audit trail (Audit); and,
// for the token exchange of native apps, which signs in without a flow
// (Sessions.CreateSession), the hashes of the provider tokens it accepted,
// so that each is accepted once (Sessions.RememberToken).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/claims"
)

// ErrNotFound means no record matched: it does not exist, or a condition of
// a conditional update (state, expiry, generation, client, ...) did not
// hold. Callers that need to know which read the record afterwards.
var ErrNotFound = errors.New("store: not found")

// ErrConflict means a record with the same key already exists (a
// duplicate flow or session id, a signing-key generation another replica
// added first, or a subject token remembered before: a replay).
var ErrConflict = errors.New("store: already exists")

// ErrUnavailable means the database cannot be reached or cannot write
// right now: MongoDB is down, unreachable or has no primary, or SQLite's
// disk is full, read-only or failing. The operation did not happen (or, for
// a write whose answer was lost, may have happened: every write in the
// contract is idempotent or conditional, so retrying is safe); the caller
// should try again later. Implementations wrap it around the driver's
// error, so errors.Is finds it through any wrapping.
var ErrUnavailable = errors.New("store: database unavailable")

// ErrUserDeleted means a sign-in's user was deleted while the sign-in
// was under way (Users.UpsertLogin): nothing was written, and the
// identity it claimed no longer points at the deleted user, so claiming
// it again gives a new user.
var ErrUserDeleted = errors.New("store: user deleted")

// TombstoneTTL is how long a deleted user's id is remembered
// (Users.DeleteUser): far longer than any sign-in takes from claiming its
// identity to writing its user, which is one request.
const TombstoneTTL = 24 * time.Hour

// ErrLastIdentity means an identity cannot be unlinked because it is the
// user's only one: a user always keeps a way to sign in.
var ErrLastIdentity = errors.New("store: last identity")

// MaxUsersByLinkEmail is the most user ids Users.FindUsersByLinkEmail
// returns.
const MaxUsersByLinkEmail = 10

// MaxUsersByEmail is the most user ids Users.FindUsersByEmail returns.
const MaxUsersByEmail = 100

// The actors of administrators' actions in the audit trail
// (AuditEvent.Actor): the admin API and the command line. Users.DeleteUser
// keeps the events of these actors on the deleted user.
const (
	ActorAdmin = "admin"
	ActorCLI   = "cli"
)

// ReasonUserDeleted is the revoke reason of the sessions of a deleted user
// (Users.DeleteUser).
const ReasonUserDeleted = "user_deleted"

// Store is the whole storage contract. Implementations are safe for
// concurrent use by many goroutines and, where the implementation says so,
// by several processes.
type Store interface {
	Sessions
	Users
	Keys
	Audit
	RateCounts
	// RevocationsSince reads the revocation feed: the sessions revoked at
	// or after since (At is their RevokedAt) and the users whose
	// not-before is at or after since (At is the not-before), ordered by
	// At, then Kind, then id (SessionID for a session, UserID for a
	// user). limit must be at least 1.
	//
	// The page holds at most limit entries, except that it never splits
	// an instant: when the limit falls inside entries sharing one At,
	// they are all returned. A caller paging through a backlog therefore
	// continues from the last entry's At plus one millisecond.
	//
	// since is inclusive, and there is no global sequence to make the
	// cursor exact: replicas stamp revocations with their own clocks, and
	// a revocation committed a moment late can carry an At older than
	// entries already read. A caller that is caught up (a page shorter
	// than limit) therefore asks next from its newest At minus an overlap
	// window larger than the clock skew and commit delay it tolerates (a
	// few seconds), and treats entries as a set keyed by Kind and id, so
	// that re-reading one is harmless.
	//
	// Revoked sessions leave the feed when the sweeper removes them (an
	// hour, SweepGrace, after their absolute or idle expiry); not-before
	// entries stay as long as the user does. Callers keep only what is
	// younger than the longest access-token lifetime anyway.
	RevocationsSince(ctx context.Context, since time.Time, limit int) ([]Revocation, error)
	// SweepExpired deletes flows and sessions whose absolute or idle
	// expiry is older than now minus grace, and remembered subject tokens
	// (Sessions.RememberToken) whose expiry is, and reports how many
	// records it deleted, the remembered tokens included; link flows
	// (ready, holding a link code, linked) and sessions created by a token
	// exchange go at their expiry like the others. Reads check expiry
	// themselves; this only reclaims space. (A session's access tokens
	// outlive its last rotation by one access-token lifetime, which is
	// shorter than the idle lifetime plus the grace, so a swept revoked
	// session has no live token left to revoke.)
	SweepExpired(ctx context.Context, now time.Time, grace time.Duration) (int64, error)
	// Ping checks the database answers, for readiness probes.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Sessions is the life of one sign-in, from the login flow to the end of
// the session. See Session for the states.
type Sessions interface {
	// CreateFlow stores a new login flow in state pending, or in state
	// ready when f.State is StateReady (a link flow that waits for its
	// browser, see StartFlow); any other State is ignored, and f is not
	// modified. ErrConflict means the id is taken.
	CreateFlow(ctx context.Context, f *Session) error
	// StartFlow moves a ready, unexpired flow to state pending and returns
	// it: the browser of a link flow (created ready by a signed-in user's
	// request) starts it once, after which it goes through ClaimFlow like
	// any flow. Of concurrent starts of one flow exactly one wins.
	// ErrNotFound means the flow is unknown, expired or not ready.
	StartFlow(ctx context.Context, id string, now time.Time) (*Session, error)
	// ClaimFlow moves a pending, unexpired flow of provider to state
	// exchanging and returns it: the provider's callback claims its flow
	// before it talks to the provider, so that a replayed or expired
	// callback never reaches the provider or writes a user. Of concurrent
	// claims of one flow exactly one wins. ErrNotFound means the flow is
	// unknown, expired, for another provider or no longer pending.
	ClaimFlow(ctx context.Context, id, provider string, now time.Time) (*Session, error)
	// IssueCode moves an exchanging (claimed), unexpired flow of provider
	// to state code and returns it. ErrNotFound means the flow is unknown,
	// expired, for another provider, not exchanging (not claimed yet, or
	// already finished) or a link flow (one with a LinkUserID, whose code
	// IssueLinkCode issues and which never becomes a session).
	IssueCode(ctx context.Context, id, provider string, now time.Time, c CodeIssue) (*Session, error)
	// IssueLinkCode moves an exchanging (claimed), unexpired link flow of
	// provider (one with a LinkUserID) to state code and returns it: the
	// provider's callback of a link flow does not link (a link start URL
	// sent to someone else would link their account to the sender), it
	// keeps the identity the provider vouched for, sealed by the caller,
	// in LinkSealed and hands the application a one-time link code that
	// only CompleteLink redeems. It sets CodeHash, LinkSealed and
	// ExpiresAt (to c.CodeExpiresAt). ErrNotFound means the flow is
	// unknown, expired, for another provider, not exchanging or not a link
	// flow.
	IssueLinkCode(ctx context.Context, id, provider string, now time.Time, c LinkCodeIssue) (*Session, error)
	// CompleteLink redeems a link code: in one conditional update it moves
	// the link flow id from state code to state linked, where it ends, if
	// it is unexpired at r.Now and its CodeHash, ClientID, CodeChallenge
	// (the application's S256 challenge, given when the flow was created),
	// LinkUserID and LinkSessionID equal r's CodeHash, ClientID,
	// CodeChallenge, UserID and SessionID: only the application that
	// started the link, with its PKCE verifier and the same signed-in
	// session, completes it. Of concurrent completions exactly one wins.
	//
	// It returns the flow as the update left it (state linked) but with
	// the LinkSealed it held, and clears LinkSealed in the stored record:
	// a finished flow keeps no sealed provider tokens. The caller then
	// links the identity. ErrNotFound means the flow is unknown, expired,
	// not a link flow, holds no code (not issued yet, or already
	// completed), or one of the values did not match; an empty value in r
	// never matches.
	CompleteLink(ctx context.Context, id string, r LinkRedemption) (*Session, error)
	// FailFlow moves a pending, exchanging or ready, unexpired flow of
	// provider to state failed and returns it, so that the caller can send
	// the client its error. ErrNotFound means the flow is unknown, expired,
	// for another provider or already finished (a link flow that holds its
	// link code included: it ends with CompleteLink or expires).
	FailFlow(ctx context.Context, id, provider string, now time.Time) (*Session, error)
	// RedeemCode activates the session whose code this is, in one
	// conditional update that checks code hash, client, redirect URI, PKCE
	// challenge and expiry together; the session starts at generation 1.
	// ErrNotFound means one of them did not hold, the code was redeemed, or
	// it is a link code (a link flow never becomes a session, whatever is
	// presented).
	RedeemCode(ctx context.Context, id string, r Redemption) (*Session, error)
	// Rotate advances an active session that is unexpired (absolute and
	// idle) from generation gen to gen+1, sets RotatedAt to now and the
	// idle expiry to idleExpiresAt, and returns it. ErrNotFound means the
	// session is unknown, not active, expired, or not at gen.
	Rotate(ctx context.Context, id string, gen int64, now, idleExpiresAt time.Time) (*Session, error)
	// Revoke ends a session that is active or holds an unredeemed code,
	// recording when and why. It reports whether this call revoked it.
	// Flows, link flows included (one that holds a link code too), are
	// not sessions and are left alone.
	Revoke(ctx context.Context, id, reason string, now time.Time) (bool, error)
	// RevokeUserSessions revokes, as Revoke does each, every session of
	// the user that is active or holds an unredeemed code, never a link
	// flow (log out everywhere, a disabled user, a change of roles),
	// whatever its expiry, and reports how many it revoked. They all get RevokedAt now
	// and enter the revocation feed.
	//
	// Each session's change is atomic, and every session of the user that
	// is active or holds a code when the call starts is revoked, even one
	// whose code is redeemed (RedeemCode) or that rotates while it runs:
	// such a session ends revoked, as a code or after it was activated,
	// never active. But the call is not a cut-off: a sign-in of the user
	// that issues its code while this runs, or after it, is not revoked.
	// Callers that must cut the user off also raise the user's not-before
	// (SetUserNotBefore) or disable the user, and check both when they
	// redeem a code and refresh.
	RevokeUserSessions(ctx context.Context, userID, reason string, now time.Time) (int64, error)
	// CreateSession stores a session that starts active, with no flow and
	// no code before it: a native app's token exchange (RFC 8693) signs
	// the user in with one request. It keeps s's ID, UserID, ClientID,
	// Provider, Scope, Nonce, AuthTime, Claims, CreatedAt, ExpiresAt (the
	// absolute end), IdleExpiresAt, RotatedAt, UserAgent and IP; it sets
	// State to active and Generation to 1 whatever s says, and keeps none
	// of s's other fields (those of a flow, a code, a link flow or a
	// revocation). s must pass ValidNewSession and is not modified.
	// ErrConflict means the id is taken, by a session or a flow.
	//
	// From then on it is a session like one RedeemCode activated: it
	// rotates from generation 1, is revoked by Revoke and
	// RevokeUserSessions and then enters the revocation feed, is listed by
	// ListUserSessions and swept by SweepExpired.
	CreateSession(ctx context.Context, s *Session) error
	// RememberToken is the replay guard of the token exchange: it records
	// hash, the caller's hash (SHA-256) of a provider token it accepted as
	// a subject token, until expiresAt, the last instant at which the
	// caller would still accept that token (its expiry plus the
	// verification leeway). ErrConflict means hash is recorded and
	// unexpired at now: the token was presented before (a replay: a
	// provider token is a bearer credential, and one presented twice may
	// be a stolen copy), and the caller refuses it. A record expired at
	// now (its expiry not after now) is replaced, so the hash is recorded
	// again: by then the token itself is refused as expired. Of
	// concurrent calls with one hash exactly one succeeds.
	//
	// The caller remembers the token before it signs anyone in with it: a
	// crash in between costs the user a retry with a fresh token, never a
	// replay. hash, expiresAt and now must pass ValidTokenRecord.
	RememberToken(ctx context.Context, hash string, expiresAt, now time.Time) error
	// GetSession returns a flow or session by id whatever its state and
	// expiry: callers that act on it check both.
	GetSession(ctx context.Context, id string) (*Session, error)
	// ListUserSessions returns the user's active sessions that have not
	// expired at now (absolute or idle), most recently rotated first,
	// whether they came from a code or from CreateSession, each with its
	// device (UserAgent, IP). Link flows started by the user, in any
	// state, are not sessions and are not listed.
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// Users keeps people and the provider identities that sign them in.
type Users interface {
	// ClaimIdentity returns the user an identity belongs to, first creating
	// the identity with newUserID when it does not exist yet; created
	// reports whether this call created it. Concurrent first logins of one
	// identity all get the same user id.
	//
	// It is step one of a sign-in: the identity exists before its user, so
	// a crash after it leaves an identity whose user the next sign-in
	// creates (UpsertLogin creates missing users). It is also step one of
	// an explicit link: with newUserID the signed-in user's id, created
	// (or a returned id equal to newUserID) says the identity is now that
	// user's, and another id says it already belongs to someone else. An
	// identity that an UnlinkIdentity is removing still answers with its
	// user until it is deleted.
	//
	// provider must be a valid provider name (ValidProviderName).
	ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (userID string, created bool, err error)
	// UpsertLogin writes one sign-in to user userID atomically (profile,
	// the provider's link with its sealed tokens, scopes and link email,
	// the identity key and the timestamps together), creating the user if
	// needed, and returns the user as it is after the write. It leaves
	// Disabled, Roles and NotBefore as they are. l.Provider must be a
	// valid provider name (ValidProviderName): it is the key of the link
	// in User.Providers.
	//
	// The link replaces the provider's previous one whole, so a link
	// email the provider no longer vouches for (or that configuration no
	// longer trusts) is dropped by the caller passing LinkEmail "", with
	// one exception: when l.Link.RefreshTokenSealed is empty and the
	// stored link has the same Subject, the stored RefreshTokenSealed
	// stays. Google and many OpenID Connect providers return a refresh
	// token only at the first consent, and a later sign-in without one
	// must not erase it. A link of another subject (another account of
	// the provider) is replaced whole, its refresh token with it. The
	// choice is made in the same atomic write, against the link as it is
	// then.
	//
	// A user id that DeleteUser deleted (in the last TombstoneTTL) is
	// never written again: UpsertLogin writes nothing, deletes the
	// identity record l.IdentityKey if it still points at that id (so
	// that claiming it again creates a new user, whatever a crash or a
	// race left behind), and returns ErrUserDeleted.
	UpsertLogin(ctx context.Context, userID string, l Login) (*User, error)
	// FindUsersByLinkEmail returns the ids of the users that hold a link
	// of one of providers whose LinkEmail is email (exact match: the
	// caller lower-cases), sorted, at most MaxUsersByLinkEmail of them,
	// through an index. providers are the provider names configuration
	// trusts for linking by email now: the links of other providers do
	// not count, so an operator who stops trusting a provider stops its
	// stored emails from attracting sign-ins at once. An email stops
	// finding a user as soon as no such link of the user holds it (an
	// unlink, or a sign-in whose link has another LinkEmail). An empty
	// email, or no providers, finds no one. Every name in providers must
	// be valid (ValidProviderName); an invalid one is an error.
	FindUsersByLinkEmail(ctx context.Context, email string, providers []string) ([]string, error)
	// UnlinkIdentity removes identity key from user userID: it deletes the
	// identity record, removes key from User.Identities, removes the link
	// User.Providers[provider] when that link's Subject is the identity's
	// subject (with its link email), and sets the user's UpdatedAt to now
	// (a user that was never written stays unwritten). Afterwards the
	// identity signs in as a new user. ErrLastIdentity means key is the
	// user's only identity, ErrNotFound that the identity does not exist,
	// belongs to another user or is being unlinked by a concurrent call;
	// nothing changes then.
	//
	// A user is never left without an identity record, even with
	// concurrent unlinks of the same user. On SQLite the whole is one
	// transaction. On MongoDB, which has no transactions, it is four
	// single-document steps: mark the identity record as being unlinked,
	// count the user's identity records that are not marked (none: unmark
	// and return ErrLastIdentity), update the user document (key, link,
	// link email), then delete the marked record. Until it is deleted, a
	// marked identity signs in as its user and is listed by
	// ListUserIdentities. A crash between the steps leaves a marked record
	// that the user still lists (before the user update) or no longer
	// lists, without its link (after it); either way the record still
	// signs the person in as the user, and that sign-in lists it again.
	// Calling UnlinkIdentity again repairs either: the steps are
	// idempotent, and a mark older than a minute is the mark of a crashed
	// call, which the next call takes over (on this identity) or clears
	// (on the user's other ones). Until then such a mark makes the count
	// conservative: it can refuse an unlink with ErrLastIdentity, never
	// allow one too many.
	UnlinkIdentity(ctx context.Context, userID, key string, now time.Time) error
	// UpdateProviderTokens stores the result of refreshing a provider's
	// tokens, as a compare-and-set: it replaces AccessTokenSealed, Expiry,
	// Scopes and UpdatedAt of User.Providers[provider] with link's,
	// RefreshTokenSealed and IDTokenSealed too when link's are not empty
	// (providers often answer a refresh without them; the stored ones then
	// stay), only if the link exists and its UpdatedAt equals prev (to the
	// millisecond, as stored). Subject, Profile, LinkEmail and the rest of
	// the user stay. link.UpdatedAt is the version the next refresh
	// compares with, so it must differ from prev (an error otherwise: with
	// the same version, every concurrent update would win); a caller
	// whose clock has not moved past prev passes prev plus a millisecond.
	// ErrNotFound means the user or the link is missing, or the link
	// changed since it was read (another replica refreshed it first, or a
	// sign-in rewrote it): the caller reads the user again.
	UpdateProviderTokens(ctx context.Context, userID, provider string, prev time.Time, link ProviderLink) error
	// GetUser returns a user by id.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetIdentity returns an identity by key.
	GetIdentity(ctx context.Context, key string) (*Identity, error)
	// ListUserIdentities returns the identities linked to a user, oldest
	// first.
	ListUserIdentities(ctx context.Context, userID string) ([]Identity, error)
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int64, error)
	// SetDisabled disables or re-enables a user. ErrNotFound means there
	// is no such user.
	SetDisabled(ctx context.Context, id string, disabled bool) error
	// SetRoles replaces the user's roles with roles and sets UpdatedAt to
	// now, leaving the rest of the user as it is; nil or empty clears
	// them, and cleared roles read back as nil, as those of a user whose
	// roles were never set. Roles are stored as given, in their order:
	// the caller validates them. A sign-in leaves them (UpsertLogin).
	// ErrNotFound means there is no such user.
	SetRoles(ctx context.Context, id string, roles []string, now time.Time) error
	// FindUsersByEmail returns the ids of the users whose profile email
	// equals email compared lower-cased (profile emails reach the store
	// lower-cased from claims.Map; the caller's email is lower-cased
	// here), sorted, at most limit of them (1 to MaxUsersByEmail),
	// through an index. An empty email finds no one. It is for
	// administrators: sign-ins never find users by a profile email, which
	// no provider may have verified (see FindUsersByLinkEmail).
	FindUsersByEmail(ctx context.Context, email string, limit int) ([]string, error)
	// DeleteUser erases user id and what the store keeps about them, for
	// an administrator's deletion (the right to erasure): it revokes, as
	// RevokeUserSessions does, every session of the user that is active
	// or holds a code, with reason "user_deleted", and scrubs the personal
	// data (claims snapshot, user agent, IP) of every session record of
	// the user, revoked or not, keeping ids and times: a revoked session
	// stays in the revocation feed until swept, so that backends go on
	// refusing its access tokens, and a refresh finds it revoked. It
	// deletes the user's link flows in any state (they may hold a sealed
	// identity), every identity record of the user and the user record
	// (with its provider links, sealed tokens and link emails), and every
	// audit event of the user but those of administrators' actions on the
	// user (actor ActorAdmin or ActorCLI; reads included), which stay, with
	// the user's id and the administrator's address and detail, for the
	// audit retention, so that who looked at or changed the user before
	// the deletion remains accountable; the user's own activity, and
	// clients' actions on their data (a provider token fetched), go. The
	// caller appends its record of the deletion afterwards. The user's not-before leaves the feed with the
	// user: the revoked sessions cover every token the user was issued.
	//
	// Afterwards GetUser answers ErrNotFound and a new sign-in of any of
	// the user's identities creates a new user. ErrNotFound means there is
	// no such user (a call repeated after a crash that deleted the user
	// record finds none; the user record is the last thing deleted, so a
	// crash before it leaves a user to delete again).
	//
	// On SQLite it is one transaction. On MongoDB it is single-document
	// and per-collection steps in an order where a crash between two
	// leaves nothing that signs in as a half-deleted user: mark the user
	// disabled and deleted (from then on the user reads as missing, a
	// code redeemed is refused and UpsertLogin refuses the id), revoke
	// and scrub the sessions, delete the link flows, delete the identity
	// records (a sign-in of one of them from then on creates a new user),
	// delete the audit events, and last replace the user record by its
	// tombstone.
	//
	// The id stays as a tombstone for TombstoneTTL, nothing else with it:
	// a sign-in that claimed one of the identities before the deletion
	// and writes its user after it would otherwise create the user again
	// (UpsertLogin creates missing users) with that sign-in's profile,
	// tokens and link email. UpsertLogin refuses a tombstoned id instead
	// (ErrUserDeleted) and the sign-in starts over as a new user. Every
	// read of users (GetUser, CountUsers, the finds, the feed) and every
	// update of one (SetDisabled, SetRoles, SetUserNotBefore) treats a
	// tombstone as no user. (On MongoDB a user marked deleted whose
	// deletion has not finished keeps its not-before in the feed until
	// then, which only keeps refusing tokens that are revoked anyway.)
	// DeleteUser removes tombstones older than TombstoneTTL (on MongoDB
	// as housekeeping: a failure is logged, and a later deletion removes
	// them). After that, an identity record left pointing at the
	// old id by a crash between ClaimIdentity and UpsertLogin signs in as
	// a new user under that id, as after any such crash.
	DeleteUser(ctx context.Context, id string, now time.Time) error
	// SetUserNotBefore raises the user's not-before time to t: every
	// token of the user issued before it is to be refused (log out
	// everywhere, a change of roles), by refreshes here and by backends
	// through the revocation feed, which the user enters at t. It never
	// moves the time back: a t earlier than the stored one leaves it, so
	// that two replicas with skewed clocks, or two administrators, cannot
	// bring revoked tokens back. t must not be zero. ErrNotFound means
	// there is no such user.
	SetUserNotBefore(ctx context.Context, id string, t time.Time) error
}

// Audit keeps the audit trail: sign-ins, failed sign-ins, refresh token
// reuse, logouts, revocations, administrative actions. Events are
// immutable once appended, and removed only by SweepAudit.
type Audit interface {
	// AppendAudit stores an event. It must pass ValidAuditEvent.
	// ErrConflict means an event with this ID exists (a retried append
	// that had in fact succeeded).
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns the events q selects, newest first (by At, then
	// by ID descending). Every selection (everyone's events, one user's,
	// one type's, one user's of one type, each paged by Before and
	// BeforeID) is read through an index in that order, so a page costs
	// about its length whatever the size of the trail.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// SweepAudit deletes the events that happened before before, and
	// reports how many: the retention job calls it with now minus the
	// retention period.
	SweepAudit(ctx context.Context, before time.Time) (int64, error)
}

// Keys keeps the token signing keys that every replica shares.
type Keys interface {
	// ListKeys returns every signing key, by use and then generation.
	ListKeys(ctx context.Context) ([]SigningKey, error)
	// InsertKey adds a signing key. ErrConflict means a key with this id
	// (use and generation) exists: another replica rotated first.
	InsertKey(ctx context.Context, k SigningKey) error
	// RetireKey sets the key's RetiredAt to at, unless it is set already:
	// the first retirement stays, so that one repeated, or made by
	// another replica, never moves it. at must not be zero. ErrNotFound
	// means no key has this id.
	RetireKey(ctx context.Context, id string, at time.Time) error
}

// Session states. A session begins life as a login flow at /authorize and
// moves forward only, each step one conditional update of one record:
//
//	pending --(callback claims it)--> exchanging --(provider vouched)--> code --(code redeemed)--> active --> revoked
//	pending --(provider reported an error)--> failed
//	exchanging --(exchange or checks failed)--> failed
//	code --(revoked before redemption)--> revoked
//
// A native app's token exchange has no flow and no code: its session is
// created active (Sessions.CreateSession) and goes on from there like any
// other:
//
//	(created by a token exchange) --> active --> revoked
//
// A link flow links another identity to a signed-in user instead of
// signing in: it carries LinkUserID, starts ready and ends linked, and is
// never a session (not listed, revoked, redeemed as a sign-in code or in
// the revocation feed, whatever its state). Its callback does not link:
// it keeps the identity the provider vouched for (LinkSealed) and issues
// a one-time link code, which the application that started the link
// redeems with its PKCE verifier and the same signed-in session:
//
//	ready --(its browser starts it)--> pending --(callback claims it)--> exchanging
//	exchanging --(provider vouched: IssueLinkCode)--> code --(application completes: CompleteLink)--> linked
//	ready, pending or exchanging --(failure)--> failed
//
// Keeping the flow, the one-time code and the session in one record is what
// lets a sign-in finish in few round trips without multi-record
// transactions: a replayed callback or code finds the record moved on. The
// exchanging state is taken before the provider is called, so only one
// callback per flow ever does; a process that dies while a flow is
// exchanging leaves it there until it expires and is swept.
const (
	StatePending    = "pending"
	StateExchanging = "exchanging"
	StateFailed     = "failed"
	StateCode       = "code"
	StateActive     = "active"
	StateRevoked    = "revoked"
	// StateReady is a link flow that has been created and waits for its
	// browser (Sessions.StartFlow).
	StateReady = "ready"
	// StateLinked is a completed link flow (Sessions.CompleteLink); it
	// ends there. (A link flow that holds its link code is in StateCode,
	// as a sign-in's code is.)
	StateLinked = "linked"
)

// Session is a login flow, then a signed-in session of one user at one
// client.
type Session struct {
	ID    string `bson:"_id"`
	State string `bson:"state"`
	// ExpiresAt is when the record's current state ends: the flow
	// deadline, then the code deadline, then the absolute session end.
	ExpiresAt time.Time `bson:"expires_at"`
	CreatedAt time.Time `bson:"created_at"`

	// The client's authorization request.
	ClientID      string `bson:"client_id"`
	RedirectURI   string `bson:"redirect_uri"`
	ClientState   string `bson:"client_state,omitempty"`
	CodeChallenge string `bson:"code_challenge"`
	Nonce         string `bson:"nonce,omitempty"`
	Scope         string `bson:"scope,omitempty"`
	Provider      string `bson:"provider"`
	// MaxAge is the client's OpenID Connect max_age in seconds (how long
	// ago the person may last have authenticated at the provider); nil
	// when the client sent none. Zero is a value: authenticate again now.
	MaxAge *int64 `bson:"max_age,omitempty"`
	// LinkUserID is set on a link flow: the existing user the identity
	// the provider vouches for is to be linked to, instead of signing in.
	LinkUserID string `bson:"link_user_id,omitempty"`
	// LinkSessionID is the session of that user that started the link
	// flow.
	LinkSessionID string `bson:"link_session_id,omitempty"`
	// LinkSealed is the verified identity of a link flow, sealed
	// (encrypted) by the caller, held from the provider's callback
	// (Sessions.IssueLinkCode) to the application's completion
	// (Sessions.CompleteLink), which takes it out of the record.
	LinkSealed string `bson:"link_sealed,omitempty"`

	// Set when the provider has vouched for the user.
	UserID   string    `bson:"user_id,omitempty"`
	AuthTime time.Time `bson:"auth_time,omitempty"`
	// Claims is the snapshot of normalized claims the access token
	// carries, so that a refresh needs no read of the user. Values are
	// JSON-shaped (string, bool, float64, []any, map[string]any).
	Claims map[string]any `bson:"claims,omitempty"`
	// CodeHash is the hash of the one-time code: a sign-in's, or a link
	// flow's link code.
	CodeHash string `bson:"code_hash,omitempty"`

	// Set when the code is redeemed.
	Generation    int64     `bson:"generation,omitempty"`
	RotatedAt     time.Time `bson:"rotated_at,omitempty"`
	IdleExpiresAt time.Time `bson:"idle_expires_at,omitempty"`
	RevokedAt     time.Time `bson:"revoked_at,omitempty"`
	RevokeReason  string    `bson:"revoke_reason,omitempty"`

	// UserAgent and IP describe the device the session was created for
	// (the User-Agent header and client address of the request that
	// created it, bounded in length by the caller), so that the user can
	// tell their sessions apart; nothing checks them. CreateSession and
	// CreateFlow keep them, and the session keeps them for its life.
	UserAgent string `bson:"user_agent,omitempty"`
	IP        string `bson:"ip,omitempty"`
}

// CodeIssue is what the provider callback writes to a flow.
type CodeIssue struct {
	UserID        string
	AuthTime      time.Time
	Claims        map[string]any
	CodeHash      string
	CodeExpiresAt time.Time
}

// Redemption is a client's attempt to redeem a one-time code.
type Redemption struct {
	CodeHash      string
	ClientID      string
	RedirectURI   string
	CodeChallenge string
	Now           time.Time
	// IdleExpiresAt and ExpiresAt bound the new session.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
}

// LinkCodeIssue is what the provider callback of a link flow writes to it
// (Sessions.IssueLinkCode).
type LinkCodeIssue struct {
	// CodeHash is the hash of the link code handed to the application.
	CodeHash string
	// CodeExpiresAt is when the link code expires.
	CodeExpiresAt time.Time
	// Sealed is the verified identity, sealed by the caller.
	Sealed string
}

// LinkRedemption is an application's attempt to complete a link flow with
// its link code (Sessions.CompleteLink).
type LinkRedemption struct {
	// CodeHash is the hash of the link code presented.
	CodeHash string
	// ClientID is the application presenting it.
	ClientID string
	// CodeChallenge is the S256 challenge computed from the PKCE verifier
	// presented.
	CodeChallenge string
	// UserID and SessionID are the user and session of the access token
	// presented with it: the ones that started the flow.
	UserID    string
	SessionID string
	Now       time.Time
}

// Identity maps an identity key (provider|subject) to the user it belongs
// to. The key is unique in the database, so one identity can never belong
// to two users.
type Identity struct {
	Key       string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	Provider  string    `bson:"provider"`
	Subject   string    `bson:"subject"`
	CreatedAt time.Time `bson:"created_at"`
}

// User is one person. The profile and the provider tokens of a sign-in are
// written together in one update, so they always come from the same login.
type User struct {
	ID       string         `bson:"_id"`
	Profile  claims.Profile `bson:"profile"`
	Roles    []string       `bson:"roles,omitempty"`
	Disabled bool           `bson:"disabled,omitempty"`
	// NotBefore revokes every token of the user issued before it (see
	// Users.SetUserNotBefore); zero when never set.
	NotBefore time.Time `bson:"not_before,omitempty"`
	// Identities lists the identity keys that signed in as this user, in
	// the order they first did, less the unlinked ones (informational; the
	// identity records are authoritative: a sign-in that read an identity
	// just before it was unlinked writes its key here again).
	Identities []string `bson:"identities,omitempty"`
	// Providers holds, per provider name, what that provider last gave us.
	Providers   map[string]ProviderLink `bson:"providers,omitempty"`
	CreatedAt   time.Time               `bson:"created_at"`
	UpdatedAt   time.Time               `bson:"updated_at"`
	LastLoginAt time.Time               `bson:"last_login_at"`
}

// ProviderLink is a provider's view of a user: its subject and tokens,
// sealed (encrypted) by the caller before they reach the store.
type ProviderLink struct {
	Subject            string         `bson:"subject" json:"subject"`
	Profile            claims.Profile `bson:"profile" json:"profile"`
	AccessTokenSealed  string         `bson:"access_token,omitempty" json:"access_token,omitempty"`
	RefreshTokenSealed string         `bson:"refresh_token,omitempty" json:"refresh_token,omitempty"`
	IDTokenSealed      string         `bson:"id_token,omitempty" json:"id_token,omitempty"`
	Expiry             time.Time      `bson:"expiry,omitempty" json:"expiry,omitzero"`
	// Scopes are the scopes the provider granted.
	Scopes []string `bson:"scopes,omitempty" json:"scopes,omitempty"`
	// LinkEmail is the email, lower-cased, that the provider vouched for
	// and that configuration trusts for automatic linking by email; ""
	// when none (see Users.FindUsersByLinkEmail).
	LinkEmail string    `bson:"link_email,omitempty" json:"link_email,omitempty"`
	UpdatedAt time.Time `bson:"updated_at" json:"updated_at"`
}

// Login is what one sign-in writes to its user.
type Login struct {
	IdentityKey string
	Provider    string
	Link        ProviderLink
	// Profile is the normalized profile to keep on the user.
	Profile claims.Profile
	Now     time.Time
}

// SigningKey is a persisted signing key. Its ID is use and generation, so
// that two replicas rotating at once cannot both add a generation.
type SigningKey struct {
	ID            string    `bson:"_id"`
	KID           string    `bson:"kid"`
	Use           string    `bson:"use"`
	Algorithm     string    `bson:"alg"`
	Generation    int       `bson:"generation"`
	PrivateSealed string    `bson:"private_sealed"`
	CreatedAt     time.Time `bson:"created_at"`
	SignFrom      time.Time `bson:"sign_from"`
	// RetiredAt is when an administrator retired the key: it signs no
	// more and verifies nothing from then on. Zero (absent) when it was
	// not.
	RetiredAt time.Time `bson:"retired_at,omitempty"`
}

// Kinds of revocation feed entries.
const (
	// RevokedSession is a revoked session: every token of the session is
	// revoked.
	RevokedSession = "session"
	// RevokedUser is a user's not-before: every token of the user issued
	// before At is revoked.
	RevokedUser = "user"
)

// Revocation is one entry of the revocation feed (Store.RevocationsSince).
type Revocation struct {
	// Kind is RevokedSession or RevokedUser.
	Kind string
	// SessionID is the revoked session; empty for kind user.
	SessionID string
	// UserID is the user of the session, or the user whose not-before
	// this is.
	UserID string
	// At is when the session was revoked, or the user's not-before.
	At time.Time
	// ExpiresAt is the revoked session's absolute expiry: its refresh
	// token is dead after it, and its access tokens one access-token
	// lifetime later at the latest. Zero for kind user.
	ExpiresAt time.Time
}

// AuditEvent is one entry of the audit trail. It never holds token
// material: ids, names and reasons only.
type AuditEvent struct {
	// ID is unique; the caller makes it (a random id), so that a retried
	// append can be recognised (ErrConflict).
	ID string `bson:"_id"`
	// At is when it happened.
	At time.Time `bson:"at"`
	// Type says what happened ("login", "login_failed", "refresh_reuse",
	// "logout", "revoke", "user_disabled", ...).
	Type string `bson:"type"`
	// UserID, SessionID and ClientID are the records concerned, when
	// known.
	UserID    string `bson:"user_id,omitempty"`
	SessionID string `bson:"session_id,omitempty"`
	ClientID  string `bson:"client_id,omitempty"`
	// Actor is who did it when that is not the user ("admin", a client
	// id); empty for the user themselves.
	Actor string `bson:"actor,omitempty"`
	// IP is the client address of the request.
	IP string `bson:"ip,omitempty"`
	// Detail holds further facts (provider, reason, ...). Its keys follow
	// the rule of provider names (ValidProviderName): MongoDB stores them
	// as field names. An empty map reads back as nil.
	Detail map[string]string `bson:"detail,omitempty"`
}

// AuditQuery selects audit events for Audit.ListAudit.
type AuditQuery struct {
	// UserID selects the events of one user; empty selects every event.
	UserID string
	// Type, when set, selects the events of that type only (exact match,
	// see AuditEvent.Type), with or without UserID; empty selects every
	// type. A type no event has selects none.
	Type string
	// Before, when set, selects the events older than it. With BeforeID
	// it selects the events after the event (Before, BeforeID) in the
	// listing order (older, or as old with a smaller ID): to read the
	// next page, pass the last event's At and ID.
	Before   time.Time
	BeforeID string
	// Limit is the most events returned; at least 1.
	Limit int
}

// maxNameLen bounds provider names and audit detail keys.
const maxNameLen = 64

// ValidProviderName reports whether name can name a provider instance in
// the store: 1 to 64 ASCII letters, digits, '-' or '_'. Provider names
// come from configuration; they are keys of User.Providers (field names on
// MongoDB, JSON object keys on SQLite), so a dot or a '$' could reach into
// other fields.
func ValidProviderName(name string) error {
	if !validName(name) {
		return fmt.Errorf("provider name %q is invalid: want 1 to %d ASCII letters, digits, '-' or '_'", name, maxNameLen)
	}
	return nil
}

// ValidAuditEvent reports whether e can be appended: it has an ID, a time
// and a type, and its detail keys are valid names (see AuditEvent.Detail).
func ValidAuditEvent(e AuditEvent) error {
	switch {
	case e.ID == "":
		return errors.New("audit event has no ID")
	case e.At.IsZero():
		return fmt.Errorf("audit event %s has no time", e.ID)
	case e.Type == "":
		return fmt.Errorf("audit event %s has no type", e.ID)
	}
	for k := range e.Detail {
		if !validName(k) {
			return fmt.Errorf("audit event %s: detail key %q is invalid: want 1 to %d ASCII letters, digits, '-' or '_'", e.ID, k, maxNameLen)
		}
	}
	return nil
}

// ValidNewSession reports whether s can be stored by
// Sessions.CreateSession: it has an ID, a user, a client and a provider
// (whose session it is, and where), and an absolute and an idle expiry
// (without them it would never end, and never be swept).
func ValidNewSession(s *Session) error {
	var missing []string
	for _, f := range []struct {
		name  string
		unset bool
	}{
		{"ID", s.ID == ""},
		{"UserID", s.UserID == ""},
		{"ClientID", s.ClientID == ""},
		{"Provider", s.Provider == ""},
		{"ExpiresAt", s.ExpiresAt.IsZero()},
		{"IdleExpiresAt", s.IdleExpiresAt.IsZero()},
	} {
		if f.unset {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("new session %q has no %s", s.ID, strings.Join(missing, ", "))
	}
	return nil
}

// ValidTokenRecord reports whether Sessions.RememberToken can record hash
// until expiresAt at now: hash is not empty, and expiresAt is after now to
// the millisecond, as times are stored. A record that expires at once
// guards nothing, so a caller that asks for one (a token whose expiry is
// already past, without the leeway that still accepts it) has a bug that
// would let the token be replayed; it gets an error instead.
func ValidTokenRecord(hash string, expiresAt, now time.Time) error {
	switch {
	case hash == "":
		return errors.New("remember token: empty hash")
	case expiresAt.UnixMilli() <= now.UnixMilli():
		return fmt.Errorf("remember token: its expiry %s is not after now %s", expiresAt.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// validName reports whether s is 1 to maxNameLen ASCII letters, digits,
// '-' or '_'.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
