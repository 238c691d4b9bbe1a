package bridge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// GrantTypeTokenExchange is RFC 8693's grant type: a native app exchanges
// the token a provider's SDK gave it for socialbridge's tokens.
const GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// IssuedTokenTypeAccess is the issued_token_type of a token exchange's
// response (RFC 8693 §2.2.1): an access token, with a refresh token.
const IssuedTokenTypeAccess = "urn:ietf:params:oauth:token-type:access_token"

// ErrCodeUnsupportedTokenType (RFC 8693 §2.2.2): the subject token's type
// is not one the provider accepts for native sign-in.
const ErrCodeUnsupportedTokenType = "unsupported_token_type"

// Limits of a token exchange's parameters.
const (
	// maxSubjectTokenLen bounds the provider token before anything parses
	// it: ID tokens are a few KiB, Facebook access tokens a few hundred
	// bytes.
	maxSubjectTokenLen = 16 << 10
	// maxUserAgentLen bounds the device description kept on the session.
	maxUserAgentLen = 256
	// maxReplayWindow bounds how long an accepted subject token is
	// remembered: its whole lifetime (a Facebook user access token lives
	// up to about 60 days, its data access 90), so that a token is
	// accepted once (tokens without a known expiry get
	// defaultReplayWindow).
	maxReplayWindow     = 90 * 24 * time.Hour
	defaultReplayWindow = time.Hour
)

// TokenExchangeGrant is a native app's token exchange (RFC 8693 §2.1).
type TokenExchangeGrant struct {
	Client ClientCredentials
	// SubjectToken is the provider's token; SubjectTokenType is
	// providers.TokenTypeIDToken or providers.TokenTypeAccessToken.
	SubjectToken     string
	SubjectTokenType string
	// Provider names the provider instance that issued SubjectToken.
	Provider string
	// Nonce is the nonce the app gave the provider's SDK, if any.
	Nonce string
	// Scope is the scope asked for (default: openid profile email).
	Scope string
	// UserAgent and IP describe the device, kept on the session.
	UserAgent string
	IP        string
}

// ExchangeToken signs a person in with a token a native app got from a
// provider's SDK: the provider's adapter verifies it completely, a token
// is accepted once (a replay within its lifetime is refused), the same
// user is found or made as a browser sign-in of that identity would, and a
// session for the device starts with the client's usual access and refresh
// tokens.
func (b *Bridge) ExchangeToken(ctx context.Context, g TokenExchangeGrant) (_ *TokenSet, err error) {
	refused := false // a verified token that a policy refused
	defer func() { b.observeExchange(g.Provider, refused, err) }()
	c, err := b.authenticateClient(g.Client.ID, g.Client.Secret)
	if err != nil {
		return nil, err
	}
	verifier, scope, err := b.checkExchange(c, g)
	if err != nil {
		return nil, err
	}
	ident, expires, err := verifier.VerifyNative(ctx, providers.NativeToken{Token: g.SubjectToken, Type: g.SubjectTokenType, Nonce: g.Nonce})
	if err != nil {
		return nil, b.exchangeRefusal(ctx, g, err)
	}
	now := b.o.Now()
	if err := b.rememberSubjectToken(ctx, replayKey(g.SubjectToken, g.SubjectTokenType == providers.TokenTypeIDToken), expires, now); err != nil {
		b.o.Logger.InfoContext(ctx, "native sign-in refused", "provider", g.Provider, "client_id", g.Client.ID,
			"token_type", g.SubjectTokenType, "err", err)
		return nil, err
	}
	in, err := b.signInUser(ctx, ident, c.ID, now)
	if err != nil {
		return nil, fmt.Errorf("token exchange: %w", err)
	}
	if in.user.Disabled {
		refused = true
		return nil, &OAuthError{Code: ErrCodeInvalidGrant, Description: "this account is disabled"}
	}
	authTime := now
	if !ident.AuthTime.IsZero() && ident.AuthTime.Before(now) {
		authTime = ident.AuthTime
	}
	sess := &store.Session{
		ID: randomToken(16), UserID: in.user.ID, ClientID: c.ID, Provider: ident.Provider, Scope: scope,
		AuthTime: authTime, Nonce: g.Nonce, CreatedAt: now, RotatedAt: now,
		ExpiresAt: now.Add(c.RefreshAbsoluteTTL), IdleExpiresAt: now.Add(c.RefreshIdleTTL),
		UserAgent: deviceText(g.UserAgent, maxUserAgentLen), IP: deviceText(g.IP, 64),
		Claims: b.o.ClaimRules.Apply(claims.Input{
			Provider: ident.Provider, Profile: in.user.Profile, Raw: ident.Claims, StoredRoles: in.user.Roles,
		}),
	}
	if err := b.o.Store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("token exchange: create session: %w", err)
	}
	sess.State, sess.Generation = store.StateActive, 1
	if err := b.refuseDisabled(ctx, sess); err != nil {
		var oe *OAuthError
		refused = errors.As(err, &oe)
		return nil, err
	}
	b.audit(ctx, store.AuditEvent{Type: AuditLogin, UserID: in.user.ID, SessionID: sess.ID, ClientID: c.ID, IP: sess.IP,
		Detail: map[string]string{"provider": ident.Provider, "via": "token_exchange", "new_user": fmt.Sprint(in.newUser)}})
	ts, err := b.mint(c, sess, hasScope(scope, "openid"), scope)
	if err != nil {
		return nil, err
	}
	ts.IssuedTokenType = IssuedTokenTypeAccess
	b.o.Logger.InfoContext(ctx, "native sign-in finished", "sid", sess.ID, "user_id", in.user.ID, "new_user", in.newUser,
		"auto_linked", in.autoLinked, "provider", ident.Provider, "client_id", c.ID, "token_type", g.SubjectTokenType)
	return ts, nil
}

