package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/socialbridge/socialbridge/providers"
)

// NativeTokenTypes implements providers.NativeVerifier: Entra ID tokens,
// as MSAL returns them.
func (p *Provider) NativeTokenTypes() []string { return p.rp.NativeTokenTypes() }

// VerifyNative implements providers.NativeVerifier. The RP verifies the
// ID token completely against Entra's current keys
// (oidc.RP.VerifyNativeIDToken: its aud must be ClientID or one of
// NativeClientIDs), with the browser flow's issuer check: iss is the
// issuer of the token's own tid, and tid the tenant setting's tenant. Then
// the browser flow's rules apply: the identity key tid:oid (the same for
// every app registration, where sub is not), the tenant policy
// (allowed_tenants, allow_personal_accounts: CodeNotAllowed) and
// trusted_email_tenants. expires is the token's exp plus
// oidc.NativeExpiryLeeway.
//
// A tenant named by domain (contoso.com) is pinned by the browser flow's
// endpoints, which issue tokens of that tenant only; a native token comes
// from any tenant, so its tid must be the domain's tenant id, which the
// tenant's discovery document gives (fetched once a day).
func (p *Provider) VerifyNative(ctx context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	var domainTID string
	if p.mode == modeDomain && len(p.rp.NativeTokenTypes()) > 0 && t.Type == providers.TokenTypeIDToken {
		var err error
		if domainTID, err = p.domainTenant.get(ctx, p); err != nil {
			return nil, time.Time{}, err
		}
	}
	v, err := p.rp.VerifyNativeIDToken(ctx, t)
	if err != nil {
		return nil, time.Time{}, err
	}
	if tid, _ := v.Claims["tid"].(string); domainTID != "" && !strings.EqualFold(tid, domainTID) {
		return nil, time.Time{}, p.rp.Invalid(fmt.Sprintf("the ID token is from the wrong tenant (%s)", strings.ToLower(tid)),
			fmt.Errorf("providers.%s.tenant is %s, tenant %s", p.cfg.Name, p.cfg.Tenant, domainTID))
	}
	ident, err := p.identity(v.Claims)
	if err != nil {
		return nil, time.Time{}, err
	}
	return ident, v.AcceptedUntil, nil
}

// domainTenantTTL is how long the tenant id of a domain is kept: a domain
// can move to another tenant, as the browser flow's endpoints would
// follow.
const domainTenantTTL = 24 * time.Hour

// tenantOfDomain caches the tenant id of the tenant setting's domain.
type tenantOfDomain struct {
	mu       sync.Mutex
	tid      string
	fetched  time.Time
	fetching singleflight.Group
}

// get returns the tenant id, from the cache or the tenant's discovery
// document, whose issuer is the issuer template with the tenant id.
// Concurrent lookups share one fetch; when a refresh fails, the last
// tenant id found is kept.
func (c *tenantOfDomain) get(ctx context.Context, p *Provider) (string, error) {
	now := p.rp.Config().Now()
	c.mu.Lock()
	tid, fetched := c.tid, c.fetched
	c.mu.Unlock()
	if tid != "" && now.Sub(fetched) < domainTenantTTL {
		return tid, nil
	}
	v, err, _ := c.fetching.Do("", func() (any, error) {
		// Bounded by the HTTP client's timeout, not by one caller.
		found, err := p.fetchDomainTenant(context.WithoutCancel(ctx))
		if err == nil {
			c.mu.Lock()
			c.tid, c.fetched = found, now
			c.mu.Unlock()
		}
		return found, err
	})
	switch {
	case err == nil:
		return v.(string), nil
	case tid != "":
		return tid, nil // Entra is unreachable: the tenant has not moved
	}
	return "", &providers.Error{Provider: p.cfg.Name, Code: providers.CodeUnavailable,
		Message: "the tenant id of " + p.cfg.Tenant + " could not be found", Err: err}
}

func (p *Provider) fetchDomainTenant(ctx context.Context) (string, error) {
	u := p.cfg.AuthorityHost + "/" + url.PathEscape(p.cfg.Tenant) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := p.rp.Config().HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", u, resp.Status)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("%s: not a discovery document", u)
	}
	prefix, suffix, _ := strings.Cut(p.cfg.IssuerTemplate, TenantIDPlaceholder)
	tid, ok := strings.CutPrefix(doc.Issuer, prefix)
	if tid, ok2 := strings.CutSuffix(tid, suffix); ok && ok2 && isGUID(tid) {
		return strings.ToLower(tid), nil
	}
	return "", errors.New("the discovery document's issuer does not follow the issuer template")
}
