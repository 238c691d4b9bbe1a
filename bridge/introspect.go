package bridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/socialbridge/socialbridge/store"
)

// IntrospectRequest is an RFC 7662 introspection request.
type IntrospectRequest struct {
	Client ClientCredentials
	Token  string
	// Hint is token_type_hint; both kinds are tried whatever it says.
	Hint string
}

// inactive is RFC 7662's answer for every token that is not active,
// whatever the reason: exactly {"active": false}.
func inactive() map[string]any { return map[string]any{"active": false} }

// authenticateBackend checks the credentials of a backend that reads
// token state (introspection, the revocation feed): a confidential
// client with introspection.
func (b *Bridge) authenticateBackend(creds ClientCredentials) (*Client, error) {
	c, err := b.authenticateClient(creds.ID, creds.Secret)
	if err != nil {
		// One answer for an unknown client and a wrong secret: these
		// endpoints are not rate limited, and must not tell which
		// client ids exist.
		return nil, &OAuthError{Code: ErrCodeInvalidClient, Description: "client authentication failed"}
	}
	if c.Public() {
		// The same answer as an unknown client: a public client has no
		// secret to authenticate with.
		return nil, &OAuthError{Code: ErrCodeInvalidClient, Description: "client authentication failed"}
	}
	if !c.Introspection {
		return nil, &OAuthError{Code: ErrCodeUnauthorizedClient, Description: "this client may not introspect tokens or read revocations (clients[].introspection)"}
	}
	return c, nil
}

// Introspect answers whether a token is active (RFC 7662). An access
// token is active when it is signed by us and unexpired, its session is
// active and unexpired, its user is enabled and it was issued at or after
// the user's not-before; a refresh token when it is the current one of
// such a session and was issued to the asking client. Anything else,
// including garbage, is exactly {"active": false}.
func (b *Bridge) Introspect(ctx context.Context, r IntrospectRequest) (map[string]any, error) {
	c, err := b.authenticateBackend(r.Client)
	if err != nil {
		return nil, err
	}
	if r.Token == "" {
		return nil, invalidRequest("token is required")
	}
	if at, err := b.o.Issuer.ParseAccess(r.Token); err == nil {
		_, err := b.checkLive(ctx, at)
		var nl *errTokenNotLive
		if errors.As(err, &nl) {
			return inactive(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("introspect: %w", err)
		}
		out := make(map[string]any, len(at.User)+14)
		for k, v := range at.User {
			out[k] = v
		}
		out["active"] = true
		out["token_type"] = "Bearer"
		out["iss"] = at.Issuer
		out["sub"] = at.Subject
		out["aud"] = at.Audience
		out["client_id"] = at.ClientID
		out["sid"] = at.SessionID
		out["jti"] = at.JTI
		out["exp"] = at.Expiry.Unix()
		out["iat"] = at.IssuedAt.Unix()
		out["auth_time"] = at.AuthTime.Unix()
		out["idp"] = at.IDP
		if at.Scope != "" {
			out["scope"] = at.Scope
		}
		return out, nil
	}
	rt, err := b.o.Issuer.ParseRefresh(r.Token)
	if err != nil || rt.ClientID != c.ID {
		return inactive(), nil
	}
	sess, err := b.o.Store.GetSession(ctx, rt.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return inactive(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	if !activeSessionOf(sess, rt.Subject, b.o.Now()) || sess.Generation != rt.Generation {
		return inactive(), nil
	}
	u, err := b.o.Store.GetUser(ctx, rt.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return inactive(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	out := map[string]any{
		"active": true, "iss": b.o.PublicURL, "sub": rt.Subject, "client_id": rt.ClientID, "sid": rt.SessionID,
		"exp": rt.Expiry.Unix(), "iat": rt.IssuedAt.Unix(),
	}
	if rt.Scope != "" {
		out["scope"] = rt.Scope
	}
	return out, nil
}
