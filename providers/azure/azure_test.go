package azure_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

func TestSignInInEachTenantMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tenant   string
		user     azuretest.User
		wantPath string // the tenant segment of every endpoint
	}{
		{"a single tenant named by id signs in its member", azuretest.ContosoTenantID, azuretest.Alice, azuretest.ContosoTenantID},
		{"a tenant id in upper case is the same tenant", strings.ToUpper(azuretest.ContosoTenantID), azuretest.Alice, azuretest.ContosoTenantID},
		{"a single tenant named by a verified domain signs in its member", "contoso.onmicrosoft.com", azuretest.Alice, "contoso.onmicrosoft.com"},
		{"organizations signs in a work account of any tenant", "organizations", azuretest.Bob, "organizations"},
		{"consumers signs in a personal account", "consumers", azuretest.Carol, "consumers"},
		{"common signs in a personal account", "common", azuretest.Carol, "common"},
		{"common signs in a work account", "common", azuretest.Bob, "common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, tt.tenant, nil)

			ident, s := signInOK(t, p)

			if got, want := s.authURL.Path, "/"+tt.wantPath+"/oauth2/v2.0/authorize"; got != want {
				t.Errorf("authorization endpoint path = %q, want %q", got, want)
			}
			if ident.Subject != subject(tt.user) {
				t.Errorf("Subject = %q, want %q", ident.Subject, subject(tt.user))
			}
			if ident.Tenant != tt.user.TenantID || ident.Profile.Tenant != tt.user.TenantID {
				t.Errorf("Tenant = %q, Profile.Tenant = %q, want %q", ident.Tenant, ident.Profile.Tenant, tt.user.TenantID)
			}
			if ident.Profile.Email != tt.user.Email || ident.Profile.Name != tt.user.Name {
				t.Errorf("Profile email, name = %q, %q, want %q, %q", ident.Profile.Email, ident.Profile.Name, tt.user.Email, tt.user.Name)
			}
			if n := fake.DiscoveryRequests(); n != 0 {
				t.Errorf("discovery fetched %d times, want never: the endpoints are built from the settings", n)
			}
			if n := fake.KeysRequests(); n != 1 {
				t.Errorf("JWKS fetched %d times, want once", n)
			}
		})
	}
}

