package azuretest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // x5t is a SHA-1 thumbprint (RFC 7517 §4.8), not a security check
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// signingKey is an RSA key, its self-signed certificate and the kid it is
// published under, which is the certificate's x5t as with Entra.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
	cert []byte // DER
}

// newKey generates an RSA-2048 key and a self-signed certificate for it.
// It takes tens of milliseconds, so callers do not hold the lock.
func (s *Server) newKey() *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		s.t.Fatalf("azuretest: generate RSA key: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		s.t.Fatalf("azuretest: self-sign certificate: %v", err)
	}
	sum := sha1.Sum(der)
	return &signingKey{kid: base64.RawURLEncoding.EncodeToString(sum[:]), priv: priv, cert: der}
}

// RotateKey makes a new key the signing key, under a new kid. With keepOld
// the keys published so far stay in the JWKS, so tokens they signed still
// verify; without it the JWKS holds only the new key.
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

// jwk is a published key in Entra's shape: RSA, with the certificate
// chain, its thumbprint and the issuer it signs for.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

// handleKeys is the JWKS endpoint. Every tenant segment publishes the same
// keys, as Entra does for apps without a custom signing key.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	s.calls.Record(keysEndpoint, nil)
	s.mu.Lock()
	_, ok := s.resolve(r.PathValue("tenant"))
	keys := make([]jwk, 0, len(s.published))
	for _, k := range s.published {
		pub := k.priv.PublicKey
		keys = append(keys, jwk{
			Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
			N:      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			X5c:    []string{base64.StdEncoding.EncodeToString(k.cert)},
			Issuer: s.IssuerTemplate(),
		})
	}
	s.mu.Unlock()
	if !ok {
		s.writeEntraError(w, r, unknownTenant(r.PathValue("tenant")))
		return
	}
	// A consumer caches the keys but must refetch on an unknown kid
	// (OpenID Connect Core §10.1.1), which is what RotateKey tests.
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, map[string][]jwk{"keys": keys})
}

// Claims returns the claims of the v2.0 ID token Entra issues now to the
// app clientID for u, after an "openid profile email" sign-in with nonce
// (left out when empty): what MSAL gives a mobile app. A starting point
// for SignIDToken.
func (s *Server) Claims(clientID string, u User, nonce string) map[string]any {
	return s.idTokenClaims(clientID, u, []string{"openid", "profile", "email"}, nonce, s.now())
}

// NativeIDToken returns Claims(clientID, u, nonce) signed with the current
// key: the ID token MSAL gives a mobile app signed in with the app
// registration clientID (which need not be registered with the fake).
func (s *Server) NativeIDToken(clientID string, u User, nonce string) string {
	return s.SignIDToken(s.Claims(clientID, u, nonce))
}

// SignIDToken signs claims as they are with the current key (header alg
// RS256, typ JWT, kid of the key), for tests of ID tokens a client got
// from Entra itself.
func (s *Server) SignIDToken(claims map[string]any) string {
	return s.mustSign(claims, 0)
}

// SignWithForeignKey signs claims with a key that is not in the JWKS but
// under the current key's kid: a forgery only signature verification
// catches.
func (s *Server) SignWithForeignKey(claims map[string]any) string {
	return s.mustSign(claims, ForgeForeignKey)
}

// SignWithUnknownKey signs claims with a key that is not in the JWKS, under
// a kid of its own: a consumer refetches the JWKS (once) and still finds
// no key for it.
func (s *Server) SignWithUnknownKey(claims map[string]any) string {
	return s.mustSign(claims, forgeUnknownKid)
}

// forgeUnknownKid signs with the foreign key under its own kid.
const forgeUnknownKid Forgery = -1

func (s *Server) mustSign(claims map[string]any, f Forgery) string {
	raw, err := s.signIDToken(claims, f)
	if err != nil {
		s.t.Fatalf("azuretest: sign id_token: %v", err)
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

// signIDToken signs claims with the current key, or forges the token as
// f says.
func (s *Server) signIDToken(claims map[string]any, f Forgery) (string, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	switch f {
	case ForgeForeignKey:
		return fake.SignJWT(jwt.SigningMethodRS256, s.foreignKey().priv, k.kid, claims)
	case forgeUnknownKid:
		foreign := s.foreignKey()
		return fake.SignJWT(jwt.SigningMethodRS256, foreign.priv, foreign.kid, claims)
	case ForgeAlgNone:
		header, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "none", "kid": k.kid})
		payload, err := json.Marshal(claims)
		if err != nil {
			return "", err
		}
		enc := base64.RawURLEncoding.EncodeToString
		return enc(header) + "." + enc(payload) + ".", nil
	case ForgeHS256:
		der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		if err != nil {
			return "", err
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		return fake.SignJWT(jwt.SigningMethodHS256, secret, k.kid, claims)
	}
	return fake.SignJWT(jwt.SigningMethodRS256, k.priv, k.kid, claims)
}

// idTokenClaims builds the claims of a v2.0 id_token, as Entra does: tid
// always; oid, name and preferred_username with the profile scope; email
// with the email scope when the user has one. There is no at_hash: Entra
// leaves it out of id_tokens from the token endpoint.
func (s *Server) idTokenClaims(clientID string, u User, scopes []string, nonce string, now time.Time) map[string]any {
	c := map[string]any{
		"ver": "2.0",
		"iss": s.Issuer(u.TenantID),
		"sub": s.Sub(clientID, u),
		"aud": clientID,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(idTokenTTL).Unix(),
		"tid": u.TenantID,
		"aio": fake.RandomString(60),
		"rh":  "0." + fake.RandomString(48) + ".",
		"uti": fake.RandomString(16),
	}
	if hasScope(scopes, "profile") {
		c["oid"] = u.OID
		fake.SetNonEmpty(c, "name", u.Name)
		fake.SetNonEmpty(c, "preferred_username", u.PreferredUsername)
		fake.SetNonEmpty(c, "given_name", u.GivenName)
		fake.SetNonEmpty(c, "family_name", u.FamilyName)
	}
	if hasScope(scopes, "email") {
		fake.SetNonEmpty(c, "email", u.Email)
	}
	if len(u.Roles) > 0 {
		c["roles"] = toAny(u.Roles)
	}
	if len(u.Groups) > 0 {
		c["groups"] = toAny(u.Groups)
	}
	fake.SetNonEmpty(c, "nonce", nonce)
	return c
}

// toAny returns ss as JSON decoding would: []any.
func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}
