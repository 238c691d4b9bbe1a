// Package dev is a local stand-in identity provider for dev mode: a "pick a
// test user" page that plays the provider's authorization endpoint, and a
// code exchange that checks PKCE and the nonce like a real provider would.
// It is only ever enabled in dev mode and its page says so loudly.
package dev

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// Name is the provider name in identity keys and callback paths.
const Name = "dev"

// PathPrefix is where Handler must be mounted.
const PathPrefix = "/dev/"

// codeTTL bounds a dev code, like a real provider's.
const codeTTL = time.Minute

// maxPendingCodes bounds memory if codes are minted and never redeemed.
const maxPendingCodes = 10000

// User is a test user offered on the dev page.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
}

// DefaultUsers returns the test users offered when none are configured:
// one with a verified email, one unverified, one without an email.
func DefaultUsers() []User {
	return []User{
		{ID: "alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice Dev"},
		{ID: "bob", Email: "bob@example.com", EmailVerified: false, Name: "Bob Unverified"},
		{ID: "carol", Name: "Carol No-Email"},
	}
}

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.ParseFS(pageFS, "page.html"))

// Provider is the dev provider. It is safe for concurrent use.
type Provider struct {
	publicURL string
	users     []User
	now       func() time.Time

	mu    sync.Mutex
	codes map[string]pendingCode
}

// pendingCode is a code the dev page issued and Exchange has not redeemed.
type pendingCode struct {
	user          User
	redirectURI   string
	nonce         string
	codeChallenge string
	authTime      time.Time // when the test user was picked
	expires       time.Time
}

// New returns the dev provider for a service reachable at publicURL.
func New(publicURL string, users []User, now func() time.Time) *Provider {
	if len(users) == 0 {
		users = DefaultUsers()
	}
	if now == nil {
		now = time.Now
	}
	return &Provider{publicURL: strings.TrimRight(publicURL, "/"), users: users, now: now, codes: map[string]pendingCode{}}
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return Name }

// AuthCodeURL implements providers.Provider: the dev page plays the
// provider's authorization endpoint. The page always asks which test user
// to sign in as, which satisfies every prompt and max_age, so those and
// login_hint are not passed on.
func (p *Provider) AuthCodeURL(_ context.Context, req providers.AuthRequest) (string, error) {
	q := url.Values{
		"redirect_uri": {req.RedirectURI}, "state": {req.State}, "nonce": {req.Nonce},
		"code_challenge": {req.CodeChallenge}, "code_challenge_method": {"S256"},
	}
	return p.publicURL + PathPrefix + "authorize?" + q.Encode(), nil
}

// Exchange implements providers.Provider.
func (p *Provider) Exchange(_ context.Context, req providers.ExchangeRequest) (*providers.Identity, error) {
	p.mu.Lock()
	pc, ok := p.codes[req.Code]
	delete(p.codes, req.Code) // single use, even when the checks below fail
	p.mu.Unlock()
	switch {
	case !ok || p.now().After(pc.expires):
		return nil, fail(providers.CodeInvalidGrant, "unknown, used or expired code")
	case pc.redirectURI != req.RedirectURI:
		return nil, fail(providers.CodeInvalidGrant, "redirect_uri does not match the authorization request")
	case !checkPKCE(req.CodeVerifier, pc.codeChallenge):
		return nil, fail(providers.CodeInvalidGrant, "code_verifier does not match code_challenge")
	case subtle.ConstantTimeCompare([]byte(pc.nonce), []byte(req.Nonce)) != 1:
		return nil, fail(providers.CodeInvalidToken, "nonce does not match this sign-in")
	}
	u := pc.user
	return &providers.Identity{
		Provider: Name,
		Subject:  u.ID,
		Profile: claims.Profile{
			Email: u.Email, EmailVerified: u.Email != "" && u.EmailVerified, Name: u.Name, Picture: u.Picture,
		},
		// Picking a test user is the authentication.
		AuthTime: pc.authTime,
		Tokens:   providers.Tokens{AccessToken: "dev-access-" + randomString(), Expiry: p.now().Add(time.Hour)},
	}, nil
}