func TestSignInReturnsTheVerifiedEntraIdentity(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	alice := azuretest.Alice
	alice.GivenName, alice.FamilyName = "Alice", "Smith"
	alice.Email = "Alice.Smith@Contoso.COM"
	fake.SetUser(alice)
	// Exactly as socialbridge builds it: defaults for scopes, client and
	// clock.
	p, err := azure.New(azure.Config{
		ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Tenant: "organizations", AuthorityHost: fake.URL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "azure" {
		t.Errorf("Name() = %q, want azure", p.Name())
	}

	ident, s := signInOK(t, p)

	t.Run("the authorization URL asks for an OpenID sign-in with PKCE and our nonce", func(t *testing.T) {
		if got, want := s.authURL.Scheme+"://"+s.authURL.Host+s.authURL.Path, fake.AuthURL("organizations"); got != want {
			t.Errorf("authorization endpoint = %q, want %q", got, want)
		}
		q := s.authURL.Query()
		for k, want := range map[string]string{
			"client_id":             fake.ClientID(),
			"redirect_uri":          callback,
			"response_type":         "code",
			"scope":                 "openid profile email",
			"state":                 s.state,
			"nonce":                 s.nonce,
			"code_challenge":        s256(s.verifier),
			"code_challenge_method": "S256",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("auth URL %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"prompt", "max_age", "login_hint", "domain_hint"} {
			if q.Has(k) {
				t.Errorf("auth URL has %s=%q, want none by default", k, q.Get(k))
			}
		}
	})

	t.Run("the code is redeemed with the PKCE verifier and the secret in the form", func(t *testing.T) {
		form := fake.LastTokenRequest()
		for k, want := range map[string]string{
			"grant_type":    "authorization_code",
			"code":          s.code,
			"code_verifier": s.verifier,
			"redirect_uri":  callback,
			"client_id":     fake.ClientID(),
			"client_secret": fake.ClientSecret(),
		} {
			if got := form.Get(k); got != want {
				t.Errorf("token request %s = %q, want %q", k, got, want)
			}
		}
		if n := fake.TokenRequests(); n != 1 {
			t.Errorf("token endpoint called %d times, want 1", n)
		}
	})

	t.Run("the identity is keyed by tenant and object id", func(t *testing.T) {
		want := azuretest.ContosoTenantID + ":" + azuretest.Alice.OID
		if ident.Provider != "azure" || ident.Subject != want {
			t.Errorf("identity = %q|%q, want azure|%s", ident.Provider, ident.Subject, want)
		}
		if got := ident.Key(); got != "azure|"+want {
			t.Errorf("Key() = %q", got)
		}
		if ident.Subject == ident.Claims["sub"] {
			t.Error("Subject is Entra's pairwise sub")
		}
	})

	t.Run("the profile is normalized and its email unverified", func(t *testing.T) {
		pr := ident.Profile
		if pr.Email != "alice.smith@contoso.com" {
			t.Errorf("Profile.Email = %q, want it lower-cased", pr.Email)
		}
		if pr.EmailVerified {
			t.Error("Profile.EmailVerified = true without trusted_email_tenants")
		}
		if pr.Name != "Alice Smith" || pr.GivenName != "Alice" || pr.FamilyName != "Smith" {
			t.Errorf("Profile names = %q, %q, %q", pr.Name, pr.GivenName, pr.FamilyName)
		}
		if pr.Tenant != azuretest.ContosoTenantID {
			t.Errorf("Profile.Tenant = %q", pr.Tenant)
		}
		if !ident.AuthTime.IsZero() {
			t.Errorf("AuthTime = %v, want zero: Entra sends no auth_time by default", ident.AuthTime)
		}
	})

	t.Run("the raw claims are kept for claim-copy rules", func(t *testing.T) {
		for _, k := range []string{"tid", "oid", "sub", "iss", "preferred_username", "ver"} {
			if _, ok := ident.Claims[k]; !ok {
				t.Errorf("Claims lacks %s: %v", k, ident.Claims)
			}
		}
	})

	t.Run("Entra's tokens are returned for storage", func(t *testing.T) {
		tok := ident.Tokens
		if tok.AccessToken == "" || tok.IDToken == "" {
			t.Errorf("AccessToken or IDToken empty: %+v", tok)
		}
		if tok.RefreshToken != "" {
			t.Error("got a refresh token without offline access")
		}
		if tok.Expiry.Before(time.Now().Add(50*time.Minute)) || tok.Expiry.After(time.Now().Add(2*time.Hour)) {
			t.Errorf("Expiry = %v, want about an hour from now", tok.Expiry)
		}
		if !slices.Contains(tok.Scopes, "openid") {
			t.Errorf("Scopes = %v, want Entra's granted scopes", tok.Scopes)
		}
	})
}

func TestTheIdentityDoesNotDependOnThePairwiseSub(t *testing.T) {
	t.Parallel()
	const web, mobile = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	fake := azuretest.New(t,
		azuretest.WithApp(azuretest.App{ClientID: web, Secret: "web-secret~value"}),
		azuretest.WithApp(azuretest.App{ClientID: mobile, Secret: "mobile-secret~value"}))
	first := newAdapter(t, fake, "organizations", func(c *azure.Config) { c.ClientID, c.ClientSecret = web, "web-secret~value" })
	second := newAdapter(t, fake, "organizations", func(c *azure.Config) { c.ClientID, c.ClientSecret = mobile, "mobile-secret~value" })

	a, _ := signInOK(t, first)
	b, _ := signInOK(t, second)

	if a.Claims["sub"] == b.Claims["sub"] {
		t.Fatalf("the fake issued the same sub %v to both apps; it must be pairwise", a.Claims["sub"])
	}
	if a.Claims["sub"] != fake.Sub(web, azuretest.Alice) {
		t.Errorf("sub = %v, want the fake's pairwise %q", a.Claims["sub"], fake.Sub(web, azuretest.Alice))
	}
	if a.Subject != b.Subject || a.Subject != subject(azuretest.Alice) {
		t.Errorf("Subjects = %q and %q, want both %q: the same person through two app registrations", a.Subject, b.Subject, subject(azuretest.Alice))
	}
}

func TestTheIssuerIsCheckedAgainstTheTokensOwnTenant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tenant string
		user   azuretest.User
		// mutate edits the id_token's claims; iss is the fake's issuer
		// function.
		mutate   func(c map[string]any, iss func(string) string)
		wantCode string // "" when the sign-in succeeds
		wantText string // in the error message
	}{
		{
			name: "the issuer of tenant A with the tid of tenant B is refused", tenant: "organizations", user: azuretest.Alice,
			mutate:   func(c map[string]any, iss func(string) string) { c["tid"] = azuretest.FabrikamTenantID },
			wantCode: providers.CodeInvalidToken, wantText: azuretest.FabrikamTenantID,
		},
		{
			name: "a token without tid is refused", tenant: "common", user: azuretest.Alice,
			mutate:   func(c map[string]any, _ func(string) string) { delete(c, "tid") },
			wantCode: providers.CodeInvalidToken, wantText: "no tid",
		},
		{
			name: "a tid that is not a tenant id is refused, even with a matching issuer", tenant: "common", user: azuretest.Alice,
			mutate: func(c map[string]any, iss func(string) string) {
				c["tid"], c["iss"] = "contoso.com", iss("contoso.com")
			},
			wantCode: providers.CodeInvalidToken, wantText: "not a tenant id",
		},
		{
			name: "the literal {tenantid} issuer is refused", tenant: "common", user: azuretest.Alice,
			mutate: func(c map[string]any, iss func(string) string) {
				c["tid"], c["iss"] = "{tenantid}", iss("{tenantid}")
			},
			wantCode: providers.CodeInvalidToken,
		},
		{
			name: "a v1.0 issuer is refused", tenant: "organizations", user: azuretest.Alice,
			mutate: func(c map[string]any, _ func(string) string) {
				c["iss"] = "https://sts.windows.net/" + azuretest.ContosoTenantID + "/"
			},
			wantCode: providers.CodeInvalidToken,
		},
		{
			name: "another cloud's issuer is refused", tenant: "organizations", user: azuretest.Alice,
			mutate: func(c map[string]any, _ func(string) string) {
				c["iss"] = "https://login.microsoftonline.us/" + azuretest.ContosoTenantID + "/v2.0"
			},
			wantCode: providers.CodeInvalidToken,
		},
		{
			name: "a consistent token of another tenant is refused in single-tenant mode", tenant: azuretest.ContosoTenantID, user: azuretest.Alice,
			mutate: func(c map[string]any, iss func(string) string) {
				c["tid"], c["iss"] = azuretest.FabrikamTenantID, iss(azuretest.FabrikamTenantID)
			},
			wantCode: providers.CodeInvalidToken, wantText: azuretest.FabrikamTenantID,
		},
		{
			name: "a work account's token is refused in consumers mode", tenant: "consumers", user: azuretest.Carol,
			mutate: func(c map[string]any, iss func(string) string) {
				c["tid"], c["iss"] = azuretest.ContosoTenantID, iss(azuretest.ContosoTenantID)
			},
			wantCode: providers.CodeInvalidToken, wantText: azuretest.ContosoTenantID,
		},
		{
			name: "a token without oid is refused", tenant: "organizations", user: azuretest.Alice,
			mutate:   func(c map[string]any, _ func(string) string) { delete(c, "oid") },
			wantCode: providers.CodeInvalidToken, wantText: "oid",
		},
		{
			name: "an oid that is not a GUID is refused", tenant: "organizations", user: azuretest.Alice,
			mutate:   func(c map[string]any, _ func(string) string) { c["oid"] = "alice@contoso.com" },
			wantCode: providers.CodeInvalidToken, wantText: "oid",
		},
		{
			name: "a consistent token of another tenant signs in with common", tenant: "common", user: azuretest.Alice,
			mutate: func(c map[string]any, iss func(string) string) {
				c["tid"], c["iss"] = azuretest.FabrikamTenantID, iss(azuretest.FabrikamTenantID)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, tt.tenant, nil)
			s := authorize(t, p)
			fake.NextIDToken(func(c map[string]any) { tt.mutate(c, fake.Issuer) })

			ident, err := s.exchange(t, p)

			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if ident.Tenant != azuretest.FabrikamTenantID || !strings.HasPrefix(ident.Subject, azuretest.FabrikamTenantID+":") {
					t.Errorf("identity %q of tenant %q, want the token's tenant", ident.Subject, ident.Tenant)
				}
				return
			}
			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			pe := wantProviderError(t, err, "azure", tt.wantCode)
			if !strings.Contains(pe.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", pe.Error(), tt.wantText)
			}
			wantNoSecrets(t, err, append(fake.Issued(), s.code, fake.ClientSecret())...)
		})
	}
}

