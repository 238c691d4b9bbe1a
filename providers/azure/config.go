package azure

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
)

// Tenant modes: the values of Config.Tenant that name a set of tenants
// rather than one.
const (
	// TenantCommon admits work and school accounts of any tenant and
	// personal Microsoft accounts.
	TenantCommon = "common"
	// TenantOrganizations admits work and school accounts of any tenant.
	TenantOrganizations = "organizations"
	// TenantConsumers admits personal Microsoft accounts only.
	TenantConsumers = "consumers"
)

// PersonalTenantID is the tenant of every personal Microsoft account
// (Outlook.com, Xbox, Skype): the tid of their tokens.
const PersonalTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

// DefaultAuthorityHost is the authority host of Microsoft's global cloud.
// National clouds have their own: https://login.microsoftonline.us (US
// Government), https://login.partner.microsoftonline.cn (China, operated
// by 21Vianet; also reachable as login.chinacloudapi.cn). The issuer
// template follows the host; where a cloud's id_tokens name another host
// in iss, set Config.IssuerTemplate to the issuer of the tenant's
// discovery document with {tenantid} in place of the tenant id.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// TenantIDPlaceholder is what an issuer template holds where the token's
// tenant id goes, as in Entra's multi-tenant discovery documents.
const TenantIDPlaceholder = "{tenantid}"

// guid matches a GUID, the form of tenant, object and client ids.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guid.MatchString(s) }

// mode is how Config.Tenant selects accounts.
type mode int

const (
	modeInvalid mode = iota
	modeTenantID
	modeDomain // one tenant named by a verified domain
	modeOrganizations
	modeConsumers
	modeCommon
)

// modeOf classifies a lower-case tenant setting.
func modeOf(tenant string) mode {
	switch {
	case tenant == TenantCommon:
		return modeCommon
	case tenant == TenantOrganizations:
		return modeOrganizations
	case tenant == TenantConsumers:
		return modeConsumers
	case isGUID(tenant):
		return modeTenantID
	case providers.ValidDomain(tenant):
		return modeDomain
	}
	return modeInvalid
}

// withDefaults returns c normalized, defaults applied: lower-case tenant
// ids and domains, the endpoints built from the authority host and the
// tenant, and the scopes.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = Name
	}
	c.Tenant = strings.ToLower(strings.TrimSpace(c.Tenant))
	c.AuthorityHost = strings.TrimRight(cmp.Or(c.AuthorityHost, DefaultAuthorityHost), "/")
	c.IssuerTemplate = cmp.Or(c.IssuerTemplate, c.AuthorityHost+"/"+TenantIDPlaceholder+"/v2.0")
	base := c.AuthorityHost + "/" + url.PathEscape(c.Tenant)
	c.AuthURL = cmp.Or(c.AuthURL, base+"/oauth2/v2.0/authorize")
	c.TokenURL = cmp.Or(c.TokenURL, base+"/oauth2/v2.0/token")
	c.JWKSURL = cmp.Or(c.JWKSURL, base+"/discovery/v2.0/keys")
	c.AllowedTenants = lower(c.AllowedTenants)
	c.TrustedEmailTenants = lower(c.TrustedEmailTenants)
	c.NativeClientIDs = lower(c.NativeClientIDs)
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email"}
	} else {
		c.Scopes = slices.Clone(c.Scopes)
	}
	if c.OfflineAccess && !slices.Contains(c.Scopes, "offline_access") {
		c.Scopes = append(c.Scopes, "offline_access")
	}
	return c
}

// allowPersonal resolves AllowPersonalAccounts: by default personal
// accounts sign in where the tenant mode admits them (consumers, common).
func (c *Config) allowPersonal() bool {
	if c.AllowPersonalAccounts != nil {
		return *c.AllowPersonalAccounts
	}
	m := modeOf(c.Tenant)
	return m == modeConsumers || m == modeCommon
}

// portal is where an operator finds an app registration's values.
const portal = "Azure portal → Microsoft Entra ID → App registrations → your app"

