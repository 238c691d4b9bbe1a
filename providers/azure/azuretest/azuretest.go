// Package azuretest is a fake Microsoft Entra ID (the Microsoft identity
// platform's v2.0 endpoints) for tests. It runs on an httptest.Server that
// plays the authority host (https://login.microsoftonline.com) and answers
// like Entra does under every tenant segment:
//
//	/{tenant}/oauth2/v2.0/authorize                 authorization endpoint
//	/{tenant}/oauth2/v2.0/token                     token endpoint
//	/{tenant}/discovery/v2.0/keys                   JWKS (RS256, x5c, x5t)
//	/{tenant}/v2.0/.well-known/openid-configuration discovery
//
// where {tenant} is a tenant id, one of its verified domains, common,
// organizations or consumers. It knows two work tenants (Contoso and
// Fabrikam) and the tenant of personal Microsoft accounts, users who belong
// to one of them, and app registrations with Entra's "supported account
// types"; it refuses what Entra refuses (a user of another tenant, a
// personal account at /organizations, /common for a single-tenant app) with
// Entra's AADSTS codes. id_tokens carry v2.0 claims: iss of the user's own
// tenant, tid, oid, and a sub that is pairwise per client id, so a test can
// prove that an identity does not depend on sub.
//
// Tamper hooks (NextIDToken, ForgeNextIDToken, RotateKey, FailNextToken,
// DelayNextToken, RevokeRefreshTokens, ExpireClientSecret, Deny) provoke
// the failures a consumer must survive; NativeIDToken, SignIDToken,
// SignWithForeignKey and SignWithUnknownKey mint the ID tokens MSAL gives
// a mobile app, for native sign-in; WithSignInPage shows a page with a
// Continue button for browser tests. It depends only on the standard
// library, jwt/v5 and providers/internal/fake, so any package of this module
// may import it.
package azuretest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
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

// Tenant ids of the fake's directories.
const (
	// ContosoTenantID is a work tenant (contoso.onmicrosoft.com,
	// contoso.com).
	ContosoTenantID = "5f2b7c1e-3a4d-4e8f-9b60-7c1d2e3f4a5b"
	// FabrikamTenantID is a second work tenant (fabrikam.onmicrosoft.com,
	// fabrikam.com).
	FabrikamTenantID = "c0ffee00-1b2c-4d3e-8f4a-5b6c7d8e9f01"
	// PersonalTenantID is the tenant of every personal Microsoft account,
	// the same as Entra's.
	PersonalTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"
)

// Credentials of the app registered when no WithApp is given. The secret
// is shaped like an Entra client secret value (40 characters with a ~).
const (
	DefaultClientID     = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	DefaultClientSecret = "Qx98Q~fake.Secret_Value-ForTests0123456789"
)

// Lifetimes, the same as Entra's defaults.
const (
	codeTTL        = 10 * time.Minute
	accessTokenTTL = 3599 * time.Second
	idTokenTTL     = time.Hour
)

// Endpoints whose calls the Server counts, and records for the
// authorization and token endpoints.
const (
	authEndpoint      = "authorize"
	tokenEndpoint     = "token"
	keysEndpoint      = "keys"
	discoveryEndpoint = "discovery"
)

// graphUserRead is the Microsoft Graph permission every app gets by
// default; Entra lists it in the token response's scope.
const graphUserRead = "https://graph.microsoft.com/User.Read"

// Tenant is a directory.
type Tenant struct {
	// ID is the tenant id, a lower-case GUID: the tid of its tokens.
	ID string
	// Name is the organisation's display name.
	Name string
	// Domains are its verified domains, which name it in endpoint paths.
	Domains []string
}

// The fake's tenants.
var (
	Contoso  = Tenant{ID: ContosoTenantID, Name: "Contoso", Domains: []string{"contoso.onmicrosoft.com", "contoso.com"}}
	Fabrikam = Tenant{ID: FabrikamTenantID, Name: "Fabrikam", Domains: []string{"fabrikam.onmicrosoft.com", "fabrikam.com"}}
	Personal = Tenant{ID: PersonalTenantID, Name: "Microsoft Services"}
)

// User is who "signs in" at the authorization endpoint. Empty optional
// fields are left out of id_tokens, as Entra does.
type User struct {
	// OID is the user's object id, unique in its tenant (a GUID).
	OID string
	// TenantID is the tenant the user belongs to (for a guest: the tenant
	// that invited them, where the guest has an OID of its own).
	TenantID string
	// Name is the display name; GivenName and FamilyName are sent as
	// given_name and family_name (Entra sends them only as optional
	// claims; set them to model that configuration).
	Name, GivenName, FamilyName string
	// PreferredUsername is the sign-in name (a UPN, or a personal
	// account's address or phone number).
	PreferredUsername string
	// Email is the mail attribute, sent with the email scope. Entra does
	// not verify it: a tenant administrator can set any address.
	Email string
	// Roles are app roles assigned to the user; Groups group object ids
	// (when the app asks for the groups claim).
	Roles, Groups []string
}

