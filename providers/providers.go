// Package providers defines the seam between socialbridge and an upstream
// identity provider. Each adapter (google, azure, facebook, oidc, dev)
// lives in its own sub-package, builds authorization URLs, exchanges codes
// and returns a verified Identity. Adapters know nothing about users,
// storage or socialbridge's own tokens.
//
// Providers are configured as named instances of a Type (two Entra
// tenants side by side are two instances of type azure). What an adapter
// can do beyond the browser flow is a small optional interface checked by
// type assertion: Refresher (refresh a provider access token),
// NativeVerifier (verify a native SDK's token, for mobile sign-in),
// AccessTokenVerifier (verify a native SDK's access token) and Mounter
// (serve pages of its own).
package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/socialbridge/socialbridge/claims"
)

// Provider is an upstream identity provider that supports the browser
// authorization-code flow with PKCE.
type Provider interface {
	// Name is the instance's configured name ("google", "corp"); it is
	// the first half of every identity key and the last segment of the
	// callback path.
	Name() string
	// AuthCodeURL returns where to send the browser to sign in.
	AuthCodeURL(ctx context.Context, req AuthRequest) (string, error)
	// Exchange redeems the provider's code and returns the verified
	// identity. An adapter whose provider returns an id_token checks its
	// nonce against ExchangeRequest.Nonce; one without (plain OAuth 2.0)
	// relies on state and PKCE.
	Exchange(ctx context.Context, req ExchangeRequest) (*Identity, error)
}

// Refresher is the optional ability to get a fresh provider access token
// with the provider's refresh token, for backends that call the
// provider's API on the user's behalf.
type Refresher interface {
	// Refresh redeems refreshToken. The result's RefreshToken is empty
	// when the provider kept the old one. An *Error with CodeInvalidGrant
	// means the refresh token is dead (revoked, expired, consent
	// withdrawn): the person must sign in again.
	Refresh(ctx context.Context, refreshToken string) (*Tokens, error)
}

// AccessTokenVerifier is the optional ability to verify a provider access
// token that a native app got from the provider's SDK (Facebook Login),
// for the mobile token exchange: the token must have been issued to this
// instance's app, and the identity comes from the provider, never from
// the caller.
type AccessTokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*Identity, error)
}