func fail(code, msg string) error {
	return &providers.Error{Provider: Name, Code: code, Message: msg}
}

// checkPKCE verifies an S256 code challenge (RFC 7636 §4.6).
func checkPKCE(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return challenge != "" && subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// Handler serves the dev provider's pages under PathPrefix.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPrefix+"authorize", p.showPage)
	mux.HandleFunc("POST "+PathPrefix+"authorize", p.pickUser)
	return mux
}

// authParams are the authorization request's parameters, checked.
type authParams struct {
	RedirectURI, State, Nonce, CodeChallenge string
}

// parseAuth reads and checks the authorization parameters. The dev page
// only ever sends the browser back to this service's own dev callback.
func (p *Provider) parseAuth(v url.Values) (authParams, error) {
	a := authParams{RedirectURI: v.Get("redirect_uri"), State: v.Get("state"), Nonce: v.Get("nonce"), CodeChallenge: v.Get("code_challenge")}
	switch {
	case a.RedirectURI != p.publicURL+"/callback/"+Name:
		return a, fmt.Errorf("redirect_uri must be %s/callback/%s", p.publicURL, Name)
	case a.State == "" || a.Nonce == "" || a.CodeChallenge == "":
		return a, fmt.Errorf("state, nonce and code_challenge are required")
	case v.Get("code_challenge_method") != "S256":
		return a, fmt.Errorf("code_challenge_method must be S256")
	}
	return a, nil
}

func (p *Provider) showPage(w http.ResponseWriter, r *http.Request) {
	a, err := p.parseAuth(r.URL.Query())
	if err != nil {
		http.Error(w, "dev provider: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	_ = page.Execute(w, struct {
		Users []User
		Auth  authParams
	}{p.users, a})
}

func (p *Provider) pickUser(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "dev provider: bad form", http.StatusBadRequest)
		return
	}
	a, err := p.parseAuth(r.PostForm)
	if err != nil {
		http.Error(w, "dev provider: "+err.Error(), http.StatusBadRequest)
		return
	}
	var user *User
	for i := range p.users {
		if p.users[i].ID == r.PostForm.Get("user") {
			user = &p.users[i]
		}
	}
	if user == nil {
		http.Error(w, "dev provider: unknown test user", http.StatusBadRequest)
		return
	}
	code := randomString()
	now := p.now()
	p.mu.Lock()
	for c, pc := range p.codes { // drop expired codes; the map stays small
		if now.After(pc.expires) || len(p.codes) > maxPendingCodes {
			delete(p.codes, c)
		}
	}
	p.codes[code] = pendingCode{user: *user, redirectURI: a.RedirectURI, nonce: a.Nonce, codeChallenge: a.CodeChallenge,
		authTime: now, expires: now.Add(codeTTL)}
	p.mu.Unlock()
	target := a.RedirectURI + "?" + url.Values{"code": {code}, "state": {a.State}}.Encode()
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Routes implements providers.Mounter: the test-user page.
func (p *Provider) Routes() (string, http.Handler) { return PathPrefix, p.Handler() }

// Settings is the dev provider's configuration (providers.dev). It has
// no settings of its own: enabled (default: on in dev mode) is common to
// every provider.
type Settings struct{}

// Validate implements providers.Settings. The dev provider exists only in
// dev mode.
func (s *Settings) Validate(dev bool, report func(key, message string)) {
	if !dev {
		report("enabled", "the dev provider is only allowed in dev mode")
	}
}

// Type is the dev provider type. Its instance must be named dev.
func Type() providers.Type {
	return providers.Type{
		Name: Name, Label: "Dev (test users)",
		NewSettings: func() providers.Settings { return &Settings{} },
		New: func(inst providers.Instance, _ providers.Settings) (providers.Provider, error) {
			if inst.Name != Name {
				return nil, fmt.Errorf("the dev provider must be named %q, not %q", Name, inst.Name)
			}
			return New(inst.PublicURL, nil, inst.Now), nil
		},
	}
}
