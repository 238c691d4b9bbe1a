package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/dev"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/teststore"
	"github.com/socialbridge/socialbridge/tokens"
	"github.com/socialbridge/socialbridge/web"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clock is an app's time: the real time, moved forward by Add.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Add moves the clock forward by d.
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// app is a whole socialbridge behind an httptest server, with its store
// to see what a request wrote and its clock.
type app struct {
	srv    *httptest.Server
	url    string
	issuer *tokens.Issuer
	store  store.Store
	logs   *syncBuffer
	clock  *clock
}

const spaRedirect = "https://spa.example.com/callback"

// backendSecret is the secret of the confidential clients backend and
// reports.
const backendSecret = "backend-s3cret"

// extraProviders lets a test add providers (fake Google) built once the
// public URL is known.
type extraProviders func(publicURL string) []providers.Provider

func newApp(t testing.TB, extra extraProviders) *app {
	t.Helper()
	return newAppWith(t, extra, nil)
}

// stack is what every test server is made of: an httptest server whose
// handler is set once built, a SQLite store, a fake clock, the keys, an
// issuer and the dev provider.
type stack struct {
	srv     *httptest.Server
	handler http.Handler
	st      store.Store
	clock   *clock
	key     []byte
	sealer  *tokens.Sealer
	issuer  *tokens.Issuer
	dev     *dev.Provider
	logs    *syncBuffer
	logger  *slog.Logger
}

// newStack builds the parts of a test server; serve finishes it.
func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{logs: &syncBuffer{}, clock: &clock{}, key: make([]byte, 32)}
	s.logger = slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	s.st = teststore.Open(t)
	_, _ = rand.Read(s.key)
	var err error
	if s.sealer, err = tokens.NewSealer(s.key); err != nil {
		t.Fatal(err)
	}
	kr, err := tokens.NewKeyring(bridge.KeyStorage(s.st), s.sealer, tokens.KeyringOptions{
		Algorithm: "ES256", Rotation: 720 * time.Hour, PublishAhead: time.Hour,
		AccessLifetime: 15 * time.Minute, RefreshLifetime: 24 * time.Hour, Now: s.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.issuer = tokens.NewIssuer(kr, s.srv.URL, s.clock.Now)
	s.dev = dev.New(s.srv.URL, nil, s.clock.Now)
	return s
}

// bridgeOptions are the bridge options of a test server with these
// providers and clients.
func (s *stack) bridgeOptions(provs []providers.Provider, clients []bridge.Client) bridge.Options {
	return bridge.Options{
		PublicURL: s.srv.URL, Store: s.st, Issuer: s.issuer, Sealer: s.sealer, Providers: provs, Clients: clients,
		FlowKey: s.key, FlowTTL: 10 * time.Minute, CodeTTL: time.Minute, RefreshReuseGrace: 10 * time.Second,
		Now: s.clock.Now, Logger: s.logger,
	}
}

// webOptions are the server options of a test server of bridge b.
func (s *stack) webOptions(b *bridge.Bridge) web.Options {
	return web.Options{
		Bridge: b, PublicURL: s.srv.URL, MaxBodyBytes: 64 << 10, DevMode: true, FlowTTL: 10 * time.Minute,
		Ping: s.st.Ping, Mounts: map[string]http.Handler{dev.PathPrefix: s.dev.Handler()}, Logger: s.logger,
	}
}

// serve builds the server from o and returns the app that tests use.
func (s *stack) serve(t testing.TB, o web.Options) *app {
	t.Helper()
	srv, err := web.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	s.handler = srv
	return &app{srv: s.srv, url: s.srv.URL, issuer: s.issuer, store: s.st, logs: s.logs, clock: s.clock}
}

// withTTLs gives a client the test servers' token lifetimes.
func withTTLs(c bridge.Client) bridge.Client {
	c.AccessTTL, c.RefreshIdleTTL, c.RefreshAbsoluteTTL = 15*time.Minute, time.Hour, 24*time.Hour
	return c
}

// newAppWith is newApp with a last say over the server options.
func newAppWith(t testing.TB, extra extraProviders, edit func(*web.Options)) *app {
	t.Helper()
	s := newStack(t)
	provs := []providers.Provider{s.dev}
	if extra != nil {
		provs = append(provs, extra(s.srv.URL)...)
	}
	b, err := bridge.New(s.bridgeOptions(provs, []bridge.Client{
		withTTLs(bridge.Client{ID: "spa", Name: "Example SPA", RedirectURIs: []string{spaRedirect}, CORSOrigins: []string{"https://spa.example.com"},
			AccountManagement: true}),
		withTTLs(bridge.Client{ID: "demo", Name: "demo", RedirectURIs: []string{s.srv.URL + "/demo/"}, CORSOrigins: []string{s.srv.URL},
			AccountManagement: true}),
		// Backends: one may fetch users' provider tokens, one may not.
		withTTLs(bridge.Client{ID: "backend", Name: "Backend", Secret: backendSecret, RedirectURIs: []string{"https://backend.example.com/cb"},
			ProviderTokens: true}),
		withTTLs(bridge.Client{ID: "reports", Name: "Reports", Secret: backendSecret, RedirectURIs: []string{"https://reports.example.com/cb"}}),
		// A native app that exchanges provider SDK tokens (RFC 8693).
		withTTLs(bridge.Client{ID: "mobile", Name: "Example App", TokenExchange: true}),
	}))
	if err != nil {
		t.Fatal(err)
	}
	opts := s.webOptions(b)
	opts.DemoClientID = "demo"
	if edit != nil {
		edit(&opts)
	}
	return s.serve(t, opts)
}

// browser is an HTTP client with cookies that stops at the SPA's redirect.
func (a *app) browser(t testing.TB) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), a.url) && !strings.HasPrefix(req.URL.Host, "127.0.0.1") {
			return http.ErrUseLastResponse // reached the client app (or an external provider)
		}
		return nil
	}}
}