// The fake's users. Alice is who signs in until SetUser is called.
var (
	Alice = User{
		OID: "1c4a2d6e-0b7f-4a9e-8d3c-2f5e6a7b8c9d", TenantID: ContosoTenantID,
		Name: "Alice Smith", PreferredUsername: "alice@contoso.com", Email: "alice@contoso.com",
	}
	Bob = User{
		OID: "7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b", TenantID: FabrikamTenantID,
		Name: "Bob Jones", PreferredUsername: "bob@fabrikam.com", Email: "bob@fabrikam.com",
	}
	// Carol has a personal Microsoft account: their object ids start
	// with 16 zero digits.
	Carol = User{
		OID: "00000000-0000-0000-66f3-3332eca7ea81", TenantID: PersonalTenantID,
		Name: "Carol Brown", PreferredUsername: "carol@outlook.com", Email: "carol@outlook.com",
	}
)

// Audience is an app registration's "Supported account types".
type Audience int

// Supported account types.
const (
	// AudienceAnyOrgAndPersonal: accounts in any organizational directory
	// and personal Microsoft accounts (AzureADandPersonalMicrosoftAccount).
	AudienceAnyOrgAndPersonal Audience = iota
	// AudienceMyOrg: accounts in the home tenant only (AzureADMyOrg).
	AudienceMyOrg
	// AudienceAnyOrg: accounts in any organizational directory
	// (AzureADMultipleOrgs).
	AudienceAnyOrg
	// AudiencePersonal: personal Microsoft accounts only
	// (PersonalMicrosoftAccount).
	AudiencePersonal
)

// App is an app registration.
type App struct {
	// ClientID is the Application (client) ID.
	ClientID string
	// Secret is the client secret's value; empty for a public client.
	Secret string
	// HomeTenantID is the tenant the app is registered in (default
	// Contoso).
	HomeTenantID string
	// Audience says whose accounts may sign in.
	Audience Audience
	// RedirectURIs are the registered Web redirect URIs, matched exactly.
	// Empty: any absolute https URI, or http on a loopback host.
	RedirectURIs []string
}

// Option configures a Server in New.
type Option func(*Server)

// WithApp registers an app. It can be given several times; the first is
// the default app of ClientID and ClientSecret. Without WithApp,
// DefaultClientID and DefaultClientSecret are registered in Contoso for
// AudienceAnyOrgAndPersonal.
func WithApp(a App) Option {
	return func(s *Server) {
		if a.HomeTenantID == "" {
			a.HomeTenantID = ContosoTenantID
		}
		s.apps = append(s.apps, a)
	}
}

// WithTenant adds a directory.
func WithTenant(t Tenant) Option {
	return func(s *Server) { s.tenants = append(s.tenants, t) }
}

// WithClock sets the clock of codes, tokens and id_token times (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithSignInPage makes the authorization endpoint show a minimal page
// naming the user and the app, with a button id="continue" that signs in
// and one id="cancel" that declines, instead of redirecting at once: for
// tests that drive a real browser.
func WithSignInPage() Option {
	return func(s *Server) { s.signInPage = true }
}

// Server is a running fake Entra ID. All methods are safe for concurrent
// use, also while requests are in flight.
type Server struct {
	t          testing.TB
	ts         *httptest.Server
	now        func() time.Time
	signInPage bool
	pairwise   []byte // key of the pairwise sub
	// calls counts the calls of every endpoint and records those of the
	// authorization and token endpoints.
	calls fake.Recorder[string]

	mu             sync.Mutex
	tenants        []Tenant
	apps           []App // the first is the default app
	user           User
	key            *signingKey   // signs new tokens
	published      []*signingKey // in the JWKS; includes key
	foreign        *signingKey   // never published; made on first use
	codes          map[string]*authCode
	refreshTokens  map[string]*grant
	issued         []string
	expiredSecrets map[string]bool // by client id
	deny           bool
	failToken      *cannedResponse
	delayToken     time.Duration
	nextIDToken    func(map[string]any)
	forge          Forgery
}

// authCode is an authorization code and what it was issued for.
type authCode struct {
	clientID    string
	redirectURI string
	segment     segment
	user        User
	scopes      []string
	nonce       string
	challenge   string // empty when the request had no PKCE
	method      string // "S256" or "plain"
	expiry      time.Time
	used        bool
}

