// Package verifytest runs a stand-in for socialbridge in tests of APIs that
// use package verify: an httptest server with the endpoints verify reads
// (discovery, JWKS, the revocation feed with its cursor, ETag and paging,
// introspection), which mints real signed access tokens.
//
//	iss := verifytest.NewIssuer(t)
//	v, err := verify.New(ctx, verify.Config{
//		Issuer: iss.URL, Audience: []string{iss.Audience},
//		ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
//	})
//	...
//	req.Header.Set("Authorization", "Bearer "+iss.Token(map[string]any{"roles": []string{"admin"}}))
//
// It imports only the standard library and golang-jwt, like verify.
package verifytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The paths socialbridge serves the endpoints at, for Fail, Override and
// Requests.
const (
	DiscoveryPath     = "/.well-known/openid-configuration"
	JWKSPath          = "/.well-known/jwks.json"
	FeedPath          = "/revocations"
	IntrospectionPath = "/introspect"
)

// DefaultAudience is the aud of minted tokens unless a test says otherwise.
const DefaultAudience = "https://api.example.com"

// Issuer is a running stand-in for socialbridge. Its methods are safe for
// concurrent use.
type Issuer struct {
	// URL is the issuer (iss) and the base of every endpoint.
	URL string
	// Audience is the aud of minted tokens (DefaultAudience).
	Audience string
	// ClientID and ClientSecret are the backend credentials the feed and
	// introspection accept (HTTP Basic, form-encoded first).
	ClientID, ClientSecret string

	now      func() time.Time
	alg      string
	pageSize int
	window   time.Duration

	mu         sync.Mutex
	keys       []*signingKey // published, oldest first
	current    *signingKey   // signs new tokens
	log        []revocation  // the feed, in the order revoked
	forceReset bool
	fail       map[string]int
	override   map[string]http.Handler
	requests   map[string]int
}

type signingKey struct {
	kid    string
	alg    string
	method jwt.SigningMethod
	signer crypto.Signer
}

type revocation struct {
	session bool
	sid     string
	sub     string
	at      time.Time
}

// Option configures NewIssuer.
type Option func(*Issuer)

// WithClock sets the clock of minted tokens and feed entries (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithAlgorithm sets the algorithm of the first signing key: ES256
// (default), RS256, PS256 or EdDSA.
func WithAlgorithm(alg string) Option { return func(i *Issuer) { i.alg = alg } }

// WithFeedPageSize sets how many entries one feed response holds at most
// (default 1000, as socialbridge), so that tests can make it page.
func WithFeedPageSize(n int) Option { return func(i *Issuer) { i.pageSize = n } }

// NewIssuer starts an issuer with one signing key; t's cleanup stops it.
func NewIssuer(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i := &Issuer{
		Audience: DefaultAudience, ClientID: "api", ClientSecret: "api-secret with spaces & symbols/+=",
		now: time.Now, alg: "ES256", pageSize: 1000, window: 16 * time.Minute,
		fail: map[string]int{}, override: map[string]http.Handler{}, requests: map[string]int{},
	}
	for _, o := range opts {
		o(i)
	}
	k, err := newKey(i.alg)
	if err != nil {
		t.Fatalf("verifytest: %v", err)
	}
	i.keys, i.current = []*signingKey{k}, k
	srv := httptest.NewServer(http.HandlerFunc(i.serve))
	t.Cleanup(srv.Close)
	i.URL = srv.URL
	return i
}

func newKey(alg string) (*signingKey, error) {
	k := &signingKey{kid: randomID(), alg: alg, method: jwt.GetSigningMethod(alg)}
	var err error
	switch alg {
	case "ES256":
		k.signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256", "PS256":
		k.signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, k.signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("algorithm %q is not ES256, RS256, PS256 or EdDSA", alg)
	}
	return k, err
}

// KeyID returns the kid of the current signing key.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current.kid
}

// PublicKey returns the public key with kid, or nil.
func (i *Issuer) PublicKey(kid string) crypto.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range i.keys {
		if k.kid == kid {
			return k.signer.Public()
		}
	}
	return nil
}

// Rotate publishes a new key of alg ("" keeps the current algorithm) that
// signs from now on, and returns its kid. The old key stays published, as
// socialbridge keeps it until its tokens have expired.
func (i *Issuer) Rotate(alg string) string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if alg == "" {
		alg = i.current.alg
	}
	k, err := newKey(alg)
	if err != nil {
		panic("verifytest: " + err.Error())
	}
	i.keys = append(i.keys, k)
	i.current = k
	return k.kid
}

