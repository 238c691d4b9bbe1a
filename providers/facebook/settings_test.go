package facebook_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	valid := func() facebook.Settings {
		return facebook.Settings{ClientID: "1234567890123456", ClientSecret: secret}
	}
	tests := []struct {
		name string
		edit func(*facebook.Settings)
		// want maps each reported key to a part of its message.
		want map[string]string
		// prodOnly: want applies outside dev mode; dev mode reports nothing.
		prodOnly bool
	}{
		{name: "App ID and secret alone are enough", edit: func(*facebook.Settings) {}},
		{name: "every setting given, with a local fake on loopback http",
			edit: func(s *facebook.Settings) {
				s.DialogURL, s.GraphURL, s.GraphVersion = "http://127.0.0.1:8081", "http://localhost:8081/", "v21.0"
				s.Scopes, s.RequireEmail, s.TrustEmail = []string{"public_profile", "email", "user_link"}, true, true
			}},
		{name: "https base URLs with a path prefix (a proxy)",
			edit: func(s *facebook.Settings) {
				s.DialogURL, s.GraphURL = "https://proxy.example.com/facebook", "https://proxy.example.com/graph"
			}},
		{name: "an IPv6 loopback fake", edit: func(s *facebook.Settings) { s.GraphURL = "http://[::1]:9000" }},
		{name: "no App ID",
			edit: func(s *facebook.Settings) { s.ClientID = "" },
			want: map[string]string{"client_id": "required: the App ID from Meta for Developers"}},
		{name: "an App ID that is not a number",
			edit: func(s *facebook.Settings) { s.ClientID = "my-app" },
			want: map[string]string{"client_id": `must be the numeric App ID`}},
		{name: "no App secret says where to find it",
			edit: func(s *facebook.Settings) { s.ClientSecret = "" },
			want: map[string]string{"client_secret": "App settings → Basic"}},
		{name: "an App secret pasted with a line break",
			edit: func(s *facebook.Settings) { s.ClientSecret = secret + "\n" },
			want: map[string]string{"client_secret": "must not contain spaces or line breaks"}},
		{name: "http to a host that is not loopback, outside dev mode",
			edit:     func(s *facebook.Settings) { s.GraphURL, s.DialogURL = "http://graph.facebook.com", "http://fake:8080" },
			want:     map[string]string{"graph_url": "must use https", "dialog_url": "must use https"},
			prodOnly: true},
		{name: "a dialog URL that is not absolute",
			edit: func(s *facebook.Settings) { s.DialogURL = "www.facebook.com" },
			want: map[string]string{"dialog_url": "must be an absolute https URL"}},
		{name: "a base URL with a query",
			edit: func(s *facebook.Settings) { s.GraphURL = "https://graph.facebook.com/?x=1" },
			want: map[string]string{"graph_url": "must not have a query"}},
		{name: "a base URL with credentials",
			edit: func(s *facebook.Settings) { s.GraphURL = "https://user:pw@graph.facebook.com" },
			want: map[string]string{"graph_url": "must not contain a user name"}},
		{name: "a version without its v",
			edit: func(s *facebook.Settings) { s.GraphVersion = "23.0" },
			want: map[string]string{"graph_version": "like v23.0"}},
		{name: "a version without its minor number",
			edit: func(s *facebook.Settings) { s.GraphVersion = "v23" },
			want: map[string]string{"graph_version": "like v23.0"}},
		{name: "an empty permission",
			edit: func(s *facebook.Settings) { s.Scopes = []string{"email", " "} },
			want: map[string]string{"scopes[1]": "must not be empty"}},
		{name: "permissions run together in one entry",
			edit: func(s *facebook.Settings) { s.Scopes = []string{"email public_profile", "email,user_link"} },
			want: map[string]string{"scopes[0]": "must be one permission", "scopes[1]": "must be one permission"}},
		{name: "require_email without the email permission",
			edit: func(s *facebook.Settings) { s.Scopes, s.RequireEmail = []string{"public_profile"}, true },
			want: map[string]string{"require_email": "add email to scopes"}},
		{name: "Limited Login settings, with a local fake's key set",
			edit: func(s *facebook.Settings) {
				s.LimitedLogin, s.LimitedLoginRequireNonce = ptr(true), ptr(false)
				s.LimitedLoginJWKSURL, s.LimitedLoginIssuer = "http://127.0.0.1:8081/.well-known/oauth/openid/jwks/", "https://www.facebook.com"
			}},
		{name: "Limited Login off, alone",
			edit: func(s *facebook.Settings) { s.LimitedLogin = ptr(false) }},
		{name: "a Limited Login key set over http to a host that is not loopback, outside dev mode",
			edit: func(s *facebook.Settings) {
				s.LimitedLoginJWKSURL = "http://limited.facebook.com/.well-known/oauth/openid/jwks/"
			},
			want:     map[string]string{"limited_login_jwks_url": "must use https"},
			prodOnly: true},
		{name: "a Limited Login key set that is not a URL",
			edit: func(s *facebook.Settings) { s.LimitedLoginJWKSURL = "limited.facebook.com/jwks" },
			want: map[string]string{"limited_login_jwks_url": "must be an absolute https URL"}},
		{name: "a Limited Login issuer that is not an absolute URL",
			edit: func(s *facebook.Settings) { s.LimitedLoginIssuer = "www.facebook.com" },
			want: map[string]string{"limited_login_issuer": "must be an absolute URL like https://www.facebook.com"}},
		{name: "Limited Login settings while Limited Login is off",
			edit: func(s *facebook.Settings) {
				s.LimitedLogin, s.LimitedLoginRequireNonce = ptr(false), ptr(true)
				s.LimitedLoginJWKSURL, s.LimitedLoginIssuer = facebook.DefaultLimitedLoginJWKSURL, facebook.DefaultLimitedLoginIssuer
			},
			want: map[string]string{
				"limited_login_jwks_url":      "has no effect while limited_login is false",
				"limited_login_issuer":        "has no effect while limited_login is false",
				"limited_login_require_nonce": "has no effect while limited_login is false",
			}},
		{name: "every problem is reported at once",
			edit: func(s *facebook.Settings) {
				*s = facebook.Settings{GraphURL: "ftp://x", GraphVersion: "latest"}
			},
			want: map[string]string{
				"client_id": "required", "client_secret": "required",
				"graph_url": "must be an absolute https URL", "graph_version": "like v23.0",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tt.edit(&s)
			for _, dev := range []bool{false, true} {
				want := tt.want
				if dev && tt.prodOnly {
					want = nil
				}
				got := map[string]string{}
				s.Validate(dev, func(key, msg string) {
					if _, dup := got[key]; dup {
						t.Errorf("key %s reported twice", key)
					}
					got[key] = msg
					if strings.Contains(msg, secret) {
						t.Errorf("%s: message %q quotes the App secret", key, msg)
					}
				})
				for key, part := range want {
					if !strings.Contains(got[key], part) {
						t.Errorf("dev=%t: %s: got %q, want a message with %q", dev, key, got[key], part)
					}
				}
				for key, msg := range got {
					if _, ok := want[key]; !ok {
						t.Errorf("dev=%t: unexpected problem %s: %s", dev, key, msg)
					}
				}
			}
		})
	}
}

