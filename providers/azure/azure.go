// Package azure signs people in with Microsoft Entra ID (formerly Azure
// AD) through the Microsoft identity platform's v2.0 endpoints: the
// OpenID Connect relying party of package oidc (the authorization-code
// flow with PKCE and a nonce, complete id_token verification against
// Entra's rotating JWKS) plus Entra's own rules.
//
// Endpoints are built from the authority host and the tenant setting
// (<host>/<tenant>/oauth2/v2.0/authorize and /token,
// <host>/<tenant>/discovery/v2.0/keys) and discovery is skipped: the
// discovery documents of common and organizations carry the literal issuer
// https://login.microsoftonline.com/{tenantid}/v2.0, which no id_token
// has. Instead the issuer is checked against the token's own tenant: iss
// must be the issuer template with {tenantid} replaced by the tid claim,
// and in single-tenant and consumers modes tid must be that one tenant.
// Then the tenant policy applies (allowed_tenants, allow_personal_accounts)
// and a refused tenant is CodeNotAllowed.
//
// The identity key is "<tid>:<oid>" (lower case): oid is the user's
// object id, immutable and unique within its tenant and the same for every
// app, so the pair names one account forever. sub is never used: Entra's
// sub is pairwise (it differs per client id), so a second app
// registration or a client id rotation would split every user in two.
// email and preferred_username are never used either: they are mutable.
//
// Entra's email claim is not verified: a tenant administrator can set any
// address on any user, so trusting it lets a tenant you do not control
// take over accounts keyed or linked by email (the "nOAuth" attack).
// Profile.EmailVerified is therefore false unless the token's tenant is
// listed in trusted_email_tenants.
package azure

import (
	"context"
	"errors"
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
const Name = "azure"

// Label is the default button label.
const Label = "Microsoft"

// Config configures the adapter. Zero values take the defaults documented
// on each field.
type Config struct {
	// Name is the instance name (default "azure").
	Name string
	// ClientID is the app registration's Application (client) ID, a GUID.
	ClientID string
	// ClientSecret is a client secret's Value.
	ClientSecret string
	// Tenant selects whose accounts sign in: a tenant id or one of the
	// tenant's verified domains (single tenant), TenantOrganizations,
	// TenantConsumers or TenantCommon. It must match the app
	// registration's Supported account types. Required.
	Tenant string
	// AuthorityHost is the cloud's sign-in host (default
	// DefaultAuthorityHost).
	AuthorityHost string
	// IssuerTemplate is the id_token issuer with TenantIDPlaceholder where
	// the tenant id goes (default <AuthorityHost>/{tenantid}/v2.0).
	IssuerTemplate string
	// AuthURL, TokenURL and JWKSURL override the endpoints built from
	// AuthorityHost and Tenant (proxies, tests, an app with a custom
	// signing key: <host>/<tenant>/discovery/v2.0/keys?appid=<client id>).
	AuthURL, TokenURL, JWKSURL string
	// AllowedTenants, when not empty, admits work and school accounts of
	// these tenant ids only (with TenantOrganizations, TenantCommon or a
	// tenant named by domain). Personal accounts are governed by
	// AllowPersonalAccounts alone.
	AllowedTenants []string
	// AllowPersonalAccounts says whether personal Microsoft accounts (tid
	// PersonalTenantID) may sign in; nil means yes with TenantConsumers
	// and TenantCommon, no otherwise.
	AllowPersonalAccounts *bool
	// TrustedEmailTenants lists the tenant ids whose administrators are
	// trusted to control their users' email addresses: only their email
	// claims are reported as verified.
	TrustedEmailTenants []string
	// Scopes requested (default openid, profile, email); they must
	// include openid and profile.
	Scopes []string
	// OfflineAccess adds the offline_access scope, for an Entra refresh
	// token.
	OfflineAccess bool
	// NativeClientIDs are the Application (client) IDs of the app
	// registrations mobile apps sign in with (MSAL), for native sign-in
	// (VerifyNative); ClientID always counts. The identity key does not
	// depend on the app: tid and oid are the same for every app, where
	// sub is not.
	NativeClientIDs []string
	// NativeRequireNonce refuses native ID tokens sent without a nonce.
	NativeRequireNonce bool
	// HTTPClient talks to Entra (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry checks (default time.Now).
	Now func() time.Time
}

// Provider is the Microsoft Entra ID adapter. It is safe for concurrent
// use.
type Provider struct {
	cfg           Config // defaults applied
	mode          mode
	allowPersonal bool
	rp            *oidc.RP
	// domainTenant is the tenant id of a tenant named by domain, for
	// native sign-in.
	domainTenant tenantOfDomain
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.Refresher      = (*Provider)(nil)
	_ providers.NativeVerifier = (*Provider)(nil)
)

// New returns the adapter, or every problem of cfg. It makes no request:
// the signing keys are fetched on first use, so that the service starts
// even while Entra is unreachable.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	var problems []string
	cfg.check(func(key, message string) {
		problems = append(problems, fmt.Sprintf("providers.%s.%s: %s", cfg.Name, key, message))
	})
	if len(problems) > 0 {
		return nil, fmt.Errorf("azure: %s", strings.Join(problems, "; "))
	}
	p := &Provider{cfg: cfg, mode: modeOf(cfg.Tenant), allowPersonal: cfg.allowPersonal()}
	p.rp = oidc.NewRP(oidc.RPConfig{
		Name: cfg.Name, Label: Label, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		// Issuer is not used: discovery is skipped and CheckIssuer
		// replaces the exact comparison.
		Issuer:  strings.ReplaceAll(cfg.IssuerTemplate, TenantIDPlaceholder, cfg.Tenant),
		AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL, JWKSURL: cfg.JWKSURL,
		Scopes:      cfg.Scopes,
		Algorithms:  []string{"RS256"}, // Entra signs id_tokens with RS256 only
		CheckIssuer: p.checkIssuer,
		// Entra writes client ids in lower case.
		NativeClientIDs:    append([]string{strings.ToLower(cfg.ClientID)}, cfg.NativeClientIDs...),
		NativeRequireNonce: cfg.NativeRequireNonce,
		// client_secret_post, as Microsoft documents it first; Entra also
		// takes HTTP Basic.
		AuthStyle:  oauth2.AuthStyleInParams,
		HTTPClient: diagnosingClient(cfg.HTTPClient),
		Now:        cfg.Now,
	})
	return p, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// AuthCodeURL implements providers.Provider.
func (p *Provider) AuthCodeURL(ctx context.Context, req providers.AuthRequest) (string, error) {
	var opts []oauth2.AuthCodeOption
	if prompt := entraPrompt(req); prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
	}
	if req.MaxAge != nil {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(*req.MaxAge, 10)))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	return p.rp.AuthCodeURL(ctx, req, opts...)
}

