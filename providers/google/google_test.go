package google_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

// callback is socialbridge's redirect URI for Google in these tests.
const callback = "https://bridge.example.test/callback/google"

// browser follows no redirect, so a test can read the callback the fake
// sends the browser to.
var browser = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// spy is the transport of the adapter's HTTP client. It records the paths
// the adapter fetched and every token the fake issued, so that a test can
// tell whether discovery ran and check that no error repeats a token. It can
// also fail the first requests as a network outage would, and re-sign the
// id_token of every token response.
type spy struct {
	// failFirst is how many requests fail before the network "comes back".
	failFirst int
	// resign, when set, replaces each issued id_token with what it returns
	// for that token's claims.
	resign func(claims map[string]any) string

	mu      sync.Mutex
	paths   []string
	secrets []string
}

func (s *spy) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.Path)
	fail := s.failFirst > 0
	if fail {
		s.failFirst--
	}
	s.mu.Unlock()
	if fail {
		return nil, errors.New("spy: network is down")
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.URL.Path != googletest.TokenPath || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, fmt.Errorf("spy: decode token response: %w", err)
	}
	s.mu.Lock()
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if v, _ := tok[k].(string); v != "" {
			s.secrets = append(s.secrets, v)
		}
	}
	s.mu.Unlock()
	if s.resign != nil {
		idToken, _ := tok["id_token"].(string)
		claims, err := jwtClaims(idToken)
		if err != nil {
			return nil, err
		}
		tok["id_token"] = s.resign(claims)
		if body, err = json.Marshal(tok); err != nil {
			return nil, err
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// fetched reports how many requests went to path.
func (s *spy) fetched(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.paths {
		if p == path {
			n++
		}
	}
	return n
}

// fetchedPaths returns the paths of every request, in order.
func (s *spy) fetchedPaths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

// issued returns every token the fake issued through this spy.
func (s *spy) issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets)
}

// jwtClaims decodes the payload of a JWT without verifying it.
func jwtClaims(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("spy: id_token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("spy: decode id_token payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // keep exp and iat exact when re-encoding
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("spy: decode id_token claims: %w", err)
	}
	return claims, nil
}

// newAdapter returns the Google adapter for fake's default client, with
// discovery, talking to fake through a spy. edit, if not nil, adjusts the
// config first.
func newAdapter(t *testing.T, fake *googletest.Server, edit func(*google.Config)) (*google.Provider, *spy) {
	t.Helper()
	sp := &spy{}
	cfg := google.Config{
		ClientID:     fake.ClientID(),
		ClientSecret: fake.ClientSecret(),
		Issuer:       fake.URL(),
		HTTPClient:   &http.Client{Transport: sp, Timeout: 10 * time.Second},
	}
	if edit != nil {
		edit(&cfg)
	}
	return google.New(cfg), sp
}

// randomString returns 32 random bytes, base64url-encoded: 43 characters,
// the shortest valid PKCE verifier (RFC 7636 §4.1).
func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// s256 is the PKCE S256 code challenge of verifier (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// signIn is one sign-in attempt as socialbridge runs it: the secrets it
// generated, the URL the adapter built, and the code Google sent back.
type signIn struct {
	state, nonce, verifier string
	authURL                *url.URL
	code                   string
}

// authorize is the browser's half of a sign-in: it asks the adapter for the
// authorization URL, visits it at the fake and reads the callback.
func authorize(t *testing.T, p providers.Provider) *signIn {
	t.Helper()
	return authorizeWith(t, p, randomString(t))
}

// authorizeWith is authorize with a given nonce.
func authorizeWith(t *testing.T, p providers.Provider, nonce string) *signIn {
	t.Helper()
	return authorizeEdit(t, p, nonce, nil)
}

