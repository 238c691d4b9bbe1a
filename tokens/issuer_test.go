package tokens_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/tokens"
)

// validAccessClaims are the claims of an acceptable access token at now.
func validAccessClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "user-42", "aud": []string{"https://api.example.test"},
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "jti-1",
		"client_id": "spa", "sid": "sess-1",
	}
}

// validRefreshClaims are the claims of an acceptable refresh token at now.
func validRefreshClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "user-42", "aud": []string{testIssuer},
		"exp": now.Add(24 * time.Hour).Unix(), "iat": now.Unix(), "jti": "sess-1.3",
		"client_id": "spa", "sid": "sess-1", "gen": 3,
	}
}

// with returns a copy of c with name set to v, or deleted when v is nil.
func with(c jwt.MapClaims, name string, v any) jwt.MapClaims {
	c = maps.Clone(c)
	if v == nil {
		delete(c, name)
	} else {
		c[name] = v
	}
	return c
}

// parseCase is a token handed to ParseAccess or ParseRefresh.
type parseCase struct {
	name   string
	parser string // "ParseAccess" or "ParseRefresh"
	token  func(t *testing.T) string
	accept bool // the control cases that must pass
}

func TestParsingRefusesHostileAndMalformedTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	now := f.clock.Now()
	accessKey, accessKID := f.privateKey(t, "access-1")
	refreshKey, refreshKID := f.refreshSecret(t, "refresh-1")
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	atHeader := func(kid string) map[string]any { return map[string]any{"kid": kid, "typ": tokens.TypeAccess} }
	rtHeader := func(kid string) map[string]any { return map[string]any{"kid": kid, "typ": tokens.TypeRefresh} }
	ours := func(t *testing.T, header map[string]any, c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodES256, accessKey, header, c)
	}
	oursRefresh := func(t *testing.T, c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodHS256, refreshKey, rtHeader(refreshKID), c)
	}
	attackers := func(t *testing.T, header map[string]any, c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodES256, attacker, header, c)
	}

	// Public forms of our access key an attacker can use as an HMAC secret.
	pub := accessKey.Public()
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	var published struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(f.keys.JWKS(), &published); err != nil || len(published.Keys) != 2 {
		t.Fatalf("JWKS: %v, want the access key and the ID key", err)
	}
	publishedAccessJWK := published.Keys[slices.IndexFunc(published.Keys, func(k json.RawMessage) bool {
		return strings.Contains(string(k), `"kid":"`+accessKID+`"`)
	})]
	// Our ID key, and an access token forged with it the way an insider
	// who stole it (or a bug that picked the wrong key) would.
	idKey, idKID := f.privateKey(t, "id-RS256-1")
	byIDKey := func(t *testing.T, header map[string]any, c jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodRS256, idKey, header, c)
	}

	// The attacker's public key as a JWK, and a server publishing it.
	attackerJWK := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: accessKID, Algorithm: "ES256", Use: "sig"}
	attackerJWKMap := map[string]any{}
	raw, err := attackerJWK.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &attackerJWKMap); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	certDER := attackerCertDER(t, attacker)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	attackerSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if strings.HasSuffix(r.URL.Path, ".pem") {
			w.Write(certPEM)
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{attackerJWK}})
	}))
	t.Cleanup(attackerSite.Close)

	access, refresh := validAccessClaims(now), validRefreshClaims(now)
	realAccess := mintAccess(t, f.issuer, time.Minute)
	realRefresh, err := f.issuer.MintRefresh(sampleRefresh(now))
	if err != nil {
		t.Fatal(err)
	}
	realID, err := f.issuer.MintID(tokens.ID{Subject: "user-42", ClientID: "spa", SessionID: "sess-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer := tokens.NewIssuer(f.keys, "https://evil.example.test", f.clock.Now)
	foreignAccess := mintAccess(t, otherIssuer, time.Minute)
	foreignRefresh, err := otherIssuer.MintRefresh(sampleRefresh(now))
	if err != nil {
		t.Fatal(err)
	}
	tooLong := sampleAccess()
	tooLong.Claims = map[string]any{"pad": strings.Repeat("a", tokens.MaxTokenBytes)}
	tooLongAccess, _, err := f.issuer.MintAccess(tooLong)
	if err != nil {
		t.Fatal(err)
	}
	sec := func(n int) int64 { return now.Add(time.Duration(n) * time.Second).Unix() }

	const (
		asAccess  = "ParseAccess"
		asRefresh = "ParseRefresh"
	)
	tests := []parseCase{
		// Controls: the hand-made tokens are right unless a case breaks them.
		{"a hand-made access token signed by our key is accepted", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), access) }, true},
		{"a hand-made refresh token signed by our refresh key is accepted", asRefresh, func(t *testing.T) string { return oursRefresh(t, refresh) }, true},
		{"typ application/at+jwt is accepted", asAccess, func(t *testing.T) string {
			return ours(t, map[string]any{"kid": accessKID, "typ": "application/at+jwt"}, access)
		}, true},
		{"typ in upper case is accepted", asAccess, func(t *testing.T) string {
			return ours(t, map[string]any{"kid": accessKID, "typ": "AT+JWT"}, access)
		}, true},
		{"an access token expired 29s ago is accepted within the leeway", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "exp", sec(-29))) }, true},
		{"an access token issued 29s in the future is accepted within the leeway", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "iat", sec(29))) }, true},
		{"an access token valid from 29s in the future is accepted within the leeway", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "nbf", sec(29))) }, true},

		// Algorithm attacks.
		{"an alg none token is refused", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, atHeader(accessKID), access)
		}, false},
		{"an alg none refresh token is refused", asRefresh, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, rtHeader(refreshKID), refresh)
		}, false},
		{"an alg none header on a real token's payload and signature is refused", asAccess, func(t *testing.T) string {
			parts := strings.Split(realAccess, ".")
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + accessKID + `","typ":"at+jwt"}`))
			return h + "." + parts[1] + "." + parts[2]
		}, false},
		{"an HS256 token keyed with our public key's DER is refused", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, pubDER, atHeader(accessKID), access)
		}, false},
		{"an HS256 token keyed with our public key's PEM is refused", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, pubPEM, atHeader(accessKID), access)
		}, false},
		{"an HS256 token keyed with our published JWK is refused", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, []byte(publishedAccessJWK), atHeader(accessKID), access)
		}, false},

		// Keys the attacker controls.
		{"a token signed by a foreign key with our kid is refused", asAccess, func(t *testing.T) string { return attackers(t, atHeader(accessKID), access) }, false},
		{"a refresh token HMAC'd with a foreign secret under our refresh kid is refused", asRefresh, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, []byte("an attacker's secret of 32 bytes!"), rtHeader(refreshKID), refresh)
		}, false},
		{"a refresh token signed by a foreign key with our refresh kid is refused", asRefresh, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodES256, attacker, rtHeader(refreshKID), refresh)
		}, false},
		{"a token embedding the attacker's key in a jwk header, with our kid, is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"kid": accessKID, "typ": tokens.TypeAccess, "jwk": attackerJWKMap}, access)
		}, false},
		{"a token embedding the attacker's key in a jwk header, without kid, is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"typ": tokens.TypeAccess, "jwk": attackerJWKMap}, access)
		}, false},
		{"a token pointing at the attacker's JWKS with jku, with our kid, is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"kid": accessKID, "typ": tokens.TypeAccess, "jku": attackerSite.URL + "/jwks.json"}, access)
		}, false},
		{"a token pointing at the attacker's JWKS with jku, without kid, is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"typ": tokens.TypeAccess, "jku": attackerSite.URL + "/jwks.json"}, access)
		}, false},
		{"a token pointing at the attacker's certificate with x5u is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"kid": accessKID, "typ": tokens.TypeAccess, "x5u": attackerSite.URL + "/cert.pem"}, access)
		}, false},
		{"a token carrying the attacker's certificate in x5c is refused", asAccess, func(t *testing.T) string {
			return attackers(t, map[string]any{"kid": accessKID, "typ": tokens.TypeAccess, "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}, access)
		}, false},
		{"a real token with another token's signature is refused", asAccess, func(t *testing.T) string {
			other := strings.Split(ours(t, atHeader(accessKID), with(access, "sub", "other")), ".")
			parts := strings.Split(realAccess, ".")
			return parts[0] + "." + parts[1] + "." + other[2]
		}, false},

		// Key selection by kid and use.
		{"a token signed by our key with an unknown kid is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader("no-such-kid"), access) }, false},
		{"a token signed by our key without a kid is refused", asAccess, func(t *testing.T) string {
			return ours(t, map[string]any{"typ": tokens.TypeAccess}, access)
		}, false},
		{"an access token signed by our refresh key is refused", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, refreshKey, atHeader(refreshKID), access)
		}, false},
		{"a refresh token signed by our access key is refused", asRefresh, func(t *testing.T) string {
			return ours(t, rtHeader(accessKID), refresh)
		}, false},
		{"an access token signed by our ID key under the ID key's kid is refused", asAccess, func(t *testing.T) string {
			return byIDKey(t, atHeader(idKID), access)
		}, false},
		{"an access token signed by our ID key under the access key's kid is refused", asAccess, func(t *testing.T) string {
			return byIDKey(t, atHeader(accessKID), access)
		}, false},
		{"a refresh token signed by our ID key is refused", asRefresh, func(t *testing.T) string {
			return byIDKey(t, rtHeader(idKID), refresh)
		}, false},
		{"a refresh token HMAC'd with our ID key's kid is refused", asRefresh, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, refreshKey, rtHeader(idKID), refresh)
		}, false},

		// Times.
		{"an access token expired 31s ago is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "exp", sec(-31))) }, false},
		{"an access token issued 31s in the future is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "iat", sec(31))) }, false},
		{"an access token valid from 31s in the future is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "nbf", sec(31))) }, false},
		{"an access token without exp is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "exp", nil)) }, false},
		{"an access token with a string exp is refused", asAccess, func(t *testing.T) string {
			return ours(t, atHeader(accessKID), with(access, "exp", "tomorrow"))
		}, false},
		{"a refresh token expired 31s ago is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "exp", sec(-31))) }, false},
		{"a refresh token without exp is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "exp", nil)) }, false},

		// Issuer and audience.
		{"an access token from another issuer is refused", asAccess, func(t *testing.T) string { return foreignAccess }, false},
		{"an access token without iss is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "iss", nil)) }, false},
		{"a refresh token from another issuer is refused", asRefresh, func(t *testing.T) string { return foreignRefresh }, false},
		{"a refresh token for another audience is refused", asRefresh, func(t *testing.T) string {
			return oursRefresh(t, with(refresh, "aud", []string{"https://api.example.test"}))
		}, false},
		{"a refresh token without audience is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "aud", nil)) }, false},

		// Token types.
		{"a refresh token presented as an access token is refused", asAccess, func(t *testing.T) string { return realRefresh }, false},
		{"an access token presented as a refresh token is refused", asRefresh, func(t *testing.T) string { return realAccess }, false},
		{"an ID token presented as an access token is refused", asAccess, func(t *testing.T) string { return realID }, false},
		{"an ID token's claims with typ at+jwt, signed by our ID key, are refused as an access token", asAccess, func(t *testing.T) string {
			return byIDKey(t, atHeader(idKID), with(jwt.MapClaims(segment(t, realID, 1)), "client_id", "spa"))
		}, false},
		{"an ID token presented as a refresh token is refused", asRefresh, func(t *testing.T) string { return realID }, false},
		{"a token without typ is refused", asAccess, func(t *testing.T) string {
			return ours(t, map[string]any{"kid": accessKID, "typ": nil}, access)
		}, false},
		{"a token with typ JWT signed by our access key is refused as an access token", asAccess, func(t *testing.T) string {
			return ours(t, map[string]any{"kid": accessKID, "typ": "JWT"}, access)
		}, false},
		{"a refresh-typed token signed by our refresh key is refused as an access token", asAccess, func(t *testing.T) string {
			return signToken(t, jwt.SigningMethodHS256, refreshKey, rtHeader(refreshKID), access)
		}, false},

		// Required content.
		{"an access token without sub is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "sub", nil)) }, false},
		{"an access token without sid is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "sid", nil)) }, false},
		{"an access token without client_id is refused", asAccess, func(t *testing.T) string { return ours(t, atHeader(accessKID), with(access, "client_id", nil)) }, false},
		{"a refresh token with gen 0 is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "gen", 0)) }, false},
		{"a refresh token with a negative gen is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "gen", -1)) }, false},
		{"a refresh token without gen is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "gen", nil)) }, false},
		{"a refresh token without sid is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "sid", nil)) }, false},
		{"a refresh token without sub is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "sub", nil)) }, false},
		// Signed by our own refresh key, so only an insider could make it;
		// ParseRefresh used to dereference the missing iat and panic.
		{"a refresh token without iat is refused", asRefresh, func(t *testing.T) string { return oursRefresh(t, with(refresh, "iat", nil)) }, false},

		// Size and garbage.
		{"a validly signed token longer than MaxTokenBytes is refused", asAccess, func(t *testing.T) string { return tooLongAccess }, false},
	}
	garbage := map[string]string{
		"the empty string":          "",
		"a word":                    "garbage",
		"three dots":                "...",
		"three short segments":      "a.b.c",
		"a header alone":            "eyJhbGciOiJFUzI1NiJ9",
		"two segments":              strings.Join(strings.Split(realAccess, ".")[:2], "."),
		"five segments like a JWE":  realAccess + ".x.y",
		"a token with spaces":       " " + realAccess,
		"JSON instead of base64":    `{"alg":"ES256"}.{"sub":"x"}.sig`,
		"megabytes of letters":      strings.Repeat("A", 2<<20),
		"MaxTokenBytes+1 of dots":   strings.Repeat(".", tokens.MaxTokenBytes+1),
		"non-UTF-8 bytes":           "\xff\xfe\xfd.\x00\x01.\x80",
		"a refresh token truncated": realRefresh[:len(realRefresh)-5],
	}
	for name, s := range garbage {
		tests = append(tests,
			parseCase{"garbage (" + name + ") is refused as an access token", asAccess, func(*testing.T) string { return s }, false},
			parseCase{"garbage (" + name + ") is refused as a refresh token", asRefresh, func(*testing.T) string { return s }, false},
		)
	}

	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				tok := tt.token(t)
				var err error
				switch tt.parser {
				case asAccess:
					_, err = f.issuer.ParseAccess(tok)
				case asRefresh:
					_, err = f.issuer.ParseRefresh(tok)
				}
				if tt.accept {
					if err != nil {
						t.Fatalf("%s: %v, want success", tt.parser, err)
					}
					return
				}
				wantInvalid(t, err)
			})
		}
	})
	if n := fetches.Load(); n != 0 {
		t.Errorf("the verifier fetched a URL from a token header %d times", n)
	}
}

func TestTokensUpToMaxTokenBytesAreAcceptedAndLongerOnesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	// Grow a padding claim until the token crosses the limit; the longest
	// token within it must still parse.
	var under, over string
	for n := tokens.MaxTokenBytes*3/4 - 512; over == ""; n++ {
		a := sampleAccess()
		a.Claims = map[string]any{"pad": strings.Repeat("a", n)}
		tok, _, err := f.issuer.MintAccess(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) <= tokens.MaxTokenBytes {
			under = tok
		} else {
			over = tok
		}
	}
	if len(under) < tokens.MaxTokenBytes-3 {
		t.Fatalf("the longest token found within the limit has %d bytes", len(under))
	}
	mustParseAccess(t, f.issuer, under)
	_, err := f.issuer.ParseAccess(over)
	wantInvalid(t, err)
}

func TestMintAccessWritesTheRFC9068Claims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid := f.storage.get(t, "access-1").KID
	now := f.clock.Now()

	a := sampleAccess()
	a.TTL = 10 * time.Minute
	tok, exp, err := f.issuer.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(10 * time.Minute); !exp.Equal(want) {
		t.Errorf("MintAccess expiry = %v, want %v", exp, want)
	}
	header, claims := segment(t, tok, 0), segment(t, tok, 1)
	second, _, err := f.issuer.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name string
		ok   bool
		got  any
	}{
		{"the header typ is at+jwt", header["typ"] == "at+jwt", header["typ"]},
		{"the header kid is the access key's", header["kid"] == kid, header["kid"]},
		{"the header alg is ES256", header["alg"] == "ES256", header["alg"]},
		{"the header names no key material", header["jwk"] == nil && header["jku"] == nil && header["x5c"] == nil && header["x5u"] == nil, header},
		{"iss is the issuer", claims["iss"] == testIssuer, claims["iss"]},
		{"sub is the user", claims["sub"] == "user-42", claims["sub"]},
		{"aud is the requested audience list", audIs(claims["aud"], "https://api.example.test"), claims["aud"]},
		{"iat is now", number(t, claims, "iat") == now.Unix(), claims["iat"]},
		{"exp - iat is the TTL", number(t, claims, "exp")-number(t, claims, "iat") == int64(a.TTL/time.Second), claims["exp"]},
		{"jti is present", len(claims["jti"].(string)) >= 16, claims["jti"]},
		{"jti differs between two mints", claims["jti"] != segment(t, second, 1)["jti"], claims["jti"]},
		{"client_id is the client", claims["client_id"] == "spa", claims["client_id"]},
		{"sid is the session", claims["sid"] == "sess-1", claims["sid"]},
		{"scope is the granted scope", claims["scope"] == "openid profile", claims["scope"]},
		{"auth_time is the sign-in time", number(t, claims, "auth_time") == a.AuthTime.Unix(), claims["auth_time"]},
		{"idp is the provider", claims["idp"] == "google", claims["idp"]},
		{"normalized claims are carried", claims["email"] == "ada@example.test", claims["email"]},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("got %v", c.got)
			}
		})
	}

	t.Run("ParseAccess returns the same claims", func(t *testing.T) {
		p := mustParseAccess(t, f.issuer, tok)
		for _, c := range []struct {
			name string
			got  any
		}{
			{"iss", p.Issuer}, {"sub", p.Subject}, {"jti", p.JTI}, {"client_id", p.ClientID}, {"sid", p.SessionID},
			{"scope", p.Scope}, {"idp", p.IDP}, {"email", p.User["email"]},
		} {
			if c.got != claims[c.name] {
				t.Errorf("%s = %v, want %v", c.name, c.got, claims[c.name])
			}
		}
		for name, got := range map[string]time.Time{"iat": p.IssuedAt, "exp": p.Expiry, "auth_time": p.AuthTime} {
			if got.Unix() != number(t, claims, name) {
				t.Errorf("%s = %v, want %v", name, got.Unix(), number(t, claims, name))
			}
		}
		if fmt.Sprint(p.Audience) != fmt.Sprint(claims["aud"]) {
			t.Errorf("aud = %v, want %v", p.Audience, claims["aud"])
		}
		for name := range p.User {
			if name != "email" && name != "email_verified" && name != "name" && name != "roles" {
				t.Errorf("user claims hold %q, a protocol claim", name)
			}
		}
	})
}

func TestMintAccessOmitsScopeWhenNoneIsGranted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	a := sampleAccess()
	a.Scope = ""
	a.Claims = map[string]any{"scope": "admin"}
	tok, _, err := f.issuer.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := segment(t, tok, 1)["scope"]; ok {
		t.Fatalf("scope = %v, want no scope claim", s)
	}
}

func TestCallerClaimsCannotOverrideRegisteredClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	now := f.clock.Now()
	a := sampleAccess()
	a.Claims = map[string]any{
		"iss": "evil", "sub": "evil", "aud": "evil", "exp": now.Add(100 * 24 * time.Hour).Unix(),
		"iat": 1, "jti": "evil", "client_id": "evil", "sid": "evil", "scope": "admin",
		"auth_time": 1, "idp": "evil", "email": "ada@example.test",
	}
	tok, _, err := f.issuer.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	c := segment(t, tok, 1)
	for name, want := range map[string]any{
		"iss": testIssuer, "sub": "user-42", "client_id": "spa", "sid": "sess-1",
		"scope": "openid profile", "idp": "google", "email": "ada@example.test",
	} {
		if c[name] != want {
			t.Errorf("%s = %v, want %v", name, c[name], want)
		}
	}
	if c["jti"] == "evil" {
		t.Error("jti was taken from the caller's claims")
	}
	if !audIs(c["aud"], "https://api.example.test") {
		t.Errorf("aud = %v", c["aud"])
	}
	for name, want := range map[string]int64{"exp": now.Add(a.TTL).Unix(), "iat": now.Unix(), "auth_time": a.AuthTime.Unix()} {
		if got := number(t, c, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if a.Claims["iss"] != "evil" {
		t.Error("MintAccess modified the caller's Claims map")
	}
}

// audIs reports whether an aud claim is exactly the list want.
func audIs(aud any, want ...string) bool {
	list, ok := aud.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i := range list {
		if list[i] != want[i] {
			return false
		}
	}
	return true
}

func TestRefreshTokensRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	refreshKID := f.storage.get(t, "refresh-1").KID
	now := f.clock.Now()
	tests := []struct {
		name string
		in   tokens.Refresh
	}{
		{"a first-generation token", tokens.Refresh{Subject: "user-1", ClientID: "spa", SessionID: "s-1", Generation: 1, IssuedAt: now, Expiry: now.Add(time.Hour)}},
		{"a later generation for a native client", tokens.Refresh{Subject: "user-2", ClientID: "ios", SessionID: "s-2", Generation: 1 << 40, IssuedAt: now.Add(-time.Hour), Expiry: now.Add(90 * 24 * time.Hour)}},
		{"a token without client id", tokens.Refresh{Subject: "user-3", SessionID: "s-3", Generation: 7, IssuedAt: now, Expiry: now.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" keeps subject, client, session, generation and times", func(t *testing.T) {
			t.Parallel()
			tok, err := f.issuer.MintRefresh(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			h, c := segment(t, tok, 0), segment(t, tok, 1)
			if h["typ"] != tokens.TypeRefresh || h["kid"] != refreshKID || h["alg"] != "HS256" {
				t.Errorf("header = %v, want typ rt+jwt, the refresh key's kid and HS256", h)
			}
			if !audIs(c["aud"], testIssuer) {
				t.Errorf("aud = %v, want [%s]", c["aud"], testIssuer)
			}
			if c["iss"] != testIssuer {
				t.Errorf("iss = %v", c["iss"])
			}
			got, err := f.issuer.ParseRefresh(tok)
			if err != nil {
				t.Fatalf("ParseRefresh: %v", err)
			}
			if got.Subject != tt.in.Subject || got.ClientID != tt.in.ClientID || got.SessionID != tt.in.SessionID ||
				got.Generation != tt.in.Generation || !got.IssuedAt.Equal(tt.in.IssuedAt) || !got.Expiry.Equal(tt.in.Expiry) {
				t.Fatalf("ParseRefresh = %+v, want %+v", got, tt.in)
			}
			if _, err := verifyWithJWKS(f.keys.JWKS(), tok, now); err == nil {
				t.Fatal("a refresh token verifies against the public JWKS")
			}
		})
	}
}

func TestParseRefreshRefusesTokensMintedWithoutSessionState(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	now := f.clock.Now()
	tests := []struct {
		name   string
		mutate func(*tokens.Refresh)
	}{
		{"generation 0", func(r *tokens.Refresh) { r.Generation = 0 }},
		{"a negative generation", func(r *tokens.Refresh) { r.Generation = -3 }},
		{"no session id", func(r *tokens.Refresh) { r.SessionID = "" }},
		{"no subject", func(r *tokens.Refresh) { r.Subject = "" }},
		{"an expiry in the past", func(r *tokens.Refresh) { r.Expiry = now.Add(-time.Minute) }},
	}
	for _, tt := range tests {
		t.Run("a refresh token with "+tt.name+" is refused", func(t *testing.T) {
			t.Parallel()
			r := sampleRefresh(now)
			tt.mutate(&r)
			tok, err := f.issuer.MintRefresh(r)
			if err != nil {
				t.Fatalf("MintRefresh: %v", err)
			}
			_, err = f.issuer.ParseRefresh(tok)
			wantInvalid(t, err)
		})
	}
}

func TestMintIDWritesAnOpenIDConnectIDToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid := f.storage.get(t, "id-RS256-1").KID
	now := f.clock.Now()
	tests := []struct {
		name      string
		nonce     string
		extra     map[string]any
		wantNonce bool
	}{
		{"with a nonce, the nonce is echoed", "n-0S6_WzA2Mj", nil, true},
		{"without a nonce, there is no nonce claim", "", nil, false},
		{"without a nonce, a caller's nonce claim is dropped", "", map[string]any{"nonce": "evil"}, false},
		{"caller claims cannot change aud, azp or nonce", "real", map[string]any{"aud": "evil", "azp": "evil", "nonce": "evil", "iss": "evil"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := map[string]any{"email": "ada@example.test"}
			maps.Copy(claims, tt.extra)
			tok, err := f.issuer.MintID(tokens.ID{
				Subject: "user-42", ClientID: "spa", SessionID: "sess-1", Nonce: tt.nonce,
				AuthTime: now.Add(-time.Minute), TTL: time.Hour, Claims: claims,
			})
			if err != nil {
				t.Fatal(err)
			}
			h, c := segment(t, tok, 0), segment(t, tok, 1)
			if h["typ"] != tokens.TypeID || h["kid"] != kid || h["alg"] != "RS256" {
				t.Errorf("header = %v, want typ JWT, alg RS256 and the ID key's kid", h)
			}
			for name, want := range map[string]any{"iss": testIssuer, "sub": "user-42", "aud": "spa", "azp": "spa", "sid": "sess-1", "email": "ada@example.test"} {
				if c[name] != want {
					t.Errorf("%s = %v, want %v", name, c[name], want)
				}
			}
			if got := number(t, c, "exp") - number(t, c, "iat"); got != 3600 {
				t.Errorf("exp - iat = %d, want 3600", got)
			}
			if got := number(t, c, "auth_time"); got != now.Add(-time.Minute).Unix() {
				t.Errorf("auth_time = %d", got)
			}
			nonce, has := c["nonce"]
			if has != tt.wantNonce || (tt.wantNonce && nonce != tt.nonce) {
				t.Errorf("nonce = %v (present %v), want %q (present %v)", nonce, has, tt.nonce, tt.wantNonce)
			}
			if _, err := verifyWithJWKS(f.keys.JWKS(), tok, now); err != nil {
				t.Errorf("a client cannot verify the ID token with the JWKS: %v", err)
			}
		})
	}
}

// attackerCertDER is a self-signed certificate for the attacker's key.
func attackerCertDER(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "auth.example.test"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestParseAccessTellsAnExpiredTokenFromAnInvalidOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	a := sampleAccess()
	a.TTL = time.Minute
	tok, exp, err := f.issuer.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	other := tokens.NewIssuer(f.keys, "https://other.example.test", f.clock.Now)
	foreign, _, err := other.MintAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(t0.Add(2 * time.Minute))
	tests := []struct {
		name        string
		token       string
		wantExpired bool
	}{
		{"an expired token of ours is expired", tok, true},
		{"an expired token with an altered signature is only invalid", tok[:len(tok)-4] + "AAAA", false},
		{"an expired token of another issuer is only invalid", foreign, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.issuer.ParseAccess(tt.token)
			wantInvalid(t, err)
			var te *tokens.TokenExpiredError
			if got := errors.As(err, &te); got != tt.wantExpired {
				t.Fatalf("ParseAccess() = %v; TokenExpiredError %v, want %v", err, got, tt.wantExpired)
			}
			if tt.wantExpired && !te.Expiry.Equal(exp.Truncate(time.Second)) {
				t.Errorf("Expiry = %v, want %v", te.Expiry, exp)
			}
		})
	}
}
