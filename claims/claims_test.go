package claims

import (
	"reflect"
	"testing"
)

func TestFromOIDC(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  map[string]any
		want Profile
	}{
		{
			name: "a verified Google profile maps every standard claim",
			raw: map[string]any{
				"email": "Alice@Example.com", "email_verified": true, "name": "Alice Example",
				"given_name": "Alice", "family_name": "Example", "picture": "https://p/a.png", "locale": "en", "hd": "Example.com",
			},
			want: Profile{Email: "alice@example.com", EmailVerified: true, Name: "Alice Example", GivenName: "Alice", FamilyName: "Example", Picture: "https://p/a.png", Locale: "en", HostedDomain: "example.com"},
		},
		{
			name: "a missing email_verified means unverified",
			raw:  map[string]any{"email": "bob@example.com"},
			want: Profile{Email: "bob@example.com"},
		},
		{
			name: "email_verified as the string true is accepted",
			raw:  map[string]any{"email": "c@example.com", "email_verified": "true"},
			want: Profile{Email: "c@example.com", EmailVerified: true},
		},
		{
			name: "email_verified without an email is not verified",
			raw:  map[string]any{"email_verified": true},
			want: Profile{},
		},
		{
			name: "an Entra tid is not taken as the tenant: only the Entra adapter vouches for one",
			raw:  map[string]any{"email": "e@example.com", "tid": "11111111-2222-3333-4444-555555555555", "tenant": "x"},
			want: Profile{Email: "e@example.com"},
		},
		{
			name: "mistyped claims are ignored and the name is built from its parts",
			raw:  map[string]any{"email": 42, "given_name": "Dana", "family_name": "Doe", "email_verified": 1},
			want: Profile{Name: "Dana Doe", GivenName: "Dana", FamilyName: "Doe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Profile must stay comparable: stores and tests compare
			// profiles with ==.
			if got := FromOIDC(tt.raw); got != tt.want {
				t.Errorf("FromOIDC() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestForToken(t *testing.T) {
	t.Parallel()
	got := ForToken(Profile{Email: "a@example.com", EmailVerified: true, Name: "A"}, nil)
	want := map[string]any{"email": "a@example.com", "email_verified": true, "name": "A", "roles": []string{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ForToken() = %#v, want %#v", got, want)
	}
	got = ForToken(Profile{}, []string{"admin"})
	if _, ok := got["email"]; ok {
		t.Errorf("ForToken() of an empty profile has an email claim: %#v", got)
	}
	if !reflect.DeepEqual(got["roles"], []string{"admin"}) {
		t.Errorf("roles = %#v, want [admin]", got["roles"])
	}
	if _, ok := got["tenant"]; ok {
		t.Errorf("ForToken() of a profile without a tenant has a tenant claim: %#v", got)
	}
	got = ForToken(Profile{Tenant: "11111111-2222-3333-4444-555555555555", Locale: "fr", Picture: "https://p/x"}, []string{"b", "a"})
	want = map[string]any{"email_verified": false, "tenant": "11111111-2222-3333-4444-555555555555", "locale": "fr",
		"picture": "https://p/x", "roles": []string{"b", "a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ForToken() = %#v, want %#v (the tenant claim, roles as given)", got, want)
	}
}
