// Package googletest is a fake Google OAuth 2.0 / OpenID Connect server for
// tests. It runs on an httptest.Server and answers like Google does: OIDC
// discovery, a JWKS of real RSA-2048 keys, an authorization endpoint that
// signs the configured User in at once and redirects back with a code, a
// token endpoint that checks client authentication, redirect_uri and PKCE
// and mints RS256 id_tokens, and a userinfo endpoint.
//
// It is meant for the tests of the Google provider adapter, the bridge use
// cases, the HTTP layer and browser tests, so it is strict where Google is
// strict and reports errors in Google's shapes. Tamper hooks (NextIDToken,
// SignWithForeignKey, SignWithUnknownKey, RotateKey, FailToken, Deny) let
// a test provoke the failures a consumer must survive. NativeIDToken mints
// the ID token Google's SDKs give a mobile app, for native sign-in. It depends only on the standard library,
// jwt/v5 and providers/internal/fake, so any package of this module may
// import it.
package googletest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// Default credentials of the client registered when no WithClient is given.
const (
	DefaultClientID     = "test-client.apps.googleusercontent.com"
	DefaultClientSecret = "test-secret"
)

// Paths of the endpoints, the same as Google's.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	AuthPath      = "/o/oauth2/v2/auth"
	TokenPath     = "/token"
	UserinfoPath  = "/v1/userinfo"
	JWKSPath      = "/oauth2/v3/certs"
)

// Lifetimes, the same as Google's.
const (
	codeTTL        = 5 * time.Minute
	accessTokenTTL = 3599 * time.Second
	idTokenTTL     = time.Hour
)

// Endpoints whose calls the Server counts and records.
const (
	authEndpoint  = "authorize"
	tokenEndpoint = "token"
	jwksEndpoint  = "jwks"
)

// Scopes Google expands the short "email" and "profile" scopes to.
const (
	scopeEmailURL   = "https://www.googleapis.com/auth/userinfo.email"
	scopeProfileURL = "https://www.googleapis.com/auth/userinfo.profile"
)

// Option configures a Server in New.
type Option func(*Server)

// WithClient registers an OAuth client. It can be given several times; the
// first one given is the default client returned by ClientID and
// ClientSecret. When no WithClient is given, DefaultClientID and
// DefaultClientSecret are registered. An empty secret registers a public
// client, which authenticates with client_id alone.
func WithClient(id, secret string) Option {
	return func(s *Server) {
		s.clients = append(s.clients, client{id: id, secret: secret})
	}
}

// WithClock sets the clock used for code and access token expiry and for
// the iat and exp claims (default time.Now). It lets a test step past the
// 5-minute code lifetime without sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithAccessTokenLifetime sets how long access tokens live (default 3599
// s, as Google's), so that a test can have a token near expiry.
func WithAccessTokenLifetime(d time.Duration) Option {
	return func(s *Server) { s.accessTTL = d }
}

// User is who "signs in" at the fake authorization endpoint. Empty optional
// fields are left out of id_tokens and userinfo, as Google does.
type User struct {
	// Sub is Google's stable account id.
	Sub string
	// Email is the account's address; EmailVerified says Google checked it.
	Email         string
	EmailVerified bool
	// Name, GivenName, FamilyName, Picture and Locale are profile claims.
	Name, GivenName, FamilyName, Picture, Locale string
	// HD is the Google Workspace domain; empty for consumer accounts.
	HD string
}

// defaultUser is who signs in until SetUser is called.
var defaultUser = User{
	Sub:           "1000001",
	Email:         "alice@example.com",
	EmailVerified: true,
	Name:          "Alice Example",
	Picture:       "https://example.com/alice.png",
}

// Server is a running fake Google. All methods are safe for concurrent use,
// also while requests are in flight.
type Server struct {
	t   testing.TB
	ts  *httptest.Server
	now func() time.Time
	// accessTTL is the lifetime of access tokens.
	accessTTL time.Duration
	// calls counts and records the calls of the authorization and token
	// endpoints.
	calls fake.Recorder[string]

	mu            sync.Mutex
	clients       []client // the first is the default client
	user          User
	key           *signingKey   // signs new tokens
	published     []*signingKey // in the JWKS; includes key
	foreign       *signingKey   // never published; made on first use
	codes         map[string]*authCode
	accessTokens  map[string]*grant
	refreshTokens map[string]*grant
	deny          bool
	failToken     *cannedResponse
	nextIDToken   func(map[string]any)
}

