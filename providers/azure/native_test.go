package azure_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// msalClient is the Application (client) ID of the app registration the
// mobile app signs in with through MSAL.
const msalClient = "22222222-2222-4222-8222-222222222222"

// nativeHarness runs the shared native cases against the Entra adapter in
// one tenant mode, for Alice of Contoso.
type nativeHarness struct {
	fake   *azuretest.Server
	tenant string
}

func (h nativeHarness) Verifier(t *testing.T, requireNonce bool) providers.NativeVerifier {
	return newAdapter(t, h.fake, h.tenant, func(c *azure.Config) {
		c.NativeClientIDs, c.NativeRequireNonce = []string{msalClient}, requireNonce
	})
}

func (h nativeHarness) Claims(_ *testing.T, client, nonce string) map[string]any {
	return h.fake.Claims(client, azuretest.Alice, nonce)
}

func (h nativeHarness) Sign(_ *testing.T, c map[string]any) string { return h.fake.SignIDToken(c) }
func (h nativeHarness) RotateKey(*testing.T)                       { h.fake.RotateKey(false) }
func (h nativeHarness) JWKSRequests() int                          { return h.fake.KeysRequests() }
func (h nativeHarness) SignWithUnknownKey(_ *testing.T, c map[string]any) string {
	return h.fake.SignWithUnknownKey(c)
}

func TestSharedNativeIDTokenCases(t *testing.T) {
	t.Parallel()
	// Entra's own cases, with the issuer function of the fake.
	tenantCase := func(id, name string, want, msg string, edit func(c map[string]any, iss func(string) string)) func(*azuretest.Server) providertest.NativeCase {
		return func(fake *azuretest.Server) providertest.NativeCase {
			return providertest.NativeCase{ID: id, Name: name, Want: want, WantMessage: msg,
				Claims: func(c map[string]any, _ providertest.NativeEnv) { edit(c, fake.Issuer) }}
		}
	}
	tidNotIss := tenantCase("tid-not-iss", "a token whose tid is not its issuer's tenant is refused", providers.CodeInvalidToken, "issuer (iss) is not the issuer of its tenant",
		func(c map[string]any, _ func(string) string) { c["tid"] = azuretest.FabrikamTenantID })
	personal := tenantCase("personal-account", "a personal account's token is not allowed", providers.CodeNotAllowed, "personal Microsoft accounts",
		func(c map[string]any, iss func(string) string) {
			c["tid"], c["iss"], c["oid"] = azuretest.PersonalTenantID, iss(azuretest.PersonalTenantID), azuretest.Carol.OID
		})
	otherTenant := tenantCase("tenant-other", "a consistent token of another tenant is refused", providers.CodeInvalidToken, "wrong tenant",
		func(c map[string]any, iss func(string) string) {
			c["tid"], c["iss"], c["oid"] = azuretest.FabrikamTenantID, iss(azuretest.FabrikamTenantID), azuretest.Bob.OID
		})
	tests := []struct {
		tenant string
		extra  []func(*azuretest.Server) providertest.NativeCase
	}{
		{azure.TenantOrganizations, []func(*azuretest.Server) providertest.NativeCase{tidNotIss, personal}},
		{azuretest.ContosoTenantID, []func(*azuretest.Server) providertest.NativeCase{tidNotIss, otherTenant}},
		{"contoso.com", []func(*azuretest.Server) providertest.NativeCase{tidNotIss, otherTenant}},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			var extra []providertest.NativeCase
			for _, c := range tt.extra {
				extra = append(extra, c(fake))
			}
			providertest.RunNativeCases(t, nativeHarness{fake: fake, tenant: tt.tenant}, providertest.NativeOptions{
				Provider: azure.Name, WebClientID: fake.ClientID(), NativeClientID: msalClient,
				SubjectClaims: []string{"tid", "oid"}, Extra: extra,
			})
		})
	}
}

func verifyNative(t *testing.T, p *azure.Provider, raw string) (*providers.Identity, time.Time, error) {
	t.Helper()
	return p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken})
}