// authorizeEdit is authorizeWith with the request edited by edit (nil:
// as is) before the adapter builds the URL.
func authorizeEdit(t *testing.T, p providers.Provider, nonce string, edit func(*providers.AuthRequest)) *signIn {
	t.Helper()
	s := &signIn{state: randomString(t), nonce: nonce, verifier: randomString(t)}
	ar := providers.AuthRequest{RedirectURI: callback, State: s.state, Nonce: s.nonce, CodeChallenge: s256(s.verifier)}
	if edit != nil {
		edit(&ar)
	}
	raw, err := p.AuthCodeURL(t.Context(), ar)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	if s.authURL, err = url.Parse(raw); err != nil {
		t.Fatalf("AuthCodeURL returned %q: %v", raw, err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("visit authorization URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorization endpoint answered %d, want 302: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("bad Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %q, want the callback %q", got, callback)
	}
	cb := loc.Query()
	if cb.Has("error") {
		t.Fatalf("callback carries error=%q", cb.Get("error"))
	}
	if got := cb.Get("state"); got != s.state {
		t.Fatalf("callback state = %q, want %q", got, s.state)
	}
	if s.code = cb.Get("code"); s.code == "" {
		t.Fatal("callback has no code")
	}
	return s
}

// exchange is the callback's half: it redeems the code with the secrets
// socialbridge kept for this sign-in.
func (s *signIn) exchange(t *testing.T, p providers.Provider) (*providers.Identity, error) {
	t.Helper()
	return p.Exchange(t.Context(), providers.ExchangeRequest{
		Code: s.code, RedirectURI: callback, CodeVerifier: s.verifier, Nonce: s.nonce,
	})
}

// signInOK runs a whole sign-in that must succeed.
func signInOK(t *testing.T, p providers.Provider) (*providers.Identity, *signIn) {
	t.Helper()
	s := authorize(t, p)
	ident, err := s.exchange(t, p)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return ident, s
}

// wantProviderError fails unless err is a *providers.Error of google with
// code.
func wantProviderError(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	pe, ok := providers.AsError(err)
	if !ok {
		t.Fatalf("error %q (%T) is not a *providers.Error", err, err)
	}
	t.Logf("refused as expected: %v", err)
	if pe.Code != code {
		t.Errorf("error code = %q, want %q (error: %v)", pe.Code, code, err)
	}
	if pe.Provider != google.Name {
		t.Errorf("error provider = %q, want %q", pe.Provider, google.Name)
	}
}

// wantNoSecrets fails if err's message holds one of secrets.
func wantNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error message %q leaks a secret (%.12s...)", msg, s)
		}
	}
}