func TestTypeBuildsNamedInstances(t *testing.T) {
	t.Parallel()
	typ := facebook.Type()
	if typ.Name != "facebook" || typ.Label != "Facebook" {
		t.Errorf("Type = %q %q, want facebook Facebook", typ.Name, typ.Label)
	}
	if _, ok := typ.NewSettings().(*facebook.Settings); !ok {
		t.Fatalf("NewSettings returned %T, want *facebook.Settings", typ.NewSettings())
	}

	t.Run("an instance signs in under its own name, with the instance's client and clock", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
		sp := &spy{}
		settings := typ.NewSettings().(*facebook.Settings)
		*settings = facebook.Settings{
			ClientID: fake.AppID(), ClientSecret: fake.AppSecret(),
			DialogURL: fake.URL(), GraphURL: fake.URL(), GraphVersion: "v22.0",
		}
		p, err := typ.New(providers.Instance{
			Name: "fb-eu", PublicURL: "https://bridge.example.test",
			HTTPClient: &http.Client{Transport: sp, Timeout: 5 * time.Second}, Now: clk.Now,
		}, settings)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if p.Name() != "fb-eu" {
			t.Errorf("Name() = %q, want the instance name", p.Name())
		}
		ident, s := signInOK(t, p)
		if ident.Provider != "fb-eu" || ident.Key() != "fb-eu|"+facebooktest.DefaultUser.ID {
			t.Errorf("identity %q, want it under the instance name", ident.Key())
		}
		if want := clk.Now().Add(facebooktest.DefaultTokenLifetime); !ident.Tokens.Expiry.Equal(want) {
			t.Errorf("Expiry = %v, want %v by the instance's clock", ident.Tokens.Expiry, want)
		}
		if s.authURL.Path != "/v22.0/dialog/oauth" {
			t.Errorf("dialog path = %q, want the configured version", s.authURL.Path)
		}
		if len(sp.sent()) != 2 {
			t.Errorf("the instance's HTTP client sent %d requests, want 2 (code exchange, /me)", len(sp.sent()))
		}
		if got := s.authURL.Query().Get("scope"); got != "email,public_profile" {
			t.Errorf("scope = %q, want the defaults", got)
		}

		// Errors name the instance and its keys.
		settings.ClientSecret = "fedcba9876543210fedcba9876543210"
		bad, err := typ.New(providers.Instance{Name: "fb-eu", HTTPClient: &http.Client{Transport: transport}}, settings)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		_, err = bad.Exchange(t.Context(), authorize(t, p).request())
		pe := wantError(t, err, "fb-eu", providers.CodeUnavailable)
		if !strings.Contains(pe.Message, "providers.fb-eu.client_secret") {
			t.Errorf("message %q does not name providers.fb-eu.client_secret", pe.Message)
		}
	})

	t.Run("settings of another type are refused", func(t *testing.T) {
		t.Parallel()
		p, err := typ.New(providers.Instance{Name: "fb"}, otherSettings{})
		if err == nil || p != nil {
			t.Errorf("New = %v, %v; want no provider and an error", p, err)
		}
	})

	t.Run("invalid settings are refused with every problem", func(t *testing.T) {
		t.Parallel()
		p, err := typ.New(providers.Instance{Name: "fb"}, &facebook.Settings{GraphVersion: "v1"})
		if err == nil || p != nil {
			t.Fatalf("New = %v, %v; want no provider and an error", p, err)
		}
		for _, key := range []string{"client_id", "client_secret", "graph_version", `"fb"`} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not mention %s", err, key)
			}
		}
	})
}

