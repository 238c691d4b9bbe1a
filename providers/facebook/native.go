package facebook

import (
	"context"
	"fmt"
	"time"

	"github.com/socialbridge/socialbridge/providers"
)

// maxAccessTokenBytes bounds a native access token before it is sent to
// Facebook; real ones are a few hundred bytes.
const maxAccessTokenBytes = 4 << 10

// accessTokenReplayWindow is how long a verified access token that
// debug_token says never expires (expires_at and data_access_expires_at
// both 0) is remembered against replay: Facebook's 90-day data access
// window, after which a sign-in must renew access to the person's data.
// A shorter bound would let a token that is still valid be exchanged
// again once it passed.
const accessTokenReplayWindow = 90 * 24 * time.Hour

// NativeTokenTypes implements providers.NativeVerifier: a user access token
// from the Facebook SDKs (Android, iOS classic login, JavaScript) and,
// unless Limited Login is turned off, the id_token of iOS Limited Login.
func (p *Provider) NativeTokenTypes() []string {
	if p.cfg.DisableLimitedLogin {
		return []string{providers.TokenTypeAccessToken}
	}
	return []string{providers.TokenTypeIDToken, providers.TokenTypeAccessToken}
}

// VerifyNative implements providers.NativeVerifier.
//
// An access token is checked like VerifyAccessToken does (debug_token, then
// /me with appsecret_proof); it expires at the sooner of debug_token's
// expires_at and data_access_expires_at, or after accessTokenReplayWindow
// when Facebook names neither. Facebook access tokens carry no nonce, so
// one sent with an access token is refused rather than ignored: the app
// would believe its sign-in bound to a nonce that nothing checked.
//
// An id_token is an iOS Limited Login AuthenticationToken, verified
// against Facebook's published keys and issuer (verifyLimitedLogin); it
// expires at its exp plus the clock-skew leeway.
//
// The identity key is the app-scoped user id either way (debug_token's and
// /me's id, or the id_token's sub), the id the browser flow gets from /me.
// Facebook documents the Limited Login user id as the app-scoped id
// (developers.facebook.com/docs/facebook-login/guides/map-users), which
// belongs to the person and the app, not to a login mode; the adapter
// relies on that to make one identity of the three.
//
// Another type, or an id_token while Limited Login is off, is refused with
// CodeUnsupportedTokenType rather than CodeInvalidToken: nothing is wrong
// with the token, this instance does not take it.
func (p *Provider) VerifyNative(ctx context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	switch t.Type {
	case providers.TokenTypeAccessToken:
		if t.Nonce != "" {
			return nil, time.Time{}, p.refuse("a Facebook access token carries no nonce to check: send the nonce only with "+
				"a Limited Login id_token, or send none with an access token", nil)
		}
		return p.verifyAccessToken(ctx, t.Token)
	case providers.TokenTypeIDToken:
		return p.verifyLimitedLogin(ctx, t.Token, t.Nonce)
	default:
		return nil, time.Time{}, p.newError(providers.CodeUnsupportedTokenType, fmt.Sprintf(
			"Facebook issues no native token of type %q (use %s or %s)",
			short(clean(t.Type)), providers.TokenTypeAccessToken, providers.TokenTypeIDToken), nil)
	}
}

// replayBound is when an access token with debug_token's expires_at and
// data_access_expires_at (0: never) stops being usable for a sign-in.
func replayBound(now time.Time, expiresAt, dataAccessExpiresAt int64) time.Time {
	var bound time.Time
	for _, at := range []int64{expiresAt, dataAccessExpiresAt} {
		if t := time.Unix(at, 0).UTC(); at != 0 && (bound.IsZero() || t.Before(bound)) {
			bound = t
		}
	}
	if bound.IsZero() {
		return now.Add(accessTokenReplayWindow).UTC()
	}
	return bound
}

// The abilities the Facebook adapter has: no Refresher, since Facebook
// issues no refresh tokens.
var (
	_ providers.Provider            = (*Provider)(nil)
	_ providers.AccessTokenVerifier = (*Provider)(nil)
	_ providers.NativeVerifier      = (*Provider)(nil)
)
