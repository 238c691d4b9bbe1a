package bridge

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// TokenSet is a successful token response (RFC 6749 §5.1).
type TokenSet struct {
	AccessToken  string
	TokenType    string
	ExpiresIn    int64
	RefreshToken string
	// RefreshExpiresAt is when the refresh token stops working if unused
	// (the session's idle or absolute end, whichever is first).
	RefreshExpiresAt time.Time
	IDToken          string
	Scope            string
	// IssuedTokenType is set for a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string
}

// ClientCredentials identify the client at the token endpoint.
type ClientCredentials struct {
	ID     string
	Secret string
}

// CodeGrant is grant_type=authorization_code (RFC 6749 §4.1.3).
type CodeGrant struct {
	Client       ClientCredentials
	Code         string
	RedirectURI  string
	CodeVerifier string
}

// ExchangeCode redeems a one-time code for tokens, in one conditional
// update that checks code, client, redirect URI, PKCE and expiry at once.
func (b *Bridge) ExchangeCode(ctx context.Context, g CodeGrant) (_ *TokenSet, err error) {
	defer func() { b.observeGrant(GrantAuthorizationCode, err) }()
	c, err := b.authenticateClient(g.Client.ID, g.Client.Secret)
	if err != nil {
		return nil, err
	}
	flowID, _, ok := strings.Cut(g.Code, ".")
	if !ok || len(flowID) != 22 || len(g.Code) > 128 {
		return nil, invalidGrant("the code is malformed")
	}
	challenge := ""
	switch {
	case g.CodeVerifier != "" && !validVerifier(g.CodeVerifier):
		return nil, invalidRequest("code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
	case g.CodeVerifier != "":
		challenge = s256(g.CodeVerifier)
	case c.Public():
		return nil, invalidRequest("code_verifier is required (PKCE)")
	}
	now := b.o.Now()
	sess, err := b.o.Store.RedeemCode(ctx, flowID, store.Redemption{
		CodeHash: hashSecret(g.Code), ClientID: c.ID, RedirectURI: g.RedirectURI, CodeChallenge: challenge, Now: now,
		IdleExpiresAt: earliest(now.Add(c.RefreshIdleTTL), now.Add(c.RefreshAbsoluteTTL)),
		ExpiresAt:     now.Add(c.RefreshAbsoluteTTL),
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, b.explainCodeFailure(ctx, flowID, g, c.ID, challenge)
	}
	if err != nil {
		return nil, fmt.Errorf("redeem code: %w", err)
	}
	if err := b.refuseDisabled(ctx, sess); err != nil {
		return nil, err
	}
	b.o.Logger.InfoContext(ctx, "session started", "sid", sess.ID, "user_id", sess.UserID, "client_id", c.ID)
	return b.mint(c, sess, true, sess.Scope)
}

// refuseDisabled ends a session that has just started (a redeemed code, a
// token exchange) when its user turns out to be disabled, cut off since
// the sign-in began (a not-before after the session's CreatedAt), or no
// longer holding the identity it signed in with (unlinked meanwhile).
//
// An administrator's change writes the user first (disabled, roles),
// then the not-before, then revokes the user's sessions; an unlink
// removes the provider's link from the user before it revokes that
// provider's sessions. A sign-in racing either has its session revoked
// there or, having written its session after, reads the change here: one
// of the two always sees the other. A sign-in that read the user before
// the change (old roles) began before the not-before, which is taken
// after the change is written, so it is refused even when it wrote its
// session after the revocation. (With several replicas this relies on
// their clocks agreeing, as the revocation feed does.) It costs the
// sign-in one read.
func (b *Bridge) refuseDisabled(ctx context.Context, sess *store.Session) error {
	u, err := b.o.Store.GetUser(ctx, sess.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read user: %w", err)
	}
	reason, why := "", ""
	switch {
	case err != nil || u.Disabled:
		reason, why = "user_disabled", "this account is disabled"
	case u.NotBefore.After(sess.CreatedAt.Truncate(time.Millisecond)):
		reason, why = "user_cut_off", "the account's sessions were revoked while this sign-in was finishing; sign in again"
	case !hasLink(u, sess.Provider):
		reason, why = "identity_unlinked", "the account this sign-in used was unlinked meanwhile; sign in again"
	default:
		return nil
	}
	revoked, err := b.o.Store.Revoke(ctx, sess.ID, reason, b.o.Now())
	if err != nil {
		return fmt.Errorf("revoke a session that must not start: %w", err)
	}
	b.revokedOne(reason, revoked)
	b.o.Logger.InfoContext(ctx, "sign-in refused at its last step", "reason", reason, "sid", sess.ID, "user_id", sess.UserID, "client_id", sess.ClientID)
	b.audit(ctx, store.AuditEvent{Type: AuditLoginFailed, UserID: sess.UserID, SessionID: sess.ID, ClientID: sess.ClientID, IP: sess.IP,
		Detail: map[string]string{"provider": sess.Provider, "error": ErrCodeInvalidGrant, "reason": reason}})
	return invalidGrant(why)
}

// hasLink reports whether the user holds a link of provider: every
// sign-in writes its provider's link before its session can start, and
// an unlink removes it.
func hasLink(u *store.User, provider string) bool {
	_, ok := u.Providers[provider]
	return ok
}

// explainCodeFailure says why a code did not redeem. A code presented
// again soon after it was redeemed, in a request that would otherwise
// have been valid, revokes the session it created (RFC 6749 §4.1.2, RFC
// 9700 §4.5): it has probably leaked. challenge is S256 of the grant's
// code_verifier ("" without one); clientID is the authenticated client.
func (b *Bridge) explainCodeFailure(ctx context.Context, flowID string, g CodeGrant, clientID, challenge string) error {
	sess, err := b.o.Store.GetSession(ctx, flowID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return invalidGrant("the code is invalid or expired")
		}
		return fmt.Errorf("redeem code: %w", err)
	}
	if sess.CodeHash != hashSecret(g.Code) {
		return invalidGrant("the code is invalid or expired")
	}
	// Only a request that would have redeemed the code, had it not been
	// used, can trigger the revocation: the client the code was for
	// (authenticated above), its redirect URI and PKCE verifier, while
	// the code could still have been valid. Someone holding only the
	// code (seen in a log or a Referer) must not be able to log the user
	// out.
	sameRequest := sess.ClientID == clientID && sess.RedirectURI == g.RedirectURI &&
		subtle.ConstantTimeCompare([]byte(challenge), []byte(sess.CodeChallenge)) == 1
	reuse := sameRequest && sess.Generation == 1 && b.o.Now().Sub(sess.RotatedAt) <= b.o.CodeTTL
	switch {
	case sess.State == store.StateActive && reuse:
		revoked, err := b.o.Store.Revoke(ctx, sess.ID, "code_reuse", b.o.Now())
		if err != nil {
			return fmt.Errorf("revoke after code reuse: %w", err)
		}
		b.observer().Reuse(ReuseCode)
		b.revokedOne("code_reuse", revoked)
		b.o.Logger.WarnContext(ctx, "code reused; session revoked", "sid", sess.ID, "user_id", sess.UserID, "client_id", sess.ClientID)
		b.audit(ctx, store.AuditEvent{Type: AuditCodeReuse, UserID: sess.UserID, SessionID: sess.ID, ClientID: sess.ClientID})
		return invalidGrant("the code was already used")
	case sess.State == store.StateRevoked && sess.Generation == 0:
		// Revoked before it was redeemed: the user was cut off (or
		// unlinked) while the sign-in was finishing.
		if sess.RevokeReason == "user_disabled" {
			return invalidGrant("this account is disabled")
		}
		return invalidGrant("the sign-in was revoked before its code was redeemed; sign in again")
	case sess.State == store.StateActive, sess.State == store.StateRevoked:
		return invalidGrant("the code was already used")
	}
	return invalidGrant("the code is invalid or expired, or client_id, redirect_uri or code_verifier do not match the authorization request")
}

// RefreshGrant is grant_type=refresh_token (RFC 6749 §6).
type RefreshGrant struct {
	Client       ClientCredentials
	RefreshToken string
	Scope        string
}

// Refresh rotates a refresh token. The common case is one signature check,
// one conditional update that checks and advances the session generation,
// and two signatures. A token of an older generation is a reuse: within the
// grace window it gets the same successor (two tabs racing), after it the
// whole session is revoked (RFC 9700 §4.14.2).
func (b *Bridge) Refresh(ctx context.Context, g RefreshGrant) (_ *TokenSet, err error) {
	defer func() { b.observeGrant(GrantRefreshToken, err) }()
	c, err := b.authenticateClient(g.Client.ID, g.Client.Secret)
	if err != nil {
		return nil, err
	}
	rt, err := b.o.Issuer.ParseRefresh(g.RefreshToken)
	if err != nil {
		return nil, invalidGrant("the refresh token is invalid or expired")
	}
	if rt.ClientID != c.ID {
		return nil, invalidGrant("the refresh token was issued to another client")
	}
	// A requested scope is checked before anything rotates: a refused one
	// must not spend the refresh token (a retry with it would look like a
	// reuse). The token carries the granted scope; a token minted before
	// it did is checked against the session, one read.
	if strings.TrimSpace(g.Scope) != "" {
		granted := rt.Scope
		if granted == "" {
			sess, err := b.o.Store.GetSession(ctx, rt.SessionID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("read session: %w", err)
			}
			if err == nil {
				granted = sess.Scope
			}
		}
		if _, err := narrowScope(granted, g.Scope); err != nil {
			return nil, err
		}
	}
	now := b.o.Now()
	sess, err := b.o.Store.Rotate(ctx, rt.SessionID, rt.Generation, now, now.Add(c.RefreshIdleTTL))
	if err == nil {
		return b.mintScoped(c, sess, g.Scope)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("rotate session: %w", err)
	}
	return b.refreshRetry(ctx, c, rt, g.Scope, now)
}

// mintScoped mints refreshed tokens. A requested scope must be within the
// granted one (RFC 6749 §6); OIDC libraries send the granted scope again
// on every refresh. A narrower one narrows this access token only (the
// session and its refresh token keep the granted scope): an app that holds
// the account scope sends its APIs a token without it.
func (b *Bridge) mintScoped(c *Client, sess *store.Session, requested string) (*TokenSet, error) {
	scope, err := narrowScope(sess.Scope, requested)
	if err != nil {
		return nil, err
	}
	return b.mint(c, sess, false, scope)
}

// narrowScope returns the scope of a refreshed access token: the granted
// one when none is requested, else the requested one, which must be within
// it, in the granted order.
func narrowScope(granted, requested string) (string, error) {
	if strings.TrimSpace(requested) == "" {
		return granted, nil
	}
	req, err := normalizeScope(requested)
	if err != nil {
		return "", &OAuthError{Code: ErrCodeInvalidScope, Description: err.Error()}
	}
	asked := strings.Fields(req)
	for _, s := range asked {
		if !hasScope(granted, s) {
			return "", &OAuthError{Code: ErrCodeInvalidScope, Description: fmt.Sprintf("scope %q was not granted to this session", s)}
		}
	}
	var out []string
	for _, s := range strings.Fields(granted) {
		if slices.Contains(asked, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " "), nil
}

// refreshRetry handles a refresh token that did not match the session's
// current generation.
func (b *Bridge) refreshRetry(ctx context.Context, c *Client, rt tokens.Refresh, scope string, now time.Time) (*TokenSet, error) {
	sess, err := b.o.Store.GetSession(ctx, rt.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalidGrant("the session has ended")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if sess.State != store.StateActive || !now.Before(sess.ExpiresAt) || !now.Before(sess.IdleExpiresAt) {
		return nil, invalidGrant("the session has ended")
	}
	if sess.Generation == rt.Generation+1 && now.Sub(sess.RotatedAt) <= b.o.RefreshReuseGrace {
		// The same successor again: a concurrent request already rotated.
		return b.mintScoped(c, sess, scope)
	}
	if sess.Generation > rt.Generation {
		revoked, err := b.o.Store.Revoke(ctx, sess.ID, "refresh_token_reuse", now)
		if err != nil {
			return nil, fmt.Errorf("revoke after refresh reuse: %w", err)
		}
		b.observer().Reuse(ReuseRefreshToken)
		b.revokedOne("refresh_token_reuse", revoked)
		b.o.Logger.WarnContext(ctx, "refresh token reused; session revoked", "sid", sess.ID, "user_id", sess.UserID,
			"client_id", c.ID, "presented_gen", rt.Generation, "current_gen", sess.Generation)
		b.audit(ctx, store.AuditEvent{Type: AuditRefreshReuse, UserID: sess.UserID, SessionID: sess.ID, ClientID: c.ID,
			Detail: map[string]string{"presented_generation": fmt.Sprint(rt.Generation), "current_generation": fmt.Sprint(sess.Generation)}})
		return nil, invalidGrant("the refresh token was already used; the session has been revoked")
	}
	return nil, invalidGrant("the refresh token is invalid or expired")
}

// mint signs the tokens of an active session at its current generation,
// the access token with scope (the session's, or narrower).
// The access token's claims come from the session's snapshot, so no user
// read is needed.
func (b *Bridge) mint(c *Client, sess *store.Session, withID bool, scope string) (*TokenSet, error) {
	refreshExp := earliest(sess.IdleExpiresAt, sess.ExpiresAt)
	// An access token never outlives its session: the sweeper removes a
	// revoked session (and its entry in the revocation feed) an hour after
	// the session's end, and no token of it may still be valid then.
	ttl := c.AccessTTL
	if left := refreshExp.Sub(b.o.Now()).Truncate(time.Second); left < ttl {
		ttl = max(left, time.Second)
	}
	access, _, err := b.o.Issuer.MintAccess(tokens.Access{
		Subject: sess.UserID, Audience: c.Audience, ClientID: c.ID, SessionID: sess.ID, Scope: scope,
		AuthTime: sess.AuthTime, IDP: sess.Provider, TTL: ttl, Claims: sess.Claims,
	})
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	refresh, err := b.o.Issuer.MintRefresh(tokens.Refresh{
		Subject: sess.UserID, ClientID: c.ID, SessionID: sess.ID, Generation: sess.Generation,
		IssuedAt: sess.RotatedAt, Expiry: refreshExp, Scope: sess.Scope,
	})
	if err != nil {
		return nil, fmt.Errorf("mint refresh token: %w", err)
	}
	ts := &TokenSet{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second),
		RefreshToken: refresh, RefreshExpiresAt: refreshExp, Scope: scope,
	}
	// Only the code exchange asks for an ID token (OpenID Connect Core
	// §12.2 lets a refresh omit it), so the refresh grant never pays for
	// its signature: with the default RS256 about 1 ms of CPU here, against
	// some 60 µs for an ES256 one.
	if withID && hasScope(sess.Scope, "openid") {
		ts.IDToken, err = b.o.Issuer.MintID(tokens.ID{
			Subject: sess.UserID, ClientID: c.ID, SessionID: sess.ID, Nonce: sess.Nonce,
			AuthTime: sess.AuthTime, TTL: c.AccessTTL, Claims: sess.Claims, Algorithm: c.IDTokenAlg,
		})
		if err != nil {
			return nil, fmt.Errorf("mint ID token: %w", err)
		}
	}
	return ts, nil
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// RevokeRequest is an RFC 7009 revocation request.
type RevokeRequest struct {
	Client ClientCredentials
	Token  string
	// Hint is token_type_hint. Both kinds are tried whatever it says
	// (RFC 7009 §2.1 lets the server ignore it), so it is not used.
	Hint string
	// IP is the caller's address, for the audit trail.
	IP string
}

// Revoke ends the session a refresh or access token belongs to. Per RFC
// 7009 §2.2 an invalid or unknown token is not an error; a token of
// another client is ignored.
func (b *Bridge) Revoke(ctx context.Context, r RevokeRequest) error {
	c, err := b.authenticateClient(r.Client.ID, r.Client.Secret)
	if err != nil {
		return err
	}
	sid, client, sub := "", "", ""
	if rt, err := b.o.Issuer.ParseRefresh(r.Token); err == nil {
		sid, client, sub = rt.SessionID, rt.ClientID, rt.Subject
	} else if at, err := b.o.Issuer.ParseAccess(r.Token); err == nil {
		sid, client, sub = at.SessionID, at.ClientID, at.Subject
	}
	if sid == "" || client != c.ID {
		return nil
	}
	revoked, err := b.o.Store.Revoke(ctx, sid, "revoked_by_client", b.o.Now())
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if revoked {
		b.revokedOne("revoked_by_client", true)
		b.o.Logger.InfoContext(ctx, "session revoked", "sid", sid, "client_id", c.ID)
		b.audit(ctx, store.AuditEvent{Type: AuditSessionRevoked, UserID: sub, SessionID: sid, ClientID: c.ID, IP: r.IP,
			Detail: map[string]string{"reason": "revoked_by_client"}})
	}
	return nil
}

// UserInfo returns the normalized claims of the user an access token was
// issued to (OpenID Connect Core §5.3): the profile from the current user
// record, roles and copied claims from the session's sign-in, as long as
// the token's session is still active.
func (b *Bridge) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	at, err := b.o.Issuer.ParseAccess(accessToken)
	if err != nil {
		return nil, &OAuthError{Code: ErrCodeInvalidToken, Description: "the access token is invalid or expired"}
	}
	la, err := b.checkLive(ctx, at)
	if err != nil {
		return nil, asInvalidToken(err)
	}
	sess, u := la.sess, la.user
	// The session's claims (roles and copied provider claims, fixed at
	// sign-in as in its tokens), with the profile as it is now.
	out := make(map[string]any, len(sess.Claims)+8)
	for k, v := range sess.Claims {
		out[k] = v
	}
	for k, v := range claims.ForToken(u.Profile, nil) {
		if k != "roles" {
			out[k] = v
		}
	}
	out["sub"] = u.ID
	return out, nil
}
