package providertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers"
)

// stubFake signs like a provider: one RSA key, published in a JWKS.
type stubFake struct {
	priv *rsa.PrivateKey
	kid  string
}

func (s stubFake) Sign(t *testing.T, claims map[string]any) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// SignIn is not used by the Forger.
func (stubFake) SignIn(*testing.T, *Rewriter) (*providers.Identity, error) {
	return nil, errors.New("not used")
}

// TestForgeriesAreWhatTheyClaimToBe checks each forgery against the fake's
// real key, so that a case refused by an adapter is refused for the reason
// its name gives.
func TestForgeriesAreWhatTheyClaimToBe(t *testing.T) {
	t.Parallel()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	fake := stubFake{priv: priv, kid: "fake-kid"}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &priv.PublicKey, KeyID: fake.kid, Algorithm: "RS256", Use: "sig"},
		}})
	}))
	t.Cleanup(jwks.Close)
	claims := map[string]any{"iss": "https://issuer.example", "sub": "s", "aud": "c"}
	orig, err := ParseUnverified(fake.Sign(t, claims))
	if err != nil {
		t.Fatal(err)
	}
	f := &Forger{t: t, h: fake, orig: orig, keys: &keyring{jwksURL: jwks.URL}}
	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	verifiesWith := func(raw string, key any) bool {
		_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return key, nil }, jwt.WithoutClaimsValidation())
		return err == nil
	}
	tests := []struct {
		name    string
		raw     string
		alg     string
		kid     string // "" means other than the fake's
		checkFn func(raw string) bool
	}{
		{"AsTheFake verifies with the fake's key", AsTheFake(f, claims), "RS256", fake.kid,
			func(raw string) bool { return verifiesWith(raw, &priv.PublicKey) }},
		{"a foreign key under the fake's kid does not", f.WithForeignKey(claims, fake.kid), "RS256", fake.kid,
			func(raw string) bool { return !verifiesWith(raw, &priv.PublicKey) }},
		{"a foreign key under its own kid does not", f.WithForeignKey(claims, ""), "RS256", "",
			func(raw string) bool { return !verifiesWith(raw, &priv.PublicKey) }},
		{"HS256 is keyed with the PEM of the published key", f.HMACWithPublicKey(claims), "HS256", fake.kid,
			func(raw string) bool { return verifiesWith(raw, pubPEM) }},
		{"alg none has no signature", f.Unsigned(claims), "none", fake.kid,
			func(raw string) bool { return raw[len(raw)-1] == '.' }},
		{"an altered payload keeps the fake's signature", KeepSignature(f, map[string]any{"sub": "mallory"}), "RS256", fake.kid,
			func(raw string) bool {
				tok, _ := ParseUnverified(raw)
				return tok.parts[2] == orig.parts[2] && tok.Claims["sub"] == "mallory" && !verifiesWith(raw, &priv.PublicKey)
			}},
	}
	if f.err != nil {
		t.Fatalf("forging failed: %v", f.err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := ParseUnverified(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Alg() != tt.alg || (tt.kid != "" && tok.Kid() != tt.kid) || (tt.kid == "" && tok.Kid() == fake.kid) {
				t.Errorf("header alg %q kid %q, want alg %q kid %q", tok.Alg(), tok.Kid(), tt.alg, tt.kid)
			}
			if !tt.checkFn(tt.raw) {
				t.Error("the forgery is not what its name says")
			}
		})
	}
}
