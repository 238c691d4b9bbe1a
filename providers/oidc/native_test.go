package oidc_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// mobileClient is the client id of the native app in these tests.
const mobileClient = "socialbridge-mobile"

// nativeHarness runs the shared native cases against the generic adapter
// and oidctest, the adapter configured by edit.
type nativeHarness struct {
	fake *oidctest.Server
	edit func(*oidc.Config)
}

func (h nativeHarness) Verifier(_ *testing.T, requireNonce bool) providers.NativeVerifier {
	cfg := oidc.Config{
		RP: oidc.RPConfig{
			Name: instance, ClientID: h.fake.ClientID(), ClientSecret: h.fake.ClientSecret(), Issuer: h.fake.Issuer(),
		},
		NativeClientIDs: []string{mobileClient}, NativeRequireNonce: requireNonce,
	}
	if h.edit != nil {
		h.edit(&cfg)
	}
	return oidc.New(cfg)
}

func (h nativeHarness) Claims(_ *testing.T, client, nonce string) map[string]any {
	return h.fake.NativeClaims(client, nonce)
}

func (h nativeHarness) Sign(_ *testing.T, c map[string]any) string { return h.fake.SignIDToken(c) }
func (h nativeHarness) RotateKey(*testing.T)                       { h.fake.RotateKey(false) }
func (h nativeHarness) JWKSRequests() int                          { return h.fake.Requests(oidctest.JWKS) }
func (h nativeHarness) SignWithUnknownKey(_ *testing.T, c map[string]any) string {
	return h.fake.SignWithUnknownKey(c)
}

func TestSharedNativeIDTokenCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fake    []oidctest.Option
		user    *oidctest.User
		edit    func(*oidc.Config)
		subject []string
	}{
		{name: "RS256 at a root issuer"},
		{name: "ES256 at an issuer below a path", fake: []oidctest.Option{oidctest.WithSigningAlg("ES256"), oidctest.WithIssuerPath("/realms/corp")},
			edit: func(c *oidc.Config) { c.RP.Algorithms = []string{"ES256"} }},
		{
			name: "a configured subject claim",
			user: &oidctest.User{Subject: "pairwise-sub", Email: "kim@example.com", Claims: map[string]any{"employee_id": "E-1234"}},
			edit: func(c *oidc.Config) { c.Claims.Subject = "employee_id" }, subject: []string{"employee_id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t, tt.fake...)
			if tt.user != nil {
				fake.SetUser(*tt.user)
			}
			providertest.RunNativeCases(t, nativeHarness{fake: fake, edit: tt.edit}, providertest.NativeOptions{
				Provider: instance, WebClientID: fake.ClientID(), NativeClientID: mobileClient, SubjectClaims: tt.subject,
			})
		})
	}
}

func TestNativeSignInIsOffWithoutNativeClientIDs(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	p, _ := newProvider(t, fake, nil)

	if got := p.NativeTokenTypes(); len(got) != 0 {
		t.Errorf("NativeTokenTypes() = %q, want none", got)
	}
	ident, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
		Token: fake.NativeIDToken(fake.ClientID(), ""), Type: providers.TokenTypeIDToken,
	})
	if ident != nil {
		t.Errorf("got identity %q", ident.Key())
	}
	wantError(t, err, providers.CodeUnsupportedTokenType)
	if n := fake.Requests(oidctest.Discovery) + fake.Requests(oidctest.JWKS); n != 0 {
		t.Errorf("the provider was asked %d times for a token the instance does not accept", n)
	}
}

