package oidc_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// validSettings is a complete configuration with nothing to report.
func validSettings() oidc.Settings {
	return oidc.Settings{ClientID: "client", ClientSecret: "secret", Issuer: "https://idp.example.com/realms/corp"}
}

func TestSettingsValidateReportsEveryProblemWithItsKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dev  bool
		edit func(s *oidc.Settings)
		// want maps each key that must be reported to a part of its
		// message; no other key may be reported.
		want map[string]string
	}{
		{name: "a complete configuration has no problem", edit: func(*oidc.Settings) {}, want: map[string]string{}},
		{
			name: "every optional key set well has no problem",
			edit: func(s *oidc.Settings) {
				s.AuthURL, s.TokenURL = "https://idp.example.com/auth", "https://idp.example.com/token"
				s.JWKSURL, s.UserinfoURL = "https://idp.example.com/keys", "https://idp.example.com/userinfo"
				s.Scopes, s.Algorithms = []string{"openid", "email", "groups"}, []string{"RS256", "ES256", "EdDSA"}
				s.ClaimNames = oidc.ClaimNames{Subject: "employee_id", Email: "mail"}
				s.FetchUserinfo = true
			},
			want: map[string]string{},
		},
		{
			name: "an empty configuration reports the client and the issuer",
			edit: func(s *oidc.Settings) { *s = oidc.Settings{} },
			want: map[string]string{"client_id": "required", "client_secret": "required", "issuer": "required"},
		},
		{
			name: "plain http to another host is refused outside dev mode",
			edit: func(s *oidc.Settings) {
				s.Issuer, s.TokenURL = "http://idp.example.com", "http://idp.example.com/token"
			},
			want: map[string]string{"issuer": "https", "token_url": "https"},
		},
		{
			name: "plain http to another host is allowed in dev mode",
			dev:  true,
			edit: func(s *oidc.Settings) { s.Issuer = "http://idp.example.com" },
			want: map[string]string{},
		},
		{
			name: "plain http to this machine is allowed, for local fakes",
			edit: func(s *oidc.Settings) {
				s.Issuer, s.JWKSURL = "http://127.0.0.1:8080/realms/dev", "http://localhost:8080/keys"
			},
			want: map[string]string{},
		},
		{
			name: "a relative or schemeless URL is refused",
			edit: func(s *oidc.Settings) { s.AuthURL, s.UserinfoURL = "/authorize", "idp.example.com/userinfo" },
			want: map[string]string{"auth_url": "absolute", "userinfo_url": "absolute"},
		},
		{
			name: "credentials in a URL are refused",
			edit: func(s *oidc.Settings) { s.TokenURL = "https://client:secret@idp.example.com/token" },
			want: map[string]string{"token_url": "user name or password"},
		},
		{
			name: "scopes without openid are refused",
			edit: func(s *oidc.Settings) { s.Scopes = []string{"email", "profile"} },
			want: map[string]string{"scopes": "openid"},
		},
		{
			name: "HS256, none and unknown algorithms are refused, each at its index",
			edit: func(s *oidc.Settings) { s.Algorithms = []string{"RS256", "HS256", "none", "rs256"} },
			want: map[string]string{"algorithms[1]": "HS256", "algorithms[2]": "none", "algorithms[3]": "rs256"},
		},
		{
			name: "an email as the subject claim is refused",
			edit: func(s *oidc.Settings) { s.ClaimNames.Subject = "email" },
			want: map[string]string{"claim_names.subject": "stable"},
		},
		{
			name: "a user name as the subject claim is refused, whatever its case",
			edit: func(s *oidc.Settings) { s.ClaimNames.Subject = "Preferred_Username" },
			want: map[string]string{"claim_names.subject": "stable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSettings()
			tt.edit(&s)
			got := map[string]string{}
			s.Validate(tt.dev, func(key, message string) {
				if prev, dup := got[key]; dup {
					t.Errorf("%s reported twice: %q and %q", key, prev, message)
				}
				got[key] = message
			})
			for key, part := range tt.want {
				msg, ok := got[key]
				if !ok {
					t.Errorf("%s not reported, want a message with %q (got %v)", key, part, got)
				} else if !strings.Contains(msg, part) {
					t.Errorf("%s: %q, want it to mention %q", key, msg, part)
				}
			}
			for key, msg := range got {
				if _, ok := tt.want[key]; !ok {
					t.Errorf("unexpected report %s: %q", key, msg)
				}
			}
		})
	}
}