func TestEndpointsIncludeTheDefaults(t *testing.T) {
	t.Parallel()
	got := (&facebook.Settings{}).Endpoints()
	if !slices.Equal(got, []string{"https://www.facebook.com", "https://graph.facebook.com"}) {
		t.Errorf("Endpoints() = %v, want Facebook's hosts", got)
	}
	got = (&facebook.Settings{DialogURL: "http://127.0.0.1:1", GraphURL: "http://127.0.0.1:2"}).Endpoints()
	if !slices.Equal(got, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}) || !providers.OnLoopback(got...) {
		t.Errorf("Endpoints() = %v, want the configured fake", got)
	}
	// A configured Limited Login key set is one more URL it talks to.
	got = (&facebook.Settings{GraphURL: "http://127.0.0.1:2", LimitedLoginJWKSURL: "https://limited.facebook.com/jwks/"}).Endpoints()
	if !slices.Contains(got, "https://limited.facebook.com/jwks/") || providers.OnLoopback(got...) {
		t.Errorf("Endpoints() = %v, want the configured key set too", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestTypeAppliesTheLimitedLoginSettings(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	newInstance := func(t *testing.T, edit func(*facebook.Settings)) providers.NativeVerifier {
		t.Helper()
		s := &facebook.Settings{
			ClientID: fake.AppID(), ClientSecret: fake.AppSecret(), DialogURL: fake.URL(), GraphURL: fake.URL(),
			LimitedLoginJWKSURL: fake.LimitedLoginJWKSURL(),
		}
		edit(s)
		p, err := facebook.Type().New(providers.Instance{Name: "fb", HTTPClient: &http.Client{Transport: transport}}, s)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return p.(providers.NativeVerifier)
	}
	verify := func(nv providers.NativeVerifier, raw, nonce string) error {
		_, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: nonce})
		return err
	}
	user := facebooktest.DefaultUser

	t.Run("by default, Limited Login is on, with a nonce required", func(t *testing.T) {
		nv := newInstance(t, func(*facebook.Settings) {})
		if !slices.Contains(nv.NativeTokenTypes(), providers.TokenTypeIDToken) {
			t.Errorf("NativeTokenTypes() = %v, want the id_token type", nv.NativeTokenTypes())
		}
		if err := verify(nv, fake.LimitedLoginToken(fake.AppID(), user, "n"), "n"); err != nil {
			t.Errorf("a token with its nonce: %v", err)
		}
		wantError(t, verify(nv, fake.LimitedLoginToken(fake.AppID(), user, ""), ""), "fb", providers.CodeInvalidToken)
	})
	t.Run("limited_login_require_nonce: false accepts a token without a nonce", func(t *testing.T) {
		nv := newInstance(t, func(s *facebook.Settings) { s.LimitedLoginRequireNonce = ptr(false) })
		if err := verify(nv, fake.LimitedLoginToken(fake.AppID(), user, ""), ""); err != nil {
			t.Errorf("a token without a nonce: %v", err)
		}
	})
	t.Run("limited_login_issuer is the issuer tokens must have", func(t *testing.T) {
		nv := newInstance(t, func(s *facebook.Settings) { s.LimitedLoginIssuer = "https://limited.facebook.com" })
		if err := verify(nv, fake.LimitedLoginToken(fake.AppID(), user, "n", facebooktest.TokenIssuer("https://limited.facebook.com")), "n"); err != nil {
			t.Errorf("a token of the configured issuer: %v", err)
		}
		wantError(t, verify(nv, fake.LimitedLoginToken(fake.AppID(), user, "n"), "n"), "fb", providers.CodeInvalidToken)
	})
	t.Run("limited_login: false leaves access tokens only", func(t *testing.T) {
		nv := newInstance(t, func(s *facebook.Settings) { s.LimitedLogin, s.LimitedLoginJWKSURL = ptr(false), "" })
		if got := nv.NativeTokenTypes(); !slices.Equal(got, []string{providers.TokenTypeAccessToken}) {
			t.Errorf("NativeTokenTypes() = %v, want the access token type only", got)
		}
		wantError(t, verify(nv, fake.LimitedLoginToken(fake.AppID(), user, "n"), "n"), "fb", providers.CodeUnsupportedTokenType)
	})
}

type otherSettings struct{}

func (otherSettings) Validate(bool, func(string, string)) {}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	scopes := []string{"public_profile", "email"}
	p, err := facebook.New(facebook.Config{ClientID: "1234567890123456", ClientSecret: "s3cret", Scopes: scopes})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	scopes[0] = "changed"
	raw, err := p.AuthCodeURL(t.Context(), providers.AuthRequest{
		RedirectURI: callback, State: "st", CodeChallenge: s256("v"),
	})
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	if !strings.HasPrefix(raw, "https://www.facebook.com/v23.0/dialog/oauth?") {
		t.Errorf("AuthCodeURL = %q, want Facebook's v23.0 dialog", raw)
	}
	if !strings.Contains(raw, "scope=public_profile%2Cemail") {
		t.Errorf("AuthCodeURL = %q, want the scopes as given to New (a copy)", raw)
	}
	if p.Name() != "facebook" {
		t.Errorf("Name() = %q, want facebook", p.Name())
	}
	if !slices.Equal(facebook.DefaultScopes, []string{"email", "public_profile"}) {
		t.Errorf("DefaultScopes = %v", facebook.DefaultScopes)
	}
}
