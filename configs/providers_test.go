package configs

import (
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/providers/oidc"
)

// twoIssuersYAML configures Google and two OpenID Connect issuers.
const twoIssuersYAML = productionHead + `
providers:
  corp:
    type: oidc
    display_name: Corp SSO
    client_id: corp-id
    client_secret: corp-secret
    issuer: https://login.corp.example
    claim_names:
      subject: employee_id
  google:
    client_id: id.apps.googleusercontent.com
    client_secret: google-secret
    link_by_email: true
  partner-idp:
    type: oidc
    client_id: partner-id
    client_secret_file: $DIR/partner
    issuer: https://idp.partner.example/realms/main
` + productionClients

const productionHead = `
server:
  public_url: https://auth.example.com`

const productionClients = `
clients:
  - id: spa
    redirect_uris: [https://app.example.com/cb]
`

func TestProvidersAreNamedInstancesOfATypeInFileOrder(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, twoIssuersYAML, map[string]string{
		"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY":              testKey,
		"SOCIALBRIDGE_PROVIDERS_CORP_CLIENT_SECRET":       "from-env",
		"SOCIALBRIDGE_PROVIDERS_PARTNER_IDP_SCOPES":       "openid,email",
		"SOCIALBRIDGE_PROVIDERS_CORP_CLAIM_NAMES_EMAIL":   "mail",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_HOSTED_DOMAINS":    "example.com",
		"SOCIALBRIDGE_PROVIDERS_PARTNER_IDP_DISPLAY_NAME": "Partner",
	}, map[string]string{"partner": "partner-secret\n"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.EnabledProviders() {
		got = append(got, p.Name+":"+p.Type)
	}
	if want := "corp:oidc google:google partner-idp:oidc"; strings.Join(got, " ") != want {
		t.Fatalf("instances %q, want %q", strings.Join(got, " "), want)
	}
	corp := instanceOf(c, "corp")
	cs := corp.Settings.(*oidc.Settings)
	partner := instanceOf(c, "partner-idp")
	ps := partner.Settings.(*oidc.Settings)
	checks := []struct {
		name      string
		got, want any
	}{
		{"a variable overrides a custom instance's key", cs.ClientSecret, "from-env"},
		{"nested keys of an instance", cs.ClaimNames.Subject, "employee_id"},
		{"a variable overrides a nested key", cs.ClaimNames.Email, "mail"},
		{"display name", corp.DisplayName, "Corp SSO"},
		{"a dashed name's variables use underscores", partner.DisplayName, "Partner"},
		{"list variables", strings.Join(ps.Scopes, " "), "openid email"},
		{"x_file fills x in an instance", ps.ClientSecret, "partner-secret"},
		{"link_by_email", instanceOf(c, "google").LinkByEmail, true},
		{"google settings from a variable", strings.Join(googleOf(c).HostedDomains, " "), "example.com"},
		{"no dev provider in production", c.DevEnabled(), false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestVariablesAloneCreateAnInstanceNamedAfterItsType(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, productionHead+productionClients, map[string]string{
		"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY":          testKey,
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":     "id.apps.googleusercontent.com",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "s",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.ProviderEnabled("google") || len(c.Providers.Instances) != 1 {
		t.Errorf("instances %v, want google only", c.providerNames())
	}

	dev, err := loadYAML(t, "mode: dev\n", map[string]string{"SOCIALBRIDGE_PROVIDERS_DEV_ENABLED": "false",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID": "id", "SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dev.DevEnabled() || !dev.ProviderEnabled("google") {
		t.Errorf("dev %v google %v; want the dev provider turned off by its variable and google on", dev.DevEnabled(), dev.ProviderEnabled("google"))
	}
}

func TestProviderConfigurationErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
	tests := []struct {
		name      string
		providers string
		env       map[string]string
		wants     []string
	}{
		{"a name that is not a type needs a type", "  corp:\n    client_id: x\n", nil,
			[]string{`providers.corp.type: required: "corp" is not a provider type, so say which type it is (known types: google, azure, facebook, oidc, dev)`}},
		{"an unknown type", "  corp:\n    type: saml\n", nil,
			[]string{`providers.corp.type: unknown provider type "saml" (known types: google, azure, facebook, oidc, dev)`}},
		{"a key of another type", "  corp:\n    type: oidc\n    hosted_domains: [x.com]\n    client_id: a\n    client_secret: b\n    issuer: https://i.example\n", nil,
			[]string{"providers.corp.hosted_domains: unknown key for a provider of type oidc"}},
		{"an invalid name", "  Corp.SSO:\n    type: oidc\n", nil,
			[]string{"providers.Corp.SSO: the name must be 1 to 32 lower-case letters"}},
		{"names that share variables", "  a-b:\n    type: oidc\n    client_id: a\n    client_secret: b\n    issuer: https://i.example\n  a_b:\n    type: oidc\n    client_id: a\n    client_secret: b\n    issuer: https://i.example\n", nil,
			[]string{"providers.a_b: the name is a-b's with '-' for '_'"}},
		{"settings are validated per instance", "  corp:\n    type: oidc\n    client_id: a\n    client_secret: b\n", nil,
			[]string{"providers.corp.issuer: required"}},
		{"an http endpoint in production", "  corp:\n    type: oidc\n    client_id: a\n    client_secret: b\n    issuer: http://idp.example\n", nil,
			[]string{`providers.corp.issuer: must use https outside dev mode (http only for localhost, 127.0.0.1 or ::1), got "http://idp.example"`}},
		{"a disabled instance is not validated but counts as none", "  corp:\n    type: oidc\n    enabled: false\n", nil,
			[]string{"providers: no provider is enabled"}},
		{"the dev type must be named dev", "  test:\n    type: dev\n    enabled: true\n", nil,
			[]string{"providers.test.type: the dev provider must be named dev", "providers.test.enabled: the dev provider is only allowed in dev mode"}},
		{"a variable cannot change the type of a variable-made instance", "", map[string]string{"SOCIALBRIDGE_PROVIDERS_GOOGLE_TYPE": "oidc"},
			[]string{"SOCIALBRIDGE_PROVIDERS_GOOGLE_TYPE: a provider configured only by variables has the type of its name"}},
		{"a variable of an unknown instance is unknown", "  corp:\n    type: oidc\n    client_id: a\n    client_secret: b\n    issuer: https://i.example\n",
			map[string]string{"SOCIALBRIDGE_PROVIDERS_CROP_CLIENT_ID": "x"},
			[]string{"SOCIALBRIDGE_PROVIDERS_CROP_CLIENT_ID: not a socialbridge variable (did you mean SOCIALBRIDGE_PROVIDERS_CORP_CLIENT_ID?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			for k, v := range env {
				vars[k] = v
			}
			for k, v := range tt.env {
				vars[k] = v
			}
			yaml := productionHead + "\nproviders:\n" + tt.providers + productionClients
			if tt.providers == "" {
				yaml = productionHead + productionClients
			}
			_, err := loadYAML(t, yaml, vars, nil)
			checkLoadErr(t, err, tt.wants)
		})
	}
}

func TestClaimRulesAreReadFromTheFileAndValidatedWithTheirKeyPath(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
	c, err := loadYAML(t, productionYAML+`claims:
  roles:
    - provider: google
      email_domain: example.com
      roles: [staff]
  copy:
    - provider: google
      claim: hd
      as: workspace
`, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Claims.Roles) != 1 || c.Claims.Roles[0].Roles[0] != "staff" || c.Claims.Copy[0].As != "workspace" {
		t.Errorf("claims = %+v", c.Claims)
	}
	_, err = loadYAML(t, productionYAML+`claims:
  roles:
    - provider: facebook
      roles: [staff]
  copy:
    - provider: google
      claim: x
      as: sub
`, env, nil)
	checkLoadErr(t, err, []string{"claims.roles[0].provider:", "claims.copy[0].as:"})
}

func TestCopyingRolesFromAnEntraOpenToAnyTenantMustNameTheTenant(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
	entra := productionHead + `
providers:
  work:
    type: azure
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: s
    tenant: organizations
`
	rule := `claims:
  copy:
    - provider: work
      claim: roles
      as: roles
`
	_, err := loadYAML(t, entra+productionClients+rule, env, nil)
	checkLoadErr(t, err, []string{`claims.copy[0].tenant: required: provider "work" admits accounts of any tenant`})
	if _, err := loadYAML(t, entra+productionClients+rule+"      tenant: 5f2b7c1e-3a4d-4e8f-9b60-7c1d2e3f4a5b\n", env, nil); err != nil {
		t.Errorf("a rule naming its tenant: %v", err)
	}
	if _, err := loadYAML(t, entra+"    allowed_tenants: [5f2b7c1e-3a4d-4e8f-9b60-7c1d2e3f4a5b]\n"+productionClients+rule, env, nil); err != nil {
		t.Errorf("a provider restricted by allowed_tenants: %v", err)
	}
}