func TestIDTokensThatFailVerificationAreRefused(t *testing.T) {
	t.Parallel()
	const other = "99999999-9999-4999-8999-999999999999"
	tests := []struct {
		name   string
		mutate func(c map[string]any)
		forge  azuretest.Forgery
	}{
		{name: "a token for another app is refused", mutate: func(c map[string]any) { c["aud"] = other }},
		{name: "a token for several audiences without azp is refused", mutate: func(c map[string]any) { c["aud"] = []any{c["aud"], other} }},
		{
			name: "an expired token is refused",
			mutate: func(c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			},
		},
		{name: "a token not valid before an hour from now is refused", mutate: func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }},
		{name: "a nonce from another sign-in is refused", mutate: func(c map[string]any) { c["nonce"] = "nonce-of-another-sign-in" }},
		{name: "a token without nonce is refused", mutate: func(c map[string]any) { delete(c, "nonce") }},
		{name: "a token signed with a key Entra did not publish is refused", forge: azuretest.ForgeForeignKey},
		{name: "an unsigned token (alg none) is refused", forge: azuretest.ForgeAlgNone},
		{name: "a token HMAC-signed with the public key is refused", forge: azuretest.ForgeHS256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			p := newAdapter(t, fake, "organizations", nil)
			s := authorize(t, p)
			if tt.mutate != nil {
				fake.NextIDToken(tt.mutate)
			}
			if tt.forge != 0 {
				fake.ForgeNextIDToken(tt.forge)
			}

			ident, err := s.exchange(t, p)

			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			wantProviderError(t, err, "azure", providers.CodeInvalidToken)
			wantNoSecrets(t, err, append(fake.Issued(), s.code, s.verifier, fake.ClientSecret())...)
		})
	}
}

