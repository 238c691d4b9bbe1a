package facebooktest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// iOS Limited Login: the Facebook SDK's AuthenticationToken, an OpenID
// Connect id_token that Facebook signs with RS256 and whose keys it
// publishes at a JWKS endpoint
// (developers.facebook.com/docs/facebook-login/limited-login/token).
const (
	// LimitedLoginIssuer is the iss of the fake's Limited Login tokens,
	// Facebook's: the adapter's default issuer accepts them.
	LimitedLoginIssuer = "https://www.facebook.com"
	// LimitedLoginTokenLifetime is how long the fake's Limited Login
	// tokens are valid. Facebook does not document it; an hour is
	// assumed.
	LimitedLoginTokenLifetime = time.Hour
	// limitedLoginJWKSPath is where the fake publishes its keys: the path
	// Facebook uses at limited.facebook.com.
	limitedLoginJWKSPath = "/.well-known/oauth/openid/jwks/"
)

// llKey is a Limited Login signing key.
type llKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// LimitedLoginJWKSURL returns the URL of the fake's Limited Login key set,
// the adapter's limited_login_jwks_url. It publishes the current signing
// key and the one before the last rotation, as Facebook keeps a retired
// key published while tokens signed with it are still valid.
func (s *Server) LimitedLoginJWKSURL() string { return s.ts.URL + limitedLoginJWKSPath }

// RotateLimitedLoginKey makes a new key sign the following Limited Login
// tokens and publishes it, with the key it replaces; the key before that
// is withdrawn. It returns the new key's kid.
func (s *Server) RotateLimitedLoginKey() string {
	k := s.newLimitedKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.llKeys = append(s.llKeys, k)
	if len(s.llKeys) > 2 {
		s.llKeys = slices.Clone(s.llKeys[len(s.llKeys)-2:])
	}
	return k.kid
}

// LimitedLoginKID returns the kid of the key that signs Limited Login
// tokens now.
func (s *Server) LimitedLoginKID() string { return s.currentLimitedKey().kid }

// TokenOption changes one Limited Login token that LimitedLoginToken
// mints, to make it wrong in one way.
type TokenOption func(*llToken)

// llToken is a Limited Login token being minted.
type llToken struct {
	now     time.Time // the fake's, when minting
	claims  map[string]any
	key     func(s *Server) llKey // the signing key
	kid     *string               // overrides the key's kid
	unsign  bool
	tamper  bool
	editors []func(map[string]any)
}

// TokenIssuer sets the token's iss.
func TokenIssuer(iss string) TokenOption {
	return func(t *llToken) { t.claims["iss"] = iss }
}

// TokenAudience sets the token's aud: one string for one audience, a list
// for several.
func TokenAudience(aud ...string) TokenOption {
	return func(t *llToken) {
		if len(aud) == 1 {
			t.claims["aud"] = aud[0]
		} else {
			t.claims["aud"] = slices.Clone(aud)
		}
	}
}

// TokenIssuedAt sets the token's iat and makes it expire
// LimitedLoginTokenLifetime after it.
func TokenIssuedAt(at time.Time) TokenOption {
	return func(t *llToken) {
		t.claims["iat"], t.claims["exp"] = at.Unix(), at.Add(LimitedLoginTokenLifetime).Unix()
	}
}

// TokenExpiresIn sets the token's exp to d from the fake's now; a negative
// d mints an expired token (issued LimitedLoginTokenLifetime before it
// expired).
func TokenExpiresIn(d time.Duration) TokenOption {
	return func(t *llToken) {
		exp := t.now.Add(d)
		t.claims["exp"] = exp.Unix()
		if d < 0 {
			t.claims["iat"] = exp.Add(-LimitedLoginTokenLifetime).Unix()
		}
	}
}

// SignedByUnknownKey signs the token with a key the fake never publishes,
// under a kid of its own.
func SignedByUnknownKey() TokenOption {
	return func(t *llToken) { t.key = (*Server).unknownLimitedKey }
}

// SignedUnderKID signs the token with its key but names kid in its header:
// a published kid whose key did not sign, a made-up one, or "" for none.
func SignedUnderKID(kid string) TokenOption {
	return func(t *llToken) { t.kid = &kid }
}

// AlgNone mints the token unsigned, with alg none and the current kid.
func AlgNone() TokenOption {
	return func(t *llToken) { t.unsign = true }
}

// BadSignature alters the token's signature after signing, so that it
// does not verify under the published key it names.
func BadSignature() TokenOption {
	return func(t *llToken) { t.tamper = true }
}

// EditClaims lets edit change the token's claims last, after every other
// option (delete sub, add nbf, ...).
func EditClaims(edit func(claims map[string]any)) TokenOption {
	return func(t *llToken) { t.editors = append(t.editors, edit) }
}