// Unpublish removes the key with kid from the JWKS (retired early).
func (i *Issuer) Unpublish(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, k := range i.keys {
		if k.kid == kid {
			i.keys = append(i.keys[:n:n], i.keys[n+1:]...)
			return
		}
	}
}

// Claims returns the claims of a fresh access token as socialbridge mints
// them: issued now, for 15 minutes, to client "app", user "user-1" in a
// new session, with scope "openid profile email".
func (i *Issuer) Claims() map[string]any {
	now := i.now()
	return map[string]any{
		"iss": i.URL, "sub": "user-1", "aud": []string{i.Audience},
		"exp": now.Add(15 * time.Minute).Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"jti": randomID(), "client_id": "app", "sid": "sid-" + randomID(), "idp": "dev",
		"scope": "openid profile email", "email": "user1@example.com", "email_verified": true, "name": "User One",
	}
}

// Token mints an access token: Claims with claims merged in (a nil value
// removes a claim), signed with the current key.
func (i *Issuer) Token(claims map[string]any) string { return i.Sign(nil, claims) }

// Sign mints a token like Token with header merged into the usual one
// (typ at+jwt, alg and kid of the current key; a nil value removes a
// parameter). With the kid of another published key, that key signs;
// with an unknown kid the current key does. An alg in header is written
// as given but the token is still signed with the key's own algorithm.
func (i *Issuer) Sign(header, claims map[string]any) string {
	c := i.Claims()
	merge(c, claims)
	i.mu.Lock()
	k := i.current
	if kid, ok := header["kid"].(string); ok {
		for _, kk := range i.keys {
			if kk.kid == kid {
				k = kk
			}
		}
	}
	i.mu.Unlock()
	t := jwt.NewWithClaims(k.method, jwt.MapClaims(c))
	t.Header["typ"] = "at+jwt"
	t.Header["kid"] = k.kid
	merge(t.Header, header)
	s, err := t.SignedString(k.signer)
	if err != nil {
		panic("verifytest: sign: " + err.Error())
	}
	return s
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// RevokeSession adds session sid of user sub to the feed, as a logout does.
func (i *Issuer) RevokeSession(sid, sub string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.log = append(i.log, revocation{session: true, sid: sid, sub: sub, at: i.now()})
}

// RevokeUser adds a not-before of now for user sub to the feed, as
// "revoke all tokens" or disabling the user does: the user's tokens issued
// before this second are revoked.
func (i *Issuer) RevokeUser(sub string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.log = append(i.log, revocation{sub: sub, at: i.now()})
}

// ResetFeed makes the next feed response a reset (the whole feed), as
// socialbridge answers a cursor older than its window.
func (i *Issuer) ResetFeed() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.forceReset = true
}

// Fail makes path answer status (e.g. 503) until Fail(path, 0).
func (i *Issuer) Fail(path string, status int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.fail[path] = status
}

// Override serves path with h instead until Override(path, nil).
func (i *Issuer) Override(path string, h http.Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.override[path] = h
}

// Requests returns how many requests path has had.
func (i *Issuer) Requests(path string) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.requests[path]
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	i.requests[r.URL.Path]++
	status, h := i.fail[r.URL.Path], i.override[r.URL.Path]
	i.mu.Unlock()
	switch {
	case status != 0:
		writeJSON(w, status, map[string]any{"error": "temporarily_unavailable"})
	case h != nil:
		h.ServeHTTP(w, r)
	case r.URL.Path == DiscoveryPath && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": i.URL, "jwks_uri": i.URL + JWKSPath,
			"introspection_endpoint": i.URL + IntrospectionPath, "revocation_feed_endpoint": i.URL + FeedPath,
		})
	case r.URL.Path == JWKSPath && r.Method == http.MethodGet:
		i.serveJWKS(w)
	case r.URL.Path == FeedPath && r.Method == http.MethodGet:
		i.serveFeed(w, r)
	case r.URL.Path == IntrospectionPath && r.Method == http.MethodPost:
		i.serveIntrospection(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (i *Issuer) serveJWKS(w http.ResponseWriter) {
	i.mu.Lock()
	keys := make([]map[string]string, 0, len(i.keys))
	for _, k := range i.keys {
		keys = append(keys, JWK(k.kid, k.alg, k.signer.Public()))
	}
	i.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// JWK returns the JSON Web Key of a public key as socialbridge publishes it.
func JWK(kid, alg string, pub crypto.PublicKey) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	j := map[string]string{"kid": kid, "alg": alg, "use": "sig"}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		raw, _ := p.Bytes()
		j["kty"], j["crv"], j["x"], j["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
	case *rsa.PublicKey:
		j["kty"], j["n"], j["e"] = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	case ed25519.PublicKey:
		j["kty"], j["crv"], j["x"] = "OKP", "Ed25519", b64(p)
	}
	return j
}

// authenticated checks the backend's HTTP Basic credentials.
func (i *Issuer) authenticated(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		ok = err1 == nil && err2 == nil && id == i.ClientID && secret == i.ClientSecret
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="socialbridge"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "client authentication failed"})
	}
	return ok
}