func TestEntraRefusesAnAccountOfTheWrongKindBeforeAnyCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tenant string
		user   azuretest.User
		want   string // on Entra's error page
	}{
		{"a Fabrikam account at a Contoso-only instance", azuretest.ContosoTenantID, azuretest.Bob, "AADSTS50020"},
		{"a personal account at an organizations instance", "organizations", azuretest.Carol, "personal account"},
		{"a work account at a consumers instance", "consumers", azuretest.Alice, "Microsoft account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, tt.tenant, nil)

			_, resp, body := visit(t, p, nil)

			if resp.StatusCode == http.StatusFound || !strings.Contains(body, tt.want) {
				t.Errorf("Entra answered %d %q, want its error page with %q", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestTenantPolicyRefusesTenantsItDoesNotAllow(t *testing.T) {
	t.Parallel()
	toPersonal := func(c map[string]any, iss func(string) string) {
		c["tid"], c["iss"] = azuretest.PersonalTenantID, iss(azuretest.PersonalTenantID)
	}
	tests := []struct {
		name     string
		tenant   string
		allowed  []string
		personal *bool
		user     azuretest.User
		mutate   func(c map[string]any, iss func(string) string)
		wantText string // "" when the sign-in succeeds; else in the CodeNotAllowed message
	}{
		{name: "an allowed tenant signs in", tenant: "organizations", allowed: []string{azuretest.ContosoTenantID}, user: azuretest.Alice},
		{name: "an allowed tenant in upper case signs in", tenant: "organizations", allowed: []string{strings.ToUpper(azuretest.ContosoTenantID)}, user: azuretest.Alice},
		{
			name: "a tenant not in the allow-list is refused, named", tenant: "organizations", allowed: []string{azuretest.ContosoTenantID},
			user: azuretest.Bob, wantText: azuretest.FabrikamTenantID,
		},
		{name: "without an allow-list any work tenant signs in", tenant: "organizations", user: azuretest.Bob},
		{name: "common admits personal accounts by default", tenant: "common", user: azuretest.Carol},
		{name: "common refuses personal accounts when told to", tenant: "common", personal: ptr(false), user: azuretest.Carol, wantText: azuretest.PersonalTenantID},
		{name: "common without personal accounts still admits work accounts", tenant: "common", personal: ptr(false), user: azuretest.Bob},
		{
			name: "common with an allow-list admits personal accounts when told to", tenant: "common",
			allowed: []string{azuretest.ContosoTenantID}, personal: ptr(true), user: azuretest.Carol,
		},
		{
			name: "common with an allow-list refuses other work tenants", tenant: "common",
			allowed: []string{azuretest.ContosoTenantID}, personal: ptr(true), user: azuretest.Bob, wantText: azuretest.FabrikamTenantID,
		},
		{
			name: "common with an allow-list refuses personal accounts when told to", tenant: "common",
			allowed: []string{azuretest.ContosoTenantID}, personal: ptr(false), user: azuretest.Carol, wantText: "personal",
		},
		{
			name: "organizations refuses a personal account's token", tenant: "organizations", user: azuretest.Alice,
			mutate: toPersonal, wantText: azuretest.PersonalTenantID,
		},
		{name: "consumers admits personal accounts", tenant: "consumers", user: azuretest.Carol},
		{name: "a domain tenant pinned by allowed_tenants signs in", tenant: "contoso.com", allowed: []string{azuretest.ContosoTenantID}, user: azuretest.Alice},
		{
			name: "a domain tenant whose domain now belongs to another tenant is refused", tenant: "contoso.com",
			allowed: []string{azuretest.FabrikamTenantID}, user: azuretest.Alice, wantText: azuretest.ContosoTenantID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, tt.tenant, func(c *azure.Config) {
				c.AllowedTenants, c.AllowPersonalAccounts = tt.allowed, tt.personal
			})
			s := authorize(t, p)
			if tt.mutate != nil {
				fake.NextIDToken(func(c map[string]any) { tt.mutate(c, fake.Issuer) })
			}

			ident, err := s.exchange(t, p)

			if tt.wantText == "" {
				if err != nil {
					t.Fatalf("Exchange: %v", err)
				}
				if ident.Tenant != tt.user.TenantID {
					t.Errorf("Tenant = %q, want %q", ident.Tenant, tt.user.TenantID)
				}
				return
			}
			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			pe := wantProviderError(t, err, "azure", providers.CodeNotAllowed)
			// The tenant is named to the person or, for personal
			// accounts, to the operator's log.
			if !strings.Contains(pe.Error(), tt.wantText) {
				t.Errorf("error %q does not name %q", pe.Error(), tt.wantText)
			}
			if strings.Contains(pe.Message, "providers.") {
				t.Errorf("message %q, shown to the application, names a configuration key", pe.Message)
			}
		})
	}
}

func TestEmailIsUnverifiedUnlessItsTenantIsTrusted(t *testing.T) {
	t.Parallel()
	noEmail := azuretest.Alice
	noEmail.Email = ""
	phone := azuretest.Carol
	phone.Email, phone.PreferredUsername = "", "+15551234567"
	// nOAuth: Fabrikam's administrator gives their user Alice's address.
	impostor := azuretest.Bob
	impostor.Email = "alice@contoso.com"
	tests := []struct {
		name         string
		tenant       string
		trusted      []string
		user         azuretest.User
		mutate       func(c map[string]any)
		wantEmail    string
		wantVerified bool
	}{
		{name: "without trusted tenants an email is unverified", tenant: "organizations", user: azuretest.Alice, wantEmail: "alice@contoso.com"},
		{
			name: "the email of a trusted tenant is verified", tenant: "organizations", trusted: []string{azuretest.ContosoTenantID},
			user: azuretest.Alice, wantEmail: "alice@contoso.com", wantVerified: true,
		},
		{
			name: "another tenant's email of a trusted domain is not verified (nOAuth)", tenant: "organizations",
			trusted: []string{azuretest.ContosoTenantID}, user: impostor, wantEmail: "alice@contoso.com",
		},
		{
			name: "a trusted tenant's email whose domain it has not verified (xms_edov false) is not verified", tenant: "organizations",
			trusted: []string{azuretest.ContosoTenantID}, user: azuretest.Alice,
			mutate: func(c map[string]any) { c["xms_edov"] = false }, wantEmail: "alice@contoso.com",
		},
		{
			name: "xms_edov true keeps a trusted tenant's email verified", tenant: "organizations",
			trusted: []string{azuretest.ContosoTenantID}, user: azuretest.Alice,
			mutate: func(c map[string]any) { c["xms_edov"] = true }, wantEmail: "alice@contoso.com", wantVerified: true,
		},
		{
			name: "without an email claim the address comes from preferred_username, unverified", tenant: "organizations",
			trusted: []string{azuretest.ContosoTenantID}, user: noEmail, wantEmail: "alice@contoso.com",
		},
		{
			name: "a upn is used when it is the only address", tenant: "organizations", user: noEmail,
			mutate: func(c map[string]any) {
				delete(c, "preferred_username")
				c["upn"] = "Alice@Contoso.com"
			},
			wantEmail: "alice@contoso.com",
		},
		{
			name: "a guest's #EXT# user name is not an address", tenant: "organizations", user: noEmail,
			mutate: func(c map[string]any) { c["preferred_username"] = "bob_fabrikam.com#EXT#@contoso.onmicrosoft.com" },
		},
		{name: "a phone number is not an address", tenant: "consumers", user: phone},
		{
			name: "trusting the personal accounts' tenant verifies their email", tenant: "common",
			trusted: []string{azuretest.PersonalTenantID}, user: azuretest.Carol, wantEmail: "carol@outlook.com", wantVerified: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, tt.tenant, func(c *azure.Config) { c.TrustedEmailTenants = tt.trusted })
			s := authorize(t, p)
			if tt.mutate != nil {
				fake.NextIDToken(tt.mutate)
			}

			ident, err := s.exchange(t, p)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}

			if ident.Profile.Email != tt.wantEmail || ident.Profile.EmailVerified != tt.wantVerified {
				t.Errorf("Profile email = %q (verified %v), want %q (verified %v)",
					ident.Profile.Email, ident.Profile.EmailVerified, tt.wantEmail, tt.wantVerified)
			}
		})
	}
}

