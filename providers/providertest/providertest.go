// Package providertest holds what the tests of every provider adapter
// share: one table of id_token verification cases (RunIDTokenCases), run
// against each OpenID Connect based adapter and its fake, in the way Dex
// runs one storage conformance suite against every backend; one table of
// native sign-in cases (RunNativeCases, in native.go) for adapters that
// verify an ID token a mobile app sends; and the browser half of a
// sign-in (Authorize, SignIn), for any fake whose authorization endpoint
// signs its user in at once.
//
// # How the cases reach the adapter
//
// The fakes differ (googletest, oidctest, azuretest), so the cases do not
// use their knobs. They work on the wire instead: every case runs one
// sign-in whose adapter talks to its fake through a Rewriter, an HTTP
// transport that hands the fake's id_token to the case and delivers what
// the case returns in its place: the same claims edited and signed with the
// fake's own key (on the wire with Signer.Sign, or by the fake itself
// through Rewriter.EditClaims), or a forgery (a foreign key, alg none,
// HS256 keyed with the fake's public key, an altered payload). The adapter
// must refuse each bad token with a *providers.Error of the code the case
// names, and must not echo a token in the error.
//
// # Plugging in a provider
//
// An adapter's test implements Harness (one method) and calls
// RunIDTokenCases from a test function. A fake that can sign arbitrary
// claims with its published key also implements Signer; then one fake can
// serve every case, in parallel:
//
//	type harness struct{ fake *googletest.Server }
//
//	func (h harness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
//		p := google.New(google.Config{ /* the fake's issuer and client */, HTTPClient: rw.Client()})
//		return providertest.SignIn(t, p)
//	}
//
//	func (h harness) Sign(_ *testing.T, claims map[string]any) string {
//		return h.fake.SignIDToken(claims) // its current key, alg and kid
//	}
//
//	func TestIDTokenVerification(t *testing.T) {
//		t.Parallel()
//		providertest.RunIDTokenCases(t, harness{googletest.New(t)}, providertest.Options{Provider: "google"})
//	}
//
// A fake that can only edit the claims of its next id_token before signing
// it (a one-shot NextIDToken hook, like azuretest's) needs no Signer: its
// SignIn starts a fake of its own, so that parallel cases do not take each
// other's hook, and hands it rw.EditClaims:
//
//	func (h harness) SignIn(t *testing.T, rw *providertest.Rewriter) (*providers.Identity, error) {
//		fake := azuretest.New(t)
//		fake.NextIDToken(rw.EditClaims)
//		p := azure.New(azure.Config{ /* the fake's endpoints and client */, HTTPClient: rw.Client()})
//		return providertest.SignIn(t, p)
//	}
//
//	providertest.RunIDTokenCases(t, harness{}, providertest.Options{
//		Provider:      "azure",
//		SubjectClaims: []string{"tid", "oid"}, // the claims of the identity key
//		Extra:         []providertest.Case{ /* a tid that does not match iss, ... */ },
//	})
//
// SignIn is called from parallel subtests, each with its own Rewriter.
// Options.Exempt names the cases an adapter is known to accept, with the
// reason; such a case is skipped while it is accepted and logged once it is
// refused.
package providertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
)

// Harness is one provider adapter wired to its fake, as that adapter's tests
// set it up.
type Harness interface {
	// SignIn runs one whole sign-in (AuthCodeURL, the fake's authorization
	// endpoint, Exchange) with a new adapter whose HTTP client is
	// rw.Client() (or sends its requests through rw.Transport), and
	// returns what Exchange returned. Unless the Harness is a Signer, it
	// also hands rw.EditClaims to its fake's one-shot hook for the claims
	// of the next id_token. It is called from parallel subtests.
	SignIn(t *testing.T, rw *Rewriter) (*providers.Identity, error)
}

// Signer is implemented by a Harness whose fake can sign arbitrary claims
// like its id_tokens: its current published key, that key's alg and kid in
// the header (googletest's and oidctest's SignIDToken). The cases then
// re-sign edited claims on the wire and need no hook in the fake.
type Signer interface {
	Sign(t *testing.T, claims map[string]any) string
}