func TestSignInReturnsTheVerifiedGoogleIdentity(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	fake.SetUser(googletest.User{
		Sub:           "110169484474386276334",
		Email:         "Alice.Example@GMail.COM",
		EmailVerified: true,
		Name:          "Alice Example",
		GivenName:     "Alice",
		FamilyName:    "Example",
		Picture:       "https://lh3.googleusercontent.com/a/alice",
		Locale:        "en",
	})
	// Exactly as socialbridge builds it: defaults for scopes, client and clock.
	p := google.New(google.Config{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.URL()})
	if p.Name() != "google" {
		t.Errorf("Name() = %q, want google", p.Name())
	}

	ident, s := signInOK(t, p)

	t.Run("the authorization URL asks for an OpenID sign-in with PKCE and our nonce", func(t *testing.T) {
		if got, want := s.authURL.Scheme+"://"+s.authURL.Host+s.authURL.Path, fake.URL()+googletest.AuthPath; got != want {
			t.Errorf("authorization endpoint = %q, want the discovered %q", got, want)
		}
		q := s.authURL.Query()
		for k, want := range map[string]string{
			"client_id":             fake.ClientID(),
			"redirect_uri":          callback,
			"response_type":         "code",
			"state":                 s.state,
			"nonce":                 s.nonce,
			"code_challenge":        s256(s.verifier),
			"code_challenge_method": "S256",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("auth URL %s = %q, want %q", k, got, want)
			}
		}
		scopes := strings.Fields(q.Get("scope"))
		for _, want := range []string{"openid", "email", "profile"} {
			if !slices.Contains(scopes, want) {
				t.Errorf("auth URL scope %q lacks %q", q.Get("scope"), want)
			}
		}
		for _, k := range []string{"access_type", "prompt", "hd"} {
			if q.Has(k) {
				t.Errorf("auth URL has %s=%q, want none by default", k, q.Get(k))
			}
		}
		if got := fake.LastAuthRequest().Get("nonce"); got != s.nonce {
			t.Errorf("the fake received nonce %q, want %q", got, s.nonce)
		}
	})

	t.Run("the code is redeemed with the PKCE verifier", func(t *testing.T) {
		form := fake.LastTokenRequest()
		for k, want := range map[string]string{
			"grant_type":    "authorization_code",
			"code":          s.code,
			"code_verifier": s.verifier,
			"redirect_uri":  callback,
		} {
			if got := form.Get(k); got != want {
				t.Errorf("token request %s = %q, want %q", k, got, want)
			}
		}
		if form.Has("client_secret") {
			t.Error("client secret sent in the form, want HTTP Basic only")
		}
		if n := fake.TokenRequests(); n != 1 {
			t.Errorf("token endpoint called %d times, want 1", n)
		}
	})

	t.Run("the identity is keyed by sub and carries the normalized profile", func(t *testing.T) {
		if ident.Provider != "google" || ident.Subject != "110169484474386276334" {
			t.Errorf("identity = %q|%q, want google|110169484474386276334", ident.Provider, ident.Subject)
		}
		if got, want := ident.Key(), "google|110169484474386276334"; got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
		pr := ident.Profile
		if pr.Email != "alice.example@gmail.com" {
			t.Errorf("Profile.Email = %q, want it lower-cased", pr.Email)
		}
		if !pr.EmailVerified {
			t.Error("Profile.EmailVerified = false, want true")
		}
		if pr.Name != "Alice Example" || pr.GivenName != "Alice" || pr.FamilyName != "Example" {
			t.Errorf("Profile names = %q, %q, %q", pr.Name, pr.GivenName, pr.FamilyName)
		}
		if pr.Picture != "https://lh3.googleusercontent.com/a/alice" || pr.Locale != "en" {
			t.Errorf("Profile picture, locale = %q, %q", pr.Picture, pr.Locale)
		}
		if pr.HostedDomain != "" {
			t.Errorf("Profile.HostedDomain = %q for a consumer account", pr.HostedDomain)
		}
	})

	t.Run("Google's tokens are returned for storage", func(t *testing.T) {
		tok := ident.Tokens
		if tok.AccessToken == "" || tok.IDToken == "" {
			t.Errorf("AccessToken or IDToken empty: %+v", tok)
		}
		if tok.RefreshToken != "" {
			t.Error("got a refresh token without offline access")
		}
		if tok.Expiry.Before(time.Now().Add(50*time.Minute)) || tok.Expiry.After(time.Now().Add(2*time.Hour)) {
			t.Errorf("Expiry = %v, want about an hour from now", tok.Expiry)
		}
	})
}

