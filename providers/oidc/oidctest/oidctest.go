// Package oidctest is a fake generic OpenID Connect provider for tests. It
// runs on an httptest.Server and answers like a standards-following
// provider (Keycloak, Authentik, Okta and the like): discovery at
// <issuer>/.well-known/openid-configuration, a JWKS that publishes an
// RSA-2048 (RS256) and a P-256 (ES256) key, an authorization endpoint that
// signs the configured User in at once (or, for browser tests, shows a page
// with a Continue button), a token endpoint for the authorization-code
// grant (client_secret_basic or client_secret_post, exact redirect_uri,
// single-use codes, S256 PKCE required) and the refresh-token grant
// (optionally rotating), and a userinfo endpoint for Bearer tokens.
//
// The issuer is the server's URL, or a path below it (WithIssuerPath
// "/realms/corp" gives Keycloak-style <url>/realms/corp); every endpoint
// lives below the issuer. It is strict where the specifications are strict
// and reports errors in their shapes (RFC 6749 §4.1.2.1 redirects and §5.2
// JSON bodies, RFC 6750 challenges). Knobs let a test provoke what a
// relying party must survive: Deny, NextIDToken and ForgeNextIDToken,
// NextUserinfo, FailNext and HangNext, RotateKey. NativeIDToken,
// SignIDToken, SignWithForeignKey and SignWithUnknownKey mint the ID
// tokens a native app would send, for native sign-in. It depends only on the
// standard library, jwt/v5 and providers/internal/fake, so any package of
// this module may import it.
package oidctest

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// Default credentials of the client registered when no WithClient is given.
const (
	DefaultClientID     = "socialbridge"
	DefaultClientSecret = "test-secret"
)

// Paths of the endpoints, below the issuer.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	AuthPath      = "/authorize"
	// DecisionPath receives the consent page's form (WithConsentPage).
	DecisionPath = "/authorize/decision"
	TokenPath    = "/token"
	UserinfoPath = "/userinfo"
	JWKSPath     = "/jwks"
)

// Lifetimes, Keycloak's defaults.
const (
	codeTTL        = time.Minute
	accessTokenTTL = 5 * time.Minute
	idTokenTTL     = 5 * time.Minute
)

// Client authentication methods at the token endpoint (RFC 7591 §2 names).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

// Endpoint names one of the fake's endpoints, for FailNext, HangNext and
// Requests.
type Endpoint string

// The fake's endpoints.
const (
	Discovery Endpoint = "discovery"
	JWKS      Endpoint = "jwks"
	Authorize Endpoint = "authorize"
	Token     Endpoint = "token"
	Userinfo  Endpoint = "userinfo"
)

// Option configures a Server in New.
type Option func(*Server)

// WithClient registers a confidential OAuth client. It can be given several
// times; the first one is the default client returned by ClientID and
// ClientSecret. Without WithClient, DefaultClientID and
// DefaultClientSecret are registered.
func WithClient(id, secret string) Option {
	return func(s *Server) { s.clients = append(s.clients, client{id: id, secret: secret}) }
}

// WithIssuerPath puts the issuer, and every endpoint, below path of the
// server: WithIssuerPath("/realms/corp") gives the issuer <url>/realms/corp
// and discovery at <url>/realms/corp/.well-known/openid-configuration
// (OpenID Connect Discovery §4).
func WithIssuerPath(path string) Option {
	return func(s *Server) {
		if path = strings.Trim(path, "/"); path != "" {
			s.issuerPath = "/" + path
		}
	}
}

// WithSigningAlg chooses the algorithm of id_tokens: "RS256" (the default)
// or "ES256". Both keys are published in the JWKS either way.
func WithSigningAlg(alg string) Option {
	return func(s *Server) { s.alg = alg }
}

// WithClock sets the clock for code, token and id_token times (default
// time.Now), so a test can step past a lifetime without sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithConsentPage makes the authorization endpoint show a minimal HTML page
// with a button id="continue" (and id="cancel") instead of redirecting at
// once, for tests that drive a real browser.
func WithConsentPage() Option {
	return func(s *Server) { s.consentPage = true }
}

