package azure

import (
	"fmt"
	"strings"

	"github.com/socialbridge/socialbridge/providers"
)

// Settings is the configuration of one Microsoft Entra ID instance, under
// providers.<name> (type: azure).
type Settings struct {
	// ClientID is the app registration's Application (client) ID.
	ClientID string `yaml:"client_id"`
	// ClientSecret is a client secret's Value (Certificates & secrets).
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile reads ClientSecret from a file.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Tenant is a tenant id or verified domain (single tenant),
	// "organizations", "consumers" or "common". Required.
	Tenant string `yaml:"tenant"`
	// AuthorityHost is the cloud's sign-in host (default
	// https://login.microsoftonline.com).
	AuthorityHost string `yaml:"authority_host"`
	// IssuerTemplate is the id_token issuer with {tenantid} where the
	// tenant id goes (default <authority_host>/{tenantid}/v2.0).
	IssuerTemplate string `yaml:"issuer_template"`
	// AuthURL, TokenURL and JWKSURL override the endpoints built from
	// authority_host and tenant.
	AuthURL  string `yaml:"auth_url"`
	TokenURL string `yaml:"token_url"`
	JWKSURL  string `yaml:"jwks_url"`
	// AllowedTenants admits work and school accounts of these tenant ids
	// only.
	AllowedTenants []string `yaml:"allowed_tenants"`
	// AllowPersonalAccounts admits personal Microsoft accounts (default:
	// yes with consumers and common).
	AllowPersonalAccounts *bool `yaml:"allow_personal_accounts"`
	// TrustedEmailTenants lists the tenants whose email claims are
	// reported as verified.
	TrustedEmailTenants []string `yaml:"trusted_email_tenants"`
	// Scopes requested (default openid, profile, email).
	Scopes []string `yaml:"scopes"`
	// OfflineAccess asks for a refresh token, for backends that call
	// Microsoft Graph on the user's behalf.
	OfflineAccess bool `yaml:"offline_access"`
	// NativeClientIDs are the Application (client) IDs of the app
	// registrations that mobile apps sign in with through MSAL, whose ID
	// tokens may be exchanged for native sign-in; client_id counts too.
	NativeClientIDs []string `yaml:"native_client_ids"`
	// NativeRequireNonce refuses native ID tokens sent without a nonce.
	// MSAL for Android and iOS sets a nonce of its own that the app cannot
	// read: leave it off for MSAL apps.
	NativeRequireNonce bool `yaml:"native_require_nonce"`
}

// config is the adapter configuration of these settings.
func (s *Settings) config() Config {
	return Config{
		ClientID: strings.TrimSpace(s.ClientID), ClientSecret: s.ClientSecret, Tenant: s.Tenant,
		AuthorityHost: s.AuthorityHost, IssuerTemplate: s.IssuerTemplate,
		AuthURL: s.AuthURL, TokenURL: s.TokenURL, JWKSURL: s.JWKSURL,
		AllowedTenants: s.AllowedTenants, AllowPersonalAccounts: s.AllowPersonalAccounts,
		TrustedEmailTenants: s.TrustedEmailTenants, Scopes: s.Scopes, OfflineAccess: s.OfflineAccess,
		NativeClientIDs: s.NativeClientIDs, NativeRequireNonce: s.NativeRequireNonce,
	}
}

// Validate implements providers.Settings.
func (s *Settings) Validate(dev bool, report func(key, message string)) {
	c := s.config().withDefaults()
	c.check(report)
	if problem := clientSecretProblem(s.ClientSecret); problem != "" {
		report("client_secret", problem)
	}
	providers.CheckEndpoints(dev, report, providers.Endpoint{Key: "authority_host", URL: s.AuthorityHost},
		providers.Endpoint{Key: "auth_url", URL: s.AuthURL}, providers.Endpoint{Key: "token_url", URL: s.TokenURL},
		providers.Endpoint{Key: "jwks_url", URL: s.JWKSURL},
		// Any tenant id stands in for the placeholder.
		providers.Endpoint{Key: "issuer_template", URL: strings.ReplaceAll(s.IssuerTemplate, TenantIDPlaceholder, PersonalTenantID)})
}

// OpenTenancy reports whether the instance admits accounts of any tenant
// (organizations, consumers or common without allowed_tenants): then any
// tenant's administrators decide what its users' roles and groups claims
// say, and configuration refuses to copy them without naming a tenant.
func (s *Settings) OpenTenancy() bool {
	switch strings.ToLower(s.Tenant) {
	case TenantOrganizations, TenantCommon, TenantConsumers:
		return len(s.AllowedTenants) == 0
	}
	return false
}

// Endpoints lists the URLs this instance talks to (the authorization,
// token and JWKS endpoints, built or overridden), for the check that tells
// a local fake from the real Entra.
func (s *Settings) Endpoints() []string {
	c := s.config().withDefaults()
	return []string{c.AuthURL, c.TokenURL, c.JWKSURL}
}

// Type is the azure provider type.
func Type() providers.Type {
	return providers.Type{
		Name: Name, Label: Label,
		NewSettings: func() providers.Settings { return &Settings{} },
		New: func(inst providers.Instance, ps providers.Settings) (providers.Provider, error) {
			s, ok := ps.(*Settings)
			if !ok {
				return nil, fmt.Errorf("azure: settings of type %T", ps)
			}
			c := s.config()
			c.Name, c.HTTPClient, c.Now = inst.Name, inst.HTTPClient, inst.Now
			p, err := New(c)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
	}
}
