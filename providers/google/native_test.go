package google_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
	"github.com/socialbridge/socialbridge/providers/providertest"
)

// Client ids of the mobile apps in these tests, as the Google Cloud
// console makes them.
const (
	androidClient = "1234567890-android0abcdef.apps.googleusercontent.com"
	iosClient     = "1234567890-ios0abcdef.apps.googleusercontent.com"
)

// nativeHarness runs the shared native cases against the Google adapter
// and googletest.
type nativeHarness struct{ fake *googletest.Server }

func (h nativeHarness) Verifier(_ *testing.T, requireNonce bool) providers.NativeVerifier {
	return google.New(google.Config{
		ClientID: h.fake.ClientID(), ClientSecret: h.fake.ClientSecret(), Issuer: h.fake.URL(),
		NativeClientIDs: []string{androidClient}, NativeRequireNonce: requireNonce,
	})
}

func (h nativeHarness) Claims(_ *testing.T, client, nonce string) map[string]any {
	return h.fake.NativeClaims(client, client, nonce)
}

func (h nativeHarness) Sign(_ *testing.T, c map[string]any) string { return h.fake.SignIDToken(c) }
func (h nativeHarness) RotateKey(*testing.T)                       { h.fake.RotateKey(false) }
func (h nativeHarness) JWKSRequests() int                          { return h.fake.JWKSRequests() }
func (h nativeHarness) SignWithUnknownKey(_ *testing.T, c map[string]any) string {
	return h.fake.SignWithUnknownKey(c)
}

func TestSharedNativeIDTokenCases(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	providertest.RunNativeCases(t, nativeHarness{fake}, providertest.NativeOptions{
		Provider: google.Name, WebClientID: fake.ClientID(), NativeClientID: androidClient,
	})
}

// newNativeAdapter is newAdapter with the Android and iOS clients
// configured for native sign-in.
func newNativeAdapter(t *testing.T, fake *googletest.Server, edit func(*google.Config)) *google.Provider {
	t.Helper()
	p, _ := newAdapter(t, fake, func(c *google.Config) {
		c.NativeClientIDs = []string{androidClient, iosClient}
		if edit != nil {
			edit(c)
		}
	})
	return p
}

func verifyNative(t *testing.T, p *google.Provider, raw, nonce string) (*providers.Identity, time.Time, error) {
	t.Helper()
	return p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: nonce})
}

func TestNativeAndBrowserSignInsOfOnePersonAreOneIdentity(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	fake.SetUser(googletest.User{Sub: "1000042", Email: "dana@corp.example", EmailVerified: true, HD: "corp.example", Name: "Dana"})
	p := newNativeAdapter(t, fake, nil)
	browser, _ := signInOK(t, p)

	tests := []struct {
		name     string
		aud, azp string
	}{
		{"Android (Credential Manager): aud the web client, azp the Android client", fake.ClientID(), androidClient},
		{"iOS: aud and azp the iOS client", iosClient, iosClient},
		{"the web (Sign in with Google button): aud and azp the web client", fake.ClientID(), fake.ClientID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := fake.NativeClaims(tt.aud, tt.azp, "")
			ident, expires, err := verifyNative(t, p, fake.SignIDToken(claims), "")
			if err != nil {
				t.Fatalf("VerifyNative: %v", err)
			}
			if ident.Key() != browser.Key() {
				t.Errorf("native identity %q, browser identity %q: want one person", ident.Key(), browser.Key())
			}
			if !reflect.DeepEqual(ident.Profile, browser.Profile) {
				t.Errorf("native profile %+v, browser profile %+v", ident.Profile, browser.Profile)
			}
			if want := time.Unix(claims["exp"].(int64), 0).Add(time.Minute); !expires.Equal(want) {
				t.Errorf("expires = %v, want exp plus a minute's leeway, %v", expires, want)
			}
			if !reflect.DeepEqual(ident.Tokens, providers.Tokens{}) {
				t.Errorf("Tokens = %+v, want none: a native ID token brings no provider token to keep", ident.Tokens)
			}
		})
	}
}

func TestNativeSignInAppliesGoogleRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		user         googletest.User
		allowed      []string
		wantCode     string
		wantVerified bool
	}{
		{name: "a Gmail address counts as verified", user: googletest.User{Sub: "1", Email: "ann@gmail.com", EmailVerified: true}, wantVerified: true},
		{name: "a consumer account's non-Gmail address does not", user: googletest.User{Sub: "2", Email: "ann@corp.example", EmailVerified: true}},
		{name: "a listed Workspace domain signs in", user: googletest.User{Sub: "3", Email: "ann@corp.example", EmailVerified: true, HD: "corp.example"},
			allowed: []string{"corp.example"}, wantVerified: true},
		{name: "another Workspace domain is not allowed", user: googletest.User{Sub: "4", Email: "ann@other.example", EmailVerified: true, HD: "other.example"},
			allowed: []string{"corp.example"}, wantCode: providers.CodeNotAllowed},
		{name: "a consumer account is not allowed with a domain list", user: googletest.User{Sub: "5", Email: "ann@gmail.com", EmailVerified: true},
			allowed: []string{"corp.example"}, wantCode: providers.CodeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			fake.SetUser(tt.user)
			p := newNativeAdapter(t, fake, func(c *google.Config) { c.HostedDomains = tt.allowed })

			ident, _, err := verifyNative(t, p, fake.NativeIDToken(fake.ClientID(), androidClient, ""), "")

			if tt.wantCode != "" {
				wantProviderError(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("VerifyNative: %v", err)
			}
			if ident.Subject != tt.user.Sub || ident.Profile.EmailVerified != tt.wantVerified {
				t.Errorf("Subject %q EmailVerified %v, want %q %v", ident.Subject, ident.Profile.EmailVerified, tt.user.Sub, tt.wantVerified)
			}
		})
	}
}