// entraPrompt returns the one prompt value to send. Entra takes a single
// value, not OpenID Connect's list; when the client asks for several, the
// one that matters most wins: login (re-authentication, which the client
// may need for security), then select_account, then consent (socialbridge
// asks only for sign-in scopes). max_age=0 is a request to re-authenticate
// too, which Entra honours reliably only as prompt=login.
func entraPrompt(req providers.AuthRequest) string {
	if req.MaxAge != nil && *req.MaxAge == 0 {
		return "login"
	}
	for _, v := range []string{"login", "select_account", "consent"} {
		if slices.Contains(req.Prompt, v) {
			return v
		}
	}
	return ""
}

// Exchange implements providers.Provider: it redeems the code with the
// PKCE verifier, verifies the id_token completely (signature, audience,
// expiry, nonce, and the issuer against the token's tenant) and applies
// the tenant policy before trusting any claim.
func (p *Provider) Exchange(ctx context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	ctx, d := withDiagnosis(ctx)
	v, err := p.rp.Exchange(ctx, req)
	if err != nil {
		return nil, p.explain(err, d)
	}
	ident, err := p.identity(v.Claims)
	if err != nil {
		return nil, err
	}
	ident.Tokens = v.Tokens
	return ident, nil
}

// Refresh implements providers.Refresher. Entra rotates refresh tokens:
// the result's RefreshToken is the one to keep. An Entra refresh token is
// issued only with OfflineAccess.
func (p *Provider) Refresh(ctx context.Context, refreshToken string) (*providers.Tokens, error) {
	ctx, d := withDiagnosis(ctx)
	tok, err := p.rp.Refresh(ctx, refreshToken)
	if err != nil {
		return nil, p.explain(err, d)
	}
	return tok, nil
}

// checkIssuer is the relying party's issuer check (it runs after the
// signature, audience and expiry checks): iss must be the issuer of the
// token's own tenant, and in modes that name one tenant, that tenant's.
// Its refusals are CodeInvalidToken errors that say which check failed;
// what the operator configured goes to Err, which only the log shows.
func (p *Provider) checkIssuer(iss string, raw map[string]any) error {
	tid, _ := raw["tid"].(string)
	switch {
	case tid == "":
		return p.rp.Invalid("the ID token has no tid claim (tenant id)", nil)
	case !isGUID(tid):
		return p.rp.Invalid("the ID token's tid claim is not a tenant id", fmt.Errorf("tid %q", clip(tid)))
	}
	if want := strings.ReplaceAll(p.cfg.IssuerTemplate, TenantIDPlaceholder, tid); iss != want {
		return p.rp.Invalid("the ID token's issuer (iss) is not the issuer of its tenant (tid)",
			fmt.Errorf("iss %q is not the issuer of the token's tenant %s (%q)", clip(iss), tid, want))
	}
	switch {
	case p.mode == modeTenantID && !strings.EqualFold(tid, p.cfg.Tenant):
		return p.rp.Invalid(fmt.Sprintf("the ID token is from the wrong tenant (%s)", strings.ToLower(tid)),
			fmt.Errorf("providers.%s.tenant is %s", p.cfg.Name, p.cfg.Tenant))
	case p.mode == modeConsumers && !strings.EqualFold(tid, PersonalTenantID):
		return p.rp.Invalid(fmt.Sprintf("the ID token is from the wrong tenant (%s): only personal Microsoft accounts sign in here", strings.ToLower(tid)),
			fmt.Errorf("providers.%s.tenant is consumers: tokens of personal accounts (tenant %s) only", p.cfg.Name, PersonalTenantID))
	}
	return nil
}