// grant is what a refresh token stands for.
type grant struct {
	clientID string
	segment  segment
	user     User
	scopes   []string
	issued   time.Time
	revoked  bool
}

type cannedResponse struct {
	status      int
	contentType string
	body        string
	entra       *entraError // rendered at the time of the call when set
}

// New starts the fake with one fresh RSA-2048 signing key; it is closed
// with t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:              t,
		now:            time.Now,
		user:           Alice,
		tenants:        []Tenant{Contoso, Fabrikam, Personal},
		codes:          map[string]*authCode{},
		refreshTokens:  map[string]*grant{},
		expiredSecrets: map[string]bool{},
		pairwise:       make([]byte, 32),
	}
	_, _ = rand.Read(s.pairwise) // crypto/rand.Read never fails (Go 1.24+)
	for _, opt := range opts {
		opt(s)
	}
	if len(s.apps) == 0 {
		s.apps = []App{{ClientID: DefaultClientID, Secret: DefaultClientSecret, HomeTenantID: ContosoTenantID}}
	}
	s.key = s.newKey()
	s.published = []*signingKey{s.key}

	mux := http.NewServeMux()
	// Method-qualified patterns make the mux answer 405 with an Allow
	// header for other methods; GET patterns also serve HEAD.
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	s.ts = httptest.NewServer(mux)
	t.Cleanup(s.ts.Close)
	return s
}

// URL returns the authority host, without a trailing slash: what
// https://login.microsoftonline.com is to Entra.
func (s *Server) URL() string { return s.ts.URL }

// IssuerTemplate returns the issuer with Entra's {tenantid} placeholder,
// as the common and organizations discovery documents carry it.
func (s *Server) IssuerTemplate() string { return s.ts.URL + "/{tenantid}/v2.0" }

// Issuer returns the iss of the id_tokens of tenant tid.
func (s *Server) Issuer(tid string) string { return s.ts.URL + "/" + tid + "/v2.0" }

// AuthURL returns the authorization endpoint under tenant (an id, a
// domain, common, organizations or consumers).
func (s *Server) AuthURL(tenant string) string {
	return s.ts.URL + "/" + tenant + "/oauth2/v2.0/authorize"
}

// TokenURL returns the token endpoint under tenant.
func (s *Server) TokenURL(tenant string) string {
	return s.ts.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// KeysURL returns the JWKS endpoint under tenant.
func (s *Server) KeysURL(tenant string) string {
	return s.ts.URL + "/" + tenant + "/discovery/v2.0/keys"
}

// DiscoveryURL returns the discovery document's URL under tenant.
func (s *Server) DiscoveryURL(tenant string) string {
	return s.ts.URL + "/" + tenant + "/v2.0/.well-known/openid-configuration"
}

// ClientID returns the default app's client id.
func (s *Server) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[0].ClientID
}

// ClientSecret returns the default app's client secret.
func (s *Server) ClientSecret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apps[0].Secret
}

// SetUser sets who signs in at the following authorization requests.
// Codes and tokens already issued keep the user they were issued for.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// Sub returns the sub the fake puts in u's id_tokens for clientID: like
// Entra's, it is pairwise (it differs per client id for the same user) and
// stable for the life of the Server.
func (s *Server) Sub(clientID string, u User) string {
	mac := hmac.New(sha256.New, s.pairwise)
	mac.Write([]byte(clientID + "|" + u.TenantID + "|" + u.OID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))[:43]
}

// Deny makes the next authorization request that would issue a code
// redirect back with error=access_denied (AADSTS65004, the user declined
// consent) instead. It is one shot.
func (s *Server) Deny() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = true
}

// NextIDToken registers mutate to edit the claims of the next id_token
// minted at the token endpoint (code or refresh grant), just before it is
// signed. It is one shot; mutate runs without the server's lock held.
func (s *Server) NextIDToken(mutate func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextIDToken = mutate
}

// Forgery is a way to sign an id_token that a consumer must refuse.
type Forgery int

// Forgeries.
const (
	// ForgeForeignKey signs with an RSA key that is not in the JWKS, under
	// the kid of the published signing key.
	ForgeForeignKey Forgery = iota + 1
	// ForgeAlgNone sends the token unsigned, with header alg "none".
	ForgeAlgNone
	// ForgeHS256 signs with HMAC-SHA256 keyed with the published RSA
	// public key (the algorithm-confusion attack).
	ForgeHS256
)

// ForgeNextIDToken makes the next id_token minted at the token endpoint a
// forgery of kind f. It is one shot.
func (s *Server) ForgeNextIDToken(f Forgery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forge = f
}