// check reports every problem of a normalized configuration, with the
// settings key it concerns. Settings.Validate and New both use it, so that
// what starts and what validates never disagree.
func (c *Config) check(report func(key, message string)) {
	switch {
	case c.ClientID == "":
		report("client_id", "required: the Application (client) ID from "+portal+" → Overview")
	case !isGUID(c.ClientID):
		report("client_id", fmt.Sprintf("must be the Application (client) ID, a GUID such as 00001111-aaaa-2222-bbbb-3333cccc4444, from %s → Overview; got %q", portal, c.ClientID))
	}

	m := modeOf(c.Tenant)
	switch {
	case c.Tenant == "":
		report("tenant", `required: the Directory (tenant) ID from `+portal+` → Overview for an app of "this organizational directory only", or "organizations", "consumers" or "common" to match the app's Supported account types`)
	case m == modeInvalid:
		report("tenant", fmt.Sprintf(`must be a tenant id (a GUID), a verified domain of the tenant (contoso.onmicrosoft.com), "organizations", "consumers" or "common"; got %q`, c.Tenant))
	}

	if u, err := url.Parse(c.AuthorityHost); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		report("authority_host", fmt.Sprintf("must be a base URL such as %s (no query or fragment); got %q", DefaultAuthorityHost, c.AuthorityHost))
	}
	if n := strings.Count(c.IssuerTemplate, TenantIDPlaceholder); n != 1 {
		report("issuer_template", fmt.Sprintf("must hold %s exactly once, where the token's tenant id goes (default <authority_host>/%s/v2.0); got %q",
			TenantIDPlaceholder, TenantIDPlaceholder, c.IssuerTemplate))
	}

	personal := c.allowPersonal()
	switch {
	case len(c.AllowedTenants) == 0:
	case m == modeTenantID:
		report("allowed_tenants", "has no effect: tenant already names the only tenant that can sign in; remove allowed_tenants")
	case m == modeConsumers:
		report("allowed_tenants", "has no effect: consumers admits personal Microsoft accounts only; remove allowed_tenants")
	default:
		for i, t := range c.AllowedTenants {
			key := fmt.Sprintf("allowed_tenants[%d]", i)
			switch {
			case !isGUID(t):
				report(key, fmt.Sprintf("must be a tenant id (a GUID: a tenant's domains can change hands, its id cannot); got %q", t))
			case t == PersonalTenantID:
				report(key, "is the tenant of personal Microsoft accounts: use allow_personal_accounts to admit them")
			}
		}
	}
	if p := c.AllowPersonalAccounts; p != nil {
		switch {
		case *p && (m == modeTenantID || m == modeDomain):
			report("allow_personal_accounts", `cannot be true with a single tenant: set tenant to "common" (and the app's Supported account types to include personal Microsoft accounts) to admit them`)
		case *p && m == modeOrganizations:
			report("allow_personal_accounts", `cannot be true with "organizations", which admits work and school accounts only: use tenant "common" to admit personal Microsoft accounts too`)
		case !*p && m == modeConsumers:
			report("allow_personal_accounts", `cannot be false with "consumers", which admits personal Microsoft accounts only: nobody could sign in`)
		}
	} else if m == modeCommon && len(c.AllowedTenants) > 0 {
		// Whether an allow-list of organisations should also keep out
		// personal accounts is not obvious: make the operator say.
		report("allow_personal_accounts", `must be set to true or false with "common" and allowed_tenants: allowed_tenants lists work and school tenants only, and whether personal Microsoft accounts may sign in too must be said explicitly`)
	}
	for i, t := range c.TrustedEmailTenants {
		key := fmt.Sprintf("trusted_email_tenants[%d]", i)
		switch {
		case !isGUID(t):
			report(key, fmt.Sprintf("must be a tenant id (a GUID); got %q", t))
		case m == modeTenantID && t != c.Tenant:
			report(key, fmt.Sprintf("tenant %s can never sign in: tenant is %s", t, c.Tenant))
		case t == PersonalTenantID && !personal:
			report(key, "personal Microsoft accounts can never sign in with this configuration")
		case t != PersonalTenantID && m == modeConsumers:
			report(key, fmt.Sprintf("tenant %s can never sign in: consumers admits personal Microsoft accounts only", t))
		case t != PersonalTenantID && len(c.AllowedTenants) > 0 && !slices.Contains(c.AllowedTenants, t):
			report(key, fmt.Sprintf("tenant %s can never sign in: it is not in allowed_tenants", t))
		}
	}
	oidc.CheckNativeClientIDs(c.NativeClientIDs, func(id string) string {
		if !isGUID(id) {
			return fmt.Sprintf("must be an app registration's Application (client) ID, a GUID, from %s → Overview; got %q", portal, id)
		}
		return ""
	}, report)
	for _, want := range []string{"openid", "profile"} {
		if !slices.Contains(c.Scopes, want) {
			report("scopes", "must include openid and profile: sign-in relies on the ID token, and its oid claim (half of the identity key) comes with the profile scope")
			break
		}
	}
}

// clientSecretProblem says what is wrong with a client secret, or "".
func clientSecretProblem(secret string) string {
	switch {
	case secret == "":
		return "required: a client secret's Value from " + portal + " → Certificates & secrets (or client_secret_file, or the _CLIENT_SECRET variable)"
	case isGUID(secret):
		// The portal shows a Secret ID (a GUID) next to the Value; the
		// ID is a common paste, refused with AADSTS7000215.
		return "looks like the secret's Secret ID (a GUID): use its Value, shown once when the secret is created under " + portal + " → Certificates & secrets"
	}
	return ""
}

func lower(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}
