// Package facebooktest is a fake Facebook Login and Graph API for tests. It
// runs on an httptest.Server and answers like Facebook does: a versioned
// login dialog (/{version}/dialog/oauth) that signs the current User in at
// once, or shows a minimal consent page with a Continue button; a code
// exchange (/{version}/oauth/access_token) that checks the App ID and
// secret, the exact redirect_uri, single use of the code and the PKCE
// verifier; /{version}/me, which refuses calls without a correct
// appsecret_proof and with expired tokens; and /{version}/debug_token for
// native tokens. Errors come in Graph's {"error": {...}} shape with
// Facebook's codes and messages. For iOS Limited Login it publishes a key
// set (LimitedLoginJWKSURL, the adapter's limited_login_jwks_url) and
// mints the SDK's id_tokens (LimitedLoginToken) for a user and a nonce.
//
// The dialog and the Graph API share one server, so URL is both the
// dialog_url and the graph_url of the adapter under test. Knobs let a test
// provoke what a consumer must survive: Deny (the person cancels),
// FailNext (a canned answer), SlowNext (a slow answer, for time-outs),
// ExpireTokens, NextDebugToken (edit debug_token's data), and users
// without an email address or who decline the email permission; for
// Limited Login, RotateLimitedLoginKey and TokenOptions that make a token
// wrong one way each (issuer, audience, times, an unknown key, alg none, a
// bad signature, any claim). Count, Requests and LastRequest tell what a
// consumer sent, including whether each Graph call carried a correct
// appsecret_proof.
//
// It depends only on the standard library and providers/internal/fake (and
// jwt/v5, which that uses too), so any package of this module may import
// it.
package facebooktest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// Credentials of the app registered when no WithApp is given. Real App
// IDs are 15 or 16 digits and App secrets 32 hex digits.
const (
	DefaultAppID     = "1234567890123456"
	DefaultAppSecret = "0123456789abcdef0123456789abcdef"
)

// Lifetimes, the same as Facebook's.
const (
	// codeTTL is how long an authorization code can be redeemed.
	codeTTL = 10 * time.Minute
	// DefaultTokenLifetime is the lifetime of the user access tokens the
	// code exchange issues: Facebook's long-lived tokens, about 60 days.
	DefaultTokenLifetime = 5183944 * time.Second
	// dataAccessTTL is how long after a sign-in the app may read the
	// person's data (data_access_expires_at).
	dataAccessTTL = 90 * 24 * time.Hour
	// pendingTTL bounds how long a consent page can be answered.
	pendingTTL = 10 * time.Minute
)

// Endpoint names one of the fake's endpoints, for Count, Requests,
// LastRequest, FailNext and SlowNext.
type Endpoint string

// The fake's endpoints, by their path below the version.
const (
	Dialog     Endpoint = "dialog/oauth"
	Consent    Endpoint = "dialog/oauth/confirm" // where the consent page posts
	Token      Endpoint = "oauth/access_token"
	Me         Endpoint = "me"
	DebugToken Endpoint = "debug_token"
	// LimitedLoginJWKS is the Limited Login key set, which is not
	// versioned (its path is /.well-known/oauth/openid/jwks/).
	LimitedLoginJWKS Endpoint = ".well-known/oauth/openid/jwks"
)

// Option configures a Server in New.
type Option func(*Server)

// WithApp registers a Facebook app. It can be given several times; the
// first is the default app of AppID and AppSecret. Without WithApp,
// DefaultAppID and DefaultAppSecret are registered.
func WithApp(id, secret string) Option {
	return func(s *Server) {
		s.apps = append(s.apps, app{id: id, secret: secret, name: "Test App " + id})
	}
}

// WithClock sets the clock for code and token expiry (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithConsentPage makes the dialog show a consent page, whose Continue
// button (id="continue") signs the User in and whose Cancel button
// (id="cancel") denies, instead of redirecting back at once. It is for
// tests that drive a real browser.
func WithConsentPage() Option {
	return func(s *Server) { s.consent = true }
}