// Options adapts the shared cases to one adapter.
type Options struct {
	// Provider is the instance name the adapter reports in
	// Identity.Provider and Error.Provider; empty skips that check.
	Provider string
	// SubjectClaims are the claims the adapter takes the identity key
	// from (default sub); each gets a "missing" and an "empty" case.
	SubjectClaims []string
	// JWKSURL is where the fake publishes its keys, for the algorithm
	// confusion case; empty finds it by discovery from the id_token's iss.
	JWKSURL string
	// Now is the adapter's clock (default time.Now); the time claims of
	// the cases are set relative to it.
	Now func() time.Time
	// Exempt maps the IDs of cases this adapter is known to accept to the
	// reason (a reported bug, a rule the provider does not follow).
	Exempt map[string]string
	// Extra are the adapter's own cases, run like the shared ones.
	Extra []Case
}

// RunIDTokenCases runs a control sign-in, which must succeed with the
// fake's own id_token, then every case of Cases (for opts.SubjectClaims)
// and opts.Extra as a parallel subtest: each must be refused with a
// *providers.Error of the case's code, naming opts.Provider, holding no
// token, and with no identity; a case whose Want is empty must succeed.
func RunIDTokenCases(t *testing.T, h Harness, opts Options) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	control := t.Run("control: the fake's own id_token is accepted", func(t *testing.T) {
		rw := NewRewriter(nil)
		ident, err := h.SignIn(t, rw)
		if err != nil {
			t.Fatalf("the fake's own id_token was refused: %v", err)
		}
		seen := rw.Originals()
		if len(seen) == 0 {
			t.Fatal("no token response passed through the Rewriter: SignIn must build the adapter with rw.Client()")
		}
		if _, err := ParseUnverified(seen[0]); err != nil {
			t.Fatalf("the fake's id_token: %v", err)
		}
		checkAccepted(t, ident, opts, seen[0])
	})
	if !control {
		t.Fatal("the control sign-in failed, so the cases below would prove nothing")
	}
	keys := &keyring{jwksURL: opts.JWKSURL}
	for _, c := range append(Cases(opts.SubjectClaims...), opts.Extra...) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			runCase(t, h, opts, keys, c)
		})
	}
}

func runCase(t *testing.T, h Harness, opts Options, keys *keyring, c Case) {
	t.Helper()
	// Edits that need the fake's key go through the fake's hook when the
	// Harness cannot sign; forgeries never need the fake.
	_, canSign := h.(Signer)
	viaFake := !canSign && c.Sign == nil && c.Claims != nil
	var delivered string
	rw := NewRewriter(func(raw string) (string, error) {
		if viaFake || (c.Sign == nil && c.Claims == nil) {
			delivered = raw
			return raw, nil
		}
		tok, err := ParseUnverified(raw)
		if err != nil {
			return "", fmt.Errorf("the fake's id_token: %w", err)
		}
		claims := tok.ClaimsCopy()
		if c.Claims != nil {
			c.Claims(claims, opts.Now())
		}
		sign := c.Sign
		if sign == nil {
			sign = AsTheFake
		}
		f := &Forger{t: t, h: h, orig: tok, keys: keys}
		delivered = sign(f, claims)
		return delivered, f.err
	})
	if viaFake {
		rw.edit = func(claims map[string]any) { c.Claims(claims, opts.Now()) }
	}

	ident, err := h.SignIn(t, rw)

	if rerr := rw.Err(); rerr != nil {
		t.Fatalf("tampering with the id_token failed: %v", rerr)
	}
	if len(rw.Originals()) == 0 {
		t.Fatal("no token response passed through the Rewriter: SignIn must build the adapter with rw.Client()")
	}
	if viaFake && !rw.editedByFake() {
		t.Fatal("the Harness is no Signer, so its SignIn must hand rw.EditClaims to the fake's hook for the next id_token's claims")
	}
	if c.Want == "" {
		if err != nil {
			t.Fatalf("refused, want accepted: %v", err)
		}
		checkAccepted(t, ident, opts, delivered)
		return
	}
	reason, exempt := opts.Exempt[c.ID]
	if err == nil {
		if exempt {
			t.Skipf("accepted, as this adapter is known to (case %s): %s", c.ID, reason)
		}
		key := "<nil identity>"
		if ident != nil {
			key = ident.Key()
		}
		t.Fatalf("accepted, as identity %q; want refused with %s", key, c.Want)
	}
	if exempt {
		t.Logf("case %s is refused now; its exemption (%s) can go", c.ID, reason)
	}
	if ident != nil {
		t.Errorf("got identity %q along with the error, want none", ident.Key())
	}
	WantError(t, err, opts.Provider, c.Want)
	WantNoSecrets(t, err, rw.Secrets()...)
}

