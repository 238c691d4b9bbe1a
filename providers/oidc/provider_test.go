package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// instance is the provider instance name in these tests.
const instance = "corp"

// newProvider returns the generic adapter for fake's default client, with
// discovery; edit, if not nil, adjusts the config first. Its HTTP client
// goes through a recording Rewriter, so a test can check that no error
// repeats a token the fake issued.
func newProvider(t *testing.T, fake *oidctest.Server, edit func(*oidc.Config)) (*oidc.Provider, *providertest.Rewriter) {
	t.Helper()
	rw := providertest.NewRewriter(nil)
	cfg := oidc.Config{RP: oidc.RPConfig{
		Name: instance, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(),
		Issuer: fake.Issuer(), HTTPClient: rw.Client(),
	}}
	if edit != nil {
		edit(&cfg)
	}
	return oidc.New(cfg), rw
}

// signInOK runs a whole sign-in that must succeed.
func signInOK(t *testing.T, p providers.Provider) (*providers.Identity, *providertest.Flow) {
	t.Helper()
	f := providertest.Authorize(t, p, nil)
	ident, err := f.Exchange(t.Context(), p)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return ident, f
}

// wantError fails unless err is a *providers.Error of the instance with code.
func wantError(t *testing.T, err error, code string) {
	t.Helper()
	providertest.WantError(t, err, instance, code)
}

// closedURL returns the URL of a server that no longer listens.
func closedURL() string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// authRequest is a valid request for AuthCodeURL alone.
func authRequest() providers.AuthRequest {
	return providers.AuthRequest{
		RedirectURI: providertest.CallbackURL(instance), State: "state", Nonce: "nonce",
		CodeChallenge: providertest.S256(providertest.RandomString()),
	}
}

func TestSignInReturnsTheVerifiedIdentity(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	fake.SetUser(oidctest.User{
		Subject:       "248289761001",
		Email:         "Jane.Doe@Example.COM",
		EmailVerified: true,
		Name:          "Jane Doe",
		GivenName:     "Jane",
		FamilyName:    "Doe",
		Picture:       "https://example.com/jane.jpg",
		Locale:        "en-GB",
		Claims:        map[string]any{"roles": []string{"admin", "dev"}, "groups": []string{"staff"}},
	})
	signedIn := time.Now().Truncate(time.Second)
	// Exactly as Type().New builds it: defaults for scopes, algorithms,
	// client authentication and clock.
	p := oidc.New(oidc.Config{RP: oidc.RPConfig{
		Name: instance, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.Issuer(),
	}})
	if p.Name() != instance {
		t.Errorf("Name() = %q, want %q", p.Name(), instance)
	}

	ident, f := signInOK(t, p)

	t.Run("the authorization URL asks for an OpenID sign-in with PKCE and our nonce", func(t *testing.T) {
		if got := f.AuthURL.Scheme + "://" + f.AuthURL.Host + f.AuthURL.Path; got != fake.AuthURL() {
			t.Errorf("authorization endpoint = %q, want the discovered %q", got, fake.AuthURL())
		}
		q := f.AuthURL.Query()
		for k, want := range map[string]string{
			"client_id":             fake.ClientID(),
			"redirect_uri":          f.RedirectURI,
			"response_type":         "code",
			"state":                 f.State,
			"nonce":                 f.Nonce,
			"code_challenge":        providertest.S256(f.Verifier),
			"code_challenge_method": "S256",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("auth URL %s = %q, want %q", k, got, want)
			}
		}
		if got, want := strings.Fields(q.Get("scope")), []string{"openid", "email", "profile"}; !reflect.DeepEqual(got, want) {
			t.Errorf("auth URL scope = %q, want %q by default", got, want)
		}
		for _, k := range []string{"prompt", "max_age", "login_hint"} {
			if q.Has(k) {
				t.Errorf("auth URL has %s=%q, want none when the client asked for none", k, q.Get(k))
			}
		}
	})

	t.Run("the code is redeemed with the PKCE verifier and HTTP Basic", func(t *testing.T) {
		form := fake.LastTokenRequest()
		for k, want := range map[string]string{
			"grant_type":    "authorization_code",
			"code":          f.Code,
			"code_verifier": f.Verifier,
			"redirect_uri":  f.RedirectURI,
		} {
			if got := form.Get(k); got != want {
				t.Errorf("token request %s = %q, want %q", k, got, want)
			}
		}
		if got := fake.LastTokenClientAuth(); got != oidctest.ClientSecretBasic {
			t.Errorf("client authenticated with %q, want %s", got, oidctest.ClientSecretBasic)
		}
		if form.Has("client_secret") {
			t.Error("client secret sent in the form, want HTTP Basic only")
		}
		if n := fake.Requests(oidctest.Token); n != 1 {
			t.Errorf("token endpoint called %d times, want 1", n)
		}
		if n := fake.Requests(oidctest.Userinfo); n != 0 {
			t.Errorf("userinfo called %d times, want none without fetch_userinfo", n)
		}
	})

	t.Run("the identity is keyed by sub and carries the normalized profile", func(t *testing.T) {
		if got, want := ident.Key(), instance+"|248289761001"; got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
		pr := ident.Profile
		if pr.Email != "jane.doe@example.com" || !pr.EmailVerified {
			t.Errorf("Profile email = %q (verified %v), want jane.doe@example.com, verified", pr.Email, pr.EmailVerified)
		}
		if pr.Name != "Jane Doe" || pr.GivenName != "Jane" || pr.FamilyName != "Doe" {
			t.Errorf("Profile names = %q, %q, %q", pr.Name, pr.GivenName, pr.FamilyName)
		}
		if pr.Picture != "https://example.com/jane.jpg" || pr.Locale != "en-GB" {
			t.Errorf("Profile picture, locale = %q, %q", pr.Picture, pr.Locale)
		}
		if ident.Tenant != "" || pr.Tenant != "" || pr.HostedDomain != "" {
			t.Errorf("tenant %q / %q, hd %q: the generic adapter vouches for none", ident.Tenant, pr.Tenant, pr.HostedDomain)
		}
		if ident.AuthTime.Before(signedIn.Add(-time.Second)) || ident.AuthTime.After(time.Now()) {
			t.Errorf("AuthTime = %v, want the provider's auth_time, about %v", ident.AuthTime, signedIn)
		}
	})

	t.Run("the raw claims are kept for claim rules", func(t *testing.T) {
		if got, want := ident.Claims["roles"], []any{"admin", "dev"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Claims[roles] = %#v, want %#v", got, want)
		}
		if got, want := ident.Claims["groups"], []any{"staff"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Claims[groups] = %#v, want %#v", got, want)
		}
		if got := ident.Claims["iss"]; got != fake.Issuer() {
			t.Errorf("Claims[iss] = %v, want %q", got, fake.Issuer())
		}
	})

	t.Run("the provider's tokens are returned for storage", func(t *testing.T) {
		tok := ident.Tokens
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
			t.Errorf("access, refresh or id token empty: %+v", tok)
		}
		if tok.Expiry.Before(time.Now().Add(4*time.Minute)) || tok.Expiry.After(time.Now().Add(6*time.Minute)) {
			t.Errorf("Expiry = %v, want about 5 minutes from now", tok.Expiry)
		}
		if want := []string{"openid", "email", "profile"}; !reflect.DeepEqual(tok.Scopes, want) {
			t.Errorf("Scopes = %q, want the granted %q", tok.Scopes, want)
		}
	})
}