type client struct{ id, secret string }

// authCode is an authorization code and what it was issued for.
type authCode struct {
	clientID      string
	redirectURI   string
	user          User
	scopes        []string // granted, normalized
	nonce         string
	challenge     string // empty when the request had no PKCE
	method        string // "S256" or "plain"
	offline       bool
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
	expiry   time.Time // zero for refresh tokens: they do not expire
}

type cannedResponse struct {
	status int
	body   string
}

// New starts the fake with one fresh RSA-2048 signing key; it is closed
// with t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:             t,
		now:           time.Now,
		accessTTL:     accessTokenTTL,
		user:          defaultUser,
		codes:         map[string]*authCode{},
		accessTokens:  map[string]*grant{},
		refreshTokens: map[string]*grant{},
	}
	for _, opt := range opts {
		opt(s)
	}
	if len(s.clients) == 0 {
		s.clients = []client{{id: DefaultClientID, secret: DefaultClientSecret}}
	}
	s.key = s.newKey()
	s.published = []*signingKey{s.key}

	mux := http.NewServeMux()
	// Method-qualified patterns make the mux answer 405 with an Allow
	// header for other methods; GET patterns also serve HEAD.
	mux.HandleFunc("GET "+DiscoveryPath, s.handleDiscovery)
	mux.HandleFunc("GET "+JWKSPath, s.handleJWKS)
	mux.HandleFunc("GET "+AuthPath, s.handleAuthorize)
	mux.HandleFunc("POST "+AuthPath, s.handleAuthorize)
	mux.HandleFunc("POST "+TokenPath, s.handleToken)
	mux.HandleFunc("GET "+UserinfoPath, s.handleUserinfo)
	mux.HandleFunc("POST "+UserinfoPath, s.handleUserinfo)
	s.ts = httptest.NewServer(mux)
	t.Cleanup(s.ts.Close)
	return s
}

// URL returns the base URL of the fake, without a trailing slash. It is
// also the issuer.
func (s *Server) URL() string { return s.ts.URL }

// Issuer returns the iss of every id_token, the same as URL.
func (s *Server) Issuer() string { return s.ts.URL }

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

// SetUser sets who signs in at the following authorization requests.
// Codes and tokens already issued keep the user they were issued for.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// FailToken makes the next token-endpoint call, whatever it asks, answer
// with status and body (sent as application/json). It is one shot; the call
// is still counted and recorded.
func (s *Server) FailToken(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failToken = &cannedResponse{status: status, body: body}
}

// Deny makes the next valid authorization request redirect back with
// error=access_denied and the request's state, as when the user clicks
// Cancel at Google. It is one shot; requests rejected before the redirect
// (unknown client, bad redirect_uri, ...) do not use it up.
func (s *Server) Deny() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = true
}

// NextIDToken registers mutate to edit the claims of the next id_token
// minted at the token endpoint (code or refresh grant), just before it is
// signed. It is one shot. mutate runs without the server's lock held.
func (s *Server) NextIDToken(mutate func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextIDToken = mutate
}

// TokenRequests returns how many calls the token endpoint has received,
// failed ones included.
func (s *Server) TokenRequests() int {
	return s.calls.Count(tokenEndpoint)
}

// LastTokenRequest returns a copy of the form body of the last token call
// (nil before the first). Credentials sent with HTTP Basic are not in it.
func (s *Server) LastTokenRequest() url.Values {
	return s.calls.Last(tokenEndpoint)
}

// JWKSRequests returns how many times the JWKS was fetched, so that a test
// can tell whether a consumer refetched it (for a new kid) or not (for a
// flood of unknown ones).
func (s *Server) JWKSRequests() int {
	return s.calls.Count(jwksEndpoint)
}

// AuthRequests returns how many calls the authorization endpoint has
// received, rejected ones included.
func (s *Server) AuthRequests() int {
	return s.calls.Count(authEndpoint)
}

// LastAuthRequest returns a copy of the parameters of the last
// authorization request (nil before the first), for asserting what a
// consumer sent: code_challenge, code_challenge_method, nonce, hd, ...
func (s *Server) LastAuthRequest() url.Values {
	return s.calls.Last(authEndpoint)
}

func (s *Server) client(id string) (client, bool) {
	return fake.Lookup(s.clients, id, func(c client) string { return c.id })
}
