package oidc_test

import (
	"testing"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// harness runs the shared id_token cases against the generic adapter and
// oidctest: a new adapter per sign-in, configured by edit.
type harness struct {
	fake *oidctest.Server
	edit func(*oidc.Config)
}

func (h harness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
	t.Helper()
	cfg := oidc.Config{RP: oidc.RPConfig{
		Name: instance, ClientID: h.fake.ClientID(), ClientSecret: h.fake.ClientSecret(),
		Issuer: h.fake.Issuer(), HTTPClient: rw.Client(),
	}}
	if h.edit != nil {
		h.edit(&cfg)
	}
	return providertest.SignIn(t, oidc.New(cfg))
}

func (h harness) Sign(_ *testing.T, claims map[string]any) string { return h.fake.SignIDToken(claims) }

// hookHarness runs the same cases the way a fake without SignIDToken
// plugs in (azuretest's route): a fake per sign-in, whose one-shot
// NextIDToken hook makes the claim edits.
type hookHarness struct{}

func (hookHarness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
	t.Helper()
	fake := oidctest.New(t)
	fake.NextIDToken(rw.EditClaims)
	return providertest.SignIn(t, oidc.New(oidc.Config{RP: oidc.RPConfig{
		Name: instance, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(),
		Issuer: fake.Issuer(), HTTPClient: rw.Client(),
	}}))
}

func TestIDTokenVerificationTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fake    []oidctest.Option
		user    *oidctest.User
		edit    func(*oidc.Config)
		subject []string
	}{
		{name: "RS256 at a root issuer"},
		{
			name: "ES256 at an issuer below a path",
			fake: []oidctest.Option{oidctest.WithSigningAlg("ES256"), oidctest.WithIssuerPath("/realms/corp")},
			edit: func(c *oidc.Config) { c.RP.Algorithms = []string{"ES256"} },
		},
		{
			name:    "a configured numeric subject claim",
			user:    &oidctest.User{Subject: "opaque-sub", Email: "erin@example.com", Claims: map[string]any{"employee_id": 4711}},
			edit:    func(c *oidc.Config) { c.Claims.Subject = "employee_id" },
			subject: []string{"employee_id"},
		},
	}
	t.Run("claims edited by the fake's hook, a fake per sign-in", func(t *testing.T) {
		t.Parallel()
		providertest.RunIDTokenCases(t, hookHarness{}, providertest.Options{
			Provider: instance,
		})
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t, tt.fake...)
			if tt.user != nil {
				fake.SetUser(*tt.user)
			}
			providertest.RunIDTokenCases(t, harness{fake: fake, edit: tt.edit}, providertest.Options{
				Provider:      instance,
				SubjectClaims: tt.subject,
			})
		})
	}
}
