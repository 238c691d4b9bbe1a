package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

func TestAFloodOfUnknownKidsFetchesTheJWKSAtMostOncePerInterval(t *testing.T) {
	f := newFixture(t, nil) // JWKSRefetchInterval: 30s
	before := f.iss.Requests(verifytest.JWKSPath)
	f.clock.Advance(31 * time.Second)

	var wg sync.WaitGroup
	for n := range 200 {
		wg.Go(func() {
			_, err := f.v.Verify(t.Context(), f.iss.Sign(map[string]any{"kid": "made-up-" + string(rune('a'+n%26)) + strings.Repeat("x", n)}, nil))
			wantReason(t, err, UnknownKey)
		})
	}
	wg.Wait()
	if got := f.iss.Requests(verifytest.JWKSPath) - before; got != 1 {
		t.Fatalf("200 concurrent unknown kids caused %d JWKS fetches, want 1", got)
	}

	// Within the interval: none more.
	f.clock.Advance(20 * time.Second)
	for range 50 {
		_, _ = f.v.Verify(t.Context(), f.iss.Sign(map[string]any{"kid": "again"}, nil))
	}
	if got := f.iss.Requests(verifytest.JWKSPath) - before; got != 1 {
		t.Fatalf("JWKS fetched %d times within one interval, want 1", got)
	}

	// After it: one more.
	f.clock.Advance(11 * time.Second)
	for range 50 {
		_, _ = f.v.Verify(t.Context(), f.iss.Sign(map[string]any{"kid": "later"}, nil))
	}
	if got := f.iss.Requests(verifytest.JWKSPath) - before; got != 2 {
		t.Fatalf("JWKS fetched %d times over two intervals, want 2", got)
	}
}

func TestKeyRotationFetchesTheNewKeyOnceAndBothKeysVerify(t *testing.T) {
	f := newFixture(t, nil)
	oldToken := f.iss.Token(nil)
	f.clock.Advance(time.Minute)
	before := f.iss.Requests(verifytest.JWKSPath)

	newKid := f.iss.Rotate("")
	newToken := f.iss.Token(nil)
	for range 3 {
		for _, tok := range []string{newToken, oldToken} {
			if _, err := f.v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("Verify after rotation: %v", err)
			}
		}
	}
	if got := f.iss.Requests(verifytest.JWKSPath) - before; got != 1 {
		t.Fatalf("rotation caused %d JWKS fetches, want 1", got)
	}
	if _, ok := f.v.keys.lookup(newKid); !ok {
		t.Fatal("the new key is not cached")
	}

	// A rotation to another algorithm works the same way.
	f.clock.Advance(time.Minute)
	f.iss.Rotate("EdDSA")
	if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
		t.Fatalf("Verify after rotating to EdDSA: %v", err)
	}
}

func TestCachedKeysKeepVerifyingWhileTheJWKSIsDown(t *testing.T) {
	f := newFixture(t, nil)
	f.iss.Fail(verifytest.JWKSPath, http.StatusServiceUnavailable)
	f.clock.Advance(time.Hour)

	// The periodic refresh fails and keeps the cache.
	if err := f.v.keys.refresh(t.Context()); err == nil {
		t.Fatal("refresh succeeded against a failing JWKS")
	}
	if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
		t.Fatalf("Verify with the JWKS down: %v", err)
	}
	// An unknown kid still fails cleanly, and the known key still works.
	_, err := f.v.Verify(t.Context(), f.iss.Sign(map[string]any{"kid": "unknown"}, nil))
	wantReason(t, err, UnknownKey)
	if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
		t.Fatalf("Verify after a failed refetch: %v", err)
	}
}

func TestARetiredKeyStopsVerifyingAfterTheRefresh(t *testing.T) {
	f := newFixture(t, nil)
	old := f.iss.KeyID()
	oldToken := f.iss.Token(nil)
	f.iss.Rotate("")
	f.iss.Unpublish(old)
	if err := f.v.keys.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := f.v.Verify(t.Context(), oldToken)
	wantReason(t, err, UnknownKey)
}

