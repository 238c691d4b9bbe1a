package googletest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// signingKey is an RSA key and the kid it is published under.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// newKey generates an RSA-2048 key with a random kid shaped like Google's
// (40 hex digits). It takes tens of milliseconds, so callers do not hold
// the lock.
func (s *Server) newKey() *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("googletest: generate RSA key: %v", err)
	}
	kid := make([]byte, 20)
	_, _ = rand.Read(kid)
	return &signingKey{kid: hex.EncodeToString(kid), priv: priv}
}

// RotateKey makes a new RSA-2048 key with a new kid the signing key. With
// keepOld the keys published so far stay in the JWKS, so tokens they signed
// still verify; without it the JWKS holds only the new key.
func (s *Server) RotateKey(keepOld bool) {
	k := s.newKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = k
	if keepOld {
		s.published = append([]*signingKey{k}, s.published...)
	} else {
		s.published = []*signingKey{k}
	}
}

// SignIDToken signs claims as they are with the current key (header alg
// RS256, typ JWT, kid of the current key), for tests of native id_tokens
// that a client obtained from Google itself. Claims gives a valid start.
func (s *Server) SignIDToken(claims map[string]any) string {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	raw, err := sign(k.priv, k.kid, claims)
	if err != nil {
		s.t.Fatalf("googletest: sign id_token: %v", err)
	}
	return raw
}

// SignWithForeignKey signs claims with a key that is not in the JWKS but
// under the current key's kid: a forgery that only signature verification
// catches.
func (s *Server) SignWithForeignKey(claims map[string]any) string {
	s.mu.Lock()
	foreign, kid := s.foreign, s.key.kid
	s.mu.Unlock()
	if foreign == nil {
		k := s.newKey()
		s.mu.Lock()
		if s.foreign == nil {
			s.foreign = k
		}
		foreign = s.foreign
		s.mu.Unlock()
	}
	raw, err := sign(foreign.priv, kid, claims)
	if err != nil {
		s.t.Fatalf("googletest: sign forged id_token: %v", err)
	}
	return raw
}

// Claims returns the id_token claims the fake would issue now for the
// current user to the default client, after an "openid email profile"
// sign-in without nonce: a starting point for SignIDToken.
func (s *Server) Claims() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	scopes := []string{"openid", scopeEmailURL, scopeProfileURL}
	return s.idTokenClaims(s.clients[0].id, s.user, scopes, "", "", s.now())
}

// idTokenClaims builds the claims Google puts in an id_token. Like Google,
// it adds email claims only with the email scope and profile claims only
// with the profile scope. nonce and accessToken (for at_hash) are left out
// when empty.
func (s *Server) idTokenClaims(clientID string, u User, scopes []string, nonce, accessToken string, now time.Time) map[string]any {
	c := map[string]any{
		"iss": s.Issuer(),
		"azp": clientID,
		"aud": clientID,
		"sub": u.Sub,
		"iat": now.Unix(),
		"exp": now.Add(idTokenTTL).Unix(),
	}
	if slices.Contains(scopes, scopeEmailURL) {
		fake.SetNonEmpty(c, "email", u.Email)
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, scopeProfileURL) {
		fake.SetNonEmpty(c, "name", u.Name)
		fake.SetNonEmpty(c, "given_name", u.GivenName)
		fake.SetNonEmpty(c, "family_name", u.FamilyName)
		fake.SetNonEmpty(c, "picture", u.Picture)
		fake.SetNonEmpty(c, "locale", u.Locale)
	}
	fake.SetNonEmpty(c, "hd", u.HD)
	fake.SetNonEmpty(c, "nonce", nonce)
	if accessToken != "" {
		c["at_hash"] = fake.AtHash(accessToken)
	}
	return c
}

// sign makes an RS256 JWT with header typ JWT and kid.
func sign(priv *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	return fake.SignJWT(jwt.SigningMethodRS256, priv, kid, claims)
}
