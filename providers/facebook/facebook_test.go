package facebook_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

// callback is socialbridge's redirect URI for Facebook in these tests.
const callback = "https://bridge.example.test/callback/facebook"

// transport is shared by the test clients. It is not
// http.DefaultTransport, whose idle connections every closing
// httptest.Server drops, which can break a parallel test's request.
var transport = http.DefaultTransport.(*http.Transport).Clone()

// browser follows no redirect, so a test can read the callback the fake
// sends the browser to.
var browser = &http.Client{
	Transport:     transport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// spy is the transport of the adapter's HTTP client. It records the URL
// of every request, can edit a request before it is sent, and can run a
// hook once an answer has arrived (to change the fake between two calls
// of one Exchange).
type spy struct {
	before func(*http.Request)
	after  func(*http.Request)

	mu   sync.Mutex
	urls []string
}

func (s *spy) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.before != nil {
		r = r.Clone(r.Context())
		s.before(r)
	}
	s.mu.Lock()
	s.urls = append(s.urls, r.URL.String())
	s.mu.Unlock()
	resp, err := transport.RoundTrip(r)
	if err == nil && s.after != nil {
		s.after(r)
	}
	return resp, err
}

// sent returns the URLs of every request, in order.
func (s *spy) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls)
}

// clock is a settable clock for the fake and the adapter.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

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