func TestNativeAndBrowserSignInsOfOnePersonAreOneIdentity(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	fake.SetUser(oidctest.User{Subject: "sub-77", Email: "lee@example.com", EmailVerified: true, Name: "Lee",
		Claims: map[string]any{"staff_no": 9007199254740993}})
	p, _ := newProvider(t, fake, func(c *oidc.Config) {
		c.NativeClientIDs = []string{mobileClient}
		c.Claims.Subject = "staff_no"
	})
	browser, _ := signInOK(t, p)

	for _, client := range []string{mobileClient, fake.ClientID()} {
		t.Run("a token issued to "+client, func(t *testing.T) {
			t.Parallel()
			ident, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
				Token: fake.NativeIDToken(client, ""), Type: providers.TokenTypeIDToken,
			})
			if err != nil {
				t.Fatalf("VerifyNative: %v", err)
			}
			if ident.Key() != browser.Key() || ident.Subject != "9007199254740993" {
				t.Errorf("native identity %q, browser identity %q: want one person, keyed by every digit of staff_no", ident.Key(), browser.Key())
			}
			if ident.Profile != browser.Profile {
				t.Errorf("native profile %+v, browser profile %+v", ident.Profile, browser.Profile)
			}
		})
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestTheJWKSIsRefetchedAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	clk := &clock{now: time.Now()}
	rp := oidc.NewRP(oidc.RPConfig{
		Name: instance, ClientID: fake.ClientID(), Issuer: fake.Issuer(), NativeClientIDs: []string{mobileClient},
		Now: clk.Now, KeyRefetchInterval: time.Minute,
	})
	// Tokens valid for a day of the adapter's clock.
	token := func(sign func(map[string]any) string) string {
		c := fake.NativeClaims(mobileClient, "")
		c["exp"] = clk.Now().Add(24 * time.Hour).Unix()
		return sign(c)
	}
	verify := func(raw string) error {
		_, err := rp.VerifyNativeIDToken(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken})
		return err
	}
	wantUnknownKey := func(t *testing.T, err error) {
		t.Helper()
		pe := providertest.WantError(t, err, instance, providers.CodeInvalidToken)
		if !strings.Contains(pe.Message, "unknown key") {
			t.Errorf("message %q does not say the key is unknown", pe.Message)
		}
	}
	fetches := func() int { return fake.Requests(oidctest.JWKS) }
	steps := []struct {
		name        string
		do          func(t *testing.T)
		wantFetches int
	}{
		{"the first token fetches the keys", func(t *testing.T) {
			if err := verify(token(fake.SignIDToken)); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"an unknown kid refetches them once", func(t *testing.T) { wantUnknownKey(t, verify(token(fake.SignWithUnknownKey))) }, 2},
		{"another unknown kid within the minute does not", func(t *testing.T) { wantUnknownKey(t, verify(token(fake.SignWithUnknownKey))) }, 2},
		{"a rotated key within the minute waits for it", func(t *testing.T) {
			fake.RotateKey(true)
			wantUnknownKey(t, verify(token(fake.SignIDToken)))
		}, 2},
		{"a minute later the rotated key is fetched and verifies", func(t *testing.T) {
			clk.Advance(time.Minute)
			if err := verify(token(fake.SignIDToken)); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"the cached keys serve known kids without a fetch", func(t *testing.T) {
			for range 5 {
				if err := verify(token(fake.SignIDToken)); err != nil {
					t.Fatal(err)
				}
			}
		}, 3},
		{"a key the provider withdrew stops verifying once the set is an hour old", func(t *testing.T) {
			old := token(fake.SignIDToken)
			fake.RotateKey(false)
			if err := verify(old); err != nil {
				t.Fatalf("before the set is stale: %v", err)
			}
			clk.Advance(time.Hour)
			wantUnknownKey(t, verify(old))
		}, 4},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.do) {
			t.FailNow()
		}
		if n := fetches(); n != s.wantFetches {
			t.Fatalf("after %q: %d JWKS fetches, want %d", s.name, n, s.wantFetches)
		}
	}
}