func pkce() (string, string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func (a *app) authorizeURL(challenge, provider string) string {
	q := url.Values{
		"client_id": {"spa"}, "redirect_uri": {spaRedirect}, "response_type": {"code"}, "scope": {"openid email profile"},
		"state": {"spa-state"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if provider != "" {
		q.Set("provider", provider)
	}
	return a.url + "/authorize?" + q.Encode()
}

// devSignIn runs the browser part of a dev-provider sign-in and returns
// the SPA redirect it ends at.
func (a *app) devSignIn(t testing.TB, c *http.Client, challenge, user string) *url.URL {
	t.Helper()
	return a.devSignInAt(t, c, a.authorizeURL(challenge, "dev"), user)
}

// devSignInAt is devSignIn from the authorization request authorizeURL.
func (a *app) devSignInAt(t testing.TB, c *http.Client, authorizeURL, user string) *url.URL {
	t.Helper()
	resp, err := c.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("DEV MODE")) {
		t.Fatalf("dev page: status %d: %s", resp.StatusCode, page)
	}
	form := resp.Request.URL.Query() // the page's hidden fields are the request's parameters
	form.Set("user", user)
	resp, err = c.PostForm(a.url+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("no redirect after the dev page (status %d)", resp.StatusCode)
	}
	return loc
}

// tokenResponse is the JSON of /token.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	IDToken          string `json:"id_token"`
	Scope            string `json:"scope"`
	IssuedTokenType  string `json:"issued_token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (a *app) post(t testing.TB, path string, form url.Values) (*http.Response, tokenResponse) {
	t.Helper()
	resp, err := http.PostForm(a.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 {
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, body)
		}
	}
	return resp, tr
}

// signIn runs a whole dev sign-in and code exchange.
func (a *app) signIn(t testing.TB) tokenResponse {
	t.Helper()
	return a.signInScope(t, "openid email profile")
}

// accountScope is the scope of a sign-in that manages its account.
const accountScope = "openid email profile " + bridge.ScopeAccount

// accountSignIn is signIn with the account scope.
func (a *app) accountSignIn(t testing.TB) tokenResponse {
	t.Helper()
	return a.signInScope(t, accountScope)
}

// signInScope is signIn asking for scope.
func (a *app) signInScope(t testing.TB, scope string) tokenResponse {
	t.Helper()
	verifier, challenge := pkce()
	u, _ := url.Parse(a.authorizeURL(challenge, "dev"))
	q := u.Query()
	q.Set("scope", scope)
	u.RawQuery = q.Encode()
	loc := a.devSignInAt(t, a.browser(t), u.String(), "alice")
	resp, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token exchange: %d %+v", resp.StatusCode, tr)
	}
	return tr
}

func decodeJSON(resp *http.Response, v any) {
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(v)
}
