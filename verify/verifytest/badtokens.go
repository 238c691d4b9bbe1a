package verifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BadToken is a token an API must refuse, with the verify.Reason it is
// refused with. Every one is answered 401 with WWW-Authenticate: Bearer
// error="invalid_token".
type BadToken struct {
	// Name says what is wrong, as a sentence.
	Name  string
	Token string
	// Reason is the verify.Reason value ("expired", "bad_signature", ...).
	Reason string
}

// BadTokens returns one token for each way a token can be wrong, for an
// API configured with this issuer and its Audience (leeway at most 5
// minutes): run them all through your handlers and expect 401.
func (i *Issuer) BadTokens() []BadToken {
	now := i.now()
	kid := i.KeyID()
	good := i.Token(nil)
	head, payload, sig := split(good)
	b64 := base64.RawURLEncoding.EncodeToString

	// A key the issuer never published, signing with the issuer's kid.
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(i.Claims()))
		t.Header["typ"], t.Header["kid"] = "at+jwt", kid
		s, _ := t.SignedString(forger)
		return s
	}()
	// HS256 keyed with the issuer's public key: the classic algorithm
	// confusion (RFC 8725 §2.1), once with its PEM and once with its JWK.
	pubDER, _ := x509.MarshalPKIXPublicKey(i.PublicKey(kid))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(key []byte) string {
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(i.Claims()))
		t.Header["typ"], t.Header["kid"] = "at+jwt", kid
		s, _ := t.SignedString(key)
		return s
	}
	none := func() string {
		t := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(i.Claims()))
		t.Header["typ"], t.Header["kid"] = "at+jwt", kid
		s, _ := t.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	otherAlg := "RS256"
	if strings.HasPrefix(i.current.alg, "RS") || i.current.alg == "PS256" {
		otherAlg = "ES256"
	}
	// The issuer's public key as a jwk header parameter: a verifier that
	// trusted it would accept a token signed by anyone's key.
	embedded := map[string]any{"kty": "EC", "crv": "P-256"}
	if pub, err := forger.PublicKey.Bytes(); err == nil {
		embedded["x"], embedded["y"] = b64(pub[1:33]), b64(pub[33:65])
	}

	claims := func(c map[string]any) string { return i.Token(c) }
	header := func(h map[string]any) string { return i.Sign(h, nil) }
	return []BadToken{
		{"a token longer than 8 KiB is refused before parsing", claims(map[string]any{"pad": strings.Repeat("a", 9<<10)}), "malformed"},
		{"a token with two segments is malformed", head + "." + payload, "malformed"},
		{"a token with four segments is malformed", good + ".x", "malformed"},
		{"a header that is not base64url is malformed", "!!" + head + "." + payload + "." + sig, "malformed"},
		{"a header that is not JSON is malformed", b64([]byte("not json")) + "." + payload + "." + sig, "malformed"},
		{"claims that are not JSON are malformed", head + "." + b64([]byte("[1,2")) + "." + sig, "malformed"},
		{"a header without kid is malformed", header(map[string]any{"kid": nil}), "malformed"},
		{"a header carrying a jwk is refused", header(map[string]any{"jwk": embedded}), "malformed"},
		{"a header carrying a jku is refused", header(map[string]any{"jku": i.URL + JWKSPath}), "malformed"},
		{"a header carrying an x5u is refused", header(map[string]any{"x5u": i.URL + "/cert.pem"}), "malformed"},
		{"a header carrying an x5c is refused", header(map[string]any{"x5c": []string{"MIIB"}}), "malformed"},
		{"a header with crit is refused", header(map[string]any{"crit": []string{"exp"}}), "malformed"},
		{"an ID token (typ JWT) is not an access token", header(map[string]any{"typ": "JWT"}), "wrong_type"},
		{"a token without typ is not an access token", header(map[string]any{"typ": nil}), "wrong_type"},
		{"a refresh token (typ rt+jwt) is not an access token", header(map[string]any{"typ": "rt+jwt"}), "wrong_type"},
		{"an unknown kid is refused", header(map[string]any{"kid": "no-such-key"}), "unknown_key"},
		{"alg none is refused", none, "bad_signature"},
		{"HS256 keyed with the public key PEM is refused", hs256(pubPEM), "bad_signature"},
		{"HS256 keyed with the public key DER is refused", hs256(pubDER), "bad_signature"},
		{"an alg other than the key's is refused", header(map[string]any{"alg": otherAlg}), "bad_signature"},
		{"a token signed by another key under the issuer's kid is refused", forged, "bad_signature"},
		{"a tampered payload is refused", head + "." + b64([]byte(`{"sub":"admin"}`)) + "." + sig, "bad_signature"},
		{"a signature with a changed byte is refused", head + "." + payload + "." + flip(sig), "bad_signature"},
		{"another issuer is refused", claims(map[string]any{"iss": "https://evil.example.com"}), "wrong_issuer"},
		{"the issuer with a trailing slash is another issuer", claims(map[string]any{"iss": i.URL + "/"}), "wrong_issuer"},
		{"an audience of another API is refused", claims(map[string]any{"aud": []string{"https://other.example.com"}}), "wrong_audience"},
		{"an expired token is refused", claims(map[string]any{"exp": now.Add(-6 * time.Minute).Unix(), "iat": now.Add(-20 * time.Minute).Unix()}), "expired"},
		{"a token not valid before the future is refused", claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), "not_yet_valid"},
		{"a token issued in the future is refused", claims(map[string]any{"iat": now.Add(10 * time.Minute).Unix()}), "not_yet_valid"},
		{"a token without exp is refused", claims(map[string]any{"exp": nil}), "missing_claim"},
		{"a token without iat is refused", claims(map[string]any{"iat": nil}), "missing_claim"},
		{"a token without iss is refused", claims(map[string]any{"iss": nil}), "missing_claim"},
		{"a token without aud is refused", claims(map[string]any{"aud": nil}), "missing_claim"},
		{"a token without sub is refused", claims(map[string]any{"sub": nil}), "missing_claim"},
		{"a token without sid is refused", claims(map[string]any{"sid": nil}), "missing_claim"},
		{"a token without client_id is refused", claims(map[string]any{"client_id": nil}), "missing_claim"},
		{"a token without jti is refused", claims(map[string]any{"jti": nil}), "missing_claim"},
		{"a token with an empty sub is refused", claims(map[string]any{"sub": ""}), "missing_claim"},
		{"an exp that is not a number is malformed", claims(map[string]any{"exp": "tomorrow"}), "malformed"},
	}
}

func split(token string) (string, string, string) {
	p := strings.SplitN(token, ".", 3)
	return p[0], p[1], p[2]
}

// flip changes one byte in the middle of a base64url segment.
func flip(seg string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || len(b) == 0 {
		return seg + "A"
	}
	b[len(b)/2] ^= 0x01
	return base64.RawURLEncoding.EncodeToString(b)
}
