package fake_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

func TestRandomString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    int
		want int // length of the encoding
	}{
		{"32 bytes encode to 43 base64url characters", 32, 43},
		{"16 bytes encode to 22 base64url characters", 16, 22},
		{"no bytes encode to nothing", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := fake.RandomString(tt.n)
			if len(got) != tt.want {
				t.Errorf("RandomString(%d) = %q, want %d characters", tt.n, got, tt.want)
			}
			if b, err := base64.RawURLEncoding.DecodeString(got); err != nil || len(b) != tt.n {
				t.Errorf("RandomString(%d) = %q does not decode to %d bytes (%v)", tt.n, got, tt.n, err)
			}
		})
	}
	t.Run("two calls do not repeat a value", func(t *testing.T) {
		t.Parallel()
		if a, b := fake.RandomString(32), fake.RandomString(32); a == b {
			t.Errorf("RandomString(32) gave %q twice", a)
		}
	})
}

func TestCloneValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   url.Values
	}{
		{"nil stays nil", nil},
		{"empty values stay empty", url.Values{}},
		{"every key and value is copied", url.Values{"a": {"1", "2"}, "b": {""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := fake.CloneValues(tt.in)
			if !reflect.DeepEqual(got, tt.in) {
				t.Fatalf("CloneValues(%v) = %v", tt.in, got)
			}
			if got == nil {
				return
			}
			got.Set("new", "x")
			for _, vs := range got {
				if len(vs) > 0 {
					vs[0] = "changed"
				}
			}
			if tt.in.Has("new") || strings.Contains(tt.in.Encode(), "changed") {
				t.Errorf("changing the copy changed the original: %v", tt.in)
			}
		})
	}
}