func TestNativeTokenOfAnUnconfiguredAppNamesTheSetting(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p := newNativeAdapter(t, fake, func(c *google.Config) { c.NativeClientIDs = nil })
	if got := p.NativeTokenTypes(); !slices.Equal(got, []string{providers.TokenTypeIDToken}) {
		t.Errorf("NativeTokenTypes() = %q: the web client always counts", got)
	}

	_, _, err := verifyNative(t, p, fake.NativeIDToken(fake.ClientID(), androidClient, ""), "")

	wantProviderError(t, err, providers.CodeInvalidToken)
	pe, _ := providers.AsError(err)
	if !strings.Contains(pe.Message, "authorized party (azp)") {
		t.Errorf("message %q does not name azp", pe.Message)
	}
	if pe.Err == nil || !strings.Contains(pe.Err.Error(), androidClient) || !strings.Contains(pe.Err.Error(), "native_client_ids") {
		t.Errorf("Err %v does not tell the operator which client id to add where", pe.Err)
	}
}

func TestNativeTokensMayNameGoogleWithoutScheme(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	// Google's own issuer, with the fake's endpoints: discovery is skipped.
	p := google.New(google.Config{
		ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), NativeClientIDs: []string{androidClient},
		AuthURL: fake.URL() + googletest.AuthPath, TokenURL: fake.URL() + googletest.TokenPath, JWKSURL: fake.URL() + googletest.JWKSPath,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	for iss, ok := range map[string]bool{
		google.DefaultIssuer:         true,
		"accounts.google.com":        true,
		"http://accounts.google.com": false,
		fake.URL():                   false,
	} {
		t.Run(iss, func(t *testing.T) {
			t.Parallel()
			claims := fake.NativeClaims(fake.ClientID(), androidClient, "")
			claims["iss"] = iss
			_, _, err := verifyNative(t, p, fake.SignIDToken(claims), "")
			if ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !ok {
				wantProviderError(t, err, providers.CodeInvalidToken)
			}
		})
	}
}

func TestNativeClientIDSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ids  []string
		dev  bool
		want []string // "key: part of the message"
	}{
		{name: "Android and iOS client ids are fine", ids: []string{androidClient, iosClient}},
		{name: "an iOS reversed client id is caught", ids: []string{"com.googleusercontent.apps.1234567890-ios0abcdef"},
			want: []string{"native_client_ids[0]: is the iOS client's reversed client id (its URL scheme); use the client id 1234567890-ios0abcdef.apps.googleusercontent.com"}},
		{name: "a package name is not a client id", ids: []string{"com.example.app"}, want: []string{"native_client_ids[0]: must be an OAuth client id ending in .apps.googleusercontent.com"}},
		{name: "in dev mode any client id of a fake goes", ids: []string{"android-app"}, dev: true},
		{name: "empty, spaced and repeated ids are reported", ids: []string{"", " " + androidClient, iosClient, iosClient},
			want: []string{"native_client_ids[0]: must not be empty", "native_client_ids[1]: must be a client id without spaces", `native_client_ids[3]: repeats`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &google.Settings{ClientID: "web.apps.googleusercontent.com", ClientSecret: "secret", NativeClientIDs: tt.ids}
			var got []string
			s.Validate(tt.dev, func(key, message string) { got = append(got, key+": "+message) })
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
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
	fake := googletest.New(t)
	s := &google.Settings{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.URL(),
		NativeClientIDs: []string{androidClient}, NativeRequireNonce: true}
	p, err := google.Type().New(providers.Instance{Name: "google-mobile"}, s)
	if err != nil {
		t.Fatal(err)
	}
	nv, ok := p.(providers.NativeVerifier)
	if !ok {
		t.Fatalf("%T is no providers.NativeVerifier", p)
	}
	raw := fake.NativeIDToken(fake.ClientID(), androidClient, "app-nonce")
	if _, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken}); err == nil {
		t.Error("a token without the app's nonce was accepted although native_require_nonce is set")
	}
	ident, _, err := nv.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: "app-nonce"})
	if err != nil {
		t.Fatalf("VerifyNative: %v", err)
	}
	if want := fmt.Sprintf("google-mobile|%s", fake.Claims()["sub"]); ident.Key() != want {
		t.Errorf("Key() = %q, want %q", ident.Key(), want)
	}
}
