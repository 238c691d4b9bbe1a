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
	foreign := s.foreignKey()
	s.mu.Lock()
	kid := s.key.kid
	s.mu.Unlock()
	raw, err := sign(foreign.priv, kid, claims)
	if err != nil {
		s.t.Fatalf("googletest: sign forged id_token: %v", err)
	}
	return raw
}

// SignWithUnknownKey signs claims with a key that is not in the JWKS, under
// a kid of its own: a consumer refetches the JWKS (once) and still finds
// no key for it.
func (s *Server) SignWithUnknownKey(claims map[string]any) string {
	k := s.foreignKey()
	raw, err := sign(k.priv, k.kid, claims)
	if err != nil {
		s.t.Fatalf("googletest: sign id_token with an unknown key: %v", err)
	}
	return raw
}

// foreignKey returns the key that is never published, made on first use.
func (s *Server) foreignKey() *signingKey {
	s.mu.Lock()
	foreign := s.foreign
	s.mu.Unlock()
	if foreign != nil {
		return foreign
	}
	k := s.newKey()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.foreign == nil {
		s.foreign = k
	}
	return s.foreign
}

// NativeClaims returns the claims of the ID token Google's SDKs give a
// mobile app now for the current user, after an "openid email profile"
// sign-in: aud is the client the app asked a token for (on Android, the
// web client: setServerClientId), azp the app's own client (Android or
// iOS; the same as aud when azp is empty), and nonce the app's nonce
// (left out when empty). A starting point for SignIDToken.
func (s *Server) NativeClaims(aud, azp, nonce string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	scopes := []string{"openid", scopeEmailURL, scopeProfileURL}
	c := s.idTokenClaims(aud, s.user, scopes, nonce, "", s.now())
	if azp != "" {
		c["azp"] = azp
	}
	return c
}

// NativeIDToken returns NativeClaims(aud, azp, nonce) signed with the
// current key.
func (s *Server) NativeIDToken(aud, azp, nonce string) string {
	return s.SignIDToken(s.NativeClaims(aud, azp, nonce))
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
