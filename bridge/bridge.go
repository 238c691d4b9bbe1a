// Package bridge holds socialbridge's use cases: begin a login, finish it
// when the provider calls back, redeem the one-time code, refresh, revoke
// and answer userinfo. It ties providers, claims, tokens and store together
// and is tested without HTTP; package web only parses and renders.
package bridge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// Client is an application registered to use socialbridge.
type Client struct {
	ID           string
	Name         string
	RedirectURIs []string
	CORSOrigins  []string
	// Secret makes the client confidential; empty means public.
	Secret   string
	Audience []string
	// Providers lists the providers this client may use; empty means all.
	Providers          []string
	AccessTTL          time.Duration
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// ProviderTokens lets this (confidential) client fetch users'
	// provider access tokens (ProviderToken).
	ProviderTokens bool
	// TokenExchange lets this (public, native) client exchange provider
	// tokens from native SDKs for socialbridge's tokens (RFC 8693).
	TokenExchange bool
	// AccountManagement lets this client ask for the account scope, whose
	// access tokens list, link and unlink their user's identities.
	AccountManagement bool
	// IDTokenAlg signs this client's ID tokens (its
	// id_token_signed_response_alg: RS256, ES256, PS256 or EdDSA); empty
	// means the keyring's default ID algorithm. The keyring must have it
	// among its ID algorithms.
	IDTokenAlg string
	// RefreshCookie makes this (public, browser) client receive its
	// refresh token as an HttpOnly cookie instead of in the token
	// response; its refreshes and logouts then need the CSRF header and
	// an exact Origin (one of CORSOrigins).
	RefreshCookie bool
	// PostLogoutRedirectURIs are where RP-initiated logout may send the
	// browser back to, matched exactly.
	PostLogoutRedirectURIs []string
	// Introspection lets this (confidential) client call the
	// introspection endpoint and read the revocation feed.
	Introspection bool
}

// Public reports whether the client has no secret (an SPA or mobile app),
// and so must use PKCE.
func (c *Client) Public() bool { return c.Secret == "" }

// Options configures a Bridge. Every field is required unless marked.
type Options struct {
	// PublicURL is socialbridge's external base URL (the issuer).
	PublicURL string
	Store     store.Store
	Issuer    *tokens.Issuer
	// Sealer encrypts provider tokens at rest.
	Sealer    *tokens.Sealer
	Providers []providers.Provider
	// ClaimRules add roles and provider claims to the tokens of each
	// sign-in (optional).
	ClaimRules claims.Rules
	// LinkByEmail lists the providers whose verified emails are trusted
	// for automatic linking (optional; none by default).
	LinkByEmail []string
	// ProviderLabels are the providers' button labels by name
	// (optional: a missing one is the name, capitalised).
	ProviderLabels map[string]string
	Clients        []Client
	// FlowKey (32 bytes) authenticates login states and derives each
	// flow's provider nonce and PKCE verifier.
	FlowKey []byte
	FlowTTL time.Duration
	CodeTTL time.Duration
	// RefreshReuseGrace is how long a just-rotated refresh token still
	// gets the same successor instead of revoking the session.
	RefreshReuseGrace time.Duration
	// AdminToken is the administrators' credential (optional: empty
	// turns the admin API off).
	AdminToken string
	// Now is the clock (optional, default time.Now).
	Now func() time.Time
	// Logger (optional).
	Logger *slog.Logger
	// Observer receives sign-in, grant, reuse, revocation and feed
	// events for the metrics (optional: nil reports nothing).
	Observer Observer
}

// Bridge runs socialbridge's use cases. It is safe for concurrent use.
type Bridge struct {
	o         Options
	clients   map[string]*Client
	providers map[string]providers.Provider
	order     []string // provider names in configuration order
	origins   []string // every client's CORS origins, sorted
	// cookieOrigins are the CORS origins of cookie-mode clients, sorted.
	cookieOrigins []string
	// refreshes shares one provider-token refresh among concurrent
	// requests for the same user and provider.
	refreshes singleflight.Group
}