func TestRepeatedParam(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     url.Values
		want   string
		wantOK bool
	}{
		{"no parameters repeat nothing", nil, "", false},
		{"single values repeat nothing", url.Values{"a": {"1"}, "b": {"2"}}, "", false},
		{"a parameter given twice is named", url.Values{"a": {"1"}, "state": {"x", "y"}}, "state", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := fake.RepeatedParam(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RepeatedParam(%v) = %q, %t; want %q, %t", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSetNonEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		want  bool // the key is set
	}{
		{"a value is set", "v", true},
		{"an empty value is left out", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := url.Values{}
			fake.SetNonEmptyParam(q, "k", tt.value)
			if q.Has("k") != tt.want || q.Get("k") != tt.value {
				t.Errorf("SetNonEmptyParam(%q) gave %v", tt.value, q)
			}
			m := map[string]any{}
			fake.SetNonEmpty(m, "k", tt.value)
			if v, ok := m["k"]; ok != tt.want || (ok && v != tt.value) {
				t.Errorf("SetNonEmpty(%q) gave %v", tt.value, m)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	type client struct{ id, secret string }
	clients := []client{{"a", "first"}, {"b", "second"}, {"a", "shadowed"}}
	id := func(c client) string { return c.id }
	tests := []struct {
		name   string
		items  []client
		id     string
		want   client
		wantOK bool
	}{
		{"a registered id is found", clients, "b", client{"b", "second"}, true},
		{"the first of two with one id wins", clients, "a", client{"a", "first"}, true},
		{"an unknown id is the zero value", clients, "c", client{}, false},
		{"nothing is found in no items", nil, "a", client{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := fake.Lookup(tt.items, tt.id, id)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Lookup(%q) = %+v, %t; want %+v, %t", tt.id, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		contentType string
		v           any
		wantStatus  int
		wantType    string
		wantBody    string
	}{
		{"a value is sent with the status and content type given", http.StatusCreated, "application/json; charset=utf-8",
			map[string]string{"a": "b"}, http.StatusCreated, "application/json; charset=utf-8", "{\"a\":\"b\"}\n"},
		{"a bare application/json is kept", http.StatusOK, "application/json",
			[]int{1}, http.StatusOK, "application/json", "[1]\n"},
		{"a value JSON cannot encode is a 500", http.StatusOK, "application/json",
			func() {}, http.StatusInternalServerError, "text/plain; charset=utf-8", "encode response\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			fake.WriteJSON(w, tt.status, tt.contentType, tt.v)
			if w.Code != tt.wantStatus || w.Header().Get("Content-Type") != tt.wantType || w.Body.String() != tt.wantBody {
				t.Errorf("got %d %q %q, want %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String(),
					tt.wantStatus, tt.wantType, tt.wantBody)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		target       string
		q            url.Values
		cacheControl string // set before the call
		wantLocation string
		wantCache    string
	}{
		{"the query replaces the target's", "https://app.example/cb?old=1", url.Values{"code": {"c"}, "state": {"s"}}, "",
			"https://app.example/cb?code=c&state=s", "no-store"},
		{"a native app's custom scheme is kept as is", "com.example.app:/callback", url.Values{"code": {"c"}}, "",
			"com.example.app:/callback?code=c", "no-store"},
		{"a fragment of the target is kept", "https://app.example/cb#_=_", url.Values{"code": {"c"}}, "",
			"https://app.example/cb?code=c#_=_", "no-store"},
		{"the caller's Cache-Control is kept", "https://app.example/cb", url.Values{"error": {"access_denied"}}, "no-store, no-cache",
			"https://app.example/cb?error=access_denied", "no-store, no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target, err := url.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			if tt.cacheControl != "" {
				w.Header().Set("Cache-Control", tt.cacheControl)
			}
			fake.Redirect(w, target, tt.q)
			if w.Code != http.StatusFound || w.Header().Get("Location") != tt.wantLocation || w.Header().Get("Cache-Control") != tt.wantCache {
				t.Errorf("got %d to %q with Cache-Control %q; want 302 to %q with %q", w.Code, w.Header().Get("Location"),
					w.Header().Get("Cache-Control"), tt.wantLocation, tt.wantCache)
			}
			if target.String() != tt.target {
				t.Errorf("the target changed to %s", target)
			}
		})
	}
}

func TestValidRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"an https URI is valid", "https://app.example/cb", true},
		{"an http URI on localhost is valid", "http://127.0.0.1:8080/cb", true},
		{"a native app's custom scheme is valid", "com.example.app:/callback", true},
		{"an opaque URI is valid", "urn:ietf:wg:oauth:2.0:oob", true},
		{"a relative URI is invalid", "/cb", false},
		{"an https URI without a host is invalid", "https:///cb", false},
		{"a URI with a fragment is invalid", "https://app.example/cb#x", false},
		{"a bare # is no fragment once parsed, so it is valid", "https://app.example/cb#", true},
		{"a scheme alone is invalid", "myapp:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got := fake.ValidRedirectURI(u); got != tt.want {
				t.Errorf("ValidRedirectURI(%q) = %t, want %t", tt.uri, got, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		authorization string
		want          string
		wantOK        bool
	}{
		{"a Bearer token is returned", "Bearer abc", "abc", true},
		{"the scheme is case-insensitive", "bearer abc", "abc", true},
		{"no header is no token", "", "", false},
		{"another scheme is no token", "Basic YTpi", "", false},
		{"a scheme without a token is no token", "Bearer", "", false},
		{"an empty token is no token", "Bearer ", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/userinfo", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			got, ok := fake.BearerToken(r)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("BearerToken(%q) = %q, %t; want %q, %t", tt.authorization, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	tests := []struct {
		name          string
		authorization string
		form          url.Values
		wantID        string
		wantSecret    string
		wantBasic     bool
		wantErr       error
	}{
		{"the form's credentials are client_secret_post", "", url.Values{"client_id": {"c"}, "client_secret": {"s"}},
			"c", "s", false, nil},
		{"a form without credentials names no client", "", url.Values{}, "", "", false, nil},
		{"Basic credentials are client_secret_basic", basic("c", "s"), url.Values{}, "c", "s", true, nil},
		{"Basic credentials are form-decoded", basic("my%3Aclient", "s%2Bx+y"), url.Values{}, "my:client", "s+x y", true, nil},
		{"Basic credentials with the same client_id in the form are accepted", basic("c", "s"), url.Values{"client_id": {"c"}},
			"c", "s", true, nil},
		{"Basic credentials that are not form-encoded are refused", basic("c%zz", "s"), url.Values{}, "", "", true, fake.ErrBasicNotFormEncoded},
		{"Basic credentials and a client_secret in the form are refused", basic("c", "s"), url.Values{"client_secret": {"s"}},
			"", "", true, fake.ErrTwoAuthMethods},
		{"Basic credentials and another client_id in the form are refused", basic("c", "s"), url.Values{"client_id": {"d"}},
			"", "", true, fake.ErrTwoAuthMethods},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/token", nil)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			id, secret, isBasic, err := fake.ClientCredentials(r, tt.form)
			if id != tt.wantID || secret != tt.wantSecret || isBasic != tt.wantBasic || !errors.Is(err, tt.wantErr) {
				t.Errorf("ClientCredentials = %q, %q, %t, %v; want %q, %q, %t, %v",
					id, secret, isBasic, err, tt.wantID, tt.wantSecret, tt.wantBasic, tt.wantErr)
			}
		})
	}
}

// RFC 7636 Appendix B's example.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

func TestValidPKCEString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    string
		want bool
	}{
		{"RFC 7636's example verifier is valid", rfcVerifier, true},
		{"43 characters are valid", strings.Repeat("a", 43), true},
		{"128 characters are valid", strings.Repeat("a", 128), true},
		{"every unreserved character is valid", "AZaz09-._~" + strings.Repeat("x", 33), true},
		{"42 characters are too short", strings.Repeat("a", 42), false},
		{"129 characters are too long", strings.Repeat("a", 129), false},
		{"a plus sign is invalid", "+" + strings.Repeat("a", 42), false},
		{"a non-ASCII letter is invalid", "é" + strings.Repeat("a", 41), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fake.ValidPKCEString(tt.v); got != tt.want {
				t.Errorf("ValidPKCEString(%q) = %t, want %t", tt.v, got, tt.want)
			}
		})
	}
}

func TestPKCEMethod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		challenge string
		method    string
		want      string
		wantErr   error
	}{
		{"no PKCE at all is allowed and remembered as no method", "", "", "", nil},
		{"an S256 challenge is S256", rfcChallenge, "S256", "S256", nil},
		{"a plain challenge is plain", rfcVerifier, "plain", "plain", nil},
		{"a challenge without a method is plain", rfcVerifier, "", "plain", nil},
		{"a method without a challenge is refused", "", "S256", "", fake.ErrChallengeMissing},
		{"a short challenge is refused", "abc", "S256", "", fake.ErrChallengeInvalid},
		{"an unknown method is refused", rfcChallenge, "S512", "", fake.ErrMethodUnsupported},
		{"methods are case-sensitive", rfcChallenge, "s256", "", fake.ErrMethodUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := fake.PKCEMethod(tt.challenge, tt.method)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("PKCEMethod(%q, %q) = %q, %v; want %q, %v", tt.challenge, tt.method, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestVerifyPKCE(t *testing.T) {
	t.Parallel()
	verifier := func(v string) url.Values { return url.Values{"code_verifier": {v}} }
	tests := []struct {
		name      string
		challenge string
		method    string
		form      url.Values
		want      error
	}{
		{"RFC 7636's example S256 pair matches", rfcChallenge, "S256", verifier(rfcVerifier), nil},
		{"a plain verifier equal to its challenge matches", rfcVerifier, "plain", verifier(rfcVerifier), nil},
		{"a code without a challenge takes no verifier", "", "", url.Values{}, nil},
		{"a verifier for a code without a challenge is refused", "", "", verifier(rfcVerifier), fake.ErrVerifierMismatch},
		{"even an empty verifier for a code without a challenge is refused", "", "", verifier(""), fake.ErrVerifierMismatch},
		{"a code with a challenge needs a verifier", rfcChallenge, "S256", url.Values{}, fake.ErrVerifierMissing},
		{"an empty verifier is a missing one", rfcChallenge, "S256", verifier(""), fake.ErrVerifierMissing},
		{"another verifier does not match", rfcChallenge, "S256", verifier(strings.Repeat("a", 43)), fake.ErrVerifierMismatch},
		{"the challenge itself is not its S256 verifier", rfcChallenge, "S256", verifier(rfcChallenge), fake.ErrVerifierMismatch},
		{"a malformed verifier does not match", "short", "plain", verifier("short"), fake.ErrVerifierMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fake.VerifyPKCE(tt.challenge, tt.method, tt.form); !errors.Is(got, tt.want) {
				t.Errorf("VerifyPKCE(%q, %q, %v) = %v, want %v", tt.challenge, tt.method, tt.form, got, tt.want)
			}
		})
	}
}

func TestSignJWT(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		method     jwt.SigningMethod
		key        any
		verifyWith any
		claims     map[string]any
		wantClaims jwt.MapClaims
	}{
		{"RS256 signs the claims under the kid", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey,
			map[string]any{"sub": "alice"}, jwt.MapClaims{"sub": "alice"}},
		{"ES256 signs the claims under the kid", jwt.SigningMethodES256, ecKey, &ecKey.PublicKey,
			map[string]any{"sub": "bob"}, jwt.MapClaims{"sub": "bob"}},
		{"HS256 signs with a shared secret", jwt.SigningMethodHS256, []byte("secret"), []byte("secret"),
			map[string]any{"sub": "carol"}, jwt.MapClaims{"sub": "carol"}},
		{"nil claims sign an empty object", jwt.SigningMethodRS256, rsaKey, &rsaKey.PublicKey,
			nil, jwt.MapClaims{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := fake.SignJWT(tt.method, tt.key, "kid-1", tt.claims)
			if err != nil {
				t.Fatal(err)
			}
			got := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(raw, got, func(*jwt.Token) (any, error) { return tt.verifyWith, nil },
				jwt.WithValidMethods([]string{tt.method.Alg()}))
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			if tok.Header["kid"] != "kid-1" || tok.Header["typ"] != "JWT" || tok.Header["alg"] != tt.method.Alg() {
				t.Errorf("header = %v, want kid kid-1, typ JWT and alg %s", tok.Header, tt.method.Alg())
			}
			if !reflect.DeepEqual(got, tt.wantClaims) {
				t.Errorf("claims = %v, want %v", got, tt.wantClaims)
			}
		})
	}
	t.Run("a key that does not fit the method is an error naming the algorithm", func(t *testing.T) {
		t.Parallel()
		if _, err := fake.SignJWT(jwt.SigningMethodRS256, []byte("secret"), "kid", nil); err == nil || !strings.Contains(err.Error(), "RS256") {
			t.Errorf("err = %v, want an RS256 signing error", err)
		}
	})
}

func TestAtHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		accessToken string
		want        string
	}{
		// The example of OpenID Connect Core 1.0 Appendix A.
		{"the specification's example hashes as it says", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
		{"an empty token hashes to the left half of SHA-256 of nothing", "", "47DEQpj8HBSa-_TImW-5JA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fake.AtHash(tt.accessToken); got != tt.want {
				t.Errorf("AtHash(%q) = %q, want %q", tt.accessToken, got, tt.want)
			}
		})
	}
}