// identity applies the tenant policy to verified claims and builds the
// Identity.
func (p *Provider) identity(raw map[string]any) (*providers.Identity, error) {
	tid, _ := raw["tid"].(string) // a GUID: checkIssuer ran
	tid = strings.ToLower(tid)
	oid, _ := raw["oid"].(string)
	if !isGUID(oid) {
		return nil, p.rp.Invalid("id_token has no oid claim (a GUID); the profile scope must be requested", nil)
	}
	if err := p.admit(tid); err != nil {
		return nil, err
	}

	email, fromEmailClaim := emailOf(raw)
	std := map[string]any{"email": email}
	for _, k := range []string{"name", "given_name", "family_name"} {
		if v, ok := raw[k].(string); ok {
			std[k] = v
		}
	}
	profile := claims.FromOIDC(std)
	// Verified only when the address is the email claim of a tenant the
	// operator trusts, and the tenant did not say its domain is
	// unverified (xms_edov, when the app asks for it).
	profile.EmailVerified = profile.Email != "" && fromEmailClaim &&
		slices.Contains(p.cfg.TrustedEmailTenants, tid) && !claimIsFalse(raw["xms_edov"])
	profile.Tenant = tid

	ident := &providers.Identity{
		Provider: p.cfg.Name,
		Subject:  tid + ":" + strings.ToLower(oid),
		Profile:  profile,
		Tenant:   tid,
		Claims:   raw,
	}
	// auth_time is an optional claim in Entra v2 id_tokens.
	if at, ok := raw["auth_time"].(float64); ok && at > 0 {
		ident.AuthTime = time.Unix(int64(at), 0).UTC()
	}
	return ident, nil
}

// admit applies allow_personal_accounts and allowed_tenants.
func (p *Provider) admit(tid string) error {
	// The message goes to the application and the person; what the
	// operator would change goes to the log, through Err.
	notAllowed := func(msg, why string) error {
		return &providers.Error{Provider: p.cfg.Name, Code: providers.CodeNotAllowed, Message: msg, Err: errors.New(why)}
	}
	if tid == PersonalTenantID {
		if !p.allowPersonal {
			return notAllowed("personal Microsoft accounts cannot sign in here; use a work or school account",
				fmt.Sprintf("tenant %s: providers.%s does not allow personal accounts", tid, p.cfg.Name))
		}
		return nil
	}
	if len(p.cfg.AllowedTenants) > 0 && !slices.Contains(p.cfg.AllowedTenants, tid) {
		return notAllowed(fmt.Sprintf("accounts of this organization (tenant %s) cannot sign in here", tid),
			fmt.Sprintf("tenant %s is not in providers.%s.allowed_tenants", tid, p.cfg.Name))
	}
	return nil
}

// emailOf picks the person's address: the email claim, else
// preferred_username or upn when they are addresses (a UPN usually is
// one; a personal account's preferred_username may be a phone number; a
// guest's UPN with #EXT# is not deliverable). fromEmailClaim says the
// address is the email claim, the only one that may count as verified:
// preferred_username is documented as mutable and not for authorization.
func emailOf(raw map[string]any) (email string, fromEmailClaim bool) {
	if v, _ := raw["email"].(string); looksLikeEmail(v) {
		return v, true
	}
	for _, k := range []string{"preferred_username", "upn"} {
		if v, _ := raw[k].(string); looksLikeEmail(v) {
			return v, false
		}
	}
	return "", false
}

// looksLikeEmail reports whether s is a plain address: one @, a non-empty
// local part without spaces, a domain name, and no guest #EXT# marker.
func looksLikeEmail(s string) bool {
	s = strings.TrimSpace(s)
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(local, " \t<>@") &&
		!strings.Contains(strings.ToUpper(local), "#EXT#") &&
		providers.ValidDomain(strings.ToLower(domain))
}

// claimIsFalse reports whether a boolean claim is present and false
// (Entra sends optional booleans as JSON booleans, some as strings).
func claimIsFalse(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return strings.EqualFold(v, "false") || v == "0"
	case float64:
		return v == 0
	}
	return false
}

// clip keeps a claim value quoted in an error short.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