func TestTheBackgroundRefreshPicksUpNewKeys(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.JWKSRefreshInterval = 10 * time.Millisecond })
	before := f.iss.Requests(verifytest.JWKSPath)
	kid := f.iss.Rotate("")
	waitFor(t, "the background JWKS refresh", func() bool {
		_, ok := f.v.keys.lookup(kid)
		return ok && f.iss.Requests(verifytest.JWKSPath) > before
	})
}

func TestParseJWKRefusesKeysThatDoNotMatchTheirAlg(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	jwk := func(kid, alg string, pub any, edit map[string]string) json.RawMessage {
		m := verifytest.JWK(kid, alg, pub)
		for k, v := range edit {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name    string
		raw     json.RawMessage
		problem string // "" when the key must load
	}{
		{"an EC P-256 key for ES256", jwk("k", "ES256", &ec.PublicKey, nil), ""},
		{"an RSA key for RS256", jwk("k", "RS256", &rsaKey.PublicKey, nil), ""},
		{"an RSA key for PS256", jwk("k", "PS256", &rsaKey.PublicKey, nil), ""},
		{"an Ed25519 key for EdDSA", jwk("k", "EdDSA", ed, nil), ""},
		{"a key without use", jwk("k", "ES256", &ec.PublicKey, map[string]string{"use": ""}), ""},
		{"a key without kid", jwk("", "ES256", &ec.PublicKey, map[string]string{"kid": ""}), "no kid"},
		{"a key without alg", jwk("k", "ES256", &ec.PublicKey, map[string]string{"alg": ""}), "not allowed"},
		{"an encryption key", jwk("k", "ES256", &ec.PublicKey, map[string]string{"use": "enc"}), "not sig"},
		{"an HMAC key", json.RawMessage(`{"kty":"oct","kid":"k","alg":"HS256","k":"c2VjcmV0"}`), "not allowed"},
		{"an RSA key claiming ES256", jwk("k", "ES256", &rsaKey.PublicKey, nil), "EC P-256"},
		{"an EC key claiming RS256", jwk("k", "RS256", &ec.PublicKey, nil), "RSA key"},
		{"an EC key claiming EdDSA", jwk("k", "EdDSA", &ec.PublicKey, nil), "OKP Ed25519"},
		{"a P-256 key whose point is off the curve", jwk("k", "ES256", &ec.PublicKey, map[string]string{"y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}), "not a P-256 point"},
		{"a P-384 key claiming P-256", jwk("k", "ES256", &ec384.PublicKey, map[string]string{"crv": "P-256"}), "not a P-256 point"},
		{"an RSA key of 1024 bits", jwk("k", "RS256", &weak.PublicKey, nil), "too weak"},
		{"an Ed25519 key of the wrong size", jwk("k", "EdDSA", ed, map[string]string{"x": "AAAA"}), "32 bytes"},
		{"not an object", json.RawMessage(`"key"`), "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseJWK(tc.raw, DefaultAlgorithms)
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("parseJWK: %v", err)
			case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
				t.Fatalf("parseJWK = %v, want an error with %q", err, tc.problem)
			}
		})
	}
}

func TestAJWKSWithARepeatedKidDropsEveryKeyOfThatKid(t *testing.T) {
	f := newFixture(t, nil)
	kid := f.iss.KeyID()
	pub := f.iss.PublicKey(kid)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.iss.Override(verifytest.JWKSPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{
			verifytest.JWK(kid, "ES256", pub), verifytest.JWK(kid, "ES256", &other.PublicKey), verifytest.JWK(kid, "ES256", pub),
			verifytest.JWK("fine", "ES256", &other.PublicKey),
		}})
	}))
	if err := f.v.keys.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.v.keys.lookup(kid); ok {
		t.Fatal("a kid published three times is still trusted")
	}
	if _, ok := f.v.keys.lookup("fine"); !ok {
		t.Fatal("the other key was dropped too")
	}
}
