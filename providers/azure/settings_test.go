package azure_test

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

const (
	validClientID = "00001111-aaaa-4222-bbbb-3333cccc4444"
	validSecret   = "Qx98Q~aValidLookingSecretValue.0123456789"
)

// validSettings are settings without a problem, for tests to break one
// thing at a time.
func validSettings() azure.Settings {
	return azure.Settings{ClientID: validClientID, ClientSecret: validSecret, Tenant: "common"}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dev  bool
		edit func(s *azure.Settings)
		// want maps each reported key to a phrase its message must hold;
		// nil means no problem at all.
		want map[string]string
	}{
		{name: "valid settings for common pass", edit: func(*azure.Settings) {}},
		{name: "a single tenant by id passes", edit: func(s *azure.Settings) { s.Tenant = azuretest.ContosoTenantID }},
		{name: "a single tenant by domain passes", edit: func(s *azure.Settings) { s.Tenant = "Contoso.onmicrosoft.com" }},
		{name: "organizations with an allow-list passes", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = "Organizations", []string{azuretest.ContosoTenantID, azuretest.FabrikamTenantID}
		}},
		{name: "a national cloud passes", edit: func(s *azure.Settings) { s.AuthorityHost = "https://login.microsoftonline.us/" }},
		{name: "a missing client id says where to find it", edit: func(s *azure.Settings) { s.ClientID = "" },
			want: map[string]string{"client_id": "Application (client) ID"}},
		{name: "a client id that is not a GUID is refused", edit: func(s *azure.Settings) { s.ClientID = "my-app" },
			want: map[string]string{"client_id": "a GUID"}},
		{name: "a missing client secret says where to find it", edit: func(s *azure.Settings) { s.ClientSecret = "" },
			want: map[string]string{"client_secret": "Certificates & secrets"}},
		{name: "a secret's ID pasted as the secret is caught", edit: func(s *azure.Settings) { s.ClientSecret = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b" },
			want: map[string]string{"client_secret": "Secret ID"}},
		{name: "a missing tenant names the choices", edit: func(s *azure.Settings) { s.Tenant = "" },
			want: map[string]string{"tenant": "Directory (tenant) ID"}},
		{name: "an unknown tenant mode is refused", edit: func(s *azure.Settings) { s.Tenant = "everyone" },
			want: map[string]string{"tenant": `"organizations", "consumers" or "common"`}},
		{name: "allowed_tenants must be tenant ids", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = "organizations", []string{azuretest.ContosoTenantID, "fabrikam.com"}
		}, want: map[string]string{"allowed_tenants[1]": "GUID"}},
		{name: "allowed_tenants cannot list the personal accounts' tenant", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = "organizations", []string{azuretest.PersonalTenantID}
		}, want: map[string]string{"allowed_tenants[0]": "allow_personal_accounts"}},
		{name: "allowed_tenants has no effect with a single tenant id", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = azuretest.ContosoTenantID, []string{azuretest.ContosoTenantID}
		}, want: map[string]string{"allowed_tenants": "no effect"}},
		{name: "allowed_tenants has no effect with consumers", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = "consumers", []string{azuretest.ContosoTenantID}
		}, want: map[string]string{"allowed_tenants": "no effect"}},
		{name: "common with an allow-list must say whether personal accounts sign in", edit: func(s *azure.Settings) {
			s.AllowedTenants = []string{azuretest.ContosoTenantID}
		}, want: map[string]string{"allow_personal_accounts": "true or false"}},
		{name: "common with an allow-list and an explicit choice passes", edit: func(s *azure.Settings) {
			s.AllowedTenants, s.AllowPersonalAccounts = []string{azuretest.ContosoTenantID}, ptr(false)
		}},
		{name: "personal accounts cannot be refused with consumers", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowPersonalAccounts = "consumers", ptr(false)
		}, want: map[string]string{"allow_personal_accounts": "nobody could sign in"}},
		{name: "personal accounts cannot be admitted with organizations", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowPersonalAccounts = "organizations", ptr(true)
		}, want: map[string]string{"allow_personal_accounts": `"common"`}},
		{name: "personal accounts cannot be admitted with a single tenant", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowPersonalAccounts = "contoso.com", ptr(true)
		}, want: map[string]string{"allow_personal_accounts": "single tenant"}},
		{name: "trusted_email_tenants must be tenant ids", edit: func(s *azure.Settings) {
			s.TrustedEmailTenants = []string{"contoso.com"}
		}, want: map[string]string{"trusted_email_tenants[0]": "GUID"}},
		{name: "a trusted tenant that can never sign in is caught", edit: func(s *azure.Settings) {
			s.Tenant, s.AllowedTenants = "organizations", []string{azuretest.ContosoTenantID}
			s.TrustedEmailTenants = []string{azuretest.ContosoTenantID, azuretest.FabrikamTenantID}
		}, want: map[string]string{"trusted_email_tenants[1]": "never sign in"}},
		{name: "a trusted tenant other than the single tenant is caught", edit: func(s *azure.Settings) {
			s.Tenant, s.TrustedEmailTenants = azuretest.ContosoTenantID, []string{azuretest.FabrikamTenantID}
		}, want: map[string]string{"trusted_email_tenants[0]": "never sign in"}},
		{name: "scopes must include openid and profile", edit: func(s *azure.Settings) { s.Scopes = []string{"openid", "email"} },
			want: map[string]string{"scopes": "profile"}},
		{name: "an issuer template needs the placeholder", edit: func(s *azure.Settings) {
			s.IssuerTemplate = "https://login.microsoftonline.com/common/v2.0"
		}, want: map[string]string{"issuer_template": "{tenantid}"}},
		{name: "endpoints must use https outside dev mode", edit: func(s *azure.Settings) {
			s.AuthorityHost, s.TokenURL, s.IssuerTemplate = "http://login.example.com", "http://proxy.example.com/token", "http://login.example.com/{tenantid}/v2.0"
		}, want: map[string]string{"authority_host": "https", "token_url": "https", "issuer_template": "https"}},
		{name: "http endpoints are fine in dev mode", dev: true, edit: func(s *azure.Settings) {
			s.AuthorityHost, s.TokenURL = "http://login.example.com", "http://proxy.example.com/token"
		}},
		{name: "a loopback fake is fine outside dev mode", edit: func(s *azure.Settings) { s.AuthorityHost = "http://127.0.0.1:8080" }},
		{name: "an authority host with a query is refused", edit: func(s *azure.Settings) { s.AuthorityHost = "https://login.microsoftonline.com/?x=1" },
			want: map[string]string{"authority_host": "no query"}},
		{name: "native client ids of MSAL app registrations pass, in any case", edit: func(s *azure.Settings) {
			s.NativeClientIDs = []string{"22222222-2222-4222-8222-222222222222", strings.ToUpper(azuretest.DefaultClientID)}
			s.NativeRequireNonce = true
		}},
		{name: "native client ids must be GUIDs, each once", edit: func(s *azure.Settings) {
			s.NativeClientIDs = []string{"com.contoso.app", "", validClientID, strings.ToUpper(validClientID)}
		}, want: map[string]string{"native_client_ids[0]": "GUID", "native_client_ids[1]": "empty", "native_client_ids[3]": "repeats"}},
		{name: "every problem is reported at once", edit: func(s *azure.Settings) { *s = azure.Settings{} },
			want: map[string]string{"client_id": "required", "client_secret": "required", "tenant": "required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSettings()
			tt.edit(&s)
			got := map[string][]string{}
			s.Validate(tt.dev, func(key, message string) { got[key] = append(got[key], message) })

			for key, phrase := range tt.want {
				msgs := got[key]
				if !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, phrase) }) {
					t.Errorf("%s: got %q, want a message with %q", key, msgs, phrase)
				}
			}
			for key, msgs := range got {
				if _, ok := tt.want[key]; !ok {
					t.Errorf("unexpected problem %s: %q", key, msgs)
				}
			}
		})
	}
}

func TestSettingsEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    azure.Settings
		want []string
	}{
		{"built from the global cloud and the tenant", azure.Settings{Tenant: "Organizations"}, []string{
			"https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
			"https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
			"https://login.microsoftonline.com/organizations/discovery/v2.0/keys",
		}},
		{"built from a national cloud", azure.Settings{Tenant: azuretest.ContosoTenantID, AuthorityHost: "https://login.microsoftonline.us/"}, []string{
			"https://login.microsoftonline.us/" + azuretest.ContosoTenantID + "/oauth2/v2.0/authorize",
			"https://login.microsoftonline.us/" + azuretest.ContosoTenantID + "/oauth2/v2.0/token",
			"https://login.microsoftonline.us/" + azuretest.ContosoTenantID + "/discovery/v2.0/keys",
		}},
		{"overridden one by one", azure.Settings{Tenant: "common", TokenURL: "http://127.0.0.1:9/token"}, []string{
			"https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
			"http://127.0.0.1:9/token",
			"https://login.microsoftonline.com/common/discovery/v2.0/keys",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.s.Endpoints(); !slices.Equal(got, tt.want) {
				t.Errorf("Endpoints() = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("a local fake is told from the real Entra", func(t *testing.T) {
		t.Parallel()
		fake := azuretest.New(t)
		local := azure.Settings{Tenant: "common", AuthorityHost: fake.URL()}
		if !providers.OnLoopback(local.Endpoints()...) {
			t.Errorf("Endpoints() = %q are not all on loopback", local.Endpoints())
		}
		real := azure.Settings{Tenant: "common"}
		if providers.OnLoopback(real.Endpoints()...) {
			t.Error("the real Entra's endpoints count as loopback")
		}
	})
}

// countingTransport counts the requests of the HTTP client an instance is
// given.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestTypeBuildsInstancesFromSettings(t *testing.T) {
	t.Parallel()
	typ := azure.Type()
	if typ.Name != "azure" || typ.Label != "Microsoft" {
		t.Errorf("Type() = %q, %q; want azure, Microsoft", typ.Name, typ.Label)
	}

	t.Run("an instance uses its name, HTTP client and clock", func(t *testing.T) {
		t.Parallel()
		fake := azuretest.New(t)
		fake.SetUser(azuretest.Bob)
		ps := typ.NewSettings()
		s, ok := ps.(*azure.Settings)
		if !ok {
			t.Fatalf("NewSettings() = %T, want *azure.Settings", ps)
		}
		*s = azure.Settings{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Tenant: "organizations", AuthorityHost: fake.URL()}
		var problems []string
		s.Validate(false, func(key, message string) { problems = append(problems, key+": "+message) })
		if len(problems) > 0 {
			t.Fatalf("Validate: %q", problems)
		}
		transport := &countingTransport{}
		p, err := typ.New(providers.Instance{
			Name: "work", PublicURL: "https://bridge.example.test",
			HTTPClient: &http.Client{Transport: transport, Timeout: 10 * time.Second},
		}, s)
		if err != nil {
			t.Fatal(err)
		}

		ident, _ := signInOK(t, p)

		if p.Name() != "work" || ident.Provider != "work" || ident.Key() != "work|"+subject(azuretest.Bob) {
			t.Errorf("Name() = %q, identity key %q; want the instance name work", p.Name(), ident.Key())
		}
		if _, ok := p.(providers.Refresher); !ok {
			t.Error("the instance is not a providers.Refresher")
		}
		if n := transport.n.Load(); n != 2 {
			t.Errorf("the instance's HTTP client made %d requests, want 2 (token, JWKS)", n)
		}

		late, err := typ.New(providers.Instance{Name: "late", Now: func() time.Time { return time.Now().Add(3 * time.Hour) }}, s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = authorize(t, late).exchange(t, late)
		wantProviderError(t, err, "late", providers.CodeInvalidToken) // expired by the instance's clock
	})

	t.Run("invalid settings give an error and no provider", func(t *testing.T) {
		t.Parallel()
		p, err := typ.New(providers.Instance{Name: "broken"}, &azure.Settings{ClientID: validClientID, Tenant: "everyone"})
		if p != nil || err == nil {
			t.Fatalf("New = %v, %v; want an error only", p, err)
		}
		if !strings.Contains(err.Error(), "providers.broken.tenant") {
			t.Errorf("error %q does not name providers.broken.tenant", err)
		}
	})

	t.Run("settings of another type are refused", func(t *testing.T) {
		t.Parallel()
		if _, err := typ.New(providers.Instance{Name: "x"}, otherSettings{}); err == nil {
			t.Error("New accepted settings of another type")
		}
	})
}

type otherSettings struct{}

func (otherSettings) Validate(bool, func(key, message string)) {}