// checkAccepted checks an identity the adapter accepted: it names the
// provider, has a subject, and keeps the id_token it verified.
func checkAccepted(t *testing.T, ident *providers.Identity, opts Options, idToken string) {
	t.Helper()
	if ident == nil {
		t.Fatal("no error and no identity")
	}
	if ident.Subject == "" {
		t.Error("the identity has no subject")
	}
	if opts.Provider != "" && ident.Provider != opts.Provider {
		t.Errorf("Identity.Provider = %q, want %q", ident.Provider, opts.Provider)
	}
	if ident.Tokens.IDToken != "" && ident.Tokens.IDToken != idToken {
		t.Error("Tokens.IDToken is not the id_token the adapter was given")
	}
}

// WantError fails t unless err is a *providers.Error with code and, when
// provider is not empty, that Provider. It returns the error.
func WantError(t testing.TB, err error, provider, code string) *providers.Error {
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
	if provider != "" && pe.Provider != provider {
		t.Errorf("error provider = %q, want %q", pe.Provider, provider)
	}
	return pe
}

// WantNoSecrets fails t if err's message holds one of secrets, or one of
// the parts of a secret that is a JWT.
func WantNoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		for _, part := range append([]string{s}, strings.Split(s, ".")...) {
			if len(part) >= 16 && strings.Contains(msg, part) {
				t.Errorf("error message %q repeats a token (%.12s...)", msg, part)
			}
		}
	}
}

// Rewriter is an HTTP transport for an adapter's client that passes the
// id_token of every token response through a rewrite function and records
// the tokens it sees, so that a test can check no error repeats them.
type Rewriter struct {
	rewrite func(idToken string) (string, error)
	edit    func(claims map[string]any) // the case's edit, when the fake makes it

	mu        sync.Mutex
	originals []string
	secrets   []string
	err       error
	edited    bool
}

// NewRewriter returns a Rewriter that delivers rewrite(idToken) in place of
// each id_token; an empty result removes the id_token from the response.
// A nil rewrite delivers the tokens as they are and only records them.
func NewRewriter(rewrite func(idToken string) (string, error)) *Rewriter {
	return &Rewriter{rewrite: rewrite}
}

// Client returns an HTTP client with a 10 s time-out that sends its
// requests through the Rewriter.
func (rw *Rewriter) Client() *http.Client {
	return &http.Client{Transport: rw.Transport(nil), Timeout: 10 * time.Second}
}

// Transport wraps base (nil: http.DefaultTransport).
func (rw *Rewriter) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		return rw.intercept(resp)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// intercept rewrites resp when it is a token response with an id_token.
func (rw *Rewriter) intercept(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var tok map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep expires_in as sent
	if dec.Decode(&tok) != nil {
		return resp, nil // not JSON: the JWKS or discovery are, other bodies pass
	}
	idToken, ok := tok["id_token"].(string)
	if !ok {
		return resp, nil
	}
	rw.mu.Lock()
	rw.originals = append(rw.originals, idToken)
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if v, _ := tok[k].(string); v != "" {
			rw.secrets = append(rw.secrets, v)
		}
	}
	rw.mu.Unlock()
	if rw.rewrite == nil {
		return resp, nil
	}
	out, err := rw.rewrite(idToken)
	if err != nil {
		rw.mu.Lock()
		rw.err = err
		rw.mu.Unlock()
		return nil, fmt.Errorf("providertest: %w", err)
	}
	rw.mu.Lock()
	rw.secrets = append(rw.secrets, out)
	rw.mu.Unlock()
	if out == "" {
		delete(tok, "id_token")
	} else {
		tok["id_token"] = out
	}
	if body, err = json.Marshal(tok); err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// EditClaims edits the claims of an id_token the fake is about to sign, as