func TestConcurrentFirstNativeTokensShareOneJWKSFetch(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	p, _ := newProvider(t, fake, func(c *oidc.Config) { c.NativeClientIDs = []string{mobileClient} })
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
				Token: fake.NativeIDToken(mobileClient, ""), Type: providers.TokenTypeIDToken,
			}); err != nil {
				t.Errorf("VerifyNative: %v", err)
			}
		})
	}
	wg.Wait()
	if n := fake.Requests(oidctest.JWKS); n != 1 {
		t.Errorf("16 concurrent first tokens fetched the JWKS %d times, want 1", n)
	}
}

func TestAJWKSOutageMakesTheProviderUnavailable(t *testing.T) {
	t.Parallel()
	for _, flow := range []string{"native", "browser"} {
		t.Run(flow, func(t *testing.T) {
			t.Parallel()
			fake := oidctest.New(t)
			var skew atomic.Int64 // the adapter's clock runs this far ahead
			p, _ := newProvider(t, fake, func(c *oidc.Config) {
				c.NativeClientIDs = []string{mobileClient}
				c.RP.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
			})
			use := func() error {
				if flow == "browser" {
					_, err := providertest.SignIn(t, p)
					return err
				}
				_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
					Token: fake.NativeIDToken(mobileClient, ""), Type: providers.TokenTypeIDToken,
				})
				return err
			}
			fake.FailNext(oidctest.JWKS, http.StatusServiceUnavailable, `{"error":"down for maintenance"}`)

			err := use()

			pe := providertest.WantError(t, err, instance, providers.CodeUnavailable)
			if !strings.Contains(pe.Message, "signing keys") || strings.Contains(err.Error(), "maintenance") {
				t.Errorf("error %q: want it to name the signing keys and not quote the provider's answer", err)
			}
			// Right after a failed first fetch the provider is not asked
			// again: a stream of requests is not a stream of fetches.
			fetches := fake.Requests(oidctest.JWKS)
			if err := use(); err == nil || fake.Requests(oidctest.JWKS) != fetches {
				t.Errorf("within the backoff: err %v, JWKS fetched %d more times; want unavailable without a fetch",
					err, fake.Requests(oidctest.JWKS)-fetches)
			}
			skew.Store(int64(6 * time.Second))
			if err := use(); err != nil {
				t.Errorf("once the JWKS answers again: %v", err)
			}
		})
	}
}

func TestNativeClientIDSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ids     []string
		require bool
		want    []string
	}{
		{name: "client ids turn native sign-in on", ids: []string{"ios-app", "android-app"}, require: true},
		{name: "empty, spaced and repeated ids are reported", ids: []string{"", "ios app", "a", "a"},
			want: []string{"native_client_ids[0]: must not be empty", "native_client_ids[1]: must be a client id without spaces", "native_client_ids[3]: repeats"}},
		{name: "requiring a nonce without native sign-in is a mistake", require: true,
			want: []string{"native_require_nonce: has no effect without native_client_ids"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSettings()
			s.NativeClientIDs, s.NativeRequireNonce = tt.ids, tt.require
			var got []string
			s.Validate(false, func(key, message string) { got = append(got, key+": "+message) })
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %q", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %q, want %q", got[i], w)
				}
			}
		})
	}
}

func TestTypeWiresNativeSignIn(t *testing.T) {
	t.Parallel()
	fake := oidctest.New(t)
	s := &oidc.Settings{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.Issuer(),
		NativeClientIDs: []string{mobileClient}, NativeRequireNonce: true}
	p, err := oidc.Type().New(providers.Instance{Name: instance}, s)
	if err != nil {
		t.Fatal(err)
	}
	nv, ok := p.(providers.NativeVerifier)
	if !ok || !slices.Equal(nv.NativeTokenTypes(), []string{providers.TokenTypeIDToken}) {
		t.Fatalf("%T: no native sign-in of ID tokens", p)
	}
	raw := fake.NativeIDToken(mobileClient, "app-nonce")
	if _, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken}); err == nil {
		t.Error("a token sent without the app's nonce was accepted although native_require_nonce is set")
	}
	if _, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: "app-nonce"}); err != nil {
		t.Errorf("VerifyNative: %v", err)
	}
}
