package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// liveAccess is an access token that is still good: signed by us,
// unexpired, its session active and unexpired, its user present and
// enabled, and issued at or after the user's not-before.
type liveAccess struct {
	claims tokens.AccessClaims
	sess   *store.Session
	user   *store.User
}

// errTokenNotLive says why an access token is no longer good, for
// callers that answer invalid_token (every cause is the client's, and the
// token's).
type errTokenNotLive struct{ why string }

func (e *errTokenNotLive) Error() string { return e.why }

// checkLive checks a verified access token against the store: two reads
// (session, user).
func (b *Bridge) checkLive(ctx context.Context, at tokens.AccessClaims) (*liveAccess, error) {
	sess, err := b.o.Store.GetSession(ctx, at.SessionID)
	now := b.o.Now()
	if errors.Is(err, store.ErrNotFound) || (err == nil && !activeSessionOf(sess, at.Subject, now)) {
		return nil, &errTokenNotLive{"the session of this access token has ended"}
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	u, err := b.o.Store.GetUser(ctx, at.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, &errTokenNotLive{"the user of this access token is unavailable"}
	}
	if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	if issuedBeforeNotBefore(at.IssuedAt, u.NotBefore) {
		return nil, &errTokenNotLive{"this access token was revoked"}
	}
	return &liveAccess{claims: at, sess: sess, user: u}, nil
}

// issuedBeforeNotBefore reports whether a token issued at iat (whole
// seconds, as JWTs carry it) is revoked by a user's not-before: iat is
// before the not-before's second. A token of the not-before's own second
// passes; the not-before always comes with the revocation of every session
// the user had (see RevokeUserTokens), which covers it.
func issuedBeforeNotBefore(iat, notBefore time.Time) bool {
	return !notBefore.IsZero() && iat.Before(notBefore.Truncate(time.Second))
}

// asInvalidToken turns checkLive's refusals into invalid_token.
func asInvalidToken(err error) error {
	var nl *errTokenNotLive
	if errors.As(err, &nl) {
		return &OAuthError{Code: ErrCodeInvalidToken, Description: nl.why}
	}
	return err
}

// live parses and checks an access token for the endpoints a signed-in
// user calls.
func (b *Bridge) live(ctx context.Context, accessToken string) (*liveAccess, error) {
	at, err := b.o.Issuer.ParseAccess(accessToken)
	if err != nil {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the access token is invalid or expired"}
	}
	la, err := b.checkLive(ctx, at)
	return la, asInvalidToken(err)
}

// SessionInfo is one of a user's sessions as the user sees it.
type SessionInfo struct {
	ID string `json:"id"`
	// Current marks the session of the access token that asked.
	Current bool `json:"current"`
	// ClientID and ClientName are the application signed in to.
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	// Provider and ProviderLabel are how the person signed in.
	Provider      string `json:"provider"`
	ProviderLabel string `json:"provider_label"`
	// UserAgent and IP describe the device that signed in.
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	// CreatedAt is the sign-in; LastUsedAt the last refresh (or the
	// sign-in); ExpiresAt when the session ends at the latest (its
	// absolute lifetime; unused, it ends earlier, at its idle expiry).
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IdleEndsAt time.Time `json:"idle_expires_at"`
}

// ListSessions lists the signed-in user's active sessions, most recently
// used first, the one of accessToken marked current. It needs the account
// scope.
func (b *Bridge) ListSessions(ctx context.Context, accessToken string) ([]SessionInfo, error) {
	acct, err := b.Account(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	list, err := b.o.Store.ListUserSessions(ctx, acct.UserID, b.o.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return b.sessionInfos(list, acct.SessionID), nil
}

// sessionInfos describes the sessions of list, in its order, the one with
// id current (if any) marked.
func (b *Bridge) sessionInfos(list []store.Session, current string) []SessionInfo {
	out := make([]SessionInfo, 0, len(list))
	for _, s := range list {
		name := s.ClientID
		if c, ok := b.clients[s.ClientID]; ok && c.Name != "" {
			name = c.Name
		}
		out = append(out, SessionInfo{
			ID: s.ID, Current: current != "" && s.ID == current, ClientID: s.ClientID, ClientName: name,
			Provider: s.Provider, ProviderLabel: b.ProviderLabel(s.Provider), UserAgent: s.UserAgent, IP: s.IP,
			CreatedAt: s.CreatedAt, LastUsedAt: s.RotatedAt, ExpiresAt: s.ExpiresAt, IdleEndsAt: s.IdleExpiresAt,
		})
	}
	return out
}

// ErrCodeSessionNotFound answers DELETE /sessions/{id} for a session that
// is not one of the user's active sessions.
const ErrCodeSessionNotFound = "session_not_found"

// EndSession ends one of the signed-in user's sessions (the current one
// included). It needs the account scope; a session of another user, or
// one already ended, is ErrCodeSessionNotFound.
func (b *Bridge) EndSession(ctx context.Context, accessToken, sessionID, ip string) error {
	acct, err := b.Account(ctx, accessToken)
	if err != nil {
		return err
	}
	sess, err := b.o.Store.GetSession(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !activeSessionOf(sess, acct.UserID, b.o.Now())) {
		return &OAuthError{Code: ErrCodeSessionNotFound, Description: "no active session of yours has this id"}
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	revoked, err := b.o.Store.Revoke(ctx, sessionID, "ended_by_user", b.o.Now())
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	b.revokedOne("ended_by_user", revoked)
	b.audit(ctx, store.AuditEvent{Type: AuditSessionRevoked, UserID: acct.UserID, SessionID: sessionID, ClientID: sess.ClientID, IP: ip,
		Detail: map[string]string{"reason": "ended_by_user", "by_session": acct.SessionID, "by_client": acct.Client.ID}})
	b.o.Logger.InfoContext(ctx, "session ended by its user", "sid", sessionID, "user_id", acct.UserID, "by_sid", acct.SessionID)
	return nil
}

// Logout scopes (POST /logout's scope parameter).
const (
	LogoutThis   = ""
	LogoutOthers = "others"
	LogoutAll    = "all"
)

// LogoutRequest is POST /logout: the session is named by an access token
// of it, or by a refresh token (a cookie-mode client's cookie).
type LogoutRequest struct {
	AccessToken  string
	RefreshToken string
	// ClientID, when set, must be the client of the token.
	ClientID string
	// Scope is LogoutThis, LogoutOthers or LogoutAll.
	Scope string
	IP    string
}

// LogoutResult says what a logout did.
type LogoutResult struct {
	// Client is the client of the session.
	Client *Client
	// Ended counts the sessions this call revoked.
	Ended int64
}

// Logout ends the session of the token (scope ""), the user's other
// sessions ("others") or all of them ("all"). An access token must be
// unexpired and its session live, and for others or all carry the account
// scope of a client with account management; a refresh token must be
// valid, and its session may already have ended when only it is ended
// (logging out twice is not an error). "others" ends the user's active
// sessions but this one; a sign-in finishing at that moment (a code not
// yet redeemed) is not among them.
func (b *Bridge) Logout(ctx context.Context, r LogoutRequest) (*LogoutResult, error) {
	if r.Scope != LogoutThis && r.Scope != LogoutOthers && r.Scope != LogoutAll {
		return nil, invalidRequest(`scope must be absent (this session), "others" or "all"`)
	}
	var sid, uid, clientID string
	switch {
	case r.AccessToken != "" && r.RefreshToken != "":
		return nil, invalidRequest("send an access token or a refresh token, not both")
	case r.AccessToken != "" && r.Scope != LogoutThis:
		// Ending other sessions with an access token is account
		// management: access tokens travel to APIs, and one that leaked
		// there must not sign the user out everywhere. (A refresh
		// token, which never leaves the app, may.)
		acct, err := b.Account(ctx, r.AccessToken)
		if err != nil {
			return nil, err
		}
		sid, uid, clientID = acct.SessionID, acct.UserID, acct.Client.ID
	case r.AccessToken != "":
		la, err := b.live(ctx, r.AccessToken)
		if err != nil {
			return nil, err
		}
		sid, uid, clientID = la.sess.ID, la.user.ID, la.claims.ClientID
	case r.RefreshToken != "":
		rt, err := b.o.Issuer.ParseRefresh(r.RefreshToken)
		if err != nil {
			return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the refresh token is invalid or expired"}
		}
		sid, uid, clientID = rt.SessionID, rt.Subject, rt.ClientID
		if r.Scope != LogoutThis {
			// Ending other sessions takes a session that is still live.
			sess, err := b.o.Store.GetSession(ctx, sid)
			if errors.Is(err, store.ErrNotFound) || (err == nil && (!activeSessionOf(sess, uid, b.o.Now()) || sess.Generation != rt.Generation)) {
				return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the session of this refresh token has ended"}
			}
			if err != nil {
				return nil, fmt.Errorf("logout: %w", err)
			}
		}
	default:
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "send the access token as Authorization: Bearer <token>"}
	}
	c, ok := b.clients[clientID]
	if !ok || (r.ClientID != "" && r.ClientID != clientID) {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the token was issued to another client"}
	}
	now := b.o.Now()
	res := &LogoutResult{Client: c}
	switch r.Scope {
	case LogoutAll:
		// Every session, codes not yet redeemed included.
		n, err := b.o.Store.RevokeUserSessions(ctx, uid, "logout_all", now)
		if err != nil {
			return nil, fmt.Errorf("logout: %w", err)
		}
		b.revoked("logout_all", n)
		res.Ended += n
	case LogoutOthers:
		if err := b.revokeOthers(ctx, uid, sid, now, res); err != nil {
			return nil, err
		}
	}
	if r.Scope != LogoutOthers {
		revoked, err := b.o.Store.Revoke(ctx, sid, "logout", now)
		if err != nil {
			return nil, fmt.Errorf("logout: %w", err)
		}
		b.revokedOne("logout", revoked)
		if revoked {
			res.Ended++
		}
	}
	b.audit(ctx, store.AuditEvent{Type: AuditLogout, UserID: uid, SessionID: sid, ClientID: clientID, IP: r.IP,
		Detail: map[string]string{"scope": scopeName(r.Scope), "ended": fmt.Sprint(res.Ended)}})
	b.o.Logger.InfoContext(ctx, "logout", "sid", sid, "user_id", uid, "client_id", clientID, "scope", scopeName(r.Scope), "ended", res.Ended)
	return res, nil
}

func scopeName(s string) string {
	if s == LogoutThis {
		return "this"
	}
	return s
}

// revokeOthers revokes the user's live sessions other than keep, counting
// them in res.
func (b *Bridge) revokeOthers(ctx context.Context, uid, keep string, now time.Time, res *LogoutResult) error {
	list, err := b.o.Store.ListUserSessions(ctx, uid, now)
	if err != nil {
		return fmt.Errorf("logout: list sessions: %w", err)
	}
	for _, s := range list {
		if s.ID == keep {
			continue
		}
		revoked, err := b.o.Store.Revoke(ctx, s.ID, "logout_others", now)
		if err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		b.revokedOne("logout_others", revoked)
		if revoked {
			res.Ended++
		}
	}
	return nil
}

// EndSessionRequest is OpenID Connect RP-Initiated Logout 1.0's request
// at the end_session_endpoint.
type EndSessionRequest struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
	IP                    string
}

// ErrLogoutRefused is an RP-initiated logout request that is refused: the
// browser gets an error page, never a redirect. Its message is safe to
// show.
type ErrLogoutRefused struct{ Why string }

func (e *ErrLogoutRefused) Error() string { return e.Why }

// EndSessionResult says where the browser goes after an RP-initiated
// logout.
type EndSessionResult struct {
	// Redirect is the post-logout redirect URI with state, or "" when
	// the request named none (show a signed-out page).
	Redirect string
	// ClientName names the application.
	ClientName string
}

// EndSession runs RP-initiated logout: id_token_hint (an ID token we
// issued; expired is fine) names the session and its client, which is
// revoked; post_logout_redirect_uri must be one of the client's
// registered ones, exactly. Every check happens before anything is
// revoked, and any failure is an *ErrLogoutRefused.
//
// socialbridge keeps no browser session of its own (every sign-in goes
// to the provider), so the session to end comes from the hint, which is
// required.
func (b *Bridge) EndSessionRP(ctx context.Context, r EndSessionRequest) (*EndSessionResult, error) {
	if r.IDTokenHint == "" {
		return nil, &ErrLogoutRefused{"The application did not say which sign-in to end (id_token_hint is missing)."}
	}
	hint, err := b.o.Issuer.ParseIDHint(r.IDTokenHint)
	if err != nil {
		return nil, &ErrLogoutRefused{"The application sent a sign-out request that is not valid (id_token_hint was not issued here)."}
	}
	if r.ClientID != "" && r.ClientID != hint.ClientID {
		return nil, &ErrLogoutRefused{"The sign-out request names another application than its id_token_hint (client_id)."}
	}
	c, ok := b.clients[hint.ClientID]
	if !ok {
		return nil, &ErrLogoutRefused{"The application of this sign-out request is not registered."}
	}
	res := &EndSessionResult{ClientName: c.Name}
	if r.PostLogoutRedirectURI != "" {
		if !slices.Contains(c.PostLogoutRedirectURIs, r.PostLogoutRedirectURI) {
			return nil, &ErrLogoutRefused{"The address to return to after signing out is not registered for this application (post_logout_redirect_uri)."}
		}
		// The registered URI is kept character for character (its own
		// query included); state is appended to it.
		res.Redirect = r.PostLogoutRedirectURI
		if r.State != "" {
			sep := "?"
			if strings.Contains(res.Redirect, "?") {
				sep = "&"
			}
			res.Redirect += sep + "state=" + url.QueryEscape(r.State)
		}
	}
	sess, err := b.o.Store.GetSession(ctx, hint.SessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Gone (swept): nothing left to end.
	case err != nil:
		return nil, fmt.Errorf("end session: %w", err)
	case sess.UserID == hint.Subject && sess.ClientID == hint.ClientID:
		revoked, err := b.o.Store.Revoke(ctx, sess.ID, "logout", b.o.Now())
		if err != nil {
			return nil, fmt.Errorf("end session: %w", err)
		}
		b.revokedOne("logout", revoked)
		if revoked {
			b.audit(ctx, store.AuditEvent{Type: AuditLogout, UserID: sess.UserID, SessionID: sess.ID, ClientID: c.ID, IP: r.IP,
				Detail: map[string]string{"scope": "this", "via": "end_session"}})
			b.o.Logger.InfoContext(ctx, "logout (RP-initiated)", "sid", sess.ID, "user_id", sess.UserID, "client_id", c.ID)
		}
	}
	return res, nil
}
