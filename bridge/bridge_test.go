package bridge_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/teststore"
	"github.com/socialbridge/socialbridge/tokens"
)

const (
	publicURL      = "https://sb.example.com"
	spaRedirect    = "https://app.example.com/cb"
	portalRedirect = "https://portal.example.com/cb"
)

// clock is a controllable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeProvider is a hand-written provider: it remembers the authorization
// request and, on Exchange, checks the nonce and PKCE verifier against it
// the way a real provider and id_token verification would.
type fakeProvider struct {
	// name is the provider's Name; empty means "fake".
	name     string
	mu       sync.Mutex
	asked    map[string]providers.AuthRequest // by state
	requests map[string]providers.AuthRequest // by code
	// approvedAs holds, by code, the identity of a person other than
	// identity who approved (approveAs).
	approvedAs map[string]providers.Identity
	issued     int
	identity   providers.Identity
	failWith   error
	// urlErr, when set, is AuthCodeURL's error (the provider is
	// unreachable); the request is still recorded in asked.
	urlErr error
	// exchanges counts calls of Exchange: calls to the provider's token
	// endpoint.
	exchanges int
}

func (f *fakeProvider) Name() string {
	if f.name == "" {
		return "fake"
	}
	return f.name
}

// base returns the fakeProvider itself; a fake that embeds one (a
// provider with more abilities) inherits it, so that env finds the
// fakeProvider inside.
func (f *fakeProvider) base() *fakeProvider { return f }

// newFakeProvider returns a fake provider named name whose people approve
// as Alice (subject-1, verified alice@example.com).
func newFakeProvider(name string) *fakeProvider {
	return &fakeProvider{name: name, asked: map[string]providers.AuthRequest{}, requests: map[string]providers.AuthRequest{}, identity: providers.Identity{
		Provider: name, Subject: "subject-1",
		Profile: claims.Profile{Email: "alice@example.com", EmailVerified: true, Name: "Alice"},
		Tokens:  providers.Tokens{AccessToken: "provider-access-secret", RefreshToken: "provider-refresh-secret"},
	}}
}

func (f *fakeProvider) AuthCodeURL(_ context.Context, req providers.AuthRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[req.State] = req
	if f.urlErr != nil {
		return "", f.urlErr
	}
	return "https://idp.example.com/auth?" + url.Values{"state": {req.State}}.Encode(), nil
}

// exchangeCalls reports how many times Exchange was called.
func (f *fakeProvider) exchangeCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exchanges
}

// setIdentity changes the identity the next exchanges return.
func (f *fakeProvider) setIdentity(edit func(*providers.Identity)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(&f.identity)
}

// approve simulates the person approving at the provider: it returns the
// code the provider would send back for the request with this state.
func (f *fakeProvider) approve(state string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued++
	code := fmt.Sprintf("code-%d", f.issued)
	f.requests[code] = f.asked[state]
	return code
}

// approveAs is approve by a person whose identity is the provider's
// identity changed by edit, for this code only: concurrent sign-ins of
// different people need no shared setting.
func (f *fakeProvider) approveAs(state string, edit func(*providers.Identity)) string {
	code := f.approve(state)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.identity
	edit(&id)
	if f.approvedAs == nil {
		f.approvedAs = map[string]providers.Identity{}
	}
	f.approvedAs[code] = id
	return code
}