type feedSession struct {
	SID       string `json:"sid"`
	Subject   string `json:"sub"`
	RevokedAt int64  `json:"revoked_at"`
	Until     int64  `json:"until"`
}

type feedUser struct {
	Subject   string `json:"sub"`
	NotBefore int64  `json:"not_before"`
	Until     int64  `json:"until"`
}

// serveFeed serves the revocation feed as socialbridge does: without a
// cursor (or after ResetFeed) the whole feed with reset, else the entries
// since the cursor; a page at a time with more; an ETag of the entries,
// and 304 to a matching If-None-Match. The cursor is the position in the
// log ("v1.<n>"), opaque to verify.
func (i *Issuer) serveFeed(w http.ResponseWriter, r *http.Request) {
	if !i.authenticated(w, r) {
		return
	}
	from, reset := 0, true
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "v1."))
		if !strings.HasPrefix(c, "v1.") || err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "cursor is not one this feed returned"})
			return
		}
		from, reset = n, false
	}
	i.mu.Lock()
	if i.forceReset {
		from, reset, i.forceReset = 0, true, false
	}
	from = min(from, len(i.log))
	now := i.now()
	sessions, users := []feedSession{}, []feedUser{}
	next := from
	for ; next < len(i.log) && len(sessions)+len(users) < i.pageSize; next++ {
		e := i.log[next]
		until := e.at.Add(i.window).Unix()
		if until <= now.Unix() {
			continue // past the window: no token it revokes can be unexpired
		}
		if e.session {
			sessions = append(sessions, feedSession{SID: e.sid, Subject: e.sub, RevokedAt: e.at.Unix(), Until: until})
		} else {
			users = append(users, feedUser{Subject: e.sub, NotBefore: e.at.Unix(), Until: until})
		}
	}
	more := next < len(i.log)
	i.mu.Unlock()

	body := map[string]any{
		"reset": reset, "cursor": "v1." + strconv.Itoa(next), "more": more,
		"window": int64(i.window / time.Second), "sessions": sessions, "users": users,
	}
	tag, _ := json.Marshal([]any{reset, more, sessions, users})
	sum := sha256.Sum256(tag)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// serveIntrospection answers RFC 7662 introspection: active when the
// token verifies with a published key, has not expired, and is not revoked
// by the feed's entries.
func (i *Issuer) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	if !i.authenticated(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "token is required"})
		return
	}
	c, ok := i.parse(r.PostForm.Get("token"))
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	c["active"] = true
	c["token_type"] = "Bearer"
	writeJSON(w, http.StatusOK, c)
}

func (i *Issuer) parse(token string) (jwt.MapClaims, bool) {
	c := jwt.MapClaims{}
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256", "RS256", "PS256", "EdDSA"}), jwt.WithTimeFunc(i.now),
		jwt.WithExpirationRequired(), jwt.WithIssuer(i.URL)).
		ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			i.mu.Lock()
			defer i.mu.Unlock()
			for _, k := range i.keys {
				if k.kid == kid && k.alg == t.Method.Alg() {
					return k.signer.Public(), nil
				}
			}
			return nil, fmt.Errorf("unknown kid %q", kid)
		})
	if err != nil {
		return nil, false
	}
	sid, _ := c["sid"].(string)
	sub, _ := c["sub"].(string)
	iat, _ := c["iat"].(float64)
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, e := range i.log {
		if (e.session && e.sid == sid) || (!e.session && e.sub == sub && int64(iat) < e.at.Unix()) {
			return nil, false
		}
	}
	return c, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