// checkExchange checks a token exchange's parameters against the client
// and the provider before the token is looked at, and returns the
// provider's verifier and the scope to grant.
func (b *Bridge) checkExchange(c *Client, g TokenExchangeGrant) (providers.NativeVerifier, string, error) {
	invalid := func(desc string) error { return &OAuthError{Code: ErrCodeInvalidRequest, Description: desc} }
	switch {
	case !c.TokenExchange:
		return nil, "", &OAuthError{Code: ErrCodeUnauthorizedClient, Description: "this client may not exchange provider tokens (clients[].token_exchange)"}
	case g.SubjectToken == "":
		return nil, "", invalid("subject_token is required")
	case len(g.SubjectToken) > maxSubjectTokenLen:
		return nil, "", invalid(fmt.Sprintf("subject_token is longer than %d bytes", maxSubjectTokenLen))
	case !canonicalToken(g.SubjectToken, g.SubjectTokenType == providers.TokenTypeIDToken):
		// Decoders forgive stray newlines and unused trailing bits, so one
		// token could be sent in many spellings; only its one canonical
		// spelling is read, so that the replay guard sees every use.
		return nil, "", invalid("subject_token must be the token exactly as the provider issued it: base64url segments (a compact JWT) or the access token's characters, nothing else")
	case g.SubjectTokenType == "":
		return nil, "", invalid("subject_token_type is required")
	case g.SubjectTokenType != providers.TokenTypeIDToken && g.SubjectTokenType != providers.TokenTypeAccessToken:
		return nil, "", &OAuthError{Code: ErrCodeUnsupportedTokenType, Description: fmt.Sprintf(
			"subject_token_type must be %s or %s", providers.TokenTypeIDToken, providers.TokenTypeAccessToken)}
	case g.Provider == "":
		return nil, "", invalid("provider is required: the provider instance that issued subject_token")
	case len(g.Nonce) > maxNonceLen || !utf8.ValidString(g.Nonce):
		return nil, "", invalid(fmt.Sprintf("nonce must be valid UTF-8 of at most %d bytes", maxNonceLen))
	case !slices.Contains(b.clientProviders(c), g.Provider):
		return nil, "", invalid(fmt.Sprintf("provider %q is not available to this client", g.Provider))
	}
	verifier, ok := b.providers[g.Provider].(providers.NativeVerifier)
	if !ok || !slices.Contains(verifier.NativeTokenTypes(), g.SubjectTokenType) {
		return nil, "", &OAuthError{Code: ErrCodeUnsupportedTokenType, Description: fmt.Sprintf(
			"%s does not accept %s for native sign-in here", b.ProviderLabel(g.Provider), g.SubjectTokenType)}
	}
	scope, err := normalizeScope(g.Scope)
	if err != nil {
		return nil, "", &OAuthError{Code: ErrCodeInvalidScope, Description: err.Error()}
	}
	if hasScope(scope, ScopeAccount) && !c.AccountManagement {
		return nil, "", &OAuthError{Code: ErrCodeInvalidScope, Description: "this client may not ask for the account scope (clients[].account_management)"}
	}
	return verifier, scope, nil
}

