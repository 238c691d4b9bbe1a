package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// ErrCodeInteractionRequired (OpenID Connect Core §3.1.2.6) answers a
// backend that asks for a provider token socialbridge cannot get without
// the person: no refresh token is stored, or the provider refused it.
const ErrCodeInteractionRequired = "interaction_required"

// ErrCodeUnauthorizedClient: the client may not use this endpoint.
const ErrCodeUnauthorizedClient = "unauthorized_client"

// providerTokenMinLife is how long a stored provider access token must
// still be valid to be handed out as is; a shorter-lived one is refreshed
// first, so that the backend's call to the provider does not fail midway.
const providerTokenMinLife = 2 * time.Minute

// ProviderTokenRequest is a backend's request for a user's provider token.
type ProviderTokenRequest struct {
	Client ClientCredentials
	// UserID is socialbridge's user id (the sub of its tokens).
	UserID   string
	Provider string
}

// ProviderToken is a provider access token for a backend.
type ProviderToken struct {
	AccessToken string
	Expiry      time.Time
	Scopes      []string
}

// ProviderToken returns a fresh provider access token of a user, for a
// confidential client allowed to ask (ProviderTokens). A token about to
// expire is refreshed with the stored provider refresh token first;
// concurrent requests for one user and provider in this process share one
// refresh, and replicas that refresh at the same time keep whichever
// result was stored first.
func (b *Bridge) ProviderToken(ctx context.Context, r ProviderTokenRequest) (*ProviderToken, error) {
	c, err := b.authenticateClient(r.Client.ID, r.Client.Secret)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Public() || !c.ProviderTokens:
		return nil, &OAuthError{Code: ErrCodeUnauthorizedClient, Description: "this client may not fetch provider tokens (set provider_tokens: true on a confidential client)"}
	case r.UserID == "" || r.Provider == "":
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: "user_id and provider are required"}
	}
	prov, ok := b.providers[r.Provider]
	if !ok || !slices.Contains(b.clientProviders(c), r.Provider) {
		return nil, &OAuthError{Code: ErrCodeInvalidRequest, Description: fmt.Sprintf("provider %q is not enabled for this client", r.Provider)}
	}
	tok, refreshed, err := b.providerToken(ctx, prov, r.UserID)
	if err != nil {
		return nil, err
	}
	b.audit(ctx, store.AuditEvent{Type: AuditProviderToken, UserID: r.UserID, ClientID: c.ID, Actor: c.ID,
		Detail: map[string]string{"provider": r.Provider, "refreshed": fmt.Sprint(refreshed)}})
	return tok, nil
}

// providerToken returns the user's fresh provider token, and whether it
// was refreshed for this request.
func (b *Bridge) providerToken(ctx context.Context, prov providers.Provider, userID string) (*ProviderToken, bool, error) {
	name := prov.Name()
	tok, _, err := b.storedProviderToken(ctx, userID, name)
	if err != nil {
		return nil, false, err
	}
	if b.fresh(tok) {
		return tok, false, nil
	}
	key := userID + "|" + name
	// result is what the shared refresh hands every waiting request.
	type result struct {
		tok       *ProviderToken
		refreshed bool
	}
	v, err, _ := b.refreshes.Do(key, func() (any, error) {
		// A fresh context: the shared refresh must not fail because the
		// first caller went away.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// Read again: a refresh that finished since the read above has
		// rotated the refresh token that read returned, and presenting a
		// rotated-out refresh token makes some providers revoke them all.
		tok, link, err := b.storedProviderToken(rctx, userID, name)
		if err != nil {
			return nil, err
		}
		if b.fresh(tok) {
			return result{tok, false}, nil
		}
		tok, err = b.refreshProviderToken(rctx, prov, userID, link)
		if err != nil {
			return nil, err
		}
		return result{tok, true}, nil
	})
	if err != nil {
		return nil, false, err
	}
	r := v.(result)
	return r.tok, r.refreshed, nil
}

// fresh reports whether a stored provider token can be handed out as is.
func (b *Bridge) fresh(tok *ProviderToken) bool {
	return tok.AccessToken != "" && (tok.Expiry.IsZero() || tok.Expiry.After(b.o.Now().Add(providerTokenMinLife)))
}

// ExpiresIn is how many seconds the token has left at now (0 when it
// has no known expiry).
func (t *ProviderToken) ExpiresIn(now time.Time) int64 {
	if t.Expiry.IsZero() {
		return 0
	}
	return max(int64(t.Expiry.Sub(now)/time.Second), 0)
}