// LimitedLoginToken mints an iOS Limited Login id_token of app appID for u,
// carrying nonce as the app gave it to the SDK (no nonce claim when it is
// empty), signed with the fake's current key, as Facebook hands one to a
// native app. Like Facebook, it carries u's email unless u declines the
// email permission, and its sub is u's app-scoped id, the id of the
// browser flow and of access tokens.
func (s *Server) LimitedLoginToken(appID string, u User, nonce string, opts ...TokenOption) string {
	s.t.Helper()
	s.mu.Lock()
	_, known := s.app(appID)
	s.mu.Unlock()
	if !known {
		s.t.Fatalf("facebooktest: LimitedLoginToken for unknown app %q", appID)
	}
	now := s.now()
	c := map[string]any{
		"iss": LimitedLoginIssuer,
		"aud": appID,
		"sub": u.ID,
		"iat": now.Unix(),
		"exp": now.Add(LimitedLoginTokenLifetime).Unix(),
		"jti": fake.RandomString(16),
	}
	fake.SetNonEmpty(c, "nonce", nonce)
	fake.SetNonEmpty(c, "name", u.Name)
	fake.SetNonEmpty(c, "given_name", u.FirstName)
	fake.SetNonEmpty(c, "family_name", u.LastName)
	if !slices.Contains(u.DeclinedPermissions, "email") {
		fake.SetNonEmpty(c, "email", u.Email)
	}
	fake.SetNonEmpty(c, "picture", u.Picture)

	t := &llToken{now: now, claims: c, key: (*Server).currentLimitedKey}
	for _, opt := range opts {
		opt(t)
	}
	for _, edit := range t.editors {
		edit(t.claims)
	}
	return s.signLimited(t)
}

// SignLimitedLogin signs claims as they are, like Limited Login tokens:
// RS256 with the current key, whose kid is in the header. Tests that
// forge tokens claim by claim use it.
func (s *Server) SignLimitedLogin(claims map[string]any) string {
	s.t.Helper()
	return s.signLimited(&llToken{claims: maps.Clone(claims), key: (*Server).currentLimitedKey})
}

// signLimited signs t.
func (s *Server) signLimited(t *llToken) string {
	s.t.Helper()
	k := t.key(s)
	kid := k.kid
	if t.kid != nil {
		kid = *t.kid
	}
	var (
		raw string
		err error
	)
	if t.unsign {
		raw, err = fake.SignJWT(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, t.claims)
	} else {
		raw, err = fake.SignJWT(jwt.SigningMethodRS256, k.priv, kid, t.claims)
	}
	if err != nil {
		s.t.Fatalf("facebooktest: %v", err)
	}
	if t.tamper {
		i := strings.LastIndexByte(raw, '.')
		sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
		if err != nil || len(sig) == 0 {
			s.t.Fatalf("facebooktest: cannot alter the signature of %q", raw)
		}
		sig[len(sig)/2] ^= 0x01
		raw = raw[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	}
	return raw
}

// currentLimitedKey returns the key that signs now, made on first use.
func (s *Server) currentLimitedKey() llKey {
	s.mu.Lock()
	if n := len(s.llKeys); n > 0 {
		defer s.mu.Unlock()
		return s.llKeys[n-1]
	}
	s.mu.Unlock()
	k := s.newLimitedKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.llKeys) == 0 { // the first to finish wins
		s.llKeys = []llKey{k}
	}
	return s.llKeys[len(s.llKeys)-1]
}

// unknownLimitedKey returns a key the fake never publishes, made on first
// use.
func (s *Server) unknownLimitedKey() llKey {
	s.mu.Lock()
	k := s.llUnknown
	s.mu.Unlock()
	if k.priv != nil {
		return k
	}
	k = s.newLimitedKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.llUnknown.priv == nil {
		s.llUnknown = k
	}
	return s.llUnknown
}

// newLimitedKey makes an RSA key with a kid shaped like Facebook's (40
// hex digits).
func (s *Server) newLimitedKey() llKey {
	s.t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("facebooktest: generate a Limited Login key: %v", err)
	}
	id := make([]byte, 20)
	_, _ = rand.Read(id) // crypto/rand.Read never fails (Go 1.24+)
	return llKey{kid: hex.EncodeToString(id), priv: priv}
}

// handleLimitedJWKS publishes the Limited Login keys.
func (s *Server) handleLimitedJWKS(w http.ResponseWriter, _ *http.Request, _ string) {
	s.currentLimitedKey()
	s.mu.Lock()
	keys := make([]fake.JWK, 0, len(s.llKeys))
	for _, k := range s.llKeys {
		keys = append(keys, fake.RSAJWK(k.kid, "RS256", &k.priv.PublicKey))
	}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}
