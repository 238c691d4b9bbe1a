package azure_test

import (
	"testing"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// tableHarness plugs the Entra adapter into the shared table of ID-token
// cases: a fake per sign-in, whose one-shot NextIDToken hook makes the
// case's claim edits (Entra's fake signs only what it issues).
type tableHarness struct{ tenant string }

func (h tableHarness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
	t.Helper()
	fake := azuretest.New(t)
	fake.NextIDToken(rw.EditClaims)
	p, err := azure.New(azure.Config{
		Name: azure.Name, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Tenant: h.tenant,
		AuthorityHost: fake.URL(), HTTPClient: rw.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return providertest.SignIn(t, p)
}

func TestSharedIDTokenVerificationCases(t *testing.T) {
	t.Parallel()
	for _, tenant := range []string{azure.TenantOrganizations, azuretest.ContosoTenantID} {
		t.Run(tenant, func(t *testing.T) {
			t.Parallel()
			providertest.RunIDTokenCases(t, tableHarness{tenant: tenant}, providertest.Options{
				Provider: azure.Name, SubjectClaims: []string{"tid", "oid"},
			})
		})
	}
}