// WithRefreshRotation makes every refresh return a new refresh token and
// retire the one redeemed (RFC 9700 §4.14.2); a retired token is refused
// with invalid_grant. Without it refresh tokens are kept, and a refresh
// response carries none.
func WithRefreshRotation() Option {
	return func(s *Server) { s.rotateRefresh = true }
}

// WithTokenAuthMethods limits how clients may authenticate at the token
// endpoint (default: ClientSecretBasic and ClientSecretPost); discovery
// advertises only these.
func WithTokenAuthMethods(methods ...string) Option {
	return func(s *Server) { s.authMethods = append([]string(nil), methods...) }
}

// User is who "signs in" at the authorization endpoint. Like most
// providers, the fake puts email and email_verified in tokens only with the
// email scope, and the name, picture and locale claims only with the
// profile scope; empty fields are left out.
type User struct {
	// Subject is the sub claim; empty leaves sub out.
	Subject string
	// Email and EmailVerified are the email claims. email_verified is sent
	// whenever Email is; set Claims["email_verified"] to nil for a
	// provider that never says.
	Email         string
	EmailVerified bool
	// Profile claims.
	Name, GivenName, FamilyName, PreferredUsername, Picture, Locale string
	// Claims are more claims, in the id_token and userinfo alike, whatever
	// the scopes: a numeric "id" or "employee_id", "roles", "groups". They
	// override the fields above, and a nil value removes a claim. They
	// cannot override the protocol claims (iss, sub, aud, azp, exp, iat,
	// auth_time, nonce, at_hash).
	Claims map[string]any
	// UserinfoClaims are claims only the userinfo endpoint returns, as
	// providers that keep id_tokens small do; nil values remove claims.
	UserinfoClaims map[string]any
}

// DefaultSubject is the sub of the user who signs in until SetUser is
// called: Alice Example, alice@example.com (verified).
const DefaultSubject = "f5a3c0de-0001-4a6b-9d2e-000000000001"

// defaultUser is who signs in until SetUser is called.
var defaultUser = User{
	Subject:           DefaultSubject,
	Email:             "alice@example.com",
	EmailVerified:     true,
	Name:              "Alice Example",
	GivenName:         "Alice",
	FamilyName:        "Example",
	PreferredUsername: "alice",
}

// Forgery is a way to sign an id_token that a relying party must refuse,
// for ForgeNextIDToken.
type Forgery int

// Forgeries.
const (
	// ForeignKey signs with a key that is not published, under the kid of
	// the published signing key: only the signature check catches it.
	ForeignKey Forgery = iota + 1
	// UnknownKid signs with a key that is not published, under a kid of its
	// own: the relying party refetches the JWKS and still finds no key.
	UnknownKid
	// AlgNone sends the token unsigned, with header alg "none".
	AlgNone
)

// Server is a running fake provider. All methods are safe for concurrent
// use, also while requests are in flight.
type Server struct {
	t             testing.TB
	ts            *httptest.Server
	now           func() time.Time
	issuerPath    string
	alg           string
	consentPage   bool
	rotateRefresh bool
	authMethods   []string
	closed        chan struct{} // closed at cleanup: releases hanging requests
	// calls counts the calls of every endpoint and records those of the
	// authorization and token endpoints.
	calls fake.Recorder[Endpoint]

	mu            sync.Mutex
	clients       []client // the first is the default client
	user          User
	authTime      time.Time               // when user last "authenticated"
	keys          map[string]*signingKey  // the current key per algorithm
	published     []*signingKey           // in the JWKS
	foreign       map[string]*signingKey  // never published, made on first use
	codes         map[string]*authCode    // by code
	pending       map[string]*authRequest // consent pages shown, by id
	accessTokens  map[string]*grant       // by token
	refreshTokens map[string]*grant       // by token
	deny          bool                    // one shot
	nextIDToken   func(map[string]any)    // one shot
	forgery       Forgery                 // one shot
	nextUserinfo  func(map[string]any)    // one shot
	fail          map[Endpoint]*canned    // one shot per endpoint
	hang          map[Endpoint]bool       // one shot per endpoint
	lastTokenAuth string
}

