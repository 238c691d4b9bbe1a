// Package google signs people in with Google: the generic OpenID Connect
// relying party of package oidc (discovery, the authorization-code flow
// with PKCE and a nonce, complete id_token verification against Google's
// rotating JWKS) plus Google's own rules: the hosted-domain (hd)
// allow-list, email_verified, Google's spelling of prompt and offline
// access. The stable identity key is Google's sub claim.
package google

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
)

// Name is the type name, and the default instance name in identity keys
// and callback paths.
const Name = "google"

// DefaultIssuer is Google's OpenID Connect issuer.
const DefaultIssuer = "https://accounts.google.com"

// Config configures the adapter.
type Config struct {
	// Name is the instance name (default "google").
	Name         string
	ClientID     string
	ClientSecret string
	// Issuer is used for discovery and must match the id_token's iss.
	Issuer string
	// AuthURL, TokenURL, JWKSURL and UserinfoURL override discovery. When
	// the first three are all set, discovery is skipped.
	AuthURL, TokenURL, JWKSURL, UserinfoURL string
	Scopes                                  []string
	// HostedDomains, when not empty, admits only Workspace accounts whose
	// hd claim is listed.
	HostedDomains []string
	// OfflineAccess asks for a Google refresh token.
	OfflineAccess bool
	// NativeClientIDs are the OAuth client ids of the Android and iOS
	// apps, for native sign-in (VerifyNative). ClientID, the web client,
	// always counts: an Android app asks Google for an ID token for it
	// (aud) and gets one whose azp is the Android client, so both must be
	// known.
	NativeClientIDs []string
	// NativeRequireNonce refuses native ID tokens sent without a nonce.
	NativeRequireNonce bool
	// HTTPClient talks to Google (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry checks (default time.Now).
	Now func() time.Time
}

// Provider is the Google adapter. It is safe for concurrent use.
type Provider struct {
	cfg Config
	rp  *oidc.RP
}

// New returns the adapter. Discovery happens on first use, so that the
// service starts even while Google is unreachable.
func New(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = Name
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	rp := oidc.NewRP(oidc.RPConfig{
		Name: cfg.Name, Label: "Google", ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Issuer: cfg.Issuer, AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, JWKSURL: cfg.JWKSURL, UserinfoURL: cfg.UserinfoURL,
		Scopes: cfg.Scopes, Algorithms: []string{"RS256"}, // Google signs with RS256 only
		NativeClientIDs:    append([]string{cfg.ClientID}, cfg.NativeClientIDs...),
		NativeRequireNonce: cfg.NativeRequireNonce,
		HTTPClient:         cfg.HTTPClient, Now: cfg.Now,
	})
	return &Provider{cfg: cfg, rp: rp}
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// AuthCodeURL implements providers.Provider.
func (p *Provider) AuthCodeURL(ctx context.Context, req providers.AuthRequest) (string, error) {
	var opts []oauth2.AuthCodeOption
	// Google documents prompt=consent and select_account but not login,
	// which it refuses; max_age=0 asks the same (OpenID Connect Core
	// §3.1.2.1) in a parameter Google's OIDC endpoint takes.
	var prompt []string
	maxAge := req.MaxAge
	for _, v := range req.Prompt {
		switch v {
		case "login":
			maxAge = new(int64)
		case "consent", "select_account":
			prompt = append(prompt, v)
		}
	}
	if p.cfg.OfflineAccess {
		// Google issues a refresh token only on consent.
		opts = append(opts, oauth2.AccessTypeOffline)
		if !slices.Contains(prompt, "consent") {
			prompt = append(prompt, "consent")
		}
	}
	if len(prompt) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(prompt, " ")))
	}
	if maxAge != nil {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(*maxAge, 10)))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	if len(p.cfg.HostedDomains) == 1 {
		// A hint that narrows Google's account chooser; enforced on return.
		opts = append(opts, oauth2.SetAuthURLParam("hd", p.cfg.HostedDomains[0]))
	}
	return p.rp.AuthCodeURL(ctx, req, opts...)
}

// Exchange implements providers.Provider: it redeems the code with the PKCE
// verifier, then verifies the id_token completely before trusting any claim.
func (p *Provider) Exchange(ctx context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	v, err := p.rp.Exchange(ctx, req)
	if err != nil {
		return nil, err
	}
	ident, err := p.identity(v.IDToken.Subject, v.Claims)
	if err != nil {
		return nil, err
	}
	ident.Tokens = v.Tokens
	return ident, nil
}

// NativeTokenTypes implements providers.NativeVerifier: Google ID tokens,
// as Sign in with Google returns them on Android (Credential Manager), iOS
// and the web.
func (p *Provider) NativeTokenTypes() []string { return p.rp.NativeTokenTypes() }

// VerifyNative implements providers.NativeVerifier. The RP verifies the
// ID token completely against Google's current keys
// (oidc.RP.VerifyNativeIDToken: its aud and azp must be the web client or
// one of NativeClientIDs), then the browser flow's rules apply: the
// identity key is sub, the hosted-domain allow-list (CodeNotAllowed) and
// the rule on which emails Google vouches for. expires is the token's exp
// plus oidc.NativeExpiryLeeway.
func (p *Provider) VerifyNative(ctx context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	v, err := p.rp.VerifyNativeIDToken(ctx, t)
	if err != nil {
		return nil, time.Time{}, err
	}
	ident, err := p.identity(v.Subject, v.Claims)
	if err != nil {
		return nil, time.Time{}, err
	}
	return ident, v.AcceptedUntil, nil
}

// Refresh implements providers.Refresher: Google access tokens last an
// hour, and a refresh token is issued with offline_access.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (*providers.Tokens, error) {
	return p.rp.Refresh(ctx, refreshToken)
}

// identity checks the claims that policy depends on and builds the Identity.
func (p *Provider) identity(subject string, raw map[string]any) (*providers.Identity, error) {
	if subject == "" {
		return nil, p.rp.Invalid("id_token has no sub", nil)
	}
	profile := claims.FromOIDC(raw)
	// Google's email_verified is authoritative only for Gmail addresses
	// and Workspace accounts (hd): for any other address it says the
	// address was verified when the account was made, and the address
	// may have passed to someone else since. Such emails count as
	// unverified, so that they neither link accounts nor match
	// email-domain role rules.
	profile.EmailVerified = profile.EmailVerified && googleAuthoritative(profile)
	if len(p.cfg.HostedDomains) > 0 && !slices.Contains(p.cfg.HostedDomains, profile.HostedDomain) {
		return nil, &providers.Error{Provider: p.cfg.Name, Code: providers.CodeNotAllowed,
			Message: fmt.Sprintf("accounts of hosted domain %q are not allowed", profile.HostedDomain)}
	}
	ident := &providers.Identity{Provider: p.cfg.Name, Subject: subject, Profile: profile, Claims: raw}
	// Google puts auth_time in its id_tokens only for projects that enable
	// "Session age claims"; without it, max_age cannot be checked.
	if at, ok := raw["auth_time"].(float64); ok && at > 0 {
		ident.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	return ident, nil
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.Refresher      = (*Provider)(nil)
	_ providers.NativeVerifier = (*Provider)(nil)
)

// googleAuthoritative reports whether Google owns the profile's email
// address: a Gmail address, or any address of a Workspace account whose
// domain (hd) is the address's.
func googleAuthoritative(p claims.Profile) bool {
	_, domain, ok := strings.Cut(p.Email, "@")
	if !ok {
		return false
	}
	return domain == "gmail.com" || domain == "googlemail.com" || (p.HostedDomain != "" && domain == p.HostedDomain)
}