// WithRedirectURIs sets the app's "Valid OAuth Redirect URIs": the dialog
// refuses any other redirect_uri, as Facebook does in strict mode. Without
// it any absolute http(s) URI is accepted.
func WithRedirectURIs(uris ...string) Option {
	return func(s *Server) { s.redirectURIs = append(s.redirectURIs, uris...) }
}

// WithTokenLifetime sets the lifetime of the access tokens the code
// exchange issues (default DefaultTokenLifetime).
func WithTokenLifetime(d time.Duration) Option {
	return func(s *Server) { s.tokenTTL = d }
}

// User is who "signs in" at the dialog.
type User struct {
	// ID is the app-scoped user id (digits).
	ID string
	// Name, FirstName and LastName are the public profile.
	Name, FirstName, LastName string
	// Email is the account's address; empty for accounts that have none
	// (signed up with a phone number).
	Email string
	// Picture is the profile picture's URL; empty means the person has
	// none, and Graph returns its silhouette placeholder.
	Picture string
	// DeclinedPermissions are the permissions the person unticks in the
	// dialog ("email"); public_profile cannot be declined.
	DeclinedPermissions []string
}

// DefaultUser signs in until SetUser is called.
var DefaultUser = User{
	ID:        "10160123456789012",
	Name:      "Alice Example",
	FirstName: "Alice",
	LastName:  "Example",
	Email:     "alice@example.com",
	Picture:   "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10160123456789012&height=50&width=50&ext=1767225600&hash=AbYz",
}

// silhouetteURL is the placeholder picture of people without one.
const silhouetteURL = "https://scontent.xx.fbcdn.net/v/t1.30497-1/84628273_176159830277856_972693363922829312_n.jpg?stp=c15.0.50.50a_cp0_dst-jpg_p50x50&_nc_cat=1"

// Request is one call the fake received.
type Request struct {
	Endpoint Endpoint
	Method   string
	// Version is the Graph version of the path ("v23.0").
	Version string
	// Params are the query and form parameters.
	Params url.Values
	// Header is the request's header.
	Header http.Header
	// AccessToken is the token the call was made with, from the
	// Authorization header or the access_token parameter.
	AccessToken string
	// AppSecretProof is the appsecret_proof parameter.
	AppSecretProof string
	// ProofValid says that AppSecretProof is the correct proof of
	// AccessToken for the app the token belongs to.
	ProofValid bool
}

// Server is a running fake Facebook. Its methods are safe for concurrent
// use, also while requests are in flight.
type Server struct {
	t            testing.TB
	ts           *httptest.Server
	now          func() time.Time
	consent      bool
	redirectURIs []string
	tokenTTL     time.Duration

	mu        sync.Mutex
	apps      []app // the first is the default app
	user      User
	codes     map[string]*authCode
	tokens    map[string]*userToken
	pending   map[string]*pendingDialog
	deny      bool
	fail      map[Endpoint]canned
	slow      map[Endpoint]time.Duration
	nextDebug func(data map[string]any)
	requests  []Request
	llKeys    []llKey // Limited Login keys published; the last signs
	llUnknown llKey   // a Limited Login key never published
}

type app struct{ id, secret, name string }

// authCode is an authorization code and what it was issued for.
type authCode struct {
	appID       string
	redirectURI string
	user        User
	granted     []string
	declined    []string
	challenge   string // empty when the dialog had no PKCE
	method      string // "S256" or "plain"
	expiry      time.Time
	used        bool
	issued      string // the token minted from this code, revoked on reuse
}

// userToken is what a user access token stands for.
type userToken struct {
	appID    string
	user     User
	granted  []string
	declined []string
	issuedAt time.Time
	expiry   time.Time
}

type canned struct {
	status int
	body   string
}

