package azuretest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // x5t is a SHA-1 thumbprint (RFC 7517 §4.8), not a security check
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	s.mu.Lock()
	s.keysRequests++
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

// signIDToken signs claims with the current key, or forges the token as
// f says.
func (s *Server) signIDToken(claims map[string]any, f Forgery) (string, error) {
	s.mu.Lock()
	k := s.key
	s.mu.Unlock()
	switch f {
	case ForgeForeignKey:
		s.mu.Lock()
		foreign := s.foreign
		s.mu.Unlock()
		if foreign == nil {
			foreign = s.newKey()
			s.mu.Lock()
			if s.foreign == nil {
				s.foreign = foreign
			}
			foreign = s.foreign
			s.mu.Unlock()
		}
		return sign(jwt.SigningMethodRS256, foreign.priv, k.kid, claims)
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
		return sign(jwt.SigningMethodHS256, secret, k.kid, claims)
	}
	return sign(jwt.SigningMethodRS256, k.priv, k.kid, claims)
}

// sign makes a JWT with header typ JWT, alg of m and kid.
func sign(m jwt.SigningMethod, key any, kid string, claims map[string]any) (string, error) {
	tok := jwt.NewWithClaims(m, jwt.MapClaims(maps.Clone(claims)))
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign %s JWT: %w", m.Alg(), err)
	}
	return raw, nil
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
		"aio": randomString(60),
		"rh":  "0." + randomString(48) + ".",
		"uti": randomString(16),
	}
	if hasScope(scopes, "profile") {
		c["oid"] = u.OID
		setNonEmpty(c, "name", u.Name)
		setNonEmpty(c, "preferred_username", u.PreferredUsername)
		setNonEmpty(c, "given_name", u.GivenName)
		setNonEmpty(c, "family_name", u.FamilyName)
	}
	if hasScope(scopes, "email") {
		setNonEmpty(c, "email", u.Email)
	}
	if len(u.Roles) > 0 {
		c["roles"] = toAny(u.Roles)
	}
	if len(u.Groups) > 0 {
		c["groups"] = toAny(u.Groups)
	}
	setNonEmpty(c, "nonce", nonce)
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

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// pkceS256 is the S256 code challenge of verifier (RFC 7636 §4.2).
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	return hmac.Equal([]byte(a), []byte(b))
}