func TestIssuersBelowAPathAreDiscovered(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", "/realms/corp", "/tenant-a/v2.0"} {
		t.Run("issuer path "+path, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t, oidctest.WithIssuerPath(path))
			p, _ := newProvider(t, fake, nil)

			ident, f := signInOK(t, p)

			if got := f.AuthURL.Scheme + "://" + f.AuthURL.Host + f.AuthURL.Path; got != fake.AuthURL() {
				t.Errorf("authorization endpoint = %q, want %q", got, fake.AuthURL())
			}
			if got := ident.Claims["iss"]; got != fake.URL()+path {
				t.Errorf("iss = %v, want %q", got, fake.URL()+path)
			}
			if n := fake.Requests(oidctest.Discovery); n != 1 {
				t.Errorf("discovery fetched %d times, want 1", n)
			}
		})
	}
}

func TestDiscoveryFailuresMakeTheProviderUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// issuer returns the issuer to configure; it may set up fake.
		issuer func(t *testing.T, fake *oidctest.Server) string
		client *http.Client
	}{
		{
			name:   "an unreachable issuer",
			issuer: func(t *testing.T, _ *oidctest.Server) string { return closedURL() },
		},
		{
			name: "a discovery endpoint that answers 503",
			issuer: func(_ *testing.T, fake *oidctest.Server) string {
				fake.FailNext(oidctest.Discovery, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
				return fake.Issuer()
			},
		},
		{
			name: "a discovery endpoint that does not answer within the client's time-out",
			issuer: func(_ *testing.T, fake *oidctest.Server) string {
				fake.HangNext(oidctest.Discovery)
				return fake.Issuer()
			},
			client: &http.Client{Timeout: 200 * time.Millisecond},
		},
		{
			name:   "an issuer without a discovery document",
			issuer: func(_ *testing.T, fake *oidctest.Server) string { return fake.Issuer() + "/realms/missing" },
		},
		{
			// OpenID Connect Discovery §4.3: the document's issuer must be
			// the one asked for, or one provider could speak for another.
			name: "a discovery document that names another issuer",
			issuer: func(t *testing.T, fake *oidctest.Server) string {
				target, _ := url.Parse(fake.URL())
				proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
				t.Cleanup(proxy.Close)
				return proxy.URL
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			// A new adapter for each call, with the failure armed again:
			// FailNext and HangNext are one shot.
			adapter := func() *oidc.Provider {
				issuer := tt.issuer(t, fake)
				p, _ := newProvider(t, fake, func(c *oidc.Config) {
					c.RP.Issuer = issuer
					if tt.client != nil {
						c.RP.HTTPClient = tt.client
					}
				})
				return p
			}

			start := time.Now()
			u, err := adapter().AuthCodeURL(t.Context(), authRequest())

			if u != "" {
				t.Errorf("AuthCodeURL = %q, want none", u)
			}
			wantError(t, err, providers.CodeUnavailable)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("AuthCodeURL took %v, want it bounded by the client's time-out", d)
			}
			_, err = adapter().Exchange(t.Context(), providers.ExchangeRequest{
				Code: "code", RedirectURI: providertest.CallbackURL(instance), CodeVerifier: "verifier", Nonce: "nonce",
			})
			wantError(t, err, providers.CodeUnavailable)
			if n := fake.Requests(oidctest.Token); n != 0 {
				t.Errorf("token endpoint called %d times without discovery", n)
			}
		})
	}

	t.Run("discovery is retried once the issuer answers again", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		fake.FailNext(oidctest.Discovery, http.StatusBadGateway, "")
		p, _ := newProvider(t, fake, nil)

		_, err := p.AuthCodeURL(t.Context(), authRequest())
		wantError(t, err, providers.CodeUnavailable)
		ident, _ := signInOK(t, p)

		if ident.Subject != oidctest.DefaultSubject {
			t.Errorf("Subject = %q after recovery, want %q", ident.Subject, oidctest.DefaultSubject)
		}
		if n := fake.Requests(oidctest.Discovery); n != 2 {
			t.Errorf("discovery fetched %d times, want 2 (failed, then retried)", n)
		}
	})
}

