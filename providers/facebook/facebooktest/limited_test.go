package facebooktest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

// keySet fetches the fake's Limited Login key set.
func keySet(t *testing.T, fake *facebooktest.Server) jose.JSONWebKeySet {
	t.Helper()
	a := do(t, http.MethodGet, fake.LimitedLoginJWKSURL(), nil, nil)
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("key set answered %d %q: %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(a.body), &set); err != nil {
		t.Fatalf("key set: %v", err)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// decoded is a token's header and claims, unverified.
type decoded struct {
	header, claims map[string]any
}

func decode(t *testing.T, raw string) decoded {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	var d decoded
	for i, into := range []*map[string]any{&d.header, &d.claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return d
}

// verifies reports whether raw verifies under a key of set with its kid.
func verifies(t *testing.T, set jose.JSONWebKeySet, raw string) bool {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	for _, k := range set.Key(jws.Signatures[0].Header.KeyID) {
		if _, err := jws.Verify(k); err == nil {
			return true
		}
	}
	return false
}

func TestLimitedLoginTokensAreSignedWithThePublishedKey(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := facebooktest.New(t, facebooktest.WithClock(func() time.Time { return now }))
	u := facebooktest.User{ID: "10229876543210987", Name: "Alice Example", FirstName: "Alice", LastName: "Example",
		Email: "alice@example.com", Picture: "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=1"}
	raw := fake.LimitedLoginToken(fake.AppID(), u, "the-nonce")
	set := keySet(t, fake)

	if len(set.Keys) != 1 || set.Keys[0].KeyID != fake.LimitedLoginKID() || set.Keys[0].Algorithm != "RS256" || set.Keys[0].Use != "sig" {
		t.Errorf("key set = %v, want the one RS256 signing key", kids(set))
	}
	if !verifies(t, set, raw) {
		t.Fatal("the token does not verify under the published key")
	}
	d := decode(t, raw)
	if d.header["alg"] != "RS256" || d.header["kid"] != fake.LimitedLoginKID() {
		t.Errorf("header = %v", d.header)
	}
	want := map[string]string{
		"iss": "https://www.facebook.com", "aud": fake.AppID(), "sub": u.ID, "nonce": "the-nonce",
		"name": "Alice Example", "given_name": "Alice", "family_name": "Example", "email": "alice@example.com", "picture": u.Picture,
		"iat": "1772366400", "exp": "1772370000",
	}
	for k, v := range want {
		if got := d.claims[k]; got != v && got != json.Number(v) {
			t.Errorf("claim %s = %v, want %s", k, got, v)
		}
	}
	if jti, _ := d.claims["jti"].(string); jti == "" {
		t.Error("no jti")
	}
	if n := fake.Count(facebooktest.LimitedLoginJWKS); n != 1 {
		t.Errorf("Count(LimitedLoginJWKS) = %d, want 1", n)
	}
}

func TestLimitedLoginTokensLeaveOutWhatThePersonDoesNotShare(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	u := facebooktest.DefaultUser
	u.DeclinedPermissions = []string{"email"}
	c := decode(t, fake.LimitedLoginToken(fake.AppID(), u, "")).claims
	for _, k := range []string{"email", "nonce"} {
		if _, ok := c[k]; ok {
			t.Errorf("claim %s = %v, want none (email declined, no nonce given)", k, c[k])
		}
	}
}

func TestLimitedLoginTokenOptionsMakeATokenWrongOneWayEach(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake := facebooktest.New(t, facebooktest.WithClock(func() time.Time { return now }),
		facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret), facebooktest.WithApp("42", "s"))
	mint := func(opts ...facebooktest.TokenOption) string {
		return fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n", opts...)
	}
	set := keySet(t, fake)
	tests := []struct {
		name     string
		raw      string
		verifies bool
		check    func(t *testing.T, d decoded)
	}{
		{name: "TokenIssuer sets iss", raw: mint(facebooktest.TokenIssuer("https://evil.example")), verifies: true,
			check: func(t *testing.T, d decoded) {
				if d.claims["iss"] != "https://evil.example" {
					t.Errorf("iss = %v", d.claims["iss"])
				}
			}},
		{name: "TokenAudience sets one audience as a string and several as a list",
			raw: mint(facebooktest.TokenAudience(fake.AppID(), "42")), verifies: true,
			check: func(t *testing.T, d decoded) {
				if aud, _ := d.claims["aud"].([]any); len(aud) != 2 || aud[1] != "42" {
					t.Errorf("aud = %v", d.claims["aud"])
				}
			}},
		{name: "TokenExpiresIn with a negative duration mints an expired token", raw: mint(facebooktest.TokenExpiresIn(-time.Minute)), verifies: true,
			check: func(t *testing.T, d decoded) {
				if d.claims["exp"] != json.Number("1772366340") || d.claims["iat"] != json.Number("1772362740") {
					t.Errorf("iat, exp = %v, %v", d.claims["iat"], d.claims["exp"])
				}
			}},
		{name: "TokenIssuedAt sets iat, and exp an hour later", raw: mint(facebooktest.TokenIssuedAt(now.Add(time.Hour))), verifies: true,
			check: func(t *testing.T, d decoded) {
				if d.claims["iat"] != json.Number("1772370000") || d.claims["exp"] != json.Number("1772373600") {
					t.Errorf("iat, exp = %v, %v", d.claims["iat"], d.claims["exp"])
				}
			}},
		{name: "SignedByUnknownKey signs with a key that is not published, under its own kid", raw: mint(facebooktest.SignedByUnknownKey()),
			check: func(t *testing.T, d decoded) {
				if kid := d.header["kid"].(string); kid == "" || slices.Contains(kids(set), kid) {
					t.Errorf("kid %q, want one the key set does not have", kid)
				}
			}},
		{name: "SignedUnderKID names another kid", raw: mint(facebooktest.SignedUnderKID("other")),
			check: func(t *testing.T, d decoded) {
				if d.header["kid"] != "other" {
					t.Errorf("kid = %v", d.header["kid"])
				}
			}},
		{name: "AlgNone mints an unsigned token", raw: mint(facebooktest.AlgNone()),
			check: func(t *testing.T, d decoded) {
				if d.header["alg"] != "none" {
					t.Errorf("alg = %v", d.header["alg"])
				}
			}},
		{name: "BadSignature keeps the published kid with a signature that does not verify", raw: mint(facebooktest.BadSignature()),
			check: func(t *testing.T, d decoded) {
				if d.header["kid"] != fake.LimitedLoginKID() {
					t.Errorf("kid = %v", d.header["kid"])
				}
			}},
		{name: "EditClaims edits last", raw: mint(facebooktest.TokenIssuer("x"), facebooktest.EditClaims(func(c map[string]any) {
			delete(c, "sub")
			c["iss"] = "y"
		})), verifies: true,
			check: func(t *testing.T, d decoded) {
				if _, ok := d.claims["sub"]; ok || d.claims["iss"] != "y" {
					t.Errorf("claims = %v", d.claims)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := verifies(t, set, tt.raw); got != tt.verifies {
				t.Errorf("verifies under the published keys: %t, want %t", got, tt.verifies)
			}
			tt.check(t, decode(t, tt.raw))
		})
	}
}

func TestRotatingTheLimitedLoginKeyKeepsThePreviousOnePublished(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	first := fake.LimitedLoginKID()
	old := fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n")

	second := fake.RotateLimitedLoginKey()
	if second == first || fake.LimitedLoginKID() != second {
		t.Fatalf("after a rotation the kid is %q (was %q, rotation returned %q)", fake.LimitedLoginKID(), first, second)
	}
	set := keySet(t, fake)
	if got := kids(set); !slices.Equal(got, []string{first, second}) {
		t.Errorf("key set = %v, want the previous and the new key", got)
	}
	if !verifies(t, set, old) || !verifies(t, set, fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n")) {
		t.Error("tokens of the previous and of the new key must both verify")
	}

	third := fake.RotateLimitedLoginKey()
	set = keySet(t, fake)
	if got := kids(set); !slices.Equal(got, []string{second, third}) {
		t.Errorf("key set after a second rotation = %v, want the first key withdrawn", got)
	}
	if verifies(t, set, old) {
		t.Error("a token of the withdrawn key still verifies")
	}
}

func TestTheLimitedLoginKeySetObeysFailNext(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	fake.FailNext(facebooktest.LimitedLoginJWKS, http.StatusServiceUnavailable, `{"error":"down"}`)
	if a := do(t, http.MethodGet, fake.LimitedLoginJWKSURL(), nil, nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("first fetch answered %d, want 503", a.status)
	}
	keySet(t, fake) // the next one is served
	if n := fake.Count(facebooktest.LimitedLoginJWKS); n != 2 {
		t.Errorf("Count(LimitedLoginJWKS) = %d, want 2", n)
	}
}