func TestIDTokensThatFailVerificationAreRefused(t *testing.T) {
	t.Parallel()
	const other = "someone-else.apps.googleusercontent.com"
	tests := []struct {
		name string
		// mutate edits the next id_token's claims before the fake signs it.
		mutate func(c map[string]any, clientID string)
		// resign, when set, replaces the fake's signature (see spy).
		resign func(fake *googletest.Server, c map[string]any) string
	}{
		{
			name:   "a nonce from another sign-in is refused",
			mutate: func(c map[string]any, _ string) { c["nonce"] = "nonce-of-another-sign-in" },
		},
		{
			name:   "a token without nonce is refused",
			mutate: func(c map[string]any, _ string) { delete(c, "nonce") },
		},
		{
			name:   "a token issued to another client is refused",
			mutate: func(c map[string]any, _ string) { c["aud"], c["azp"] = other, other },
		},
		{
			name:   "a token from another issuer is refused",
			mutate: func(c map[string]any, _ string) { c["iss"] = "https://accounts.google.com" },
		},
		{
			name: "an expired token is refused",
			mutate: func(c map[string]any, _ string) {
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = time.Now().Add(-time.Hour).Unix()
			},
		},
		{
			name:   "a token without sub is refused",
			mutate: func(c map[string]any, _ string) { delete(c, "sub") },
		},
		{
			name: "a token whose at_hash is not the access token's is refused",
			mutate: func(c map[string]any, _ string) {
				sum := sha256.Sum256([]byte("ya29.another-access-token"))
				c["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
			},
		},
		{
			name: "a token for several audiences whose azp is another client is refused",
			mutate: func(c map[string]any, clientID string) {
				c["aud"], c["azp"] = []string{clientID, other}, other
			},
		},
		{
			name:   "a token for several audiences without azp is refused",
			mutate: func(c map[string]any, clientID string) { c["aud"] = []string{clientID, other}; delete(c, "azp") },
		},
		{
			// NextIDToken only edits claims: the fake always signs with its
			// published key. The spy swaps the signature for one made with
			// SignWithForeignKey (same kid, key not in the JWKS).
			name: "a token signed with a key Google did not publish is refused",
			resign: func(fake *googletest.Server, c map[string]any) string {
				return fake.SignWithForeignKey(c)
			},
		},
		{
			name: "an unsigned token (alg none) is refused",
			resign: func(_ *googletest.Server, c map[string]any) string {
				payload, _ := json.Marshal(c)
				enc := base64.RawURLEncoding.EncodeToString
				return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			p, sp := newAdapter(t, fake, nil)
			if tt.mutate != nil {
				clientID := fake.ClientID()
				fake.NextIDToken(func(c map[string]any) { tt.mutate(c, clientID) })
			}
			if tt.resign != nil {
				sp.resign = func(c map[string]any) string { return tt.resign(fake, c) }
			}

			s := authorize(t, p)
			ident, err := s.exchange(t, p)

			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			wantProviderError(t, err, providers.CodeInvalidToken)
			wantNoSecrets(t, err, append(sp.issued(), s.code, fake.ClientSecret())...)
		})
	}
}

func TestSignInWithoutANonceIsRefused(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, _ := newAdapter(t, fake, nil)
	// No nonce on either side: the id_token would bind nothing, even though
	// the empty nonces "match".
	s := authorizeWith(t, p, "")

	_, err := s.exchange(t, p)

	if got := fake.LastAuthRequest().Get("nonce"); got != "" {
		t.Fatalf("the fake received nonce %q, want none", got)
	}
	wantProviderError(t, err, providers.CodeInvalidToken)
}

func TestACanceledFirstRequestDoesNotBreakLaterSignIns(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, _ := newAdapter(t, fake, nil)
	// Discovery runs on this request; the key set it sets up must not keep
	// the request's context, which is canceled when the request ends. (go-oidc
	// v3.21 already ignores that cancel itself; this guards the adapter
	// against older or other key-set code.)
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := p.AuthCodeURL(ctx, providers.AuthRequest{
		RedirectURI: callback, State: "state", Nonce: "nonce", CodeChallenge: s256(randomString(t)),
	}); err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	cancel()

	signInOK(t, p)
}

func TestUnverifiedEmailIsReportedNotRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		verified bool
		mutate   func(c map[string]any)
	}{
		{name: "email_verified false is reported as unverified"},
		{
			name:     "a missing email_verified is reported as unverified",
			verified: true,
			mutate:   func(c map[string]any) { delete(c, "email_verified") },
		},
		{
			name:     "a malformed email_verified is reported as unverified",
			verified: true,
			mutate:   func(c map[string]any) { c["email_verified"] = "yes" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			fake.SetUser(googletest.User{Sub: "1000002", Email: "bob@example.com", EmailVerified: tt.verified, Name: "Bob"})
			if tt.mutate != nil {
				fake.NextIDToken(tt.mutate)
			}
			p, _ := newAdapter(t, fake, nil)

			ident, _ := signInOK(t, p)

			if ident.Profile.EmailVerified {
				t.Error("Profile.EmailVerified = true, want false")
			}
			if ident.Profile.Email != "bob@example.com" {
				t.Errorf("Profile.Email = %q, want the address kept", ident.Profile.Email)
			}
		})
	}
}

func TestEmailVerifiedCountsOnlyWhereGoogleOwnsTheAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, email, hd string
		want            bool
	}{
		{"a Gmail address", "ann@gmail.com", "", true},
		{"a googlemail.com address", "ann@googlemail.com", "", true},
		{"a Workspace account's address", "ann@corp.example", "corp.example", true},
		{"an address outside the Workspace domain", "ann@other.example", "corp.example", false},
		{"a consumer account with a non-Gmail address", "ann@corp.example", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			fake.SetUser(googletest.User{Sub: "1000009", Email: tt.email, EmailVerified: true, HD: tt.hd})
			p, _ := newAdapter(t, fake, nil)
			ident, _ := signInOK(t, p)
			if ident.Profile.EmailVerified != tt.want {
				t.Errorf("EmailVerified = %v, want %v (email %s, hd %q)", ident.Profile.EmailVerified, tt.want, tt.email, tt.hd)
			}
		})
	}
}