// countingProxy forwards to target and counts the requests it forwards.
func countingProxy(t *testing.T, target string) (string, *atomic.Int32) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(u)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL, &n
}

func TestConfiguredEndpoints(t *testing.T) {
	t.Parallel()

	t.Run("auth, token and JWKS URLs together skip discovery", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		p, _ := newProvider(t, fake, func(c *oidc.Config) {
			c.RP.AuthURL, c.RP.TokenURL, c.RP.JWKSURL = fake.AuthURL(), fake.TokenURL(), fake.JWKSURL()
		})

		ident, _ := signInOK(t, p)

		if ident.Subject != oidctest.DefaultSubject {
			t.Errorf("Subject = %q, want %q", ident.Subject, oidctest.DefaultSubject)
		}
		if n := fake.Requests(oidctest.Discovery); n != 0 {
			t.Errorf("discovery fetched %d times, want none", n)
		}
		if fake.Requests(oidctest.Token) != 1 || fake.Requests(oidctest.JWKS) != 1 {
			t.Errorf("token endpoint called %d times and JWKS %d, want once each",
				fake.Requests(oidctest.Token), fake.Requests(oidctest.JWKS))
		}
	})

	t.Run("one configured URL overrides discovery, which fills the rest", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		proxy, forwarded := countingProxy(t, fake.URL())
		p, _ := newProvider(t, fake, func(c *oidc.Config) { c.RP.TokenURL = proxy + oidctest.TokenPath })

		signInOK(t, p)

		if n := fake.Requests(oidctest.Discovery); n != 1 {
			t.Errorf("discovery fetched %d times, want 1", n)
		}
		if n := forwarded.Load(); n != 1 {
			t.Errorf("the configured token URL got %d requests, want the code exchange", n)
		}
	})

	t.Run("without discovery, fetch_userinfo needs userinfo_url", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		p, _ := newProvider(t, fake, func(c *oidc.Config) {
			c.RP.AuthURL, c.RP.TokenURL, c.RP.JWKSURL = fake.AuthURL(), fake.TokenURL(), fake.JWKSURL()
			c.FetchUserinfo = true
		})

		_, err := providertest.SignIn(t, p)

		wantError(t, err, providers.CodeUnavailable)
		if !strings.Contains(err.Error(), "userinfo_url") {
			t.Errorf("error %q does not tell the operator to set userinfo_url", err)
		}
	})

	t.Run("with userinfo_url, fetch_userinfo works without discovery", func(t *testing.T) {
		t.Parallel()
		fake := oidctest.New(t)
		p, _ := newProvider(t, fake, func(c *oidc.Config) {
			c.RP.AuthURL, c.RP.TokenURL, c.RP.JWKSURL = fake.AuthURL(), fake.TokenURL(), fake.JWKSURL()
			c.RP.UserinfoURL = fake.UserinfoURL()
			c.FetchUserinfo = true
		})

		signInOK(t, p)

		if fake.Requests(oidctest.Discovery) != 0 || fake.Requests(oidctest.Userinfo) != 1 {
			t.Errorf("discovery fetched %d times and userinfo %d, want 0 and 1",
				fake.Requests(oidctest.Discovery), fake.Requests(oidctest.Userinfo))
		}
	})
}