type client struct{ id, secret string }

// authRequest is a validated authorization request.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	reauth      bool // prompt=login, or max_age exceeded
}

// authCode is an authorization code and what it was issued for.
type authCode struct {
	req           *authRequest
	user          User
	authTime      time.Time
	expiry        time.Time
	used          bool
	issuedAccess  string // tokens minted from this code, revoked on reuse
	issuedRefresh string
}

// grant is what an access or refresh token stands for.
type grant struct {
	clientID string
	user     User
	scopes   []string
	authTime time.Time
	expiry   time.Time // zero for refresh tokens: they do not expire
}

type canned struct {
	status int
	body   string
}

// New starts the fake with fresh RSA-2048 and P-256 keys; it is closed with
// t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:             t,
		now:           time.Now,
		alg:           "RS256",
		closed:        make(chan struct{}),
		user:          defaultUser,
		keys:          map[string]*signingKey{},
		foreign:       map[string]*signingKey{},
		codes:         map[string]*authCode{},
		pending:       map[string]*authRequest{},
		accessTokens:  map[string]*grant{},
		refreshTokens: map[string]*grant{},
		fail:          map[Endpoint]*canned{},
		hang:          map[Endpoint]bool{},
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.alg != "RS256" && s.alg != "ES256" {
		t.Fatalf("oidctest: signing algorithm %q is not supported (RS256 or ES256)", s.alg)
	}
	if len(s.clients) == 0 {
		s.clients = []client{{id: DefaultClientID, secret: DefaultClientSecret}}
	}
	if len(s.authMethods) == 0 {
		s.authMethods = []string{ClientSecretBasic, ClientSecretPost}
	}
	// The user signed in a while ago; prompt=login and max_age make them
	// sign in again.
	s.authTime = s.now().Add(-10 * time.Minute).Truncate(time.Second)
	for _, alg := range []string{"RS256", "ES256"} {
		k := s.newKey(alg)
		s.keys[alg] = k
		s.published = append(s.published, k)
	}

	mux := http.NewServeMux()
	p := s.issuerPath
	// Method-qualified patterns make the mux answer 405 with an Allow
	// header for other methods; GET patterns also serve HEAD.
	mux.HandleFunc("GET "+p+DiscoveryPath, s.handleDiscovery)
	mux.HandleFunc("GET "+p+JWKSPath, s.handleJWKS)
	mux.HandleFunc("GET "+p+AuthPath, s.handleAuthorize)
	mux.HandleFunc("POST "+p+AuthPath, s.handleAuthorize)
	mux.HandleFunc("POST "+p+DecisionPath, s.handleDecision)
	mux.HandleFunc("POST "+p+TokenPath, s.handleToken)
	mux.HandleFunc("GET "+p+UserinfoPath, s.handleUserinfo)
	mux.HandleFunc("POST "+p+UserinfoPath, s.handleUserinfo)
	s.ts = httptest.NewServer(mux)
	t.Cleanup(func() {
		close(s.closed) // first, or Close would wait for hanging requests
		s.ts.Close()
	})
	return s
}

// URL returns the base URL of the server, without a trailing slash.
func (s *Server) URL() string { return s.ts.URL }

// Issuer returns the issuer: URL, plus the path of WithIssuerPath.
func (s *Server) Issuer() string { return s.ts.URL + s.issuerPath }

// AuthURL returns the authorization endpoint.
func (s *Server) AuthURL() string { return s.Issuer() + AuthPath }

// TokenURL returns the token endpoint.
func (s *Server) TokenURL() string { return s.Issuer() + TokenPath }

// UserinfoURL returns the userinfo endpoint.
func (s *Server) UserinfoURL() string { return s.Issuer() + UserinfoPath }

