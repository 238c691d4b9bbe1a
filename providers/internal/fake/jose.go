package fake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// SignJWT signs claims (copied first; nil signs {}) with key as method
// says. The header has typ JWT, method's alg and kid, which need not be
// key's: a forgery under a published kid is a test in itself.
func SignJWT(method jwt.SigningMethod, key any, kid string, claims map[string]any) (string, error) {
	mc := jwt.MapClaims(maps.Clone(claims))
	if mc == nil {
		mc = jwt.MapClaims{}
	}
	tok := jwt.NewWithClaims(method, mc)
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign %s JWT: %w", method.Alg(), err)
	}
	return raw, nil
}

// AtHash is OpenID Connect Core §3.1.3.6's at_hash for the SHA-256
// algorithms (RS256, ES256): the base64url-encoded left half of the
// SHA-256 of the access token.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// JWK is a public JSON Web Key (RFC 7517; RFC 7518 §6.3.1 for RSA, §6.2.1
// for EC), as a JWKS endpoint publishes it.
type JWK struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// RSAJWK is the signing JWK of pub, published under kid for alg.
func RSAJWK(kid, alg string, pub *rsa.PublicKey) JWK {
	enc := base64.RawURLEncoding.EncodeToString
	return JWK{
		Kty: "RSA", Alg: alg, Use: "sig", Kid: kid,
		N: enc(pub.N.Bytes()), E: enc(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// PublicJWK is the signing JWK of pub, published under kid for alg. pub is
// an *rsa.PublicKey or a P-256 *ecdsa.PublicKey; other keys are an error.
func PublicJWK(kid, alg string, pub crypto.PublicKey) (JWK, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return RSAJWK(kid, alg, pub), nil
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("unsupported curve %s", pub.Curve.Params().Name)
		}
		point, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		if err != nil {
			return JWK{}, err
		}
		enc := base64.RawURLEncoding.EncodeToString
		return JWK{Kty: "EC", Alg: alg, Use: "sig", Kid: kid, Crv: "P-256", X: enc(point[1:33]), Y: enc(point[33:])}, nil
	default:
		return JWK{}, fmt.Errorf("unsupported key type %T", pub)
	}
}