// New checks opts and returns a Bridge.
func New(opts Options) (*Bridge, error) {
	if opts.Store == nil || opts.Issuer == nil || opts.Sealer == nil {
		return nil, errors.New("bridge: store, issuer and sealer are required")
	}
	if len(opts.FlowKey) < 32 {
		return nil, errors.New("bridge: flow key must be at least 32 bytes")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{o: opts, clients: map[string]*Client{}, providers: map[string]providers.Provider{}}
	for _, p := range opts.Providers {
		if _, dup := b.providers[p.Name()]; dup {
			return nil, fmt.Errorf("bridge: provider %q is registered twice", p.Name())
		}
		if err := store.ValidProviderName(p.Name()); err != nil {
			return nil, fmt.Errorf("bridge: %w", err)
		}
		b.providers[p.Name()] = p
		b.order = append(b.order, p.Name())
	}
	for i := range opts.Clients {
		c := opts.Clients[i]
		if _, dup := b.clients[c.ID]; dup {
			return nil, fmt.Errorf("bridge: client %q is registered twice", c.ID)
		}
		b.clients[c.ID] = &c
		for _, o := range c.CORSOrigins {
			if !slices.Contains(b.origins, o) {
				b.origins = append(b.origins, o)
			}
			if c.RefreshCookie && !slices.Contains(b.cookieOrigins, o) {
				b.cookieOrigins = append(b.cookieOrigins, o)
			}
		}
	}
	slices.Sort(b.origins)
	slices.Sort(b.cookieOrigins)
	return b, nil
}

// ProviderNames lists the enabled providers in configuration order.
func (b *Bridge) ProviderNames() []string { return slices.Clone(b.order) }

// ProviderLabel is the button label of provider name.
func (b *Bridge) ProviderLabel(name string) string {
	if l := b.o.ProviderLabels[name]; l != "" {
		return l
	}
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// Now is the bridge's clock.
func (b *Bridge) Now() time.Time { return b.o.Now() }

// Client returns a registered client.
func (b *Bridge) Client(id string) (*Client, bool) {
	c, ok := b.clients[id]
	return c, ok
}

// CORSOrigins returns every origin some client allows.
func (b *Bridge) CORSOrigins() []string { return b.origins }

// CookieOrigins returns the origins of cookie-mode clients: their
// requests carry credentials (the refresh cookie).
func (b *Bridge) CookieOrigins() []string { return b.cookieOrigins }

// Issuer returns the token issuer.
func (b *Bridge) Issuer() *tokens.Issuer { return b.o.Issuer }

// authenticateClient checks the client's credentials: none for a public
// client, the secret (compared in constant time, whatever its length) for a
// confidential one.
func (b *Bridge) authenticateClient(id, secret string) (*Client, error) {
	c, ok := b.clients[id]
	if !ok {
		return nil, &OAuthError{Code: ErrCodeInvalidClient, Description: "unknown client"}
	}
	if c.Public() {
		if secret != "" {
			return nil, &OAuthError{Code: ErrCodeInvalidClient, Description: "this client is public and has no secret"}
		}
		return c, nil
	}
	// Compare digests of equal length, not the secrets: ConstantTimeCompare
	// returns at once when the lengths differ, which tells the secret's
	// length to whoever times it.
	got, want := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(c.Secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return nil, &OAuthError{Code: ErrCodeInvalidClient, Description: "client authentication failed"}
	}
	return c, nil
}

// randomToken returns n random bytes, base64url encoded.
func randomToken(n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // cannot happen on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

// mac returns HMAC-SHA256(key, label|value), base64url encoded.
func mac(key []byte, label, value string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// s256 is the PKCE S256 transform (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// hashSecret hashes a one-time code for storage: the database never holds
// a redeemable code.
func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validVerifier checks RFC 7636 §4.1: 43–128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	return strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
	}) < 0
}