// JWKSURL returns the JWKS endpoint.
func (s *Server) JWKSURL() string { return s.Issuer() + JWKSPath }

// SigningAlg returns the algorithm id_tokens are signed with.
func (s *Server) SigningAlg() string { return s.alg }

// ClientID returns the default client's id.
func (s *Server) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[0].id
}

// ClientSecret returns the default client's secret.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[0].secret
}

// SetUser sets who signs in at the following authorization requests, as if
// they had just authenticated. Codes and tokens already issued keep the
// user they were issued for.
func (s *Server) SetUser(u User) {
	u.Claims = maps.Clone(u.Claims)
	u.UserinfoClaims = maps.Clone(u.UserinfoClaims)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
	s.authTime = s.now().Truncate(time.Second)
}

// User returns who signs in at the following authorization requests.
func (s *Server) User() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user
	u.Claims = maps.Clone(u.Claims)
	u.UserinfoClaims = maps.Clone(u.UserinfoClaims)
	return u
}

// Deny makes the next valid authorization request redirect back with
// error=access_denied and its state, as when the person clicks Cancel. It
// is one shot; requests refused before the redirect do not use it up.
func (s *Server) Deny() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = true
}

// NextIDToken registers mutate to edit the claims of the next id_token the
// token endpoint mints (code or refresh grant), just before it is signed.
// It is one shot and runs without the server's lock held.
func (s *Server) NextIDToken(mutate func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextIDToken = mutate
}

// ForgeNextIDToken makes the token endpoint sign the next id_token with
// forgery instead of the published key. It is one shot.
func (s *Server) ForgeNextIDToken(f Forgery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgery = f
}

// NextUserinfo registers mutate to edit the next successful userinfo
// response (a "sub" of another person, a missing claim). It is one shot
// and runs without the server's lock held.
func (s *Server) NextUserinfo(mutate func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextUserinfo = mutate
}

// FailNext makes the next call of e, whatever it asks, answer with status
// and body (sent as application/json). It is one shot; the call is still
// counted and, for the token endpoint, recorded.
func (s *Server) FailNext(e Endpoint, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[e] = &canned{status: status, body: body}
}

// HangNext makes the next call of e never answer: it waits until the
// client gives up (its time-out or canceled context) or the server closes.
// It is one shot; the call is still counted and recorded.
func (s *Server) HangNext(e Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang[e] = true
}

// Requests returns how many calls e has received, refused ones included.
func (s *Server) Requests(e Endpoint) int {
	return s.calls.Count(e)
}

// LastAuthRequest returns a copy of the parameters of the last
// authorization request (nil before the first): nonce, code_challenge,
// prompt, max_age, login_hint, ...
func (s *Server) LastAuthRequest() url.Values {
	return s.calls.Last(Authorize)
}

// LastTokenRequest returns a copy of the form body of the last token call
// (nil before the first). Credentials sent with HTTP Basic are not in it.
func (s *Server) LastTokenRequest() url.Values {
	return s.calls.Last(Token)
}

// LastTokenClientAuth returns how the last token call authenticated the
// client: ClientSecretBasic, ClientSecretPost, or "" (no credentials, both
// methods at once, or a call that FailNext or HangNext answered).
func (s *Server) LastTokenClientAuth() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTokenAuth
}

// count records a call of e with params (nil where no test asks for
// them) and returns its one-shot failure and hang.
func (s *Server) count(e Endpoint, params url.Values) (*canned, bool) {
	s.calls.Record(e, params)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, h := s.fail[e], s.hang[e]
	delete(s.fail, e)
	delete(s.hang, e)
	return c, h
}

// interfere answers the call with a canned failure or hangs it, and
// reports whether it did.
func (s *Server) interfere(w http.ResponseWriter, r *http.Request, c *canned, hang bool) bool {
	switch {
	case hang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return true
	case c != nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(c.status)
		_, _ = w.Write([]byte(c.body))
		return true
	}
	return false
}

func (s *Server) client(id string) (client, bool) {
	return fake.Lookup(s.clients, id, func(c client) string { return c.id })
}