func TestRolesAndGroupsArePassedThroughInTheRawClaims(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	alice := azuretest.Alice
	alice.Roles, alice.Groups = []string{"Reports.Read", "Admin"}, []string{"0f4d5c6b-7a89-4b0c-9d1e-2f3a4b5c6d7e"}
	fake.SetUser(alice)
	p := newAdapter(t, fake, azuretest.ContosoTenantID, nil)

	ident, _ := signInOK(t, p)

	if got := fmt.Sprint(ident.Claims["roles"]); got != "[Reports.Read Admin]" {
		t.Errorf("Claims[roles] = %s", got)
	}
	if got := fmt.Sprint(ident.Claims["groups"]); got != "[0f4d5c6b-7a89-4b0c-9d1e-2f3a4b5c6d7e]" {
		t.Errorf("Claims[groups] = %s", got)
	}
}

func TestAuthTimeIsReportedWhenEntraSendsIt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 11, 58, 20, 0, time.UTC)
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "organizations", nil)
	s := authorize(t, p)
	fake.NextIDToken(func(c map[string]any) { c["auth_time"] = at.Unix() })

	ident, err := s.exchange(t, p)
	if err != nil {
		t.Fatal(err)
	}

	if !ident.AuthTime.Equal(at) {
		t.Errorf("AuthTime = %v, want %v (the optional auth_time claim)", ident.AuthTime, at)
	}
}