func TestNativeAndBrowserSignInsOfOnePersonAreOneIdentity(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, azure.TenantOrganizations, func(c *azure.Config) {
		c.NativeClientIDs = []string{msalClient}
		c.TrustedEmailTenants = []string{azuretest.ContosoTenantID}
	})
	browser, _ := signInOK(t, p)

	claims := fake.Claims(msalClient, azuretest.Alice, "")
	ident, expires, err := verifyNative(t, p, fake.SignIDToken(claims))

	if err != nil {
		t.Fatalf("VerifyNative: %v", err)
	}
	if claims["sub"] == browser.Claims["sub"] {
		t.Fatal("the fake gave both apps the same sub; it must be pairwise for this test to mean anything")
	}
	if ident.Key() != browser.Key() || ident.Subject != subject(azuretest.Alice) {
		t.Errorf("native identity %q, browser identity %q: want one person, %s", ident.Key(), browser.Key(), subject(azuretest.Alice))
	}
	if ident.Profile != browser.Profile || !ident.Profile.EmailVerified || ident.Tenant != azuretest.ContosoTenantID {
		t.Errorf("native profile %+v (tenant %q), browser profile %+v: want the same, email verified by the trusted tenant", ident.Profile, ident.Tenant, browser.Profile)
	}
	if want := time.Unix(claims["exp"].(int64), 0).Add(time.Minute); !expires.Equal(want) {
		t.Errorf("expires = %v, want exp plus a minute's leeway, %v", expires, want)
	}
}

func TestNativeSignInFollowsTheTenantRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		tenant        string
		user          azuretest.User
		allowed       []string
		allowPersonal *bool
		wantCode      string // "" when accepted
		wantMessage   string
	}{
		{name: "organizations admits a work account of any tenant", tenant: "organizations", user: azuretest.Bob},
		{name: "organizations refuses a personal account", tenant: "organizations", user: azuretest.Carol,
			wantCode: providers.CodeNotAllowed, wantMessage: "personal Microsoft accounts cannot sign in here"},
		{name: "common admits a personal account", tenant: "common", user: azuretest.Carol},
		{name: "consumers refuses a work account", tenant: "consumers", user: azuretest.Alice,
			wantCode: providers.CodeInvalidToken, wantMessage: "wrong tenant (" + azuretest.ContosoTenantID + "): only personal Microsoft accounts"},
		{name: "a single tenant refuses another tenant's member", tenant: azuretest.ContosoTenantID, user: azuretest.Bob,
			wantCode: providers.CodeInvalidToken, wantMessage: "wrong tenant (" + azuretest.FabrikamTenantID + ")"},
		{name: "a single tenant named by domain refuses another tenant's member", tenant: "contoso.com", user: azuretest.Bob,
			wantCode: providers.CodeInvalidToken, wantMessage: "wrong tenant (" + azuretest.FabrikamTenantID + ")"},
		{name: "a single tenant named by domain admits its member", tenant: "contoso.onmicrosoft.com", user: azuretest.Alice},
		{name: "allowed_tenants refuses a tenant not listed", tenant: "organizations", user: azuretest.Bob, allowed: []string{azuretest.ContosoTenantID},
			wantCode: providers.CodeNotAllowed, wantMessage: "accounts of this organization (tenant " + azuretest.FabrikamTenantID + ") cannot sign in here"},
		{name: "common with allowed_tenants and no personal accounts refuses one", tenant: "common", user: azuretest.Carol,
			allowed: []string{azuretest.ContosoTenantID}, allowPersonal: ptr(false), wantCode: providers.CodeNotAllowed, wantMessage: "personal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			p := newAdapter(t, fake, tt.tenant, func(c *azure.Config) {
				c.NativeClientIDs, c.AllowedTenants, c.AllowPersonalAccounts = []string{msalClient}, tt.allowed, tt.allowPersonal
			})

			raw := fake.NativeIDToken(msalClient, tt.user, "")
			ident, _, err := verifyNative(t, p, raw)

			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("VerifyNative: %v", err)
				}
				if ident.Subject != subject(tt.user) {
					t.Errorf("Subject = %q, want %q", ident.Subject, subject(tt.user))
				}
				return
			}
			if ident != nil {
				t.Errorf("got identity %q, want none", ident.Key())
			}
			pe := wantProviderError(t, err, azure.Name, tt.wantCode)
			if !strings.Contains(pe.Message, tt.wantMessage) {
				t.Errorf("message %q does not say %q", pe.Message, tt.wantMessage)
			}
			wantNoSecrets(t, err, raw)
		})
	}
}

