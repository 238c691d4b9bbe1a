package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// TypeName is the name of the generic OpenID Connect type in configuration.
const TypeName = "oidc"

// ClaimNames says which of the provider's claims fill the normalized
// profile. Empty fields keep the standard names.
type ClaimNames struct {
	// Subject is the claim that is the person's stable, never reassigned
	// id at this provider (default sub). It is half of the identity key:
	// never choose an email or a user name, which can be reassigned.
	Subject       string `yaml:"subject"`
	Email         string `yaml:"email"`
	EmailVerified string `yaml:"email_verified"`
	Name          string `yaml:"name"`
	GivenName     string `yaml:"given_name"`
	FamilyName    string `yaml:"family_name"`
	Picture       string `yaml:"picture"`
	Locale        string `yaml:"locale"`
}

// Config configures the generic adapter.
type Config struct {
	RP RPConfig
	// Claims maps provider claims to the profile.
	Claims ClaimNames
	// FetchUserinfo also reads the userinfo endpoint after sign-in, for
	// providers that put the profile there rather than in the id_token.
	FetchUserinfo bool
	// NativeClientIDs are the client ids of native apps whose ID tokens
	// the instance accepts for native sign-in (VerifyNative), besides
	// RP.ClientID's. Empty: native sign-in is off for the instance. New
	// sets RP.NativeClientIDs from it.
	NativeClientIDs []string
	// NativeRequireNonce refuses native ID tokens sent without a nonce.
	NativeRequireNonce bool
}

// Provider is the generic OpenID Connect adapter. It is safe for
// concurrent use.
type Provider struct {
	cfg Config
	rp  *RP
}

// New returns the adapter.
func New(cfg Config) *Provider {
	if len(cfg.NativeClientIDs) > 0 {
		cfg.RP.NativeClientIDs = append([]string{cfg.RP.ClientID}, cfg.NativeClientIDs...)
	}
	cfg.RP.NativeRequireNonce = cfg.NativeRequireNonce
	return &Provider{cfg: cfg, rp: NewRP(cfg.RP)}
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return p.cfg.RP.Name }

// AuthCodeURL implements providers.Provider.
func (p *Provider) AuthCodeURL(ctx context.Context, req providers.AuthRequest) (string, error) {
	return p.rp.AuthCodeURL(ctx, req, StandardOptions(req)...)
}

// Exchange implements providers.Provider.
func (p *Provider) Exchange(ctx context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	v, err := p.rp.Exchange(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, rawJSON := v.Claims, v.JSON
	if p.cfg.FetchUserinfo {
		info, infoJSON, err := p.rp.Userinfo(ctx, v.Tokens.AccessToken, v.IDToken.Subject)
		if err != nil {
			return nil, err
		}
		// The id_token's claims win: they are signed.
		raw, rawJSON = merge(info, raw), merge(infoJSON, rawJSON)
	}
	ident, err := p.identity(raw, rawJSON)
	if err != nil {
		return nil, err
	}
	ident.Tokens = v.Tokens
	return ident, nil
}

// NativeTokenTypes implements providers.NativeVerifier: ID tokens, when
// native_client_ids is set; none otherwise.
func (p *Provider) NativeTokenTypes() []string { return p.rp.NativeTokenTypes() }

// VerifyNative implements providers.NativeVerifier: the RP verifies the
// ID token completely (RP.VerifyNativeIDToken), then its claims go
// through the claim names of the browser flow, so that the configured
// subject claim gives the same identity key. The userinfo endpoint is not
// read (no access token comes with a native ID token): a profile claim
// the provider puts only there is missing, and a subject claim only there
// is refused. expires is the token's exp plus NativeExpiryLeeway.
func (p *Provider) VerifyNative(ctx context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	v, err := p.rp.VerifyNativeIDToken(ctx, t)
	if err != nil {
		return nil, time.Time{}, err
	}
	ident, err := p.identity(v.Claims, v.JSON)
	if err != nil {
		return nil, time.Time{}, err
	}
	return ident, v.AcceptedUntil, nil
}

// Refresh implements providers.Refresher.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (*providers.Tokens, error) {
	return p.rp.Refresh(ctx, refreshToken)
}