func TestHostedDomainsAdmitOnlyListedWorkspaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		allowed  []string
		userHD   string
		wantHint string // hd in the authorization URL; "" for none
		wantCode string // "" when the sign-in succeeds
	}{
		{name: "an account of the allowed domain signs in", allowed: []string{"example.com"}, userHD: "example.com", wantHint: "example.com"},
		{name: "an account of another domain is not allowed", allowed: []string{"example.com"}, userHD: "other.com", wantHint: "example.com", wantCode: providers.CodeNotAllowed},
		{name: "a consumer account is not allowed", allowed: []string{"example.com"}, wantHint: "example.com", wantCode: providers.CodeNotAllowed},
		{name: "with several domains there is no hint and any listed one signs in", allowed: []string{"example.com", "example.org"}, userHD: "example.org"},
		{name: "without a list any account signs in", userHD: "other.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			fake.SetUser(googletest.User{Sub: "1000003", Email: "carol@" + cmp.Or(tt.userHD, "gmail.com"), EmailVerified: true, HD: tt.userHD})
			p, _ := newAdapter(t, fake, func(c *google.Config) { c.HostedDomains = tt.allowed })

			s := authorize(t, p)
			ident, err := s.exchange(t, p)

			q := s.authURL.Query()
			if got := q.Get("hd"); got != tt.wantHint || q.Has("hd") != (tt.wantHint != "") {
				t.Errorf("auth URL hd = %q (present %v), want %q", got, q.Has("hd"), tt.wantHint)
			}
			if tt.wantCode != "" {
				if ident != nil {
					t.Errorf("got identity %+v, want none", ident)
				}
				wantProviderError(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if ident.Profile.HostedDomain != tt.userHD {
				t.Errorf("Profile.HostedDomain = %q, want %q", ident.Profile.HostedDomain, tt.userHD)
			}
		})
	}
}

func TestOfflineAccessAsksForConsentAndGetsARefreshToken(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, _ := newAdapter(t, fake, func(c *google.Config) { c.OfflineAccess = true })

	ident, s := signInOK(t, p)

	q := s.authURL.Query()
	if got := q.Get("access_type"); got != "offline" {
		t.Errorf("auth URL access_type = %q, want offline", got)
	}
	if got := q.Get("prompt"); got != "consent" {
		t.Errorf("auth URL prompt = %q, want consent", got)
	}
	if ident.Tokens.RefreshToken == "" {
		t.Error("Tokens.RefreshToken is empty, want Google's refresh token")
	}
}

func TestOpenIDConnectOptionsReachGoogle(t *testing.T) {
	t.Parallel()
	zero, hour := int64(0), int64(3600)
	tests := []struct {
		name    string
		offline bool
		req     providers.AuthRequest
		want    map[string]string // "" means absent
	}{
		{"none asked: no prompt, max_age or login_hint", false, providers.AuthRequest{},
			map[string]string{"prompt": "", "max_age": "", "login_hint": ""}},
		{"select_account and consent are prompts, login_hint is passed on", false,
			providers.AuthRequest{Prompt: []string{"select_account", "consent"}, LoginHint: "alice@example.com"},
			map[string]string{"prompt": "select_account consent", "max_age": "", "login_hint": "alice@example.com"}},
		{"login, which Google lacks, becomes max_age=0", false,
			providers.AuthRequest{Prompt: []string{"login", "select_account"}, MaxAge: &hour},
			map[string]string{"prompt": "select_account", "max_age": "0"}},
		{"max_age is passed on, 0 included", false, providers.AuthRequest{MaxAge: &zero},
			map[string]string{"prompt": "", "max_age": "0"}},
		{"offline access keeps asking for consent, once", true, providers.AuthRequest{Prompt: []string{"consent", "select_account"}},
			map[string]string{"prompt": "consent select_account", "access_type": "offline"}},
		{"offline access adds consent to the client's prompt", true, providers.AuthRequest{Prompt: []string{"select_account"}},
			map[string]string{"prompt": "select_account consent", "access_type": "offline"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			p, _ := newAdapter(t, fake, func(c *google.Config) { c.OfflineAccess = tt.offline })
			authorizeEdit(t, p, randomString(t), func(r *providers.AuthRequest) {
				r.Prompt, r.MaxAge, r.LoginHint = tt.req.Prompt, tt.req.MaxAge, tt.req.LoginHint
			})
			got := fake.LastAuthRequest()
			for k, want := range tt.want {
				if got.Get(k) != want || (want == "" && got.Has(k)) {
					t.Errorf("Google's authorization endpoint got %s=%q (present: %v), want %q", k, got.Get(k), got.Has(k), want)
				}
			}
		})
	}
}