func TestOpenIDConnectOptionsReachEntra(t *testing.T) {
	t.Parallel()
	zero, hour := int64(0), int64(3600)
	tests := []struct {
		name string
		req  providers.AuthRequest
		want map[string]string // "" means absent
	}{
		{"none asked: no prompt, max_age or login_hint", providers.AuthRequest{},
			map[string]string{"prompt": "", "max_age": "", "login_hint": ""}},
		{"one prompt is passed on", providers.AuthRequest{Prompt: []string{"consent"}},
			map[string]string{"prompt": "consent"}},
		{"Entra takes one prompt: login wins", providers.AuthRequest{Prompt: []string{"select_account", "login", "consent"}},
			map[string]string{"prompt": "login"}},
		{"Entra takes one prompt: select_account wins over consent", providers.AuthRequest{Prompt: []string{"consent", "select_account"}},
			map[string]string{"prompt": "select_account"}},
		{"max_age and login_hint are passed on", providers.AuthRequest{MaxAge: &hour, LoginHint: "alice@contoso.com"},
			map[string]string{"prompt": "", "max_age": "3600", "login_hint": "alice@contoso.com"}},
		{"max_age=0 also asks for a new login", providers.AuthRequest{MaxAge: &zero, Prompt: []string{"select_account"}},
			map[string]string{"prompt": "login", "max_age": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			p := newAdapter(t, fake, "organizations", nil)

			authorizeEdit(t, p, func(r *providers.AuthRequest) {
				r.Prompt, r.MaxAge, r.LoginHint = tt.req.Prompt, tt.req.MaxAge, tt.req.LoginHint
			})

			got := fake.LastAuthRequest()
			for k, want := range tt.want {
				if got.Get(k) != want || (want == "" && got.Has(k)) {
					t.Errorf("Entra's authorization endpoint got %s=%q (present: %v), want %q", k, got.Get(k), got.Has(k), want)
				}
			}
		})
	}
}

func TestSignInKeepsWorkingAfterEntraRotatesItsKeys(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{false, true} {
		t.Run(fmt.Sprintf("old key kept: %v", keepOld), func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			p := newAdapter(t, fake, "organizations", nil)
			first, _ := signInOK(t, p)

			fake.RotateKey(keepOld)
			second, _ := signInOK(t, p)
			third, _ := signInOK(t, p)

			if first.Subject != second.Subject || second.Subject != third.Subject {
				t.Errorf("subjects differ across the rotation: %q, %q, %q", first.Subject, second.Subject, third.Subject)
			}
			if n := fake.KeysRequests(); n != 2 {
				t.Errorf("JWKS fetched %d times, want 2: at first use, and once for the new kid", n)
			}
		})
	}
}