// FailNextToken makes the next token-endpoint call, whatever it asks,
// answer with status and Entra's error body: error, error_description
// starting "AADSTS<code>: ", error_codes, timestamp, trace_id,
// correlation_id and error_uri. It is one shot; the call is still counted
// and recorded.
func (s *Server) FailNextToken(status int, errorCode string, aadsts int, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failToken = &cannedResponse{status: status, entra: &entraError{status: status, code: errorCode, aadsts: aadsts, description: description}}
}

// FailNextTokenRaw makes the next token-endpoint call answer with status
// and body as they are, sent as contentType. It is one shot.
func (s *Server) FailNextTokenRaw(status int, contentType, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failToken = &cannedResponse{status: status, contentType: contentType, body: body}
}

// DelayNextToken makes the next token-endpoint call wait d (or until the
// client gives up) before it is answered. It is one shot.
func (s *Server) DelayNextToken(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delayToken = d
}

// RevokeRefreshTokens revokes every refresh token issued to the user with
// object id oid, as a password reset or an administrator's "revoke
// sessions" does: redeeming one then fails with invalid_grant (AADSTS50173).
func (s *Server) RevokeRefreshTokens(oid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refreshTokens {
		if g.user.OID == oid {
			g.revoked = true
		}
	}
}

// ExpireClientSecret makes the secret of the app clientID expired: the
// token endpoint then answers 401 invalid_client (AADSTS7000222).
func (s *Server) ExpireClientSecret(clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiredSecrets[clientID] = true
}

// AuthRequests returns how many calls the authorization endpoint has
// received, refused ones included.
func (s *Server) AuthRequests() int {
	return s.calls.Count(authEndpoint)
}

// TokenRequests returns how many calls the token endpoint has received,
// failed ones included.
func (s *Server) TokenRequests() int {
	return s.calls.Count(tokenEndpoint)
}

// KeysRequests returns how many times the JWKS was fetched.
func (s *Server) KeysRequests() int {
	return s.calls.Count(keysEndpoint)
}

// DiscoveryRequests returns how many times a discovery document was
// fetched.
func (s *Server) DiscoveryRequests() int {
	return s.calls.Count(discoveryEndpoint)
}

// LastAuthRequest returns a copy of the parameters of the last
// authorization request (nil before the first).
func (s *Server) LastAuthRequest() url.Values {
	return s.calls.Last(authEndpoint)
}

// LastTokenRequest returns a copy of the form body of the last token call
// (nil before the first). Credentials sent with HTTP Basic are not in it.
func (s *Server) LastTokenRequest() url.Values {
	return s.calls.Last(tokenEndpoint)
}

// Issued returns every access token, refresh token and id_token the fake
// has issued, so that a test can check that no error message repeats one.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

func (s *Server) app(clientID string) (App, bool) {
	return fake.Lookup(s.apps, clientID, func(a App) string { return a.ClientID })
}

func (s *Server) tenantByID(id string) (Tenant, bool) {
	for _, t := range s.tenants {
		if strings.EqualFold(t.ID, id) {
			return t, true
		}
	}
	return Tenant{}, false
}

// segmentKind is what the {tenant} path segment names.
type segmentKind int

const (
	oneTenant segmentKind = iota
	common
	organizations
	consumers
)

// segment is a resolved {tenant} path segment.
type segment struct {
	raw    string // as in the path
	kind   segmentKind
	tenant Tenant // for oneTenant; Personal for consumers
}

// resolve reads the {tenant} path segment. s.mu is held.
func (s *Server) resolve(raw string) (segment, bool) {
	switch strings.ToLower(raw) {
	case "common":
		return segment{raw: raw, kind: common}, true
	case "organizations":
		return segment{raw: raw, kind: organizations}, true
	case "consumers":
		return segment{raw: raw, kind: consumers, tenant: Personal}, true
	}
	for _, t := range s.tenants {
		if strings.EqualFold(t.ID, raw) || slices.ContainsFunc(t.Domains, func(d string) bool { return strings.EqualFold(d, raw) }) {
			return segment{raw: raw, kind: oneTenant, tenant: t}, true
		}
	}
	return segment{}, false
}

// issuerOf returns what the discovery document under seg says the issuer
// is: the template for common and organizations, which span tenants.
func (s *Server) issuerOf(seg segment) string {
	if seg.kind == common || seg.kind == organizations {
		return s.IssuerTemplate()
	}
	return s.Issuer(seg.tenant.ID)
}

// randomGUID returns a random version-4 GUID, lower case.
func randomGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