// New starts the fake; it is closed with t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:        t,
		now:      time.Now,
		tokenTTL: DefaultTokenLifetime,
		user:     DefaultUser,
		codes:    map[string]*authCode{},
		tokens:   map[string]*userToken{},
		pending:  map[string]*pendingDialog{},
		fail:     map[Endpoint]canned{},
		slow:     map[Endpoint]time.Duration{},
	}
	for _, opt := range opts {
		opt(s)
	}
	if len(s.apps) == 0 {
		WithApp(DefaultAppID, DefaultAppSecret)(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{version}/dialog/oauth", s.endpoint(Dialog, s.handleDialog))
	mux.HandleFunc("POST /{version}/dialog/oauth/confirm", s.endpoint(Consent, s.handleConsent))
	mux.HandleFunc("GET /{version}/oauth/access_token", s.endpoint(Token, s.handleToken))
	mux.HandleFunc("POST /{version}/oauth/access_token", s.endpoint(Token, s.handleToken))
	mux.HandleFunc("GET /{version}/me", s.endpoint(Me, s.handleMe))
	mux.HandleFunc("GET /{version}/debug_token", s.endpoint(DebugToken, s.handleDebugToken))
	mux.HandleFunc("GET "+limitedLoginJWKSPath+"{$}", s.endpoint(LimitedLoginJWKS, s.handleLimitedJWKS))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeGraphError(w, http.StatusBadRequest, graphErr{
			message: "Unknown path components: " + r.URL.Path, typ: "OAuthException", code: 2500,
		})
	})
	s.ts = httptest.NewServer(mux)
	t.Cleanup(s.ts.Close)
	return s
}

// URL returns the fake's base URL, without a trailing slash: the adapter's
// dialog_url and graph_url.
func (s *Server) URL() string { return s.ts.URL }

// AppID returns the default app's App ID.
func (s *Server) AppID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[0].id
}

// AppSecret returns the default app's App secret.
func (s *Server) AppSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[0].secret
}

// SetUser sets who signs in at the following dialogs. Codes and tokens
// already issued keep the user they were issued for.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// Deny makes the next valid dialog request redirect back with
// error=access_denied, as when the person clicks Cancel. It is one shot.
func (s *Server) Deny() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = true
}

// FailNext makes the next call to ep, whatever it asks, answer status with
// body (application/json; text/html for Dialog and Consent). It is one
// shot; the call is still recorded.
func (s *Server) FailNext(ep Endpoint, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[ep] = canned{status: status, body: body}
}

// SlowNext makes the next call to ep wait d before it is answered (or
// until the client gives up), for time-out tests. It is one shot.
func (s *Server) SlowNext(ep Endpoint, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow[ep] = d
}

// ExpireTokens makes every user access token issued so far expire now.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, tok := range s.tokens {
		if tok.expiry.After(now) {
			tok.expiry = now
		}
	}
}

// NextDebugToken registers mutate to edit the data object of the next
// successful debug_token answer (user_id, app_id, type, is_valid, ...).
// It is one shot and runs without the server's lock held.
func (s *Server) NextDebugToken(mutate func(data map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextDebug = mutate
}

// IssueToken mints a user access token of app appID for u, as a Facebook
// SDK hands one to a native app. Without scopes it is granted
// public_profile and email, less what u declines.
func (s *Server) IssueToken(appID string, u User, scopes ...string) string {
	s.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"public_profile", "email"}
	}
	granted, declined := grant(scopes, u)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.app(appID); !ok {
		s.t.Fatalf("facebooktest: IssueToken for unknown app %q", appID)
	}
	return s.newToken(appID, u, granted, declined)
}

// AppSecretProof returns Graph's appsecret_proof of token under secret:
// the hex HMAC-SHA256 of the token keyed with the app secret.
func AppSecretProof(secret, token string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token))
	return hex.EncodeToString(mac.Sum(nil))
}

// Count returns how many calls ep has received, failed ones included.
func (s *Server) Count(ep Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Endpoint == ep {
			n++
		}
	}
	return n
}

// Requests returns copies of the calls ep has received, in order.
func (s *Server) Requests(ep Endpoint) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if r.Endpoint == ep {
			out = append(out, r.clone())
		}
	}
	return out
}

// LastRequest returns a copy of the last call to ep; false before the
// first.
func (s *Server) LastRequest(ep Endpoint) (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if s.requests[i].Endpoint == ep {
			return s.requests[i].clone(), true
		}
	}
	return Request{}, false
}

func (r Request) clone() Request {
	r.Params = fake.CloneValues(r.Params)
	r.Header = r.Header.Clone()
	return r
}