func TestTokenEndpointFailuresAreClassified(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		edit func(c *azure.Config, fake *azuretest.Server)
		// before runs between the authorization and the exchange.
		before   func(t *testing.T, fake *azuretest.Server, p providers.Provider, s *signIn)
		wantCode string
		wantText []string // in the message
	}{
		{
			name: "an expired code is an invalid grant, with its AADSTS code and correlation id",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextToken(http.StatusBadRequest, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
			},
			wantCode: providers.CodeInvalidGrant, wantText: []string{"AADSTS70008", "correlation id"},
		},
		{
			name: "a code redeemed twice is an invalid grant",
			before: func(t *testing.T, _ *azuretest.Server, p providers.Provider, s *signIn) {
				if _, err := s.exchange(t, p); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
			},
			wantCode: providers.CodeInvalidGrant, wantText: []string{"AADSTS54005"},
		},
		{
			name:     "a wrong PKCE verifier is an invalid grant",
			before:   func(t *testing.T, _ *azuretest.Server, _ providers.Provider, s *signIn) { s.verifier = randomString(t) },
			wantCode: providers.CodeInvalidGrant, wantText: []string{"AADSTS501481"},
		},
		{
			name: "a refusal that echoes the code does not repeat it",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, s *signIn) {
				fake.FailNextToken(http.StatusBadRequest, "invalid_grant", 9002313, "Code "+s.code+" with verifier "+s.verifier+" is malformed.")
			},
			wantCode: providers.CodeInvalidGrant, wantText: []string{"AADSTS9002313"},
		},
		{
			name:     "a wrong client secret is the operator's problem, not a bad code",
			edit:     func(c *azure.Config, _ *azuretest.Server) { c.ClientSecret = "Qx98Q~not.the.right.secret" },
			wantCode: providers.CodeUnavailable, wantText: []string{"AADSTS7000215", "client_secret", "providers.azure"},
		},
		{
			name: "an expired client secret says so",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.ExpireClientSecret(fake.ClientID())
			},
			wantCode: providers.CodeUnavailable, wantText: []string{"AADSTS7000222", "expired", "Certificates & secrets"},
		},
		{
			name: "an unknown tenant is the operator's problem",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextToken(http.StatusBadRequest, "invalid_tenant", 90002, "Tenant 'contoso.example' not found.")
			},
			wantCode: providers.CodeUnavailable, wantText: []string{"AADSTS90002", "tenant"},
		},
		{
			name: "a redirect URI registered for a single-page app is the operator's problem",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextToken(http.StatusBadRequest, "invalid_request", 9002327,
					"Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
			},
			wantCode: providers.CodeUnavailable, wantText: []string{"AADSTS9002327", "Web platform"},
		},
		{
			name: "a transient Entra error makes Entra unavailable",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextToken(http.StatusInternalServerError, "server_error", 90033, "A transient error has occurred. Please try again.")
			},
			wantCode: providers.CodeUnavailable, wantText: []string{"AADSTS90033"},
		},
		{
			name: "temporarily_unavailable makes Entra unavailable whatever the status",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextToken(http.StatusBadRequest, "temporarily_unavailable", 50196, "The server terminated an operation because it encountered a client request loop.")
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a gateway's HTML error page makes Entra unavailable",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextTokenRaw(http.StatusBadGateway, "text/html", "<html><body>502 Bad Gateway</body></html>")
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "rate limiting makes Entra unavailable",
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.FailNextTokenRaw(http.StatusTooManyRequests, "application/json", `{"error":"temporarily_unavailable"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a token endpoint slower than the client's time-out makes Entra unavailable",
			edit: func(c *azure.Config, _ *azuretest.Server) {
				c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
			},
			before: func(_ *testing.T, fake *azuretest.Server, _ providers.Provider, _ *signIn) {
				fake.DelayNextToken(5 * time.Second)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "an unreachable token endpoint makes Entra unavailable",
			edit: func(c *azure.Config, _ *azuretest.Server) {
				c.TokenURL = closed.URL + "/organizations/oauth2/v2.0/token"
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "unreachable signing keys make Entra unavailable, not the token invalid",
			edit: func(c *azure.Config, _ *azuretest.Server) {
				c.JWKSURL = closed.URL + "/organizations/discovery/v2.0/keys"
			},
			wantCode: providers.CodeUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			p := newAdapter(t, fake, "organizations", func(c *azure.Config) {
				if tt.edit != nil {
					tt.edit(c, fake)
				}
			})
			s := authorize(t, p)
			code, verifier := s.code, s.verifier
			if tt.before != nil {
				tt.before(t, fake, p, s)
			}

			ident, err := s.exchange(t, p)

			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			pe := wantProviderError(t, err, "azure", tt.wantCode)
			for _, want := range tt.wantText {
				if !strings.Contains(pe.Message, want) {
					t.Errorf("message %q lacks %q", pe.Message, want)
				}
			}
			wantNoSecrets(t, err, append(fake.Issued(), code, verifier, s.verifier, fake.ClientSecret(), "Qx98Q~not.the.right.secret")...)
		})
	}
}

func TestATimeOutOfTheCallerIsUnavailability(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "organizations", nil)
	s := authorize(t, p)
	fake.DelayNextToken(5 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := p.Exchange(ctx, providers.ExchangeRequest{Code: s.code, RedirectURI: callback, CodeVerifier: s.verifier, Nonce: s.nonce})

	wantProviderError(t, err, "azure", providers.CodeUnavailable)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Exchange took %v, want it to stop at the caller's deadline", d)
	}
}

func TestRefreshRotatesEntrasRefreshToken(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "organizations", func(c *azure.Config) { c.OfflineAccess = true })

	ident, s := signInOK(t, p)

	if got := s.authURL.Query().Get("scope"); got != "openid profile email offline_access" {
		t.Errorf("auth URL scope = %q, want offline_access added", got)
	}
	first := ident.Tokens.RefreshToken
	if first == "" {
		t.Fatal("no refresh token with offline_access")
	}

	t.Run("a refresh returns new tokens and a new refresh token", func(t *testing.T) {
		tok, err := p.Refresh(t.Context(), first)
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if tok.AccessToken == "" || tok.AccessToken == ident.Tokens.AccessToken {
			t.Errorf("AccessToken not renewed")
		}
		if tok.RefreshToken == "" || tok.RefreshToken == first {
			t.Fatalf("RefreshToken = %.12q..., want Entra's rotated one", tok.RefreshToken)
		}
		if got := fake.LastTokenRequest(); got.Get("grant_type") != "refresh_token" || got.Get("client_secret") != fake.ClientSecret() {
			t.Errorf("refresh request = %v", got)
		}
		again, err := p.Refresh(t.Context(), tok.RefreshToken)
		if err != nil || again.RefreshToken == tok.RefreshToken {
			t.Errorf("refresh with the rotated token: %v (rotated again: %v)", err, again != nil && again.RefreshToken != tok.RefreshToken)
		}
	})

	t.Run("a revoked refresh token means signing in again", func(t *testing.T) {
		fake.RevokeRefreshTokens(azuretest.Alice.OID)
		tok, err := p.Refresh(t.Context(), first)
		if tok != nil {
			t.Errorf("got tokens %+v, want none", tok)
		}
		pe := wantProviderError(t, err, "azure", providers.CodeInvalidGrant)
		if !strings.Contains(pe.Message, "AADSTS50173") {
			t.Errorf("message %q lacks AADSTS50173", pe.Message)
		}
		wantNoSecrets(t, err, append(fake.Issued(), fake.ClientSecret())...)
	})

	t.Run("an unknown refresh token means signing in again", func(t *testing.T) {
		_, err := p.Refresh(t.Context(), "1.A-not-a-refresh-token")
		wantProviderError(t, err, "azure", providers.CodeInvalidGrant)
	})

	t.Run("an expired client secret is the operator's problem", func(t *testing.T) {
		fake.ExpireClientSecret(fake.ClientID())
		_, err := p.Refresh(t.Context(), first)
		pe := wantProviderError(t, err, "azure", providers.CodeUnavailable)
		if !strings.Contains(pe.Message, "AADSTS7000222") {
			t.Errorf("message %q lacks AADSTS7000222", pe.Message)
		}
	})
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "organizations", nil)

	ident, s := signInOK(t, p)

	if strings.Contains(s.authURL.Query().Get("scope"), "offline_access") {
		t.Errorf("scope %q asks for offline_access", s.authURL.Query().Get("scope"))
	}
	if ident.Tokens.RefreshToken != "" {
		t.Error("got a refresh token without offline_access")
	}
}

func TestConfiguredEndpointsAndIssuerTemplateAreUsed(t *testing.T) {
	t.Parallel()

	t.Run("endpoints behind a proxy with a path prefix", func(t *testing.T) {
		t.Parallel()
		fake := azuretest.New(t)
		target, _ := url.Parse(fake.URL())
		var proxied atomic.Int32
		rp := httputil.NewSingleHostReverseProxy(target)
		proxy := httptest.NewServer(http.StripPrefix("/entra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proxied.Add(1)
			rp.ServeHTTP(w, r)
		})))
		t.Cleanup(proxy.Close)
		p := newAdapter(t, fake, azuretest.ContosoTenantID, func(c *azure.Config) {
			c.AuthorityHost = "https://login.microsoftonline.com" // not contacted
			c.IssuerTemplate = fake.IssuerTemplate()
			c.AuthURL = fake.AuthURL(azuretest.ContosoTenantID)
			c.TokenURL = proxy.URL + "/entra/" + azuretest.ContosoTenantID + "/oauth2/v2.0/token"
			c.JWKSURL = proxy.URL + "/entra/" + azuretest.ContosoTenantID + "/discovery/v2.0/keys"
		})

		ident, _ := signInOK(t, p)

		if ident.Subject != subject(azuretest.Alice) {
			t.Errorf("Subject = %q", ident.Subject)
		}
		if n := proxied.Load(); n != 2 {
			t.Errorf("the proxy forwarded %d requests, want the token and the JWKS requests", n)
		}
	})

	t.Run("a national cloud's issuer template is enforced", func(t *testing.T) {
		t.Parallel()
		const cn = "https://login.partner.microsoftonline.cn/{tenantid}/v2.0"
		fake := azuretest.New(t)
		p := newAdapter(t, fake, "organizations", func(c *azure.Config) { c.IssuerTemplate = cn })

		_, err := authorize(t, p).exchange(t, p)
		wantProviderError(t, err, "azure", providers.CodeInvalidToken)

		s := authorize(t, p)
		fake.NextIDToken(func(c map[string]any) { c["iss"] = strings.ReplaceAll(cn, "{tenantid}", azuretest.ContosoTenantID) })
		if _, err := s.exchange(t, p); err != nil {
			t.Errorf("a token with the template's issuer: %v", err)
		}
	})
}

func TestOneAdapterServesConcurrentSignIns(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "organizations", nil)

	// The group returns once its parallel sign-ins have all finished.
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprintf("sign-in %d", i), func(t *testing.T) {
				t.Parallel()
				ident, _ := signInOK(t, p)
				if ident.Subject != subject(azuretest.Alice) {
					t.Errorf("Subject = %q", ident.Subject)
				}
			})
		}
	})

	if n := fake.KeysRequests(); n != 1 {
		t.Errorf("JWKS fetched %d times by concurrent first uses, want 1", n)
	}
}

func TestNewRefusesAnInvalidConfiguration(t *testing.T) {
	t.Parallel()
	p, err := azure.New(azure.Config{ClientID: "my-app", Tenant: "everyone", AllowedTenants: []string{"contoso.com"}})
	if p != nil || err == nil {
		t.Fatalf("New = %v, %v; want an error", p, err)
	}
	for _, want := range []string{"providers.azure.client_id", "providers.azure.tenant", "providers.azure.allowed_tenants[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