func TestAuthTimeIsReportedWhenGoogleSendsIt(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 11, 58, 20, 0, time.UTC)
	for _, tt := range []struct {
		name string
		set  any // the id_token's auth_time; nil: absent
		want time.Time
	}{
		{"present", at.Unix(), at},
		{"absent", nil, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			p, _ := newAdapter(t, fake, nil)
			s := authorize(t, p)
			if tt.set != nil {
				fake.NextIDToken(func(c map[string]any) { c["auth_time"] = tt.set })
			}
			ident, err := s.exchange(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if !ident.AuthTime.Equal(tt.want) {
				t.Errorf("AuthTime = %v, want %v", ident.AuthTime, tt.want)
			}
		})
	}
}

func TestSignInKeepsWorkingAfterGoogleRotatesItsKey(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, sp := newAdapter(t, fake, nil)
	first, _ := signInOK(t, p)

	fake.RotateKey(false) // the old key is gone from the JWKS
	second, _ := signInOK(t, p)

	if first.Subject != second.Subject {
		t.Errorf("subjects differ across the rotation: %q, %q", first.Subject, second.Subject)
	}
	if n := sp.fetched(googletest.JWKSPath); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2: once at first use, once for the unknown kid", n)
	}
	if n := sp.fetched(googletest.DiscoveryPath); n != 1 {
		t.Errorf("discovery fetched %d times, want once for the adapter's lifetime", n)
	}
}

