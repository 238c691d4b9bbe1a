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
			name: "mistyped claims are ignored and the name is built from its parts",
			raw:  map[string]any{"email": 42, "given_name": "Dana", "family_name": "Doe", "email_verified": 1},
			want: Profile{Name: "Dana Doe", GivenName: "Dana", FamilyName: "Doe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
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
}