func TestTheTenantOfADomainIsLookedUpOnce(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "contoso.com", func(c *azure.Config) { c.NativeClientIDs = []string{msalClient} })

	for range 3 {
		if _, _, err := verifyNative(t, p, fake.NativeIDToken(msalClient, azuretest.Alice, "")); err != nil {
			t.Fatalf("VerifyNative: %v", err)
		}
	}
	if n := fake.DiscoveryRequests(); n != 1 {
		t.Errorf("the discovery document of contoso.com was fetched %d times, want once", n)
	}
}

func TestTheTenantOfAnUnknownDomainMakesNativeSignInUnavailable(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, "unknown.example", func(c *azure.Config) { c.NativeClientIDs = []string{msalClient} })

	_, _, err := verifyNative(t, p, fake.NativeIDToken(msalClient, azuretest.Alice, ""))

	pe := wantProviderError(t, err, azure.Name, providers.CodeUnavailable)
	if !strings.Contains(pe.Message, "unknown.example") {
		t.Errorf("message %q does not name the tenant setting", pe.Message)
	}
}

func TestNativeTokenOfAnUnconfiguredAppRegistrationIsRefused(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	p := newAdapter(t, fake, azure.TenantOrganizations, nil)
	if got := p.NativeTokenTypes(); !slices.Equal(got, []string{providers.TokenTypeIDToken}) {
		t.Errorf("NativeTokenTypes() = %q: the web app registration always counts", got)
	}

	_, _, err := verifyNative(t, p, fake.NativeIDToken(msalClient, azuretest.Alice, ""))

	pe := wantProviderError(t, err, azure.Name, providers.CodeInvalidToken)
	if !strings.Contains(pe.Message, "another client") || pe.Err == nil || !strings.Contains(pe.Err.Error(), msalClient) {
		t.Errorf("error %v: want the message to say another client, and the log to name its client id", err)
	}
	if _, _, err := verifyNative(t, p, fake.NativeIDToken(fake.ClientID(), azuretest.Alice, "")); err != nil {
		t.Errorf("a token of the web app registration: %v", err)
	}
}

func TestTypeWiresNativeSignIn(t *testing.T) {
	t.Parallel()
	fake := azuretest.New(t)
	s := validSettings()
	s.ClientID, s.ClientSecret, s.Tenant, s.AuthorityHost = fake.ClientID(), fake.ClientSecret(), "organizations", fake.URL()
	s.NativeClientIDs = []string{strings.ToUpper(msalClient)}
	p, err := azure.Type().New(providers.Instance{Name: "entra", HTTPClient: &http.Client{Timeout: 10 * time.Second}}, &s)
	if err != nil {
		t.Fatal(err)
	}
	nv, ok := p.(providers.NativeVerifier)
	if !ok {
		t.Fatalf("%T is no providers.NativeVerifier", p)
	}
	ident, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{
		Token: fake.NativeIDToken(msalClient, azuretest.Bob, ""), Type: providers.TokenTypeIDToken,
	})
	if err != nil {
		t.Fatalf("VerifyNative: %v", err)
	}
	if want := fmt.Sprintf("entra|%s", subject(azuretest.Bob)); ident.Key() != want {
		t.Errorf("Key() = %q, want %q", ident.Key(), want)
	}
}
