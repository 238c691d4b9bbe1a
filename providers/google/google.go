// Package google signs people in with Google: OpenID Connect discovery, the
// authorization-code flow with PKCE, and id_token verification with go-oidc
// (signature against Google's rotating JWKS, issuer, audience, expiry,
// nonce). The stable identity key is Google's sub claim.
package google

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// Name is the provider name in identity keys and callback paths.
const Name = "google"

// DefaultIssuer is Google's OpenID Connect issuer.
const DefaultIssuer = "https://accounts.google.com"

// Config configures the adapter.
type Config struct {
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
	// HTTPClient talks to Google (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry checks (default time.Now).
	Now func() time.Time
}

// Provider is the Google adapter. It is safe for concurrent use.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	oidc     *oidc.Provider // nil until discovery succeeds
	verifier *oidc.IDTokenVerifier
}

// New returns the adapter. Discovery happens on first use, so that the
// service starts even while Google is unreachable.
func New(cfg Config) *Provider {
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg}
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// discover returns the OIDC provider and verifier, discovering them on
// first use. The network fetch happens outside the lock, bounded by the
// request's context, so a slow Google never queues every sign-in behind
// one request; concurrent first uses may each fetch, and one result wins.
func (p *Provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	prov, verifier := p.oidc, p.verifier
	p.mu.Unlock()
	if prov != nil {
		return prov, verifier, nil
	}
	pc := oidc.ProviderConfig{
		IssuerURL: p.cfg.Issuer, AuthURL: p.cfg.AuthURL, TokenURL: p.cfg.TokenURL,
		JWKSURL: p.cfg.JWKSURL, UserInfoURL: p.cfg.UserinfoURL, Algorithms: []string{oidc.RS256},
	}
	if pc.AuthURL == "" || pc.TokenURL == "" || pc.JWKSURL == "" {
		discovered, err := oidc.NewProvider(oidc.ClientContext(ctx, p.cfg.HTTPClient), p.cfg.Issuer)
		if err != nil {
			return nil, nil, &providers.Error{Provider: Name, Code: providers.CodeUnavailable, Message: "discovery failed", Err: err}
		}
		var d oidc.ProviderConfig
		if err := discovered.Claims(&d); err != nil {
			return nil, nil, &providers.Error{Provider: Name, Code: providers.CodeUnavailable, Message: "read discovery document", Err: err}
		}
		pc.AuthURL = firstNonEmpty(p.cfg.AuthURL, d.AuthURL)
		pc.TokenURL = firstNonEmpty(p.cfg.TokenURL, d.TokenURL)
		pc.JWKSURL = firstNonEmpty(p.cfg.JWKSURL, d.JWKSURL)
		pc.UserInfoURL = firstNonEmpty(p.cfg.UserinfoURL, d.UserInfoURL)
	}
	// The key set outlives this request: give it a context that is never
	// canceled, carrying our HTTP client. Key rotation is handled by the
	// remote key set, which refetches the JWKS on an unknown kid.
	keyCtx := oidc.ClientContext(context.Background(), p.cfg.HTTPClient)
	prov = pc.NewProvider(keyCtx)
	verifier = prov.VerifierContext(keyCtx, &oidc.Config{
		ClientID:             p.cfg.ClientID,
		SupportedSigningAlgs: []string{oidc.RS256}, // Google signs with RS256 only
		Now:                  p.cfg.Now,
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc == nil { // the first to finish wins, so every caller shares one key set
		p.oidc, p.verifier = prov, verifier
	}
	return p.oidc, p.verifier, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oauth2Config returns the OAuth 2.0 client for one redirect URI.
func (p *Provider) oauth2Config(prov *oidc.Provider, redirectURI string) *oauth2.Config {
	ep := prov.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{
		ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		Endpoint: ep, RedirectURL: redirectURI, Scopes: p.cfg.Scopes,
	}
}

// AuthCodeURL implements providers.Provider.
func (p *Provider) AuthCodeURL(ctx context.Context, req providers.AuthRequest) (string, error) {
	prov, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	opts := []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("nonce", req.Nonce),
		oauth2.SetAuthURLParam("code_challenge", req.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}
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
	return p.oauth2Config(prov, req.RedirectURI).AuthCodeURL(req.State, opts...), nil
}

// Exchange implements providers.Provider: it redeems the code with the PKCE
// verifier, then verifies the id_token completely before trusting any claim.
func (p *Provider) Exchange(ctx context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	prov, verifier, err := p.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := p.oauth2Config(prov, req.RedirectURI).Exchange(
		oidc.ClientContext(ctx, p.cfg.HTTPClient), req.Code, oauth2.VerifierOption(req.CodeVerifier))
	if err != nil {
		return nil, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, invalid("token response has no id_token", nil)
	}
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		// go-oidc reports an unreachable JWKS only in its message; that is
		// Google being unavailable, not a bad token.
		if strings.Contains(err.Error(), "fetching keys") {
			return nil, &providers.Error{Provider: Name, Code: providers.CodeUnavailable, Message: "Google's signing keys could not be fetched", Err: err}
		}
		return nil, invalid("id_token failed verification", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(req.Nonce)) != 1 || req.Nonce == "" {
		return nil, invalid("id_token nonce does not match this sign-in", nil)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, invalid("id_token at_hash does not match the access token", err)
		}
	}
	ident, err := p.identity(idt)
	if err != nil {
		return nil, err
	}
	ident.Tokens = providers.Tokens{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID, Expiry: tok.Expiry,
	}
	return ident, nil
}

// identity checks the claims that policy depends on and builds the Identity.
func (p *Provider) identity(idt *oidc.IDToken) (*providers.Identity, error) {
	var raw map[string]any
	if err := idt.Claims(&raw); err != nil {
		return nil, invalid("id_token claims are not an object", err)
	}
	if idt.Subject == "" {
		return nil, invalid("id_token has no sub", nil)
	}
	// With several audiences, azp must name us (OIDC Core §2).
	if azp, _ := raw["azp"].(string); len(idt.Audience) > 1 && azp != p.cfg.ClientID {
		return nil, invalid("id_token azp is not this client", nil)
	}
	profile := claims.FromOIDC(raw)
	if len(p.cfg.HostedDomains) > 0 && !slices.Contains(p.cfg.HostedDomains, profile.HostedDomain) {
		return nil, &providers.Error{Provider: Name, Code: providers.CodeNotAllowed,
			Message: fmt.Sprintf("accounts of hosted domain %q are not allowed", profile.HostedDomain)}
	}
	ident := &providers.Identity{Provider: Name, Subject: idt.Subject, Profile: profile}
	// Google puts auth_time in its id_tokens only for projects that enable
	// "Session age claims"; without it, max_age cannot be checked.
	if at, ok := raw["auth_time"].(float64); ok && at > 0 {
		ident.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	return ident, nil
}

func invalid(msg string, err error) error {
	return &providers.Error{Provider: Name, Code: providers.CodeInvalidToken, Message: msg, Err: err}
}

// exchangeError classifies a failed code exchange. The provider's response
// body is not kept: it may echo what we sent.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case status >= 500 || status == http.StatusTooManyRequests:
			return &providers.Error{Provider: Name, Code: providers.CodeUnavailable,
				Message: fmt.Sprintf("token endpoint answered %d", status)}
		case status == http.StatusUnauthorized || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
			// Our credentials were refused: an operator must fix the
			// configuration; the person can only try again later.
			return &providers.Error{Provider: Name, Code: providers.CodeUnavailable,
				Message: "Google refused socialbridge's client credentials (check providers.google.client_id and client_secret)"}
		}
		code := re.ErrorCode
		if code == "" {
			code = "unknown"
		}
		return &providers.Error{Provider: Name, Code: providers.CodeInvalidGrant,
			Message: "token endpoint refused the code: " + strings.ReplaceAll(code, "\n", " ")}
	}
	return &providers.Error{Provider: Name, Code: providers.CodeUnavailable, Message: "token endpoint unreachable", Err: err}
}