func TestTheConfiguredSubjectClaimKeysTheIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		claim    string         // configured claim_names.subject; "" for the default
		extra    map[string]any // the user's extra claims
		userinfo map[string]any // claims only userinfo returns; sets fetch_userinfo
		want     string         // the identity's subject; "" when refused
	}{
		{name: "sub by default", want: "opaque-sub-1"},
		{name: "sub when configured explicitly", claim: "sub", want: "opaque-sub-1"},
		{name: "a string claim", claim: "employee_id", extra: map[string]any{"employee_id": "E-4711"}, want: "E-4711"},
		{name: "a numeric claim, as decimal digits", claim: "id", extra: map[string]any{"id": 4711}, want: "4711"},
		{name: "a numeric claim of zero", claim: "id", extra: map[string]any{"id": 0}, want: "0"},
		{name: "a negative numeric claim", claim: "id", extra: map[string]any{"id": -12}, want: "-12"},
		{name: "a claim only userinfo returns", claim: "employee_id", userinfo: map[string]any{"employee_id": 815}, want: "815"},
		{name: "a missing claim is refused", claim: "employee_id"},
		{name: "a fractional number is refused", claim: "id", extra: map[string]any{"id": 47.11}},
		{name: "a boolean is refused", claim: "id", extra: map[string]any{"id": true}},
		{name: "a list is refused", claim: "id", extra: map[string]any{"id": []string{"1", "2"}}},
		{name: "an object is refused", claim: "id", extra: map[string]any{"id": map[string]any{"value": "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			fake.SetUser(oidctest.User{Subject: "opaque-sub-1", Email: "sam@example.com", Claims: tt.extra, UserinfoClaims: tt.userinfo})
			p, _ := newProvider(t, fake, func(c *oidc.Config) {
				c.Claims.Subject = tt.claim
				c.FetchUserinfo = tt.userinfo != nil
			})

			ident, err := providertest.SignIn(t, p)

			if tt.want == "" {
				if ident != nil {
					t.Errorf("got identity %q, want none", ident.Key())
				}
				wantError(t, err, providers.CodeInvalidToken)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if got, want := ident.Key(), instance+"|"+tt.want; got != want {
				t.Errorf("Key() = %q, want %q", got, want)
			}
		})
	}
}

// TestNumericSubjectsKeepEveryDigit signs in two people whose numeric ids
// differ only beyond float64's 53-bit mantissa: they must get two identity
// keys. Large numeric ids are common (Discord, Twitter/X and Facebook ids
// are 17 to 19 digits).
func TestNumericSubjectsKeepEveryDigit(t *testing.T) {
	t.Parallel()
	ids := []json.Number{"9007199254740993", "9007199254740992"} // 2^53+1, 2^53
	var got []string
	for _, id := range ids {
		fake := oidctest.New(t)
		fake.SetUser(oidctest.User{Subject: "s-" + id.String(), Claims: map[string]any{"id": id}})
		p, _ := newProvider(t, fake, func(c *oidc.Config) { c.Claims.Subject = "id" })
		ident, _ := signInOK(t, p)
		got = append(got, ident.Subject)
	}
	if got[1] != "9007199254740992" {
		t.Fatalf("subject of id 9007199254740992 = %q, want it exact", got[1])
	}
	if got[0] != "9007199254740993" {
		t.Errorf("subject of id 9007199254740993 = %q, want it exact", got[0])
	}
}

func TestClaimNamesMapTheProfile(t *testing.T) {
	t.Parallel()
	mapped := oidc.ClaimNames{
		Email: "mail", EmailVerified: "mail_verified", Name: "display_name", GivenName: "first_name",
		FamilyName: "last_name", Picture: "avatar_url", Locale: "lang",
	}
	tests := []struct {
		name  string
		names oidc.ClaimNames
		want  map[string]string // profile field -> value
	}{
		{
			name:  "mapped names fill the profile and the standard ones are ignored",
			names: mapped,
			want: map[string]string{
				"email": "mapped@example.com", "name": "Mapped Name", "given_name": "Mapped",
				"family_name": "Name", "picture": "https://example.com/mapped.png", "locale": "de", "verified": "true",
			},
		},
		{
			name:  "empty names keep the standard claims",
			names: oidc.ClaimNames{},
			want: map[string]string{
				"email": "standard@example.com", "name": "Standard Name", "given_name": "Standard",
				"family_name": "Person", "picture": "https://example.com/standard.png", "locale": "en", "verified": "false",
			},
		},
		{
			name:  "a partial mapping changes only the names it sets",
			names: oidc.ClaimNames{Name: "display_name"},
			want: map[string]string{
				"email": "standard@example.com", "name": "Mapped Name", "given_name": "Standard",
				"family_name": "Person", "picture": "https://example.com/standard.png", "locale": "en", "verified": "false",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			fake.SetUser(oidctest.User{
				Subject: "u-1", Email: "standard@example.com", EmailVerified: false,
				Name: "Standard Name", GivenName: "Standard", FamilyName: "Person",
				Picture: "https://example.com/standard.png", Locale: "en",
				Claims: map[string]any{
					"mail": "Mapped@Example.com", "mail_verified": true, "display_name": "Mapped Name",
					"first_name": "Mapped", "last_name": "Name", "avatar_url": "https://example.com/mapped.png", "lang": "de",
				},
			})
			p, _ := newProvider(t, fake, func(c *oidc.Config) { c.Claims = tt.names })

			ident, _ := signInOK(t, p)

			pr := ident.Profile
			got := map[string]string{
				"email": pr.Email, "name": pr.Name, "given_name": pr.GivenName, "family_name": pr.FamilyName,
				"picture": pr.Picture, "locale": pr.Locale, "verified": boolString(pr.EmailVerified),
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("profile = %v, want %v", got, tt.want)
			}
		})
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestEmailVerifiedIsHonouredOnlyWhenTheProviderSaysSo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		user   oidctest.User
		names  oidc.ClaimNames
		want   bool
		wantTo string // the profile's email
	}{
		{name: "true is verified", user: oidctest.User{Email: "a@example.com", EmailVerified: true}, want: true, wantTo: "a@example.com"},
		{name: "false is unverified", user: oidctest.User{Email: "a@example.com"}, wantTo: "a@example.com"},
		{
			name:   "an absent email_verified is unverified",
			user:   oidctest.User{Email: "a@example.com", Claims: map[string]any{"email_verified": nil}},
			wantTo: "a@example.com",
		},
		{
			name: "the string \"true\" some providers send is verified",
			user: oidctest.User{Email: "a@example.com", Claims: map[string]any{"email_verified": "true"}}, want: true, wantTo: "a@example.com",
		},
		{
			name:   "a malformed value is unverified",
			user:   oidctest.User{Email: "a@example.com", Claims: map[string]any{"email_verified": 1}},
			wantTo: "a@example.com",
		},
		{
			name:   "verified without an email vouches for nothing",
			user:   oidctest.User{Claims: map[string]any{"email_verified": true}},
			wantTo: "",
		},
		{
			name:   "a mapped verification claim is honoured",
			user:   oidctest.User{Email: "a@example.com", Claims: map[string]any{"email_verified": nil, "mail_confirmed": true}},
			names:  oidc.ClaimNames{EmailVerified: "mail_confirmed"},
			want:   true,
			wantTo: "a@example.com",
		},
		{
			name:   "with a mapped claim, the standard one no longer counts",
			user:   oidctest.User{Email: "a@example.com", EmailVerified: true},
			names:  oidc.ClaimNames{EmailVerified: "mail_confirmed"},
			wantTo: "a@example.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			tt.user.Subject = "u-2"
			fake.SetUser(tt.user)
			p, _ := newProvider(t, fake, func(c *oidc.Config) { c.Claims = tt.names })

			ident, _ := signInOK(t, p)

			if ident.Profile.EmailVerified != tt.want || ident.Profile.Email != tt.wantTo {
				t.Errorf("Profile email = %q, verified %v; want %q, %v", ident.Profile.Email, ident.Profile.EmailVerified, tt.wantTo, tt.want)
			}
		})
	}
}

func TestFetchUserinfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fetch    bool
		before   func(fake *oidctest.Server)
		check    func(t *testing.T, fake *oidctest.Server, ident *providers.Identity)
		wantCode string
	}{
		{
			name:  "claims only userinfo returns are merged in",
			fetch: true,
			check: func(t *testing.T, fake *oidctest.Server, ident *providers.Identity) {
				if got, want := ident.Claims["groups"], []any{"engineering"}; !reflect.DeepEqual(got, want) {
					t.Errorf("Claims[groups] = %#v, want %#v from userinfo", got, want)
				}
				if ident.Profile.Picture != "https://example.com/from-userinfo.png" {
					t.Errorf("Profile.Picture = %q, want userinfo's", ident.Profile.Picture)
				}
				if n := fake.Requests(oidctest.Userinfo); n != 1 {
					t.Errorf("userinfo called %d times, want 1", n)
				}
			},
		},
		{
			name:  "where both say something, the signed id_token wins",
			fetch: true,
			check: func(t *testing.T, _ *oidctest.Server, ident *providers.Identity) {
				if ident.Profile.Name != "Uma User" || ident.Profile.Email != "uma@example.com" {
					t.Errorf("Profile name, email = %q, %q; want the id_token's, not userinfo's", ident.Profile.Name, ident.Profile.Email)
				}
			},
		},
		{
			name:     "userinfo about another subject is refused",
			fetch:    true,
			before:   func(fake *oidctest.Server) { fake.NextUserinfo(func(c map[string]any) { c["sub"] = "someone-else" }) },
			wantCode: providers.CodeInvalidToken,
		},
		{
			name:     "userinfo without sub is refused",
			fetch:    true,
			before:   func(fake *oidctest.Server) { fake.NextUserinfo(func(c map[string]any) { delete(c, "sub") }) },
			wantCode: providers.CodeInvalidToken,
		},
		{
			name:     "a userinfo outage makes the provider unavailable",
			fetch:    true,
			before:   func(fake *oidctest.Server) { fake.FailNext(oidctest.Userinfo, http.StatusServiceUnavailable, "") },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "without fetch_userinfo, userinfo is not asked",
			check: func(t *testing.T, fake *oidctest.Server, ident *providers.Identity) {
				if _, ok := ident.Claims["groups"]; ok {
					t.Error("Claims has userinfo's groups without fetch_userinfo")
				}
				if n := fake.Requests(oidctest.Userinfo); n != 0 {
					t.Errorf("userinfo called %d times, want none", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			fake.SetUser(oidctest.User{
				Subject: "u-3", Email: "uma@example.com", EmailVerified: true, Name: "Uma User",
				UserinfoClaims: map[string]any{
					"groups": []string{"engineering"}, "picture": "https://example.com/from-userinfo.png",
					"name": "Not The Signed Name", "email": "other@example.com",
				},
			})
			if tt.before != nil {
				tt.before(fake)
			}
			p, rw := newProvider(t, fake, func(c *oidc.Config) { c.FetchUserinfo = tt.fetch })

			ident, err := providertest.SignIn(t, p)

			if tt.wantCode != "" {
				if ident != nil {
					t.Errorf("got identity %q, want none", ident.Key())
				}
				wantError(t, err, tt.wantCode)
				providertest.WantNoSecrets(t, err, rw.Secrets()...)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			tt.check(t, fake, ident)
		})
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rotate bool
	}{
		{name: "a kept refresh token is reported as kept"},
		{name: "a rotated refresh token is returned and the old one dies", rotate: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []oidctest.Option
			if tt.rotate {
				opts = append(opts, oidctest.WithRefreshRotation())
			}
			fake := oidctest.New(t, opts...)
			p, _ := newProvider(t, fake, nil)
			var r providers.Refresher = p // the optional ability, as bridge finds it
			ident, _ := signInOK(t, p)
			first := ident.Tokens

			got, err := r.Refresh(t.Context(), first.RefreshToken)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}

			form := fake.LastTokenRequest()
			if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != first.RefreshToken {
				t.Errorf("refresh request = %v, want grant_type=refresh_token with the refresh token", form)
			}
			if fake.LastTokenClientAuth() != oidctest.ClientSecretBasic {
				t.Errorf("refresh authenticated with %q, want %s", fake.LastTokenClientAuth(), oidctest.ClientSecretBasic)
			}
			if got.AccessToken == "" || got.AccessToken == first.AccessToken {
				t.Errorf("AccessToken = %q, want a new one", got.AccessToken)
			}
			// A refreshed id_token is not kept: it would need OpenID
			// Connect Core §12.2's checks, and nothing uses it.
			if got.IDToken != "" || got.Expiry.Before(time.Now()) {
				t.Errorf("IDToken %q (want none) or Expiry %v past", got.IDToken, got.Expiry)
			}
			if !tt.rotate {
				if got.RefreshToken != "" {
					t.Errorf("RefreshToken = %q, want empty: the provider kept the old one", got.RefreshToken)
				}
				if _, err := r.Refresh(t.Context(), first.RefreshToken); err != nil {
					t.Errorf("the kept refresh token no longer works: %v", err)
				}
				return
			}
			if got.RefreshToken == "" || got.RefreshToken == first.RefreshToken {
				t.Fatalf("RefreshToken = %q, want a new one", got.RefreshToken)
			}
			_, err = r.Refresh(t.Context(), first.RefreshToken)
			wantError(t, err, providers.CodeInvalidGrant)
			if _, err := r.Refresh(t.Context(), got.RefreshToken); err != nil {
				t.Errorf("the rotated refresh token does not work: %v", err)
			}
		})
	}
}

func TestRefreshFailuresAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		before   func(fake *oidctest.Server)
		token    string // the refresh token to redeem; "" for the one issued
		client   *http.Client
		wantCode string
	}{
		{name: "an unknown refresh token is an invalid grant", token: "not-a-refresh-token", wantCode: providers.CodeInvalidGrant},
		{
			name: "a revoked refresh token is an invalid grant",
			before: func(fake *oidctest.Server) {
				fake.FailNext(oidctest.Token, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Token is not active"}`)
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name:     "a token endpoint outage makes the provider unavailable",
			before:   func(fake *oidctest.Server) { fake.FailNext(oidctest.Token, http.StatusServiceUnavailable, "") },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "refused client credentials are a configuration problem",
			before: func(fake *oidctest.Server) {
				fake.FailNext(oidctest.Token, http.StatusUnauthorized, `{"error":"invalid_client"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name:     "a token endpoint that does not answer makes the provider unavailable",
			before:   func(fake *oidctest.Server) { fake.HangNext(oidctest.Token) },
			client:   &http.Client{Timeout: 300 * time.Millisecond},
			wantCode: providers.CodeUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			p, rw := newProvider(t, fake, nil)
			ident, _ := signInOK(t, p)
			if tt.client != nil {
				// The same provider, now with the short time-out.
				p, _ = newProvider(t, fake, func(c *oidc.Config) { c.RP.HTTPClient = tt.client })
			}
			if tt.before != nil {
				tt.before(fake)
			}
			token := tt.token
			if token == "" {
				token = ident.Tokens.RefreshToken
			}

			got, err := p.Refresh(t.Context(), token)

			if got != nil {
				t.Errorf("got tokens %+v, want none", got)
			}
			wantError(t, err, tt.wantCode)
			providertest.WantNoSecrets(t, err, append(rw.Secrets(), token, fake.ClientSecret())...)
		})
	}
}

func TestOpenIDConnectOptionsReachTheProvider(t *testing.T) {
	t.Parallel()
	zero, hour := int64(0), int64(3600)
	tests := []struct {
		name string
		req  providers.AuthRequest
		want map[string]string // "" means absent
	}{
		{"none asked, none sent", providers.AuthRequest{},
			map[string]string{"prompt": "", "max_age": "", "login_hint": ""}},
		{"prompt values are passed on as a space-separated list", providers.AuthRequest{Prompt: []string{"login", "consent", "select_account"}},
			map[string]string{"prompt": "login consent select_account", "max_age": "", "login_hint": ""}},
		{"max_age is passed on", providers.AuthRequest{MaxAge: &hour},
			map[string]string{"prompt": "", "max_age": "3600"}},
		{"max_age 0 is passed on, not dropped", providers.AuthRequest{MaxAge: &zero},
			map[string]string{"max_age": "0"}},
		{"login_hint is passed on", providers.AuthRequest{LoginHint: "jane@example.com"},
			map[string]string{"login_hint": "jane@example.com", "prompt": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			p, _ := newProvider(t, fake, nil)

			providertest.Authorize(t, p, func(r *providers.AuthRequest) {
				r.Prompt, r.MaxAge, r.LoginHint = tt.req.Prompt, tt.req.MaxAge, tt.req.LoginHint
			})

			got := fake.LastAuthRequest()
			for k, want := range tt.want {
				if got.Get(k) != want || (want == "" && got.Has(k)) {
					t.Errorf("the authorization endpoint got %s=%q (present: %v), want %q", k, got.Get(k), got.Has(k), want)
				}
			}
		})
	}
}

func TestAuthTimeReflectsAForcedSignIn(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t) // the default user signed in ten minutes ago
	p, _ := newProvider(t, fake, nil)
	zero := int64(0)

	before, _ := signInOK(t, p)
	start := time.Now().Truncate(time.Second)
	f := providertest.Authorize(t, p, func(r *providers.AuthRequest) { r.MaxAge = &zero })
	after, err := f.Exchange(t.Context(), p)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}

	if !before.AuthTime.Before(start.Add(-5 * time.Minute)) {
		t.Errorf("AuthTime without max_age = %v, want the earlier sign-in", before.AuthTime)
	}
	if after.AuthTime.Before(start) {
		t.Errorf("AuthTime with max_age=0 = %v, want the fresh sign-in at or after %v", after.AuthTime, start)
	}
}

func TestTokenEndpointFailuresAreClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(c *oidc.Config, fake *oidctest.Server)
		// before runs between the authorization and the exchange.
		before   func(t *testing.T, fake *oidctest.Server, p providers.Provider, f *providertest.Flow)
		wantCode string
	}{
		{
			name: "a code the provider refuses is an invalid grant",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Code not valid"}`)
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a refusal whose description echoes the code and verifier does not repeat them",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, f *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusBadRequest,
					`{"error":"invalid_grant","error_description":"code `+f.Code+` verifier `+f.Verifier+`"}`)
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a reused code is an invalid grant",
			before: func(t *testing.T, _ *oidctest.Server, p providers.Provider, f *providertest.Flow) {
				if _, err := f.Exchange(t.Context(), p); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a wrong PKCE verifier is an invalid grant",
			before: func(_ *testing.T, _ *oidctest.Server, _ providers.Provider, f *providertest.Flow) {
				f.Verifier = providertest.RandomString()
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "another redirect_uri than the authorization's is an invalid grant",
			before: func(_ *testing.T, _ *oidctest.Server, _ providers.Provider, f *providertest.Flow) {
				f.RedirectURI = providertest.CallbackURL("other")
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a 500 makes the provider unavailable",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusInternalServerError, `{"error":"server_error"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a 503 without a body makes the provider unavailable",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusServiceUnavailable, "")
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "rate limiting makes the provider unavailable",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusTooManyRequests, `{"error":"slow_down"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a 401 invalid_client is a configuration problem, not a bad code",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Invalid client credentials."}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name:     "a wrong client secret is a configuration problem",
			edit:     func(c *oidc.Config, _ *oidctest.Server) { c.RP.ClientSecret = "wrong-secret" },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a token endpoint that does not answer within the time-out makes the provider unavailable",
			edit: func(c *oidc.Config, _ *oidctest.Server) {
				c.RP.HTTPClient = &http.Client{Transport: c.RP.HTTPClient.Transport, Timeout: 300 * time.Millisecond}
			},
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.HangNext(oidctest.Token)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name:     "an unreachable token endpoint makes the provider unavailable",
			edit:     func(c *oidc.Config, _ *oidctest.Server) { c.RP.TokenURL = closedURL() },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a token response that is not JSON makes the provider unavailable",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.Token, http.StatusOK, `<html>maintenance</html>`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name:     "unreachable signing keys make the provider unavailable, not the token invalid",
			edit:     func(c *oidc.Config, _ *oidctest.Server) { c.RP.JWKSURL = closedURL() },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a JWKS outage makes the provider unavailable",
			before: func(_ *testing.T, fake *oidctest.Server, _ providers.Provider, _ *providertest.Flow) {
				fake.FailNext(oidctest.JWKS, http.StatusServiceUnavailable, "")
			},
			wantCode: providers.CodeUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			p, rw := newProvider(t, fake, func(c *oidc.Config) {
				if tt.edit != nil {
					tt.edit(c, fake)
				}
			})
			f := providertest.Authorize(t, p, nil)
			code, verifier := f.Code, f.Verifier
			if tt.before != nil {
				tt.before(t, fake, p, f)
			}

			start := time.Now()
			ident, err := f.Exchange(t.Context(), p)

			if ident != nil {
				t.Errorf("got identity %q, want none", ident.Key())
			}
			wantError(t, err, tt.wantCode)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Exchange took %v, want it bounded by the client's time-out", d)
			}
			providertest.WantNoSecrets(t, err, append(rw.Secrets(), code, verifier, f.Verifier, fake.ClientSecret())...)
		})
	}
}

func TestACanceledExchangeMakesTheProviderUnavailable(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	p, _ := newProvider(t, fake, nil)
	f := providertest.Authorize(t, p, nil)
	fake.HangNext(oidctest.Token)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()

	_, err := f.Exchange(ctx, p)

	wantError(t, err, providers.CodeUnavailable)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap the deadline", err)
	}
}

func TestClientAuthenticationAtTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		style    oauth2.AuthStyle
		allowed  []string
		secret   string
		wantAuth string // how the fake saw the client authenticate
		wantCode string // "" when the sign-in succeeds
	}{
		{name: "HTTP Basic by default", allowed: []string{oidctest.ClientSecretBasic}, wantAuth: oidctest.ClientSecretBasic},
		{name: "form parameters when configured", style: oauth2.AuthStyleInParams, allowed: []string{oidctest.ClientSecretPost}, wantAuth: oidctest.ClientSecretPost},
		{
			name: "a secret with reserved characters is form-encoded in Basic (RFC 6749 §2.3.1)", secret: "s3cr:t/+&=% ü",
			allowed: []string{oidctest.ClientSecretBasic}, wantAuth: oidctest.ClientSecretBasic,
		},
		{
			name:    "a provider that takes only form parameters refuses Basic, a configuration problem",
			allowed: []string{oidctest.ClientSecretPost}, wantAuth: oidctest.ClientSecretBasic, wantCode: providers.CodeUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = oidctest.DefaultClientSecret
			}
			fake := oidctest.New(t, oidctest.WithClient("client-"+providertest.RandomString()[:8], secret),
				oidctest.WithTokenAuthMethods(tt.allowed...))
			p, _ := newProvider(t, fake, func(c *oidc.Config) { c.RP.AuthStyle = tt.style })

			ident, err := providertest.SignIn(t, p)

			if got := fake.LastTokenClientAuth(); got != tt.wantAuth {
				t.Errorf("the client authenticated with %q, want %q", got, tt.wantAuth)
			}
			if tt.wantCode != "" {
				wantError(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if ident.Subject == "" {
				t.Error("no subject")
			}
		})
	}
}

func TestSigningAlgorithmsFollowTheAllowList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fakeAlg  string
		allowed  []string
		wantCode string
	}{
		{name: "RS256 by default", fakeAlg: "RS256"},
		{name: "ES256 when allowed", fakeAlg: "ES256", allowed: []string{"ES256"}},
		{name: "ES256 among several allowed", fakeAlg: "ES256", allowed: []string{"RS256", "ES256"}},
		{name: "ES256 is refused by the RS256 default, though its key is published", fakeAlg: "ES256", wantCode: providers.CodeInvalidToken},
		{name: "RS256 is refused when only ES256 is allowed", fakeAlg: "RS256", allowed: []string{"ES256"}, wantCode: providers.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t, oidctest.WithSigningAlg(tt.fakeAlg))
			p, _ := newProvider(t, fake, func(c *oidc.Config) { c.RP.Algorithms = tt.allowed })

			ident, err := providertest.SignIn(t, p)

			if tt.wantCode != "" {
				if ident != nil {
					t.Errorf("got identity %q, want none", ident.Key())
				}
				wantError(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if ident.Subject != oidctest.DefaultSubject {
				t.Errorf("Subject = %q, want %q", ident.Subject, oidctest.DefaultSubject)
			}
		})
	}
}

func TestForgeriesOfTheFakeAreRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		forgery oidctest.Forgery
	}{
		{"a key not published, under the published kid", oidctest.ForeignKey},
		{"a key not published, under a kid of its own", oidctest.UnknownKid},
		{"no signature at all (alg none)", oidctest.AlgNone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			p, _ := newProvider(t, fake, nil)
			f := providertest.Authorize(t, p, nil)
			fake.ForgeNextIDToken(tt.forgery)

			ident, err := f.Exchange(t.Context(), p)

			if ident != nil {
				t.Errorf("got identity %q, want none", ident.Key())
			}
			wantError(t, err, providers.CodeInvalidToken)
		})
	}
}

func TestSignInKeepsWorkingAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	for _, keepOld := range []bool{false, true} {
		name := "the old key retired"
		if keepOld {
			name = "the old key kept"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			p, _ := newProvider(t, fake, nil)
			first, _ := signInOK(t, p)

			fake.RotateKey(keepOld)
			second, _ := signInOK(t, p)

			if first.Subject != second.Subject {
				t.Errorf("subjects differ across the rotation: %q, %q", first.Subject, second.Subject)
			}
			if n := fake.Requests(oidctest.JWKS); n != 2 {
				t.Errorf("JWKS fetched %d times, want 2: at first use, and for the new kid", n)
			}
			if n := fake.Requests(oidctest.Discovery); n != 1 {
				t.Errorf("discovery fetched %d times, want once for the adapter's lifetime", n)
			}
		})
	}
}

func TestOneProviderServesConcurrentSignIns(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	p, _ := newProvider(t, fake, nil)
	results := make(chan string, 8)

	// The group returns once its parallel sign-ins have all finished.
	t.Run("group", func(t *testing.T) {
		for range 8 {
			t.Run("sign-in", func(t *testing.T) {
				t.Parallel()
				ident, _ := signInOK(t, p)
				results <- ident.Subject
			})
		}
	})
	close(results)
	var subjects []string
	for s := range results {
		subjects = append(subjects, s)
	}
	if len(subjects) != 8 || slices.ContainsFunc(subjects, func(s string) bool { return s != oidctest.DefaultSubject }) {
		t.Errorf("subjects = %q, want 8 times %q", subjects, oidctest.DefaultSubject)
	}

	// Concurrent first uses may each discover (RP.discover allows it), but
	// afterwards every sign-in shares one discovery and one key set.
	discovered, fetched := fake.Requests(oidctest.Discovery), fake.Requests(oidctest.JWKS)
	signInOK(t, p)
	if d, k := fake.Requests(oidctest.Discovery), fake.Requests(oidctest.JWKS); d != discovered || k != fetched {
		t.Errorf("a later sign-in fetched discovery %d and JWKS %d more times, want none", d-discovered, k-fetched)
	}
}

func TestProviderErrorCodesAreNotEchoedWhole(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	p, _ := newProvider(t, fake, nil)
	f := providertest.Authorize(t, p, nil)
	// RFC 6749 §5.2 lets "error" hold any printable ASCII; a provider that
	// echoes the request there must not get the code into our logs.
	fake.FailNext(oidctest.Token, http.StatusBadRequest, `{"error":"invalid_grant:`+f.Code+`"}`)

	_, err := f.Exchange(t.Context(), p)

	wantError(t, err, providers.CodeInvalidGrant)
	if strings.Contains(err.Error(), f.Code) {
		t.Errorf("the error repeats the authorization code the provider echoed in its error field: %v", err)
	}
}
