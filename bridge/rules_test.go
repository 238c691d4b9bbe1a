package bridge_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// TestClaimRulesShapeTheTokensOfASignIn checks that the configured rules
// reach the access token, the ID token's claims snapshot and userinfo:
// roles by provider, tenant and verified email domain, and provider claims
// copied by name (Entra app roles merged into roles, groups passed
// through), never over a protocol claim.
func TestClaimRulesShapeTheTokensOfASignIn(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, envConfig{rules: claims.Rules{
		Roles: []claims.RoleRule{
			{Provider: "fake", Roles: []string{"member"}},
			{Tenant: "11111111-2222-3333-4444-555555555555", Roles: []string{"staff"}},
			{EmailDomain: "example.com", Roles: []string{"example"}},
			{EmailDomain: "other.example", Roles: []string{"never"}},
		},
		Copy: []claims.CopyRule{
			{Provider: "fake", Claim: "roles", As: "roles"},
			{Provider: "fake", Claim: "groups"},
			{Provider: "fake", Claim: "department", As: "dept"},
			{Provider: "other", Claim: "department", As: "other_dept"},
		},
	}})
	e.prov.setIdentity(func(id *providers.Identity) {
		id.Profile.Tenant = "11111111-2222-3333-4444-555555555555"
		id.Claims = map[string]any{
			"roles": []any{"Reader", "member"}, "groups": []any{"g1", "g2"}, "department": "R&D",
			"sub": "provider-sub-must-not-win",
		}
	})
	ts, _ := e.signIn(t)
	at, err := e.issuer.ParseAccess(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"Reader", "example", "member", "staff"}; !reflect.DeepEqual(at.User["roles"], want) {
		t.Errorf("roles = %#v, want %#v", at.User["roles"], want)
	}
	if got := at.User["groups"]; !reflect.DeepEqual(got, []any{"g1", "g2"}) {
		t.Errorf("groups = %#v, want the provider's groups", got)
	}
	if at.User["dept"] != "R&D" || at.User["other_dept"] != nil {
		t.Errorf("dept = %v, other_dept = %v; want R&D from this provider only", at.User["dept"], at.User["other_dept"])
	}
	if at.User["tenant"] != "11111111-2222-3333-4444-555555555555" {
		t.Errorf("tenant = %v", at.User["tenant"])
	}
	if at.Subject == "provider-sub-must-not-win" || at.Subject == "" {
		t.Errorf("sub = %q: a provider claim must never become our sub", at.Subject)
	}
	info, err := e.b.UserInfo(context.Background(), ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info["roles"], at.User["roles"]) || info["dept"] != "R&D" {
		t.Errorf("userinfo roles %v dept %v, want the token's", info["roles"], info["dept"])
	}
	// A refresh keeps the sign-in's claims.
	rt, err := e.b.Refresh(context.Background(), bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.issuer.ParseAccess(rt.AccessToken)
	if !reflect.DeepEqual(again.User["roles"], at.User["roles"]) || again.User["dept"] != "R&D" {
		t.Errorf("after refresh roles %v dept %v, want the sign-in's", again.User["roles"], again.User["dept"])
	}
}