// merge returns a copy of base with over's entries on top.
func merge[V any](base, over map[string]V) map[string]V {
	out := make(map[string]V, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// identity maps the claims through the configured names. The subject is
// read from the undecoded claims, so that a numeric id keeps every digit.
func (p *Provider) identity(raw map[string]any, rawJSON map[string]json.RawMessage) (*providers.Identity, error) {
	n := p.cfg.Claims
	subject := ClaimID(rawJSON, or(n.Subject, "sub"))
	if subject == "" {
		return nil, p.rp.Invalid(fmt.Sprintf("the id_token has no %s claim (the configured subject)", or(n.Subject, "sub")), nil)
	}
	std := map[string]any{}
	for _, m := range []struct{ std, name string }{
		{"email", n.Email}, {"email_verified", n.EmailVerified}, {"name", n.Name}, {"given_name", n.GivenName},
		{"family_name", n.FamilyName}, {"picture", n.Picture}, {"locale", n.Locale},
	} {
		if v, ok := raw[or(m.name, m.std)]; ok {
			std[m.std] = v
		}
	}
	ident := &providers.Identity{Provider: p.cfg.RP.Name, Subject: subject, Profile: claims.FromOIDC(std), Claims: raw}
	if at, ok := raw["auth_time"].(float64); ok && at > 0 {
		ident.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	return ident, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Settings is the configuration of one generic OpenID Connect instance,
// under providers.<name> (type: oidc).
type Settings struct {
	// ClientID and ClientSecret are the client registered at the
	// provider (client_secret_basic).
	ClientID         string `yaml:"client_id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Issuer is the provider's issuer: discovery reads
	// <issuer>/.well-known/openid-configuration and the id_token's iss
	// must equal it. Required.
	Issuer string `yaml:"issuer"`
	// AuthURL, TokenURL, JWKSURL and UserinfoURL override discovery; with
	// the first three set, discovery is skipped.
	AuthURL     string `yaml:"auth_url"`
	TokenURL    string `yaml:"token_url"`
	JWKSURL     string `yaml:"jwks_url"`
	UserinfoURL string `yaml:"userinfo_url"`
	// Scopes requested (default openid, email, profile).
	Scopes []string `yaml:"scopes"`
	// Algorithms allowed for id_token signatures (default RS256).
	Algorithms []string `yaml:"algorithms"`
	// FetchUserinfo reads the profile from the userinfo endpoint too.
	FetchUserinfo bool `yaml:"fetch_userinfo"`
	// ClaimNames maps the provider's claims to the profile.
	ClaimNames ClaimNames `yaml:"claim_names"`
	// NativeClientIDs turns native sign-in on: the client ids of the
	// mobile apps (registered at the provider) whose ID tokens may be
	// exchanged; client_id counts too. Empty: native sign-in is off.
	NativeClientIDs []string `yaml:"native_client_ids"`
	// NativeRequireNonce refuses native ID tokens sent without the nonce
	// the app gave the provider's SDK.
	NativeRequireNonce bool `yaml:"native_require_nonce"`
}

// allowedAlgorithms are the id_token algorithms go-oidc verifies; none is
// never among them.
var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

// Validate implements providers.Settings.
func (s *Settings) Validate(dev bool, report func(key, message string)) {
	providers.CheckClient(s.ClientID, s.ClientSecret, "the provider's client registration", report)
	if s.Issuer == "" {
		report("issuer", "required: the provider's OpenID Connect issuer URL (its discovery document is at <issuer>/.well-known/openid-configuration)")
	}
	providers.CheckEndpoints(dev, report, providers.Endpoint{Key: "issuer", URL: s.Issuer}, providers.Endpoint{Key: "auth_url", URL: s.AuthURL},
		providers.Endpoint{Key: "token_url", URL: s.TokenURL}, providers.Endpoint{Key: "jwks_url", URL: s.JWKSURL},
		providers.Endpoint{Key: "userinfo_url", URL: s.UserinfoURL})
	if len(s.Scopes) > 0 && !slices.Contains(s.Scopes, "openid") {
		report("scopes", "must include openid: sign-in relies on the provider's ID token")
	}
	for i, a := range s.Algorithms {
		if !slices.Contains(allowedAlgorithms, a) {
			report(fmt.Sprintf("algorithms[%d]", i), fmt.Sprintf("%q is not supported (supported: %s)", a, strings.Join(allowedAlgorithms, ", ")))
		}
	}
	if strings.EqualFold(s.ClaimNames.Subject, "email") || strings.EqualFold(s.ClaimNames.Subject, "preferred_username") {
		report("claim_names.subject", "must be a stable, never reassigned id, not an email or user name (those can pass to another person)")
	}
	CheckNativeClientIDs(s.NativeClientIDs, nil, report)
	if s.NativeRequireNonce && len(s.NativeClientIDs) == 0 {
		report("native_require_nonce", "has no effect without native_client_ids, which turn native sign-in on")
	}
}

// Endpoints lists the URLs this instance talks to.
func (s *Settings) Endpoints() []string {
	return []string{s.Issuer, s.AuthURL, s.TokenURL, s.JWKSURL, s.UserinfoURL}
}

// Type is the generic OpenID Connect provider type.
func Type() providers.Type {
	return providers.Type{
		Name: TypeName, Label: "OpenID Connect",
		NewSettings: func() providers.Settings { return &Settings{} },
		New: func(inst providers.Instance, ps providers.Settings) (providers.Provider, error) {
			s, ok := ps.(*Settings)
			if !ok {
				return nil, fmt.Errorf("oidc: settings of type %T", ps)
			}
			return New(Config{
				RP: RPConfig{
					Name: inst.Name, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Issuer: s.Issuer,
					AuthURL: s.AuthURL, TokenURL: s.TokenURL, JWKSURL: s.JWKSURL, UserinfoURL: s.UserinfoURL,
					Scopes: s.Scopes, Algorithms: s.Algorithms, HTTPClient: inst.HTTPClient, Now: inst.Now,
				},
				Claims: s.ClaimNames, FetchUserinfo: s.FetchUserinfo,
				NativeClientIDs: s.NativeClientIDs, NativeRequireNonce: s.NativeRequireNonce,
			}), nil
		},
	}
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.Refresher      = (*Provider)(nil)
	_ providers.NativeVerifier = (*Provider)(nil)
)