// storedProviderToken reads and opens the user's stored provider token.
func (b *Bridge) storedProviderToken(ctx context.Context, userID, provider string) (*ProviderToken, store.ProviderLink, error) {
	u, err := b.o.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.ProviderLink{}, &OAuthError{Code: ErrCodeNotLinked, Description: "no such user"}
	}
	if err != nil {
		return nil, store.ProviderLink{}, fmt.Errorf("provider token: %w", err)
	}
	if u.Disabled {
		return nil, store.ProviderLink{}, &OAuthError{Code: ErrCodeAccessDenied, Description: "the user is disabled"}
	}
	notLinked := &OAuthError{Code: ErrCodeNotLinked, Description: fmt.Sprintf("the user has no %s identity", b.ProviderLabel(provider))}
	link, ok := u.Providers[provider]
	if !ok {
		return nil, store.ProviderLink{}, notLinked
	}
	// The identity record is authoritative: a sign-in that raced an
	// unlink can leave the unlinked identity's link on the user, whose
	// tokens must not be handed out.
	ident, err := b.o.Store.GetIdentity(ctx, provider+"|"+link.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ident.UserID != userID) {
		return nil, store.ProviderLink{}, notLinked
	}
	if err != nil {
		return nil, store.ProviderLink{}, fmt.Errorf("provider token: %w", err)
	}
	access, err := b.openToken(link.AccessTokenSealed, userID, provider, "access_token")
	if err != nil {
		return nil, link, err
	}
	return &ProviderToken{AccessToken: access, Expiry: link.Expiry, Scopes: link.Scopes}, link, nil
}

// openToken opens one sealed provider token ("" stays "").
func (b *Bridge) openToken(sealed, userID, provider, field string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	plain, err := b.o.Sealer.Open(sealed, providerTokenContext(userID, provider, field))
	if err != nil {
		return "", fmt.Errorf("open provider %s: %w", field, err)
	}
	return string(plain), nil
}

// refreshProviderToken refreshes the provider token of link and stores
// the result, unless another refresh stored one first, which is then
// used.
func (b *Bridge) refreshProviderToken(ctx context.Context, prov providers.Provider, userID string, link store.ProviderLink) (*ProviderToken, error) {
	name := prov.Name()
	again := &OAuthError{Code: ErrCodeInteractionRequired,
		Description: fmt.Sprintf("the user's %s token has expired and socialbridge cannot renew it: the user must sign in with %s again", b.ProviderLabel(name), b.ProviderLabel(name))}
	refresher, ok := prov.(providers.Refresher)
	if !ok {
		return nil, again
	}
	rt, err := b.openToken(link.RefreshTokenSealed, userID, name, "refresh_token")
	if err != nil {
		return nil, err
	}
	if rt == "" {
		return nil, again
	}
	fresh, err := refresher.Refresh(ctx, rt)
	if err != nil {
		b.o.Logger.WarnContext(ctx, "provider token refresh failed", "user_id", userID, "provider", name, "err", err)
		if pe, ok := providers.AsError(err); ok && pe.Code == providers.CodeInvalidGrant {
			return nil, again
		}
		return nil, &OAuthError{Code: ErrCodeTemporarilyUnavail, Description: fmt.Sprintf("%s could not renew the token right now; try again later", b.ProviderLabel(name))}
	}
	now := b.o.Now()
	next := link
	// The stored version must move even within one millisecond (the
	// store keeps milliseconds), or racing refreshes would all "win".
	next.Expiry, next.UpdatedAt = fresh.Expiry, now
	if !now.After(link.UpdatedAt.Add(time.Millisecond)) {
		next.UpdatedAt = link.UpdatedAt.Add(time.Millisecond)
	}
	if len(fresh.Scopes) > 0 {
		next.Scopes = fresh.Scopes
	}
	next.RefreshTokenSealed, next.IDTokenSealed = "", "" // kept unless the provider sent new ones
	for _, f := range []struct {
		dst   *string
		value string
		name  string
	}{
		{&next.AccessTokenSealed, fresh.AccessToken, "access_token"},
		{&next.RefreshTokenSealed, fresh.RefreshToken, "refresh_token"},
		{&next.IDTokenSealed, fresh.IDToken, "id_token"},
	} {
		if f.value == "" {
			continue
		}
		sealed, err := b.o.Sealer.SealString(f.value, providerTokenContext(userID, name, f.name))
		if err != nil {
			return nil, fmt.Errorf("seal provider %s: %w", f.name, err)
		}
		*f.dst = sealed
	}
	err = b.o.Store.UpdateProviderTokens(ctx, userID, name, link.UpdatedAt, next)
	if errors.Is(err, store.ErrNotFound) {
		// Another replica refreshed, or the user signed in, meanwhile:
		// what is stored now is at least as fresh.
		tok, _, rerr := b.storedProviderToken(ctx, userID, name)
		return tok, rerr
	}
	if err != nil {
		return nil, fmt.Errorf("store refreshed provider token: %w", err)
	}
	b.o.Logger.InfoContext(ctx, "provider token refreshed", "user_id", userID, "provider", name, "rotated", fresh.RefreshToken != "")
	return &ProviderToken{AccessToken: fresh.AccessToken, Expiry: fresh.Expiry, Scopes: next.Scopes}, nil
}