// the running case asks (nothing when it asks nothing of the fake). A
// Harness that is no Signer hands it to its fake's one-shot hook:
// fake.NextIDToken(rw.EditClaims).
func (rw *Rewriter) EditClaims(claims map[string]any) {
	if rw.edit == nil {
		return
	}
	rw.edit(claims)
	rw.mu.Lock()
	rw.edited = true
	rw.mu.Unlock()
}

func (rw *Rewriter) editedByFake() bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.edited
}

// Originals returns the id_tokens the fake issued, before any rewrite.
func (rw *Rewriter) Originals() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]string(nil), rw.originals...)
}

// Secrets returns every token the fake issued and every id_token delivered
// in place of one.
func (rw *Rewriter) Secrets() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]string(nil), rw.secrets...)
}

// Err returns the first error of the rewrite function.
func (rw *Rewriter) Err() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.err
}

// CallbackURL is the redirect URI Authorize uses for a provider instance:
// socialbridge's callback path for it.
func CallbackURL(name string) string { return "https://bridge.example.test/callback/" + name }

// Flow is one sign-in attempt as socialbridge runs it: the secrets it
// generated, the URL the adapter built, and what the provider sent the
// browser back with.
type Flow struct {
	RedirectURI, State, Nonce, Verifier string
	// AuthURL is the authorization URL the adapter built.
	AuthURL *url.URL
	// Callback holds the parameters of the redirect back to RedirectURI.
	Callback url.Values
	// Code is the callback's code.
	Code string
}

// Authorize is the browser's half of a sign-in: it asks p for the
// authorization URL (with fresh state, nonce and S256 challenge; edit, if
// not nil, adjusts the request first), visits it without following
// redirects, and reads the callback. It fails t unless the provider
// redirected back to the callback with the state and a code.
func Authorize(t testing.TB, p providers.Provider, edit func(*providers.AuthRequest)) *Flow {
	t.Helper()
	f := &Flow{RedirectURI: CallbackURL(p.Name()), State: RandomString(), Nonce: RandomString(), Verifier: RandomString()}
	ar := providers.AuthRequest{RedirectURI: f.RedirectURI, State: f.State, Nonce: f.Nonce, CodeChallenge: S256(f.Verifier)}
	if edit != nil {
		edit(&ar)
		f.Nonce = ar.Nonce
	}
	raw, err := p.AuthCodeURL(t.Context(), ar)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	if f.AuthURL, err = url.Parse(raw); err != nil {
		t.Fatalf("AuthCodeURL returned %q: %v", raw, err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("visit the authorization URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("the authorization endpoint answered %d, want a redirect: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("bad Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != f.RedirectURI {
		t.Fatalf("redirected to %q, want the callback %q", got, f.RedirectURI)
	}
	f.Callback = loc.Query()
	if f.Callback.Has("error") {
		t.Fatalf("the callback carries error=%q (%s)", f.Callback.Get("error"), f.Callback.Get("error_description"))
	}
	if got := f.Callback.Get("state"); got != f.State {
		t.Fatalf("callback state = %q, want %q", got, f.State)
	}
	if f.Code = f.Callback.Get("code"); f.Code == "" {
		t.Fatal("the callback has no code")
	}
	return f
}

// Exchange is the callback's half: it redeems the code with the secrets
// socialbridge kept for this sign-in.
func (f *Flow) Exchange(ctx context.Context, p providers.Provider) (*providers.Identity, error) {
	return p.Exchange(ctx, providers.ExchangeRequest{
		Code: f.Code, RedirectURI: f.RedirectURI, CodeVerifier: f.Verifier, Nonce: f.Nonce,
	})
}

// SignIn runs a whole sign-in with p and returns what Exchange returned.
func SignIn(t testing.TB, p providers.Provider) (*providers.Identity, error) {
	t.Helper()
	return Authorize(t, p, nil).Exchange(t.Context(), p)
}

// RandomString returns 32 random bytes, base64url-encoded: 43 characters,
// the shortest valid PKCE verifier (RFC 7636 §4.1).
func RandomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// S256 is the PKCE S256 code challenge of verifier (RFC 7636 §4.2).
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