// exchangeRefusal turns a provider's refusal of a subject token into the
// client's error: what was wrong, never the token.
func (b *Bridge) exchangeRefusal(ctx context.Context, g TokenExchangeGrant, err error) error {
	b.o.Logger.InfoContext(ctx, "native sign-in refused", "provider", g.Provider, "client_id", g.Client.ID,
		"token_type", g.SubjectTokenType, "err", err)
	pe, ok := providers.AsError(err)
	if !ok {
		return fmt.Errorf("token exchange: %w", err)
	}
	switch pe.Code {
	case providers.CodeUnavailable:
		return &OAuthError{Code: ErrCodeTemporarilyUnavail, Description: fmt.Sprintf("%s could not be reached to check the token; try again", b.ProviderLabel(g.Provider))}
	case providers.CodeUnsupportedTokenType:
		return &OAuthError{Code: ErrCodeUnsupportedTokenType, Description: pe.Message}
	default:
		return &OAuthError{Code: ErrCodeInvalidGrant, Description: fmt.Sprintf("the %s token was refused: %s", b.ProviderLabel(g.Provider), pe.Message)}
	}
}

// canonicalToken reports whether a subject token is spelled the one way
// its issuer spells it: base64url characters and dots, and for a JWT (an
// ID token, or any token of dot-separated segments) each segment exactly
// what strict base64url decoding and re-encoding give back (no unused
// trailing bits). Access tokens are opaque strings the provider compares
// whole, and some contain dots (Google's).
func canonicalToken(token string, idToken bool) bool {
	for _, seg := range strings.Split(token, ".") {
		if strings.IndexFunc(seg, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) >= 0 {
			return false
		}
		if idToken && strings.Contains(token, ".") {
			raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
			if err != nil || base64.RawURLEncoding.EncodeToString(raw) != seg {
				return false
			}
		}
	}
	return true
}

// replayKey is what the replay guard remembers of a subject token: for a
// JWT its header and payload (what the issuer signed), so that another
// valid signature of the same token (ECDSA signatures can be altered and
// stay valid) is the same token; else the token itself.
func replayKey(token string, idToken bool) string {
	if i := strings.LastIndexByte(token, '.'); idToken && i > 0 {
		return "jwt\x00" + token[:i]
	}
	return "token\x00" + token
}

// rememberSubjectToken accepts a subject token once (by its replay key):
// its hash is kept until the token expires (bounded), and a second
// exchange of it in that time is a replay.
func (b *Bridge) rememberSubjectToken(ctx context.Context, key string, expires, now time.Time) error {
	until := expires
	switch {
	case !until.IsZero() && !until.After(now):
		// Verified a moment ago, expired by now.
		return &OAuthError{Code: ErrCodeInvalidGrant, Description: "the provider token has expired"}
	case until.IsZero():
		until = now.Add(defaultReplayWindow)
	case until.After(now.Add(maxReplayWindow)):
		until = now.Add(maxReplayWindow)
	}
	err := b.o.Store.RememberToken(ctx, hashSecret("subject-token\x00"+key), until, now)
	switch {
	case errors.Is(err, store.ErrConflict):
		return &OAuthError{Code: ErrCodeInvalidGrant, Description: "this provider token was already exchanged; get a new one from the provider's SDK"}
	case err != nil:
		return fmt.Errorf("token exchange: remember the subject token: %w", err)
	}
	return nil
}

// deviceText keeps a device description printable and bounded.
func deviceText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