func TestPublicJWK(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		alg      string
		pub      crypto.PublicKey
		wantKty  string
		wantJSON []string // members the JSON has
		wantErr  bool
	}{
		{"an RSA key publishes n and e", "RS256", &rsaKey.PublicKey, "RSA", []string{`"e":"AQAB"`, `"n":`}, false},
		{"a P-256 key publishes crv, x and y", "ES256", &p256.PublicKey, "EC", []string{`"crv":"P-256"`, `"x":`, `"y":`}, false},
		{"a P-384 key is refused", "ES384", &p384.PublicKey, "", nil, true},
		{"a key of another type is refused", "EdDSA", []byte("not a key"), "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j, err := fake.PublicJWK("kid-1", tt.alg, tt.pub)
			if tt.wantErr {
				if err == nil {
					t.Errorf("PublicJWK = %+v, want an error", j)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Kty != tt.wantKty || j.Alg != tt.alg || j.Use != "sig" || j.Kid != "kid-1" {
				t.Errorf("PublicJWK = %+v, want kty %s, alg %s, use sig, kid kid-1", j, tt.wantKty, tt.alg)
			}
			raw, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.wantJSON {
				if !strings.Contains(string(raw), m) {
					t.Errorf("JWK %s has no %s", raw, m)
				}
			}
			// An independent JOSE library reads back the same public key.
			var parsed jose.JSONWebKey
			if err := json.Unmarshal(raw, &parsed); err != nil {
				t.Fatalf("go-jose cannot read %s: %v", raw, err)
			}
			type equaler interface{ Equal(crypto.PublicKey) bool }
			if !parsed.Key.(equaler).Equal(tt.pub) || parsed.KeyID != "kid-1" || parsed.Algorithm != tt.alg {
				t.Errorf("go-jose read %s as another key", raw)
			}
		})
	}
	t.Run("RSAJWK is PublicJWK of an RSA key", func(t *testing.T) {
		t.Parallel()
		j, err := fake.PublicJWK("k", "RS256", &rsaKey.PublicKey)
		if got := fake.RSAJWK("k", "RS256", &rsaKey.PublicKey); err != nil || got != j {
			t.Errorf("RSAJWK = %+v, PublicJWK = %+v, %v", got, j, err)
		}
	})
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	type endpoint string
	tests := []struct {
		name      string
		record    []url.Values // calls of "token", in order
		wantCount int
		wantLast  url.Values
	}{
		{"before any call it counts none and has no parameters", nil, 0, nil},
		{"one call is counted with its parameters", []url.Values{{"code": {"a"}}}, 1, url.Values{"code": {"a"}}},
		{"the last of several calls is kept", []url.Values{{"code": {"a"}}, {"code": {"b"}}}, 2, url.Values{"code": {"b"}}},
		{"a call without parameters has none", []url.Values{{"code": {"a"}}, nil}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r fake.Recorder[endpoint]
			for _, p := range tt.record {
				r.Record("token", p)
			}
			r.Record("other", url.Values{"x": {"1"}})
			if got := r.Count("token"); got != tt.wantCount {
				t.Errorf("Count = %d, want %d", got, tt.wantCount)
			}
			if got := r.Last("token"); !reflect.DeepEqual(got, tt.wantLast) {
				t.Errorf("Last = %v, want %v", got, tt.wantLast)
			}
		})
	}
	t.Run("what it keeps and returns are copies", func(t *testing.T) {
		t.Parallel()
		var r fake.Recorder[endpoint]
		p := url.Values{"code": {"a"}}
		r.Record("token", p)
		p.Set("code", "changed by the handler")
		r.Last("token").Set("code", "changed by a test")
		if got := r.Last("token").Get("code"); got != "a" {
			t.Errorf("Last = %q, want the recorded a", got)
		}
	})
	t.Run("concurrent calls are all counted", func(t *testing.T) {
		t.Parallel()
		var r fake.Recorder[endpoint]
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				r.Record("token", url.Values{"code": {"a"}})
				_ = r.Last("token")
			})
		}
		wg.Wait()
		if got := r.Count("token"); got != 50 {
			t.Errorf("Count = %d, want 50", got)
		}
	})
}