func TestSettingsEndpointsListEveryURLTheInstanceTalksTo(t *testing.T) {
	t.Parallel()
	s := oidc.Settings{Issuer: "https://idp.example.com", TokenURL: "http://127.0.0.1/token", UserinfoURL: "https://u.example.com"}
	got := s.Endpoints()
	for _, want := range []string{s.Issuer, s.TokenURL, s.UserinfoURL} {
		if !slices.Contains(got, want) {
			t.Errorf("Endpoints() = %q, missing %q", got, want)
		}
	}
	if providers.OnLoopback(got...) {
		t.Error("an instance with a public issuer is reported as on loopback")
	}
}

func TestTypeBuildsWorkingInstancesFromSettings(t *testing.T) {
	t.Parallel()
	ty := oidc.Type()
	if ty.Name != oidc.TypeName || oidc.TypeName != "oidc" || ty.Label == "" {
		t.Errorf("Type() = %q labelled %q, want oidc with a label", ty.Name, ty.Label)
	}

	t.Run("settings from configuration reach the instance", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t, oidctest.WithSigningAlg("ES256"), oidctest.WithIssuerPath("/realms/corp"))
		fake.SetUser(oidctest.User{
			Subject: "sub-1", Email: "kim@example.com", Name: "Kim",
			Claims: map[string]any{"email_verified": nil, "mail_ok": true}, UserinfoClaims: map[string]any{"staff_no": 31337},
		})
		settings := ty.NewSettings()
		s, ok := settings.(*oidc.Settings)
		if !ok {
			t.Fatalf("NewSettings() = %T, want *oidc.Settings", settings)
		}
		*s = oidc.Settings{
			ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.Issuer(),
			Scopes: []string{"openid", "email"}, Algorithms: []string{"ES256"}, FetchUserinfo: true,
			ClaimNames: oidc.ClaimNames{Subject: "staff_no", EmailVerified: "mail_ok"},
		}
		s.Validate(false, func(key, message string) { t.Errorf("Validate: %s: %s", key, message) })
		rw := providertest.NewRewriter(nil)

		p, err := ty.New(providers.Instance{Name: "corp-sso", PublicURL: "https://bridge.example.test", HTTPClient: rw.Client()}, s)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		ident, f := signInOK(t, p)

		if p.Name() != "corp-sso" || ident.Provider != "corp-sso" {
			t.Errorf("Name() = %q, Identity.Provider = %q, want the instance name corp-sso", p.Name(), ident.Provider)
		}
		if ident.Subject != "31337" {
			t.Errorf("Subject = %q, want the userinfo's staff_no (claim_names.subject with fetch_userinfo)", ident.Subject)
		}
		if !ident.Profile.EmailVerified {
			t.Error("Profile.EmailVerified = false, want claim_names.email_verified honoured")
		}
		if got := strings.Fields(f.AuthURL.Query().Get("scope")); !reflect.DeepEqual(got, s.Scopes) {
			t.Errorf("scope = %q, want the configured %q", got, s.Scopes)
		}
		if len(rw.Originals()) != 1 {
			t.Errorf("the instance's HTTP client carried %d token responses, want 1", len(rw.Originals()))
		}
		if _, ok := p.(providers.Refresher); !ok {
			t.Errorf("%T does not implement providers.Refresher", p)
		}
	})

	t.Run("the instance's clock decides expiry", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		s := &oidc.Settings{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.Issuer()}
		late := func() time.Time { return time.Now().Add(time.Hour) }

		p, err := ty.New(providers.Instance{Name: instance, HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: late}, s)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		_, err = providertest.SignIn(t, p)

		wantError(t, err, providers.CodeInvalidToken)
	})

	t.Run("settings of another type are an error, not a panic", func(t *testing.T) {
		t.Parallel()
		type other struct{ providers.Settings }
		p, err := ty.New(providers.Instance{Name: instance}, other{})
		if err == nil || p != nil {
			t.Errorf("New(other settings) = %v, %v; want an error", p, err)
		}
	})
}