// Subject token types of a native token exchange (RFC 8693 §3).
const (
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// NativeToken is a token a native app got from the provider's SDK and
// sends socialbridge to sign the person in (RFC 8693 token exchange).
type NativeToken struct {
	// Token is the provider's token, as the SDK returned it.
	Token string
	// Type is TokenTypeIDToken or TokenTypeAccessToken.
	Type string
	// Nonce is the nonce the app gave the SDK ("" when it gave none).
	// When set, an ID token must carry it, as is or as its SHA-256
	// (hex or base64url, as some SDKs send it).
	Nonce string
}

// NativeVerifier is the optional ability to verify a native SDK's token
// completely (signature against the provider's current keys, issuer,
// audience among the app ids configured for native sign-in, expiry, iat,
// nonce) and return the identity it proves, the same identity the browser
// flow returns for the same person.
type NativeVerifier interface {
	// NativeTokenTypes lists the subject token types the instance accepts
	// (none: native sign-in is not configured for it).
	NativeTokenTypes() []string
	// VerifyNative verifies t. expires is when the token stops being
	// valid, so that socialbridge can refuse a replay until then. A
	// refusal is an *Error with CodeInvalidToken whose message says what
	// was wrong (wrong audience, expired, bad signature, nonce mismatch,
	// wrong tenant) and holds no token.
	VerifyNative(ctx context.Context, t NativeToken) (ident *Identity, expires time.Time, err error)
}

// Mounter is the optional ability to serve pages of its own (the dev
// provider's test-user page). Routes returns the path prefix and handler.
type Mounter interface {
	Routes() (prefix string, h http.Handler)
}

// Settings is one provider instance's type-specific configuration: a
// pointer to a struct whose yaml tags are its keys under
// providers.<name> (client_id, issuer, ...). The configuration loader
// fills it from the file and SOCIALBRIDGE_PROVIDERS_<NAME>_<KEY>
// variables, reads x from x_file siblings, then calls Validate.
type Settings interface {
	// Validate reports every problem with report, key being the yaml key
	// below the instance ("client_secret", "tenants[1]"). dev says
	// whether socialbridge runs in dev mode.
	Validate(dev bool, report func(key, message string))
}

// Instance is what every adapter of an instance is built with.
type Instance struct {
	// Name is the instance's configured name.
	Name string
	// PublicURL is socialbridge's external base URL.
	PublicURL string
	// HTTPClient talks to the provider; nil means the adapter's default
	// (with a timeout).
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Type is a kind of provider that configuration instantiates. Adding a
// type is its package plus one line in the registry of cmd/socialbridge.
type Type struct {
	// Name is the value of type: in configuration ("azure").
	Name string
	// Label is the default button label ("Microsoft").
	Label string
	// NewSettings returns new, empty settings for the loader to fill.
	NewSettings func() Settings
	// New builds an instance from its validated settings (of the
	// concrete type NewSettings returns).
	New func(inst Instance, s Settings) (Provider, error)
}

// AuthRequest holds what socialbridge generated for one sign-in attempt.
type AuthRequest struct {
	// RedirectURI is socialbridge's callback URL for this provider.
	RedirectURI string
	// State is opaque to the provider and comes back on the callback.
	State string
	// Nonce must come back inside the provider's id_token.
	Nonce string
	// CodeChallenge is the S256 PKCE challenge (RFC 7636).
	CodeChallenge string

	// The client's OpenID Connect options (Core §3.1.2.1), passed on to
	// the provider where it supports them; an adapter ignores what its
	// provider has no equivalent for.

	// Prompt lists the prompt values the client asked for: login,
	// consent, select_account (never none, which socialbridge answers
	// itself).
	Prompt []string
	// MaxAge is the client's max_age in seconds; nil when it sent none.
	// The provider should report when the person authenticated
	// (Identity.AuthTime), which socialbridge checks against it.
	MaxAge *int64
	// LoginHint is the client's login_hint (an email address, say); empty
	// when it sent none.
	LoginHint string
}

// ExchangeRequest is the provider's callback, plus the secrets socialbridge
// kept for it.
type ExchangeRequest struct {
	Code         string
	RedirectURI  string
	CodeVerifier string
	Nonce        string
}

// Identity is a verified external identity.
type Identity struct {
	// Provider is the provider's Name.
	Provider string
	// Subject is the provider's stable, never-reassigned id for the person.
	Subject string
	// Profile is the normalized profile the provider vouched for.
	Profile claims.Profile
	// Tenant is the organisation the account belongs to when the
	// provider has them (Entra ID's tid); empty otherwise.
	Tenant string
	// AuthTime is when the provider last authenticated the person (an
	// id_token's auth_time); zero when the provider did not say.
	AuthTime time.Time
	// Claims are the provider's raw claims (the id_token's, or the
	// profile a provider API returned), JSON-shaped, for the configured
	// rules that copy provider claims into socialbridge's tokens. They
	// are never stored.
	Claims map[string]any
	// Tokens are the provider's tokens; socialbridge stores them encrypted
	// and never puts them in its own tokens.
	Tokens Tokens
}

// Key returns the identity key: provider and subject, which together name
// one person at one provider.
func (i *Identity) Key() string { return i.Provider + "|" + i.Subject }

// Tokens are tokens a provider issued to socialbridge.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	Expiry       time.Time
	// Scopes the provider granted, when it said; else the ones asked for.
	Scopes []string
}

// Error is a failure reported by, or caused by, a provider. Code is a short
// machine-readable reason ("access_denied", "invalid_token",
// "provider_unavailable"); the message never holds a token or secret. The
// Message of a CodeNotAllowed error is shown to the application and the
// person, so it speaks to them; what an operator would change goes in Err,
// which only the log shows.
type Error struct {
	Provider string
	Code     string
	Message  string
	Err      error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %s: %v", e.Provider, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s: %s", e.Provider, e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Error codes used in Error.Code.
const (
	// CodeInvalidToken: what the provider returned failed verification.
	CodeInvalidToken = "invalid_token"
	// CodeInvalidGrant: the provider refused the code (used, expired, PKCE).
	CodeInvalidGrant = "invalid_grant"
	// CodeUnavailable: the provider could not be reached or answered 5xx.
	CodeUnavailable = "provider_unavailable"
	// CodeNotAllowed: the account is valid but policy rejects it (e.g. a
	// hosted domain not in the allow-list).
	CodeNotAllowed = "account_not_allowed"
	// CodeUnsupportedTokenType: the instance does not accept a native
	// token of this type (RFC 8693 §2.2.2 unsupported_token_type), as
	// opposed to a token of a supported type that failed verification.
	CodeUnsupportedTokenType = "unsupported_token_type"
)

// AsError returns the *Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}