// newAdapter returns the adapter for fake's default app, talking to fake
// through sp (nil: a fresh spy). edit, if not nil, adjusts the config
// first.
func newAdapter(t *testing.T, fake *facebooktest.Server, sp *spy, edit func(*facebook.Config)) *facebook.Provider {
	t.Helper()
	if sp == nil {
		sp = &spy{}
	}
	cfg := facebook.Config{
		ClientID:     fake.AppID(),
		ClientSecret: fake.AppSecret(),
		DialogURL:    fake.URL(),
		GraphURL:     fake.URL(),
		HTTPClient:   &http.Client{Transport: sp, Timeout: 10 * time.Second},
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := facebook.New(cfg)
	if err != nil {
		t.Fatalf("facebook.New: %v", err)
	}
	return p
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

// proofOf is Graph's appsecret_proof, computed here independently of both
// the adapter and the fake.
func proofOf(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// signIn is one sign-in attempt as socialbridge runs it: the secrets it
// generated, the URL the adapter built, and the callback Facebook sent.
type signIn struct {
	state, verifier string
	authURL         *url.URL
	callback        url.Values
	code            string
}

// visit is the browser's half of a sign-in: it asks p for the
// authorization URL, visits it at the fake and reads the callback, which
// may carry an error instead of a code.
func visit(t *testing.T, p providers.Provider, edit func(*providers.AuthRequest)) *signIn {
	t.Helper()
	s := &signIn{state: randomString(t), verifier: randomString(t)}
	ar := providers.AuthRequest{
		RedirectURI: callback, State: s.state, Nonce: randomString(t), CodeChallenge: s256(s.verifier),
	}
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
		t.Fatalf("visit the dialog: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("dialog answered %d, want 302: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("bad Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %q, want the callback %q", got, callback)
	}
	s.callback = loc.Query()
	if got := s.callback.Get("state"); got != s.state {
		t.Fatalf("callback state = %q, want %q", got, s.state)
	}
	s.code = s.callback.Get("code")
	return s
}

// authorize is visit for a sign-in that must come back with a code.
func authorize(t *testing.T, p providers.Provider) *signIn {
	t.Helper()
	s := visit(t, p, nil)
	if s.callback.Has("error") || s.code == "" {
		t.Fatalf("callback = %v, want a code", s.callback)
	}
	return s
}

// request is the ExchangeRequest socialbridge sends for this sign-in.
func (s *signIn) request() providers.ExchangeRequest {
	return providers.ExchangeRequest{Code: s.code, RedirectURI: callback, CodeVerifier: s.verifier, Nonce: "ignored"}
}

// signInOK runs a whole sign-in that must succeed.
func signInOK(t *testing.T, p providers.Provider) (*providers.Identity, *signIn) {
	t.Helper()
	s := authorize(t, p)
	ident, err := p.Exchange(t.Context(), s.request())
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return ident, s
}

// wantError fails unless err is a *providers.Error of instance with code.
func wantError(t *testing.T, err error, instance, code string) *providers.Error {
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
	if pe.Provider != instance {
		t.Errorf("error provider = %q, want %q", pe.Provider, instance)
	}
	return pe
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
			t.Errorf("error message %q leaks a secret (%.8s...)", msg, s)
		}
	}
}

// issuedTokens returns the user access tokens the adapter presented to
// /me, to check that no error quotes one.
func issuedTokens(fake *facebooktest.Server) []string {
	var out []string
	for _, r := range fake.Requests(facebooktest.Me) {
		out = append(out, r.AccessToken)
	}
	return out
}

func TestSignInReturnsTheFacebookIdentity(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	fake.SetUser(facebooktest.User{
		ID:        "10229876543210987",
		Name:      "Alice Example",
		FirstName: "Alice",
		LastName:  "Example",
		Email:     "Alice.Example@Example.COM",
		Picture:   "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987&height=50&width=50",
	})
	sp := &spy{}
	p := newAdapter(t, fake, sp, nil)
	if p.Name() != "facebook" {
		t.Errorf("Name() = %q, want facebook", p.Name())
	}
	before := time.Now()
	ident, s := signInOK(t, p)

	t.Run("the dialog URL asks for the default permissions with PKCE and no nonce", func(t *testing.T) {
		if got, want := s.authURL.Scheme+"://"+s.authURL.Host+s.authURL.Path, fake.URL()+"/v23.0/dialog/oauth"; got != want {
			t.Errorf("dialog = %q, want %q", got, want)
		}
		q := s.authURL.Query()
		for k, want := range map[string]string{
			"client_id":             fake.AppID(),
			"redirect_uri":          callback,
			"response_type":         "code",
			"state":                 s.state,
			"scope":                 "email,public_profile",
			"code_challenge":        s256(s.verifier),
			"code_challenge_method": "S256",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("dialog URL %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"nonce", "auth_type", "client_secret"} {
			if q.Has(k) {
				t.Errorf("dialog URL has %s=%q, want none", k, q.Get(k))
			}
		}
	})

	t.Run("the code is redeemed once, by POST, with the verifier and the app secret", func(t *testing.T) {
		if n := fake.Count(facebooktest.Token); n != 1 {
			t.Errorf("code exchanges = %d, want 1", n)
		}
		r, _ := fake.LastRequest(facebooktest.Token)
		if r.Method != http.MethodPost || r.Version != "v23.0" {
			t.Errorf("code exchange = %s %s, want POST v23.0", r.Method, r.Version)
		}
		for k, want := range map[string]string{
			"client_id":     fake.AppID(),
			"client_secret": fake.AppSecret(),
			"redirect_uri":  callback,
			"code":          s.code,
			"code_verifier": s.verifier,
		} {
			if got := r.Params.Get(k); got != want {
				t.Errorf("code exchange %s = %q, want %q", k, got, want)
			}
		}
		for _, u := range sp.sent() {
			for _, secret := range []string{fake.AppSecret(), s.code, s.verifier, ident.Tokens.AccessToken} {
				if strings.Contains(u, secret) {
					t.Errorf("request URL %q holds a secret (%.8s...)", u, secret)
				}
			}
		}
	})

	t.Run("the profile is read with the token in a header and a correct appsecret_proof", func(t *testing.T) {
		if n := fake.Count(facebooktest.Me); n != 1 {
			t.Errorf("/me calls = %d, want 1", n)
		}
		r, _ := fake.LastRequest(facebooktest.Me)
		if r.Version != "v23.0" {
			t.Errorf("/me version = %q, want v23.0", r.Version)
		}
		if got, want := r.Header.Get("Authorization"), "Bearer "+ident.Tokens.AccessToken; got != want {
			t.Errorf("Authorization = %.20q..., want the access token as Bearer", got)
		}
		if r.Params.Has("access_token") {
			t.Error("the access token is also in the parameters, want it in the header only")
		}
		if want := proofOf(fake.AppSecret(), ident.Tokens.AccessToken); r.AppSecretProof != want || !r.ProofValid {
			t.Errorf("appsecret_proof = %q (valid by the fake: %t), want %q", r.AppSecretProof, r.ProofValid, want)
		}
		fields := strings.Split(r.Params.Get("fields"), ",")
		for _, f := range []string{"id", "name", "email", "first_name", "last_name", "picture"} {
			if !slices.Contains(fields, f) {
				t.Errorf("fields %q lack %s", r.Params.Get("fields"), f)
			}
		}
	})

	t.Run("the identity is keyed by the app-scoped id and carries the profile", func(t *testing.T) {
		if got, want := ident.Key(), "facebook|10229876543210987"; got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
		pr := ident.Profile
		if pr.Email != "alice.example@example.com" {
			t.Errorf("Email = %q, want it lower-cased", pr.Email)
		}
		if pr.EmailVerified {
			t.Error("EmailVerified = true, want false: Facebook does not say it verified the address")
		}
		if pr.Name != "Alice Example" || pr.GivenName != "Alice" || pr.FamilyName != "Example" {
			t.Errorf("names = %q, %q, %q", pr.Name, pr.GivenName, pr.FamilyName)
		}
		if !strings.HasPrefix(pr.Picture, "https://platform-lookaside.fbsbx.com/") {
			t.Errorf("Picture = %q, want the profile picture URL", pr.Picture)
		}
		if !ident.AuthTime.IsZero() {
			t.Errorf("AuthTime = %v, want zero: Facebook does not report it", ident.AuthTime)
		}
	})

	t.Run("the raw claims are the /me object without the permissions", func(t *testing.T) {
		c := ident.Claims
		if c["id"] != "10229876543210987" || c["email"] != "Alice.Example@Example.COM" || c["first_name"] != "Alice" {
			t.Errorf("Claims = %v", c)
		}
		pic, _ := c["picture"].(map[string]any)
		if data, _ := pic["data"].(map[string]any); data["is_silhouette"] != false {
			t.Errorf("Claims picture = %v, want Graph's picture object", c["picture"])
		}
		if _, ok := c["permissions"]; ok {
			t.Error("Claims hold permissions, which are about the sign-in, not the person")
		}
	})

	t.Run("Facebook's token is returned for storage, with its expiry and the granted scopes", func(t *testing.T) {
		tok := ident.Tokens
		if tok.AccessToken == "" || tok.RefreshToken != "" || tok.IDToken != "" {
			t.Errorf("Tokens = access %t, refresh %q, id %q; want an access token only",
				tok.AccessToken != "", tok.RefreshToken, tok.IDToken)
		}
		if want := before.Add(facebooktest.DefaultTokenLifetime); tok.Expiry.Before(want) || tok.Expiry.After(want.Add(time.Minute)) {
			t.Errorf("Expiry = %v, want about %v", tok.Expiry, want)
		}
		got := slices.Sorted(slices.Values(tok.Scopes))
		if !slices.Equal(got, []string{"email", "public_profile"}) {
			t.Errorf("Scopes = %v, want the granted email and public_profile", tok.Scopes)
		}
	})

	t.Run("the adapter is no Refresher: Facebook issues no refresh tokens", func(t *testing.T) {
		if _, ok := any(p).(providers.Refresher); ok {
			t.Error("the adapter implements providers.Refresher")
		}
	})
}

func TestTheDialogURLCarriesTheOptionsFacebookHas(t *testing.T) {
	t.Parallel()
	zero, five := int64(0), int64(300)
	tests := []struct {
		name         string
		edit         func(*facebook.Config)
		req          func(*providers.AuthRequest)
		wantAuthType string
		wantPath     string
		wantScope    string
	}{
		{name: "prompt=login asks Facebook to reauthenticate",
			req:          func(r *providers.AuthRequest) { r.Prompt = []string{"login"} },
			wantAuthType: "reauthenticate"},
		{name: "max_age=0 asks Facebook to reauthenticate",
			req:          func(r *providers.AuthRequest) { r.MaxAge = &zero },
			wantAuthType: "reauthenticate"},
		{name: "a positive max_age, consent, select_account and login_hint have no Facebook equivalent",
			req: func(r *providers.AuthRequest) {
				r.MaxAge, r.Prompt, r.LoginHint = &five, []string{"consent", "select_account"}, "alice@example.com"
			}},
		{name: "the configured version and permissions are used",
			edit:      func(c *facebook.Config) { c.GraphVersion, c.Scopes = "v21.0", []string{"public_profile"} },
			wantPath:  "/v21.0/dialog/oauth",
			wantScope: "public_profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t)
			p := newAdapter(t, fake, nil, tt.edit)
			s := visit(t, p, tt.req) // the fake accepts the URL
			if s.code == "" {
				t.Fatalf("callback = %v, want a code", s.callback)
			}
			q := s.authURL.Query()
			if got := q.Get("auth_type"); got != tt.wantAuthType {
				t.Errorf("auth_type = %q, want %q", got, tt.wantAuthType)
			}
			for _, k := range []string{"prompt", "max_age", "login_hint", "nonce"} {
				if q.Has(k) {
					t.Errorf("dialog URL has %s=%q, which Facebook does not take", k, q.Get(k))
				}
			}
			if want := cmpOr(tt.wantPath, "/v23.0/dialog/oauth"); s.authURL.Path != want {
				t.Errorf("path = %q, want %q", s.authURL.Path, want)
			}
			if want := cmpOr(tt.wantScope, "email,public_profile"); q.Get("scope") != want {
				t.Errorf("scope = %q, want %q", q.Get("scope"), want)
			}
		})
	}

	t.Run("a request without PKCE or redirect URI is refused", func(t *testing.T) {
		t.Parallel()
		p := newAdapter(t, facebooktest.New(t), nil, nil)
		for _, ar := range []providers.AuthRequest{
			{RedirectURI: callback, State: "s"},
			{State: "s", CodeChallenge: s256(randomString(t))},
		} {
			if u, err := p.AuthCodeURL(t.Context(), ar); err == nil {
				t.Errorf("AuthCodeURL(%+v) = %q, want an error", ar, u)
			}
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestCodeExchangeFailuresAreClassified(t *testing.T) {
	t.Parallel()
	huge := `{"access_token":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name string
		// edit adjusts the config of the adapter that exchanges the code
		// (the dialog is visited with a correct one).
		edit func(*facebook.Config)
		// before runs after the dialog and may change the request or the
		// fake; sp is the exchanging adapter's transport.
		before    func(t *testing.T, fake *facebooktest.Server, clk *clock, sp *spy, req *providers.ExchangeRequest)
		want      string
		wantMsg   string
		wantCalls int // code exchanges that reached the fake
	}{
		{name: "a wrong PKCE verifier is refused by Facebook",
			before: func(t *testing.T, _ *facebooktest.Server, _ *clock, _ *spy, req *providers.ExchangeRequest) {
				req.CodeVerifier = randomString(t)
			},
			want: providers.CodeInvalidGrant, wantCalls: 1},
		{name: "a missing PKCE verifier is refused before Facebook is asked",
			before: func(_ *testing.T, _ *facebooktest.Server, _ *clock, _ *spy, req *providers.ExchangeRequest) {
				req.CodeVerifier = ""
			},
			want: providers.CodeInvalidGrant, wantCalls: 0},
		{name: "a redirect URI other than the dialog's is refused",
			before: func(_ *testing.T, _ *facebooktest.Server, _ *clock, _ *spy, req *providers.ExchangeRequest) {
				req.RedirectURI = "https://bridge.example.test/callback/other"
			},
			want: providers.CodeInvalidGrant, wantCalls: 1},
		{name: "a code Facebook never issued is refused",
			before: func(t *testing.T, _ *facebooktest.Server, _ *clock, _ *spy, req *providers.ExchangeRequest) {
				req.Code = "AQ" + randomString(t)
			},
			want: providers.CodeInvalidGrant, wantCalls: 1},
		{name: "a code older than ten minutes is refused",
			before: func(_ *testing.T, _ *facebooktest.Server, clk *clock, _ *spy, _ *providers.ExchangeRequest) {
				clk.Advance(11 * time.Minute)
			},
			want: providers.CodeInvalidGrant, wantCalls: 1},
		{name: "a wrong app secret is the operator's to fix",
			edit: func(c *facebook.Config) { c.ClientSecret = "fedcba9876543210fedcba9876543210" },
			want: providers.CodeUnavailable, wantMsg: "providers.facebook.client_secret", wantCalls: 1},
		{name: "an App ID Facebook does not know is the operator's to fix",
			edit: func(c *facebook.Config) { c.ClientID = "999999999999999" },
			want: providers.CodeUnavailable, wantMsg: "providers.facebook.client_id", wantCalls: 1},
		{name: "Graph failing with 500 is unavailability",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusInternalServerError,
					`{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"A1b2C3d4E5f"}}`)
			},
			want: providers.CodeUnavailable, wantCalls: 1},
		{name: "the app's rate limit (code 4) is unavailability",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusForbidden,
					`{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"A1b2C3d4E5f"}}`)
			},
			want: providers.CodeUnavailable, wantCalls: 1},
		{name: "a proxy's HTML error page is unavailability",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusBadGateway, "<html><body>502 Bad Gateway</body></html>")
			},
			want: providers.CodeUnavailable, wantCalls: 1},
		{name: "a token answer without access_token fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusOK, `{"token_type":"bearer","expires_in":5183944}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a token answer with a mistyped access_token fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusOK, `{"access_token":12345,"token_type":"bearer"}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a token answer with trailing data fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusOK, `{"access_token":"EAAx","token_type":"bearer"} {"more":1}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a token of another type than bearer fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusOK, `{"access_token":"EAAx","token_type":"mac"}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a token answer over 1 MiB is not read",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Token, http.StatusOK, huge)
			},
			want: providers.CodeUnavailable, wantMsg: "oversized", wantCalls: 1},
		{name: "Graph failing with 500 at /me is unavailability",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Me, http.StatusServiceUnavailable,
					`{"error":{"message":"Service temporarily unavailable","type":"OAuthException","is_transient":true,"code":2}}`)
			},
			want: providers.CodeUnavailable, wantCalls: 1},
		{name: "a profile without an id fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Me, http.StatusOK, `{"name":"Alice Example"}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a profile whose id is not digits fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Me, http.StatusOK, `{"id":"alice","name":"Alice Example"}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a profile whose id is a JSON number fails verification",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, _ *spy, _ *providers.ExchangeRequest) {
				fake.FailNext(facebooktest.Me, http.StatusOK, `{"id":10229876543210987}`)
			},
			want: providers.CodeInvalidToken, wantCalls: 1},
		{name: "a token that expires before the profile is read is refused at /me",
			before: func(_ *testing.T, fake *facebooktest.Server, _ *clock, sp *spy, _ *providers.ExchangeRequest) {
				sp.after = func(r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/oauth/access_token") {
						fake.ExpireTokens()
					}
				}
			},
			want: providers.CodeInvalidToken, wantMsg: "expired", wantCalls: 1},
		{name: "a corrupted appsecret_proof is refused at /me and blamed on the secret",
			before: func(_ *testing.T, _ *facebooktest.Server, _ *clock, sp *spy, _ *providers.ExchangeRequest) {
				sp.before = func(r *http.Request) {
					q := r.URL.Query()
					if q.Has("appsecret_proof") {
						q.Set("appsecret_proof", proofOf("not-the-secret", "not-the-token"))
						r.URL.RawQuery = q.Encode()
					}
				}
			},
			want: providers.CodeUnavailable, wantMsg: "providers.facebook.client_secret", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
			s := authorize(t, newAdapter(t, fake, nil, nil))
			sp := &spy{}
			p := newAdapter(t, fake, sp, func(c *facebook.Config) {
				c.Now = clk.Now
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			req := s.request()
			if tt.before != nil {
				tt.before(t, fake, clk, sp, &req)
			}
			ident, err := p.Exchange(t.Context(), req)
			if ident != nil {
				t.Errorf("Exchange returned an identity %q with the error", ident.Key())
			}
			pe := wantError(t, err, "facebook", tt.want)
			if tt.wantMsg != "" && !strings.Contains(pe.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", pe.Error(), tt.wantMsg)
			}
			if n := fake.Count(facebooktest.Token); n != tt.wantCalls {
				t.Errorf("code exchanges = %d, want %d", n, tt.wantCalls)
			}
			wantNoSecrets(t, err, append(issuedTokens(fake), s.code, s.verifier, fake.AppSecret(),
				"fedcba9876543210fedcba9876543210")...)
		})
	}
}

func TestAReusedCodeIsRefusedAndRevokesItsToken(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := newAdapter(t, fake, nil, nil)
	first, s := signInOK(t, p)

	_, err := p.Exchange(t.Context(), s.request())
	wantError(t, err, "facebook", providers.CodeInvalidGrant)
	wantNoSecrets(t, err, s.code, s.verifier, first.Tokens.AccessToken)

	// RFC 6749 §4.1.2: the token the code got is revoked.
	_, err = p.VerifyAccessToken(t.Context(), first.Tokens.AccessToken)
	wantError(t, err, "facebook", providers.CodeInvalidToken)
}

func TestTheCallbackOfADenialCarriesNoCode(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := newAdapter(t, fake, nil, nil)
	fake.Deny()
	s := visit(t, p, nil)
	for k, want := range map[string]string{"error": "access_denied", "error_reason": "user_denied", "code": ""} {
		if got := s.callback.Get(k); got != want {
			t.Errorf("callback %s = %q, want %q", k, got, want)
		}
	}
	// Were socialbridge to call Exchange anyway, Facebook is not asked.
	_, err := p.Exchange(t.Context(), s.request())
	wantError(t, err, "facebook", providers.CodeInvalidGrant)
	if n := fake.Count(facebooktest.Token); n != 0 {
		t.Errorf("code exchanges = %d, want 0", n)
	}
	// Deny is one shot: the next sign-in works.
	signInOK(t, p)
}

func TestEmailPolicy(t *testing.T) {
	t.Parallel()
	withEmail := facebooktest.User{ID: "101", Name: "Alice", Email: "Alice@Example.com"}
	noEmail := facebooktest.User{ID: "102", Name: "Bob"}
	declines := facebooktest.User{ID: "103", Name: "Carol", Email: "carol@example.com", DeclinedPermissions: []string{"email"}}
	tests := []struct {
		name         string
		user         facebooktest.User
		require      bool
		trust        bool
		wantErr      bool
		wantMsg      string
		wantEmail    string
		wantVerified bool
		wantScopes   []string
	}{
		{name: "a shared address is reported unverified by default",
			user: withEmail, wantEmail: "alice@example.com", wantScopes: []string{"email", "public_profile"}},
		{name: "a shared address is reported verified with trust_email",
			user: withEmail, trust: true, wantEmail: "alice@example.com", wantVerified: true, wantScopes: []string{"email", "public_profile"}},
		{name: "a shared address satisfies require_email",
			user: withEmail, require: true, wantEmail: "alice@example.com", wantScopes: []string{"email", "public_profile"}},
		{name: "an account without an address signs in when email is not required",
			user: noEmail, trust: true, wantScopes: []string{"email", "public_profile"}},
		{name: "an account without an address is refused when email is required",
			user: noEmail, require: true, wantErr: true, wantMsg: "Facebook did not share an email address"},
		{name: "a declined email permission signs in when email is not required",
			user: declines, wantScopes: []string{"public_profile"}},
		{name: "a declined email permission is refused when email is required, saying so",
			user: declines, require: true, wantErr: true, wantMsg: "declined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t)
			fake.SetUser(tt.user)
			p := newAdapter(t, fake, nil, func(c *facebook.Config) { c.RequireEmail, c.TrustEmail = tt.require, tt.trust })
			s := authorize(t, p)
			ident, err := p.Exchange(t.Context(), s.request())
			if tt.wantErr {
				pe := wantError(t, err, "facebook", providers.CodeNotAllowed)
				if !strings.Contains(pe.Message, tt.wantMsg) {
					t.Errorf("message %q does not say %q", pe.Message, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if ident.Profile.Email != tt.wantEmail || ident.Profile.EmailVerified != tt.wantVerified {
				t.Errorf("email = %q verified %t, want %q verified %t",
					ident.Profile.Email, ident.Profile.EmailVerified, tt.wantEmail, tt.wantVerified)
			}
			if got := slices.Sorted(slices.Values(ident.Tokens.Scopes)); !slices.Equal(got, tt.wantScopes) {
				t.Errorf("Scopes = %v, want %v", got, tt.wantScopes)
			}
		})
	}
}

func TestPictures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		picture string
		want    string
	}{
		{"a profile picture is kept", "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=1", "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=1"},
		{"the silhouette of a person without a picture is left out", "", ""},
		{"a picture URL that is not https is left out", "http://example.com/alice.png", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t)
			u := facebooktest.DefaultUser
			u.Picture = tt.picture
			fake.SetUser(u)
			ident, _ := signInOK(t, newAdapter(t, fake, nil, nil))
			if ident.Profile.Picture != tt.want {
				t.Errorf("Picture = %q, want %q", ident.Profile.Picture, tt.want)
			}
		})
	}
}

func TestEveryGraphCallCarriesACorrectAppSecretProof(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := newAdapter(t, fake, nil, nil)
	ident, _ := signInOK(t, p)
	if _, err := p.VerifyAccessToken(t.Context(), ident.Tokens.AccessToken); err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	native := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
	if _, err := p.VerifyAccessToken(t.Context(), native); err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}

	calls := append(fake.Requests(facebooktest.Me), fake.Requests(facebooktest.DebugToken)...)
	if len(calls) != 5 {
		t.Fatalf("Graph calls = %d, want 5 (three /me, two debug_token)", len(calls))
	}
	for _, r := range calls {
		if r.AccessToken == "" {
			t.Errorf("%s call without an access token", r.Endpoint)
			continue
		}
		if want := proofOf(fake.AppSecret(), r.AccessToken); r.AppSecretProof != want || !r.ProofValid {
			t.Errorf("%s appsecret_proof = %q (valid by the fake: %t), want %q", r.Endpoint, r.AppSecretProof, r.ProofValid, want)
		}
	}
}

func TestTheFakeRefusesAMissingOrWrongAppSecretProof(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
	other := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
	tests := []struct {
		name    string
		proof   string
		status  int
		wantMsg string
	}{
		{"no proof", "", http.StatusBadRequest, "API calls from the server require an appsecret_proof argument"},
		{"a proof made with another secret", proofOf("fedcba9876543210fedcba9876543210", token), http.StatusBadRequest,
			"Invalid appsecret_proof provided in the API argument"},
		{"the proof of another token", proofOf(fake.AppSecret(), other), http.StatusBadRequest,
			"Invalid appsecret_proof provided in the API argument"},
		{"the correct proof", proofOf(fake.AppSecret(), token), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{"fields": {"id"}}
			if tt.proof != "" {
				q.Set("appsecret_proof", tt.proof)
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fake.URL()+"/v23.0/me?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.wantMsg) {
				t.Errorf("/me answered %d %s, want %d with %q", resp.StatusCode, body, tt.status, tt.wantMsg)
			}
			if tt.status != http.StatusOK && !strings.Contains(string(body), `"code":100`) {
				t.Errorf("/me error %s, want Graph code 100", body)
			}
		})
	}
}

func TestSlowOrUnreachableFacebookIsUnavailability(t *testing.T) {
	t.Parallel()
	for _, ep := range []facebooktest.Endpoint{facebooktest.Token, facebooktest.Me} {
		t.Run("a slow "+string(ep)+" times out", func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t)
			s := authorize(t, newAdapter(t, fake, nil, nil))
			p := newAdapter(t, fake, nil, func(c *facebook.Config) {
				c.HTTPClient = &http.Client{Transport: transport, Timeout: 200 * time.Millisecond}
			})
			fake.SlowNext(ep, 5*time.Second)
			start := time.Now()
			_, err := p.Exchange(t.Context(), s.request())
			wantError(t, err, "facebook", providers.CodeUnavailable)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Exchange took %v, want the client's 200ms time-out to end it", d)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("error %v does not unwrap to a time-out", err)
			}
			wantNoSecrets(t, err, append(issuedTokens(fake), s.code, s.verifier, fake.AppSecret())...)
		})
	}

	t.Run("a slow debug_token times out", func(t *testing.T) {
		t.Parallel()
		fake := facebooktest.New(t)
		p := newAdapter(t, fake, nil, func(c *facebook.Config) {
			c.HTTPClient = &http.Client{Transport: transport, Timeout: 200 * time.Millisecond}
		})
		token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
		fake.SlowNext(facebooktest.DebugToken, 5*time.Second)
		_, err := p.VerifyAccessToken(t.Context(), token)
		wantError(t, err, "facebook", providers.CodeUnavailable)
		wantNoSecrets(t, err, token, fake.AppSecret())
	})

	t.Run("an unreachable Graph API", func(t *testing.T) {
		t.Parallel()
		fake := facebooktest.New(t)
		s := authorize(t, newAdapter(t, fake, nil, nil))
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		p := newAdapter(t, fake, nil, func(c *facebook.Config) { c.GraphURL = dead.URL })
		_, err := p.Exchange(t.Context(), s.request())
		wantError(t, err, "facebook", providers.CodeUnavailable)
		wantNoSecrets(t, err, s.code, s.verifier, fake.AppSecret())
	})
}

func TestOneAdapterServesConcurrentSignIns(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := newAdapter(t, fake, nil, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			s := authorize(t, p)
			if _, err := p.Exchange(t.Context(), s.request()); err != nil {
				t.Errorf("Exchange: %v", err)
			}
		})
	}
	wg.Wait()
	if n := fake.Count(facebooktest.Token); n != 8 {
		t.Errorf("code exchanges = %d, want 8", n)
	}
}