func TestTokenEndpointFailuresAreClassified(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		edit func(*google.Config)
		// before runs between the authorization and the exchange.
		before   func(t *testing.T, fake *googletest.Server, p providers.Provider, s *signIn)
		wantCode string
	}{
		{
			name: "a code Google refuses is an invalid grant",
			before: func(_ *testing.T, fake *googletest.Server, _ providers.Provider, _ *signIn) {
				fake.FailToken(http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Bad Request"}`)
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a refusal that echoes the code does not repeat it",
			before: func(_ *testing.T, fake *googletest.Server, _ providers.Provider, s *signIn) {
				fake.FailToken(http.StatusBadRequest, fmt.Sprintf(
					`{"error":"invalid_grant","error_description":"code %s with verifier %s is bad"}`, s.code, s.verifier))
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a token endpoint outage makes Google unavailable",
			before: func(_ *testing.T, fake *googletest.Server, _ providers.Provider, _ *signIn) {
				fake.FailToken(http.StatusServiceUnavailable, `{"error":"backend_error","error_description":"Service Unavailable"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "a reused code is an invalid grant",
			before: func(t *testing.T, _ *googletest.Server, p providers.Provider, s *signIn) {
				if _, err := s.exchange(t, p); err != nil {
					t.Fatalf("first exchange: %v", err)
				}
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name: "a wrong PKCE verifier is an invalid grant",
			before: func(t *testing.T, _ *googletest.Server, _ providers.Provider, s *signIn) {
				s.verifier = randomString(t)
			},
			wantCode: providers.CodeInvalidGrant,
		},
		{
			name:     "an unreachable token endpoint makes Google unavailable",
			edit:     func(c *google.Config) { c.TokenURL = closed.URL + googletest.TokenPath },
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "refused client credentials are a configuration problem, not a bad code",
			before: func(_ *testing.T, fake *googletest.Server, _ providers.Provider, _ *signIn) {
				fake.FailToken(http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Unauthorized"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name: "rate limiting makes Google unavailable",
			before: func(_ *testing.T, fake *googletest.Server, _ providers.Provider, _ *signIn) {
				fake.FailToken(http.StatusTooManyRequests, `{"error":"rate_limit_exceeded"}`)
			},
			wantCode: providers.CodeUnavailable,
		},
		{
			name:     "unreachable signing keys make Google unavailable, not the token invalid",
			edit:     func(c *google.Config) { c.JWKSURL = closed.URL + googletest.JWKSPath },
			wantCode: providers.CodeUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := googletest.New(t)
			p, sp := newAdapter(t, fake, tt.edit)
			s := authorize(t, p)
			code, verifier := s.code, s.verifier
			if tt.before != nil {
				tt.before(t, fake, p, s)
			}

			ident, err := s.exchange(t, p)

			if ident != nil {
				t.Errorf("got identity %+v, want none", ident)
			}
			wantProviderError(t, err, tt.wantCode)
			wantNoSecrets(t, err, append(sp.issued(), code, verifier, s.verifier, fake.ClientSecret())...)
		})
	}
}

func TestDiscoveryFailures(t *testing.T) {
	t.Parallel()

	t.Run("an unreachable issuer makes Google unavailable", func(t *testing.T) {
		t.Parallel()
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		p := google.New(google.Config{ClientID: "id", ClientSecret: "secret", Issuer: closed.URL})

		u, err := p.AuthCodeURL(t.Context(), providers.AuthRequest{
			RedirectURI: callback, State: "state", Nonce: "nonce", CodeChallenge: s256("verifier"),
		})
		if u != "" {
			t.Errorf("AuthCodeURL = %q, want none", u)
		}
		wantProviderError(t, err, providers.CodeUnavailable)

		_, err = p.Exchange(t.Context(), providers.ExchangeRequest{
			Code: "4/0code", RedirectURI: callback, CodeVerifier: "verifier", Nonce: "nonce",
		})
		wantProviderError(t, err, providers.CodeUnavailable)
		wantNoSecrets(t, err, "4/0code", "secret")
	})

	t.Run("discovery is retried once the issuer answers again", func(t *testing.T) {
		t.Parallel()
		fake := googletest.New(t)
		p, sp := newAdapter(t, fake, nil)
		sp.failFirst = 1

		_, err := p.AuthCodeURL(t.Context(), providers.AuthRequest{
			RedirectURI: callback, State: "state", Nonce: "nonce", CodeChallenge: s256("verifier"),
		})
		wantProviderError(t, err, providers.CodeUnavailable)

		ident, _ := signInOK(t, p)

		if ident.Subject == "" {
			t.Error("no subject after recovery")
		}
		if n := sp.fetched(googletest.DiscoveryPath); n != 2 {
			t.Errorf("discovery fetched %d times, want 2 (failed, then retried)", n)
		}
	})
}

func TestConfiguredEndpointsSkipDiscovery(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, sp := newAdapter(t, fake, func(c *google.Config) {
		c.AuthURL = fake.URL() + googletest.AuthPath
		c.TokenURL = fake.URL() + googletest.TokenPath
		c.JWKSURL = fake.URL() + googletest.JWKSPath
	})

	ident, _ := signInOK(t, p)

	if ident.Subject == "" {
		t.Error("no subject")
	}
	if n := sp.fetched(googletest.DiscoveryPath); n != 0 {
		t.Errorf("discovery fetched %d times, want none when all endpoints are configured", n)
	}
	if sp.fetched(googletest.TokenPath) != 1 || sp.fetched(googletest.JWKSPath) != 1 {
		t.Errorf("adapter fetched %v, want the configured token and JWKS endpoints once each", sp.fetchedPaths())
	}
}

func TestOneAdapterServesConcurrentSignIns(t *testing.T) {
	t.Parallel()
	fake := googletest.New(t)
	p, sp := newAdapter(t, fake, nil)

	// The group returns once its parallel sign-ins have all finished.
	t.Run("group", func(t *testing.T) {
		for i := range 8 {
			t.Run(fmt.Sprintf("sign-in %d", i), func(t *testing.T) {
				t.Parallel()
				ident, _ := signInOK(t, p)
				if ident.Subject != "1000001" {
					t.Errorf("Subject = %q, want the fake's default user", ident.Subject)
				}
			})
		}
	})

	if n := sp.fetched(googletest.DiscoveryPath); n != 1 {
		t.Errorf("discovery fetched %d times by concurrent first uses, want 1", n)
	}
}