func (f *fakeProvider) Exchange(_ context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exchanges++
	if f.failWith != nil {
		return nil, f.failWith
	}
	ar, ok := f.requests[req.Code]
	if !ok {
		return nil, &providers.Error{Provider: f.Name(), Code: providers.CodeInvalidGrant, Message: "unknown code"}
	}
	delete(f.requests, req.Code)
	sum := sha256.Sum256([]byte(req.CodeVerifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != ar.CodeChallenge {
		return nil, &providers.Error{Provider: f.Name(), Code: providers.CodeInvalidGrant, Message: "pkce"}
	}
	if req.Nonce != ar.Nonce || req.RedirectURI != ar.RedirectURI {
		return nil, &providers.Error{Provider: f.Name(), Code: providers.CodeInvalidToken, Message: "nonce or redirect"}
	}
	id, ok := f.approvedAs[req.Code]
	if !ok {
		id = f.identity
	}
	delete(f.approvedAs, req.Code)
	return &id, nil
}

// logBuffer is a log sink safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a bridge wired to a real store on the embedded database.
type env struct {
	b *bridge.Bridge
	// prov is the first provider ("fake" unless configured otherwise).
	prov *fakeProvider
	// provs holds every fake provider by name.
	provs  map[string]*fakeProvider
	clock  *clock
	store  store.Store
	issuer *tokens.Issuer
	sealer *tokens.Sealer
	logs   *logBuffer
	// opts are the bridge's options, for reconfigure.
	opts bridge.Options
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the bridge's store wrapped by wrap (nil: as
// is), to inject store failures.
func newEnvWith(t testing.TB, wrap func(store.Store) store.Store) *env {
	t.Helper()
	return newEnvConfig(t, envConfig{wrap: wrap})
}

// envConfig is what a test can change in its env.
type envConfig struct {
	// wrap wraps the bridge's store (nil: as is), to inject failures.
	wrap func(store.Store) store.Store
	// providers are the bridge's providers, each a *fakeProvider or a
	// fake embedding one; nil means one fakeProvider named "fake".
	providers []providers.Provider
	// linkByEmail is Options.LinkByEmail.
	linkByEmail []string
	// rules is Options.ClaimRules.
	rules claims.Rules
	// clients are added to the default clients (native apps for the
	// token exchange).
	clients []bridge.Client
}

// newEnvConfig is newEnv configured by cfg.
func newEnvConfig(t testing.TB, cfg envConfig) *env {
	t.Helper()
	ck := &clock{now: time.Now().Truncate(time.Second)}
	st := teststore.Open(t)
	logs := &logBuffer{}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := tokens.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := tokens.NewKeyring(bridge.KeyStorage(st), sealer, tokens.KeyringOptions{
		Algorithm: "ES256", Rotation: 720 * time.Hour, PublishAhead: time.Hour,
		AccessLifetime: 15 * time.Minute, RefreshLifetime: 24 * time.Hour, Now: ck.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	iss := tokens.NewIssuer(kr, publicURL, ck.Now)
	provs := cfg.providers
	if provs == nil {
		provs = []providers.Provider{newFakeProvider("fake")}
	}
	fakes := map[string]*fakeProvider{}
	for _, p := range provs {
		// A real adapter (against its httptest fake) has no fakeProvider.
		if f, ok := p.(interface{ base() *fakeProvider }); ok {
			fakes[p.Name()] = f.base()
		}
	}
	bst := st
	if cfg.wrap != nil {
		bst = cfg.wrap(st)
	}
	opts := bridge.Options{
		PublicURL: publicURL, Store: bst, Issuer: iss, Sealer: sealer, Providers: provs, LinkByEmail: cfg.linkByEmail, ClaimRules: cfg.rules,
		Clients: []bridge.Client{
			{ID: "spa", Name: "The SPA", RedirectURIs: []string{spaRedirect}, CORSOrigins: []string{"https://app.example.com"},
				Audience: []string{"https://api.example.com"}, AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour,
				AccountManagement: true},
			// Another application that manages accounts, limited to the
			// providers fake and other.
			{ID: "portal", Name: "The Portal", RedirectURIs: []string{portalRedirect}, Providers: []string{"fake", "other"},
				AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour, AccountManagement: true},
			{ID: "backend", Name: "Backend", Secret: "s3cret", RedirectURIs: []string{"https://backend.example.com/cb"},
				AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour, ProviderTokens: true},
			// A confidential client that may not fetch provider tokens.
			{ID: "reports", Name: "Reports", Secret: "r3ports", RedirectURIs: []string{"https://reports.example.com/cb"},
				AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour},
			// A backend that may fetch provider tokens of fake only.
			{ID: "narrow", Name: "Narrow", Secret: "n4rrow", RedirectURIs: []string{"https://narrow.example.com/cb"}, Providers: []string{"fake"},
				AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour, ProviderTokens: true},
		},
		FlowKey: key, FlowTTL: 10 * time.Minute, CodeTTL: time.Minute, RefreshReuseGrace: 10 * time.Second, Now: ck.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	opts.Clients = append(opts.Clients, cfg.clients...)
	b, err := bridge.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{b: b, prov: fakes[provs[0].Name()], provs: fakes, clock: ck, store: st, issuer: iss, sealer: sealer, logs: logs, opts: opts}
}

// reconfigure returns e with a new bridge on the same store, keys, clock
// and providers, its options changed by edit: an operator who changed the
// configuration and restarted.
func (e *env) reconfigure(t testing.TB, edit func(*bridge.Options)) *env {
	t.Helper()
	next := *e
	edit(&next.opts)
	b, err := bridge.New(next.opts)
	if err != nil {
		t.Fatal(err)
	}
	next.b = b
	return &next
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeRequest(challenge string) bridge.AuthorizeRequest {
	return bridge.AuthorizeRequest{
		ClientID: "spa", RedirectURI: spaRedirect, ResponseType: "code", Scope: "openid email profile",
		State: "client-state", Nonce: "client-nonce", CodeChallenge: challenge, CodeChallengeMethod: "S256", Provider: "fake",
	}
}

// started is a login that reached the provider.
type started struct {
	flowID string
	state  string // the provider-facing state
	code   string // the provider's code after approval
}

// begin starts a login and has the person approve it at the provider.
func (e *env) begin(t testing.TB, challenge string) started {
	t.Helper()
	login, err := e.b.BeginLogin(context.Background(), authorizeRequest(challenge))
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	u, _ := url.Parse(login.ProviderURL)
	state := u.Query().Get("state")
	return started{flowID: login.FlowID, state: state, code: e.prov.approve(state)}
}

// bound is the binding cookie value of flowID, as the browser that
// started the flow holds it.
func (e *env) bound(flowID string) string { return e.b.FlowBinding(flowID) }

// finish completes the provider callback and returns the client redirect.
func (e *env) finish(t testing.TB, s started) *url.URL {
	t.Helper()
	target, err := e.b.FinishLogin(context.Background(), "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) signIn(t testing.TB) (*bridge.TokenSet, string) {
	t.Helper()
	verifier, challenge := pkce()
	u := e.finish(t, e.begin(t, challenge))
	ts, err := e.b.ExchangeCode(context.Background(), bridge.CodeGrant{
		Client: bridge.ClientCredentials{ID: "spa"}, Code: u.Query().Get("code"), RedirectURI: spaRedirect, CodeVerifier: verifier,
	})
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	return ts, verifier
}

func oauthCode(err error) string {
	var oe *bridge.OAuthError
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}
