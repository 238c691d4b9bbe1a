package azure_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

// callback is socialbridge's redirect URI for the instance in these tests.
const callback = "https://bridge.example.test/callback/azure"

// browser follows no redirect, so a test can read the callback the fake
// sends the browser to.
var browser = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// newAdapter returns the adapter for fake's default app and tenant, with
// the fake as authority host. edit, if not nil, adjusts the config first.
func newAdapter(t *testing.T, fake *azuretest.Server, tenant string, edit func(*azure.Config)) *azure.Provider {
	t.Helper()
	cfg := azure.Config{
		ClientID:      fake.ClientID(),
		ClientSecret:  fake.ClientSecret(),
		Tenant:        tenant,
		AuthorityHost: fake.URL(),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := azure.New(cfg)
	if err != nil {
		t.Fatalf("azure.New: %v", err)
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

// signIn is one sign-in attempt as socialbridge runs it: the secrets it
// generated, the URL the adapter built, and the code Entra sent back.
type signIn struct {
	state, nonce, verifier string
	authURL                *url.URL
	code                   string
}

// visit is the browser's half of a sign-in: it asks the adapter for the
// authorization URL (the request edited by edit, when not nil) and visits
// it at the fake. It returns the attempt and the fake's answer, whose body
// is read.
func visit(t *testing.T, p providers.Provider, edit func(*providers.AuthRequest)) (*signIn, *http.Response, string) {
	t.Helper()
	s := &signIn{state: randomString(t), nonce: randomString(t), verifier: randomString(t)}
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
	body, _ := io.ReadAll(resp.Body)
	return s, resp, string(body)
}

// authorize is visit for a sign-in that must reach the callback with a
// code.
func authorize(t *testing.T, p providers.Provider) *signIn {
	t.Helper()
	return authorizeEdit(t, p, nil)
}

// authorizeEdit is authorize with the request edited by edit.
func authorizeEdit(t *testing.T, p providers.Provider, edit func(*providers.AuthRequest)) *signIn {
	t.Helper()
	s, resp, body := visit(t, p, edit)
	if resp.StatusCode != http.StatusFound {
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
		t.Fatalf("callback carries error=%q: %s", cb.Get("error"), cb.Get("error_description"))
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

// wantProviderError fails unless err is a *providers.Error of provider
// name with code, and returns it.
func wantProviderError(t *testing.T, err error, name, code string) *providers.Error {
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
	if pe.Provider != name {
		t.Errorf("error provider = %q, want %q", pe.Provider, name)
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
			t.Errorf("error message %q leaks a secret (%.12s...)", msg, s)
		}
	}
}

// subject is the Subject the adapter must give u.
func subject(u azuretest.User) string { return u.TenantID + ":" + u.OID }

func ptr[T any](v T) *T { return &v }