// endpoint wraps a handler with what every endpoint does: parse and record
// the request, check the version, and apply SlowNext and FailNext.
func (s *Server) endpoint(ep Endpoint, h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		parseErr := r.ParseForm()
		version := r.PathValue("version")
		token := accessToken(r)
		proof := r.URL.Query().Get("appsecret_proof")

		s.mu.Lock()
		s.requests = append(s.requests, Request{
			Endpoint: ep, Method: r.Method, Version: version,
			Params: fake.CloneValues(r.Form), Header: r.Header.Clone(),
			AccessToken: token, AppSecretProof: proof,
			ProofValid: proof != "" && s.proofValid(token, proof),
		})
		delay, slow := s.slow[ep]
		delete(s.slow, ep)
		c, failing := s.fail[ep]
		delete(s.fail, ep)
		s.mu.Unlock()

		if slow {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if failing {
			if ep == Dialog || ep == Consent {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
			} else {
				w.Header().Set("Content-Type", "application/json; charset=UTF-8")
			}
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
			return
		}
		if ep != LimitedLoginJWKS && !validVersion(version) {
			writeGraphError(w, http.StatusBadRequest, graphErr{
				message: "Unknown path components: " + r.URL.Path, typ: "OAuthException", code: 2500,
			})
			return
		}
		if parseErr != nil {
			writeGraphError(w, http.StatusBadRequest, graphErr{
				message: "(#100) The request could not be parsed", typ: "OAuthException", code: 100,
			})
			return
		}
		h(w, r, version)
	}
}

// proofValid reports whether proof is the appsecret_proof of token for
// the app it belongs to (a user token's app, or the app of an app token
// "id|secret"). s.mu is held.
func (s *Server) proofValid(token, proof string) bool {
	secret := ""
	if tok, ok := s.tokens[token]; ok {
		a, _ := s.app(tok.appID)
		secret = a.secret
	} else if a, ok := s.appToken(token); ok {
		secret = a.secret
	}
	if secret == "" {
		return false
	}
	return hmac.Equal([]byte(proof), []byte(AppSecretProof(secret, token)))
}

// app returns the app with id. s.mu is held.
func (s *Server) app(id string) (app, bool) {
	return fake.Lookup(s.apps, id, func(a app) string { return a.id })
}

// appToken returns the app whose app access token ("id|secret") token is.
// s.mu is held.
func (s *Server) appToken(token string) (app, bool) {
	id, secret, ok := strings.Cut(token, "|")
	if !ok {
		return app{}, false
	}
	a, known := s.app(id)
	if !known || !hmac.Equal([]byte(secret), []byte(a.secret)) {
		return app{}, false
	}
	return a, true
}

// newToken mints and records a user access token. s.mu is held.
func (s *Server) newToken(appID string, u User, granted, declined []string) string {
	token := "EAA" + randomAlnum(180)
	now := s.now()
	s.tokens[token] = &userToken{
		appID: appID, user: u, granted: granted, declined: declined,
		issuedAt: now, expiry: now.Add(s.tokenTTL),
	}
	return token
}

// grant splits the requested permissions into those granted (plus
// public_profile, which Facebook always grants) and those u declines.
func grant(requested []string, u User) (granted, declined []string) {
	granted = []string{"public_profile"}
	for _, p := range requested {
		switch {
		case p == "public_profile", slices.Contains(granted, p), slices.Contains(declined, p):
		case slices.Contains(u.DeclinedPermissions, p):
			declined = append(declined, p)
		default:
			granted = append(granted, p)
		}
	}
	return granted, declined
}

// accessToken returns the token a Graph call is made with: from the
// Authorization header (Bearer or OAuth scheme), else the access_token
// parameter.
func accessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth") {
			return strings.TrimSpace(tok)
		}
	}
	return r.Form.Get("access_token")
}

// validVersion accepts Graph versions like v23.0.
func validVersion(v string) bool {
	major, minor, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	return ok && strings.HasPrefix(v, "v") && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// randomAlnum returns n random letters and digits.
func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	for i, c := range b {
		b[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(b)
}
