package facebook_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

// limitedAdapter is newAdapter that also takes the fake's Limited Login
// key set.
func limitedAdapter(t *testing.T, fake *facebooktest.Server, sp *spy, edit func(*facebook.Config)) *facebook.Provider {
	t.Helper()
	return newAdapter(t, fake, sp, func(c *facebook.Config) {
		c.LimitedLoginJWKSURL = fake.LimitedLoginJWKSURL()
		if edit != nil {
			edit(c)
		}
	})
}

// wantNoToken fails when err quotes token or any of its dot-separated
// parts (a JWT's header, claims or signature).
func wantNoToken(t *testing.T, err error, token string) {
	t.Helper()
	wantNoSecrets(t, err, token)
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= 16 {
			wantNoSecrets(t, err, part)
		}
	}
}

// sha256Hex and sha256B64 are the hashed forms of a nonce that SDK
// integrations send (Firebase's pattern gives the SDK the hex hash).
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func sha256B64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestNativeTokenTypesListBothUnlessLimitedLoginIsOff(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	var nv providers.NativeVerifier = newAdapter(t, fake, nil, nil)
	if got, want := nv.NativeTokenTypes(), []string{providers.TokenTypeIDToken, providers.TokenTypeAccessToken}; !slices.Equal(got, want) {
		t.Errorf("NativeTokenTypes() = %v, want %v", got, want)
	}
	off := newAdapter(t, fake, nil, func(c *facebook.Config) { c.DisableLimitedLogin = true })
	if got, want := off.NativeTokenTypes(), []string{providers.TokenTypeAccessToken}; !slices.Equal(got, want) {
		t.Errorf("with Limited Login off, NativeTokenTypes() = %v, want %v", got, want)
	}
}

func TestVerifyNativeAcceptsAnAccessTokenOfThisApp(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
	sp := &spy{}
	p := newAdapter(t, fake, sp, func(c *facebook.Config) { c.Now = clk.Now })
	token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)

	ident, expires, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: token, Type: providers.TokenTypeAccessToken})
	if err != nil {
		t.Fatalf("VerifyNative: %v", err)
	}
	if got, want := ident.Key(), "facebook|"+facebooktest.DefaultUser.ID; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	// debug_token's expires_at (60 days) is sooner than its
	// data_access_expires_at (90 days).
	if want := clk.Now().Add(facebooktest.DefaultTokenLifetime).Truncate(time.Second); !expires.Equal(want) {
		t.Errorf("expires = %v, want expires_at %v", expires, want)
	}
	if ident.Tokens.AccessToken != token {
		t.Error("Tokens.AccessToken is not the verified token")
	}
	if ident.Profile.EmailVerified {
		t.Error("EmailVerified = true, want false: Facebook does not say it verified the address")
	}
	for _, ep := range []facebooktest.Endpoint{facebooktest.DebugToken, facebooktest.Me} {
		reqs := fake.Requests(ep)
		if len(reqs) != 1 {
			t.Errorf("%s calls = %d, want 1", ep, len(reqs))
		}
		for _, r := range reqs {
			if !r.ProofValid {
				t.Errorf("%s was called without a correct appsecret_proof (%q)", ep, r.AppSecretProof)
			}
		}
	}
	// debug_token takes the inspected token as input_token in its query,
	// as Facebook defines it; the app secret and the app token are never
	// in a URL, nor the user token in /me's.
	for _, u := range sp.sent() {
		if strings.Contains(u, fake.AppSecret()) || (strings.Contains(u, "/me?") && strings.Contains(u, token)) {
			t.Errorf("request URL %q holds a secret", u)
		}
	}
}

func TestVerifyNativeAccessTokenExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// expiresAt and dataAccess are debug_token's, relative to now; 0
		// means Facebook says 0 (never).
		expiresAt, dataAccess time.Duration
		want                  time.Duration
	}{
		{name: "expires_at when it comes first", expiresAt: time.Hour, dataAccess: 48 * time.Hour, want: time.Hour},
		{name: "data_access_expires_at when it comes first", expiresAt: 72 * time.Hour, dataAccess: 2 * time.Hour, want: 2 * time.Hour},
		{name: "data_access_expires_at for a token that never expires", dataAccess: 30 * time.Hour, want: 30 * time.Hour},
		{name: "90 days, Facebook's data access window, when debug_token names no expiry at all", want: 90 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
			p := newAdapter(t, fake, nil, func(c *facebook.Config) { c.Now = clk.Now })
			at := func(d time.Duration) int64 {
				if d == 0 {
					return 0
				}
				return clk.Now().Add(d).Unix()
			}
			fake.NextDebugToken(func(d map[string]any) {
				d["expires_at"], d["data_access_expires_at"] = at(tt.expiresAt), at(tt.dataAccess)
			})
			_, expires, err := p.VerifyNative(t.Context(), providers.NativeToken{
				Token: fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), Type: providers.TokenTypeAccessToken,
			})
			if err != nil {
				t.Fatalf("VerifyNative: %v", err)
			}
			if want := clk.Now().Add(tt.want); expires.Unix() != want.Unix() {
				t.Errorf("expires = %v, want %v", expires, want)
			}
		})
	}
}

func TestVerifyNativeRefusesAccessTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		token  func(t *testing.T, fake *facebooktest.Server) string
		nonce  string
		edit   func(*facebook.Config)
		before func(r *http.Request) // edits each request the adapter sends
		want   string
		msg    string
		// wantCalls are the Graph calls expected (debug_token, /me).
		wantCalls [2]int
	}{
		{name: "a token of another app",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(otherAppID, facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, msg: "issued to another Facebook app", wantCalls: [2]int{1, 0}},
		{name: "a token Facebook never issued",
			token: func(t *testing.T, _ *facebooktest.Server) string { return "EAA" + randomString(t) + randomString(t) },
			want:  providers.CodeInvalidToken, msg: "not valid", wantCalls: [2]int{1, 0}},
		{name: "an expired token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				tok := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
				fake.ExpireTokens()
				return tok
			},
			want: providers.CodeInvalidToken, msg: "not valid", wantCalls: [2]int{1, 0}},
		{name: "a token whose debug_token user is not /me's",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["user_id"] = "10000000000000001" })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, msg: "disagree", wantCalls: [2]int{1, 1}},
		{name: "a page token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["type"] = "PAGE" })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, msg: "USER token", wantCalls: [2]int{1, 0}},
		{name: "an access token sent with a nonce, which it cannot carry, without asking Facebook",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			nonce: "n-0S6_WzA2Mj",
			want:  providers.CodeInvalidToken, msg: "carries no nonce"},
		{name: "an empty token, without asking Facebook",
			token: func(*testing.T, *facebooktest.Server) string { return "" },
			want:  providers.CodeInvalidToken, msg: "no Facebook access token"},
		{name: "an oversized token, without asking Facebook",
			token: func(*testing.T, *facebooktest.Server) string { return "EAA" + strings.Repeat("x", 5000) },
			want:  providers.CodeInvalidToken, msg: "larger than"},
		{name: "a call whose appsecret_proof is lost on the way is refused by Facebook, and so here",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			before: func(r *http.Request) {
				q := r.URL.Query()
				q.Del("appsecret_proof")
				r.URL.RawQuery = q.Encode()
			},
			want: providers.CodeUnavailable, msg: "app secret", wantCalls: [2]int{1, 1}},
		{name: "a call whose appsecret_proof is altered on the way is refused by Facebook, and so here",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			before: func(r *http.Request) {
				q := r.URL.Query()
				q.Set("appsecret_proof", strings.Repeat("0", 64))
				r.URL.RawQuery = q.Encode()
			},
			want: providers.CodeUnavailable, msg: "app secret", wantCalls: [2]int{1, 0}},
		{name: "socialbridge's app secret refused by debug_token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			edit: func(c *facebook.Config) { c.ClientSecret = "fedcba9876543210fedcba9876543210" },
			want: providers.CodeUnavailable, msg: "providers.facebook.client_secret", wantCalls: [2]int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t,
				facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret),
				facebooktest.WithApp(otherAppID, otherAppSecret))
			p := newAdapter(t, fake, &spy{before: tt.before}, tt.edit)
			token := tt.token(t, fake)
			ident, expires, err := p.VerifyNative(t.Context(), providers.NativeToken{
				Token: token, Type: providers.TokenTypeAccessToken, Nonce: tt.nonce,
			})
			if ident != nil || !expires.IsZero() {
				t.Errorf("VerifyNative returned identity %v and expiry %v with the error", ident, expires)
			}
			pe := wantError(t, err, "facebook", tt.want)
			if !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("message %q does not say %q", pe.Message, tt.msg)
			}
			got := [2]int{fake.Count(facebooktest.DebugToken), fake.Count(facebooktest.Me)}
			if got != tt.wantCalls {
				t.Errorf("debug_token and /me calls = %v, want %v", got, tt.wantCalls)
			}
			if tt.before == nil && tt.edit == nil {
				// Socialbridge itself never sends a missing or wrong proof.
				for _, r := range append(fake.Requests(facebooktest.DebugToken), fake.Requests(facebooktest.Me)...) {
					if !r.ProofValid {
						t.Errorf("%s was sent appsecret_proof %q, which is not the token's", r.Endpoint, r.AppSecretProof)
					}
				}
			}
			wantNoToken(t, err, token)
			wantNoSecrets(t, err, fake.AppSecret(), "fedcba9876543210fedcba9876543210")
		})
	}
}

func TestVerifyNativeRefusesAnUnknownTokenType(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := newAdapter(t, fake, nil, nil)
	for _, typ := range []string{"", "urn:ietf:params:oauth:token-type:refresh_token", "urn:ietf:params:oauth:token-type:jwt"} {
		_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: "EAAx", Type: typ})
		wantError(t, err, "facebook", providers.CodeUnsupportedTokenType)
	}
	if n := fake.Count(facebooktest.DebugToken) + fake.Count(facebooktest.LimitedLoginJWKS); n != 0 {
		t.Errorf("Facebook was asked %d times about a token of no known type", n)
	}
}

func TestVerifyNativeAcceptsALimitedLoginToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
	sp := &spy{}
	p := limitedAdapter(t, fake, sp, func(c *facebook.Config) { c.Now = clk.Now })
	user := facebooktest.User{
		ID: "10229876543210987", Name: "Alice Example", FirstName: "Alice", LastName: "Example",
		Email: "Alice.Example@Example.COM", Picture: "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210987",
	}
	nonce := randomString(t)
	raw := fake.LimitedLoginToken(fake.AppID(), user, nonce,
		facebooktest.EditClaims(func(c map[string]any) { c["user_birthday"] = "01/31/1990" }))

	ident, expires, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: nonce})
	if err != nil {
		t.Fatalf("VerifyNative: %v", err)
	}

	t.Run("the identity is keyed by sub, the app-scoped id", func(t *testing.T) {
		if got, want := ident.Key(), "facebook|10229876543210987"; got != want {
			t.Errorf("Key() = %q, want %q", got, want)
		}
	})
	t.Run("the profile comes from the token's claims, the email unverified", func(t *testing.T) {
		pr := ident.Profile
		if pr.Name != "Alice Example" || pr.GivenName != "Alice" || pr.FamilyName != "Example" {
			t.Errorf("names = %q, %q, %q", pr.Name, pr.GivenName, pr.FamilyName)
		}
		if pr.Email != "alice.example@example.com" || pr.EmailVerified {
			t.Errorf("email = %q verified %t, want lower-cased and unverified", pr.Email, pr.EmailVerified)
		}
		if pr.Picture != user.Picture {
			t.Errorf("Picture = %q, want %q", pr.Picture, user.Picture)
		}
		if !ident.AuthTime.IsZero() {
			t.Errorf("AuthTime = %v, want zero", ident.AuthTime)
		}
	})
	t.Run("the claims are shaped like /me's, without the token's protocol claims", func(t *testing.T) {
		c := ident.Claims
		if c["id"] != user.ID || c["first_name"] != "Alice" || c["last_name"] != "Example" || c["name"] != "Alice Example" {
			t.Errorf("Claims = %v", c)
		}
		pic, _ := c["picture"].(map[string]any)
		if data, _ := pic["data"].(map[string]any); data["url"] != user.Picture {
			t.Errorf("Claims picture = %v, want Graph's picture object", c["picture"])
		}
		if c["user_birthday"] != "01/31/1990" {
			t.Errorf("Claims user_birthday = %v, want the token's", c["user_birthday"])
		}
		for _, k := range []string{"iss", "aud", "sub", "exp", "iat", "nonce", "jti", "given_name", "family_name"} {
			if _, ok := c[k]; ok {
				t.Errorf("Claims hold %s", k)
			}
		}
	})
	t.Run("the token is kept as the provider's id_token; there is no access token", func(t *testing.T) {
		tok := ident.Tokens
		if tok.IDToken != raw || tok.AccessToken != "" || tok.RefreshToken != "" {
			t.Errorf("Tokens = id %t, access %t, refresh %t; want the id_token only",
				tok.IDToken == raw, tok.AccessToken != "", tok.RefreshToken != "")
		}
	})
	t.Run("it is accepted until its exp plus the two-minute leeway", func(t *testing.T) {
		want := clk.Now().Add(facebooktest.LimitedLoginTokenLifetime + 2*time.Minute).Truncate(time.Second)
		if !expires.Equal(want) {
			t.Errorf("expires = %v, want %v", expires, want)
		}
	})
	t.Run("the keys were fetched once, and Graph was not asked", func(t *testing.T) {
		if n := fake.Count(facebooktest.LimitedLoginJWKS); n != 1 {
			t.Errorf("key set fetches = %d, want 1", n)
		}
		if n := fake.Count(facebooktest.DebugToken) + fake.Count(facebooktest.Me); n != 0 {
			t.Errorf("Graph calls = %d, want none: a Limited Login token is not a Graph token", n)
		}
		if _, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
			Token: fake.LimitedLoginToken(fake.AppID(), user, nonce), Type: providers.TokenTypeIDToken, Nonce: nonce,
		}); err != nil {
			t.Fatalf("a second token: %v", err)
		}
		if n := fake.Count(facebooktest.LimitedLoginJWKS); n != 1 {
			t.Errorf("key set fetches after a second token = %d, want 1 (cached)", n)
		}
	})
}

func TestVerifyNativeLimitedLoginCases(t *testing.T) {
	t.Parallel()
	// One fake for every case (its keys take a while to make); each case
	// has an adapter, so a key set, of its own.
	fake := facebooktest.New(t,
		facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret),
		facebooktest.WithApp(otherAppID, otherAppSecret))
	appID := fake.AppID()
	user := facebooktest.DefaultUser
	const nonce = "8f3c2a6e-cf1d-4b7e-9a52-0c1d2e3f4a5b"
	now := time.Now

	tests := []struct {
		name string
		// token mints the token; nil mints a good one with the nonce.
		token func() string
		// nonce is what the app sends (default the nonce above; "-" for none).
		nonce string
		edit  func(*facebook.Config)
		want  string // empty: accepted
		msg   string
	}{
		{name: "a token carrying the nonce as is is accepted"},
		{name: "a token carrying the nonce's SHA-256 in hex is accepted",
			token: func() string { return fake.LimitedLoginToken(appID, user, sha256Hex(nonce)) }},
		{name: "a token carrying the nonce's SHA-256 in upper-case hex is accepted",
			token: func() string { return fake.LimitedLoginToken(appID, user, strings.ToUpper(sha256Hex(nonce))) }},
		{name: "a token carrying the nonce's SHA-256 in base64url is accepted",
			token: func() string { return fake.LimitedLoginToken(appID, user, sha256B64(nonce)) }},
		{name: "a token for several audiences whose azp is this app is accepted",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenAudience(appID, otherAppID),
					facebooktest.EditClaims(func(c map[string]any) { c["azp"] = appID }))
			}},
		{name: "a token that expired within the leeway is accepted",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenExpiresIn(-time.Minute))
			}},
		{name: "a token issued a minute in the future (clock skew) is accepted",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenIssuedAt(now().Add(time.Minute)))
			}},
		{name: "a token with the configured issuer is accepted",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenIssuer("https://limited.facebook.com"))
			},
			edit: func(c *facebook.Config) { c.LimitedLoginIssuer = "https://limited.facebook.com" }},
		{name: "a token without a nonce is accepted when the instance does not require one",
			token: func() string { return fake.LimitedLoginToken(appID, user, "") }, nonce: "-",
			edit: func(c *facebook.Config) { c.LimitedLoginNonceOptional = true }},

		{name: "a token of another app is refused",
			token: func() string { return fake.LimitedLoginToken(otherAppID, user, nonce) },
			want:  providers.CodeInvalidToken, msg: "another Facebook app"},
		{name: "a token without aud is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) { delete(c, "aud") }))
			},
			want: providers.CodeInvalidToken, msg: "no audience"},
		{name: "a token for several audiences without azp is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenAudience(appID, otherAppID))
			},
			want: providers.CodeInvalidToken, msg: "authorized party"},
		{name: "a token from another issuer is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenIssuer("https://accounts.google.com"))
			},
			want: providers.CodeInvalidToken, msg: "not issued by Facebook"},
		{name: "a token of limited.facebook.com is refused while the issuer is www.facebook.com",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenIssuer("https://limited.facebook.com"))
			},
			want: providers.CodeInvalidToken, msg: "not issued by Facebook"},
		{name: "an expired token is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenExpiresIn(-10*time.Minute))
			},
			want: providers.CodeInvalidToken, msg: "expired"},
		{name: "a token without exp is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) { delete(c, "exp") }))
			},
			want: providers.CodeInvalidToken, msg: "exp"},
		{name: "a token whose exp is a string is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) {
					c["exp"] = "9999999999"
				}))
			},
			want: providers.CodeInvalidToken, msg: "exp"},
		{name: "a token issued an hour in the future is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.TokenIssuedAt(now().Add(time.Hour)))
			},
			want: providers.CodeInvalidToken, msg: "issued in the future"},
		{name: "a token without iat is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) { delete(c, "iat") }))
			},
			want: providers.CodeInvalidToken, msg: "iat"},
		{name: "a token not valid before an hour from now is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) {
					c["nbf"] = now().Add(time.Hour).Unix()
				}))
			},
			want: providers.CodeInvalidToken, msg: "not valid yet"},
		{name: "a token whose signature was altered is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, nonce, facebooktest.BadSignature()) },
			want:  providers.CodeInvalidToken, msg: "signature does not verify"},
		{name: "a token whose claims were altered after signing is refused",
			token: func() string {
				good := strings.Split(fake.LimitedLoginToken(appID, user, nonce), ".")
				other := strings.Split(fake.LimitedLoginToken(appID, facebooktest.User{ID: "10000000000000666", Name: "Mallory"}, nonce), ".")
				return good[0] + "." + other[1] + "." + good[2]
			},
			want: providers.CodeInvalidToken, msg: "signature does not verify"},
		{name: "a token under a published kid but signed by another key is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.SignedByUnknownKey(),
					facebooktest.SignedUnderKID(fake.LimitedLoginKID()))
			},
			want: providers.CodeInvalidToken, msg: "signature does not verify"},
		{name: "a token signed by a key Facebook does not publish is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, nonce, facebooktest.SignedByUnknownKey()) },
			want:  providers.CodeInvalidToken, msg: "key Facebook does not publish"},
		{name: "an unsigned token (alg none) is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, nonce, facebooktest.AlgNone()) },
			want:  providers.CodeInvalidToken, msg: "alg none"},
		{name: "a token without a kid is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, nonce, facebooktest.SignedUnderKID("")) },
			want:  providers.CodeInvalidToken, msg: "no signing key"},
		{name: "a token without sub is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, user, nonce, facebooktest.EditClaims(func(c map[string]any) { delete(c, "sub") }))
			},
			want: providers.CodeInvalidToken, msg: "no valid user"},
		{name: "a token whose sub is not an app-scoped id is refused",
			token: func() string {
				return fake.LimitedLoginToken(appID, facebooktest.User{ID: "alice@example.com"}, nonce)
			},
			want: providers.CodeInvalidToken, msg: "no valid user"},
		{name: "a token with another sign-in's nonce is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, "nonce-of-another-sign-in") },
			want:  providers.CodeInvalidToken, msg: "nonce does not match"},
		{name: "a token carrying the SHA-256 of another nonce is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, sha256Hex("nonce-of-another-sign-in")) },
			want:  providers.CodeInvalidToken, msg: "nonce does not match"},
		{name: "a token carrying the nonce hashed twice is refused",
			token: func() string { return fake.LimitedLoginToken(appID, user, sha256Hex(sha256Hex(nonce))) },
			want:  providers.CodeInvalidToken, msg: "nonce does not match"},
		{name: "a token without a nonce is refused when the app sent one",
			token: func() string { return fake.LimitedLoginToken(appID, user, "") },
			want:  providers.CodeInvalidToken, msg: "carries no nonce"},
		{name: "a token sent without the app's nonce is refused, as a nonce is required by default",
			nonce: "-",
			want:  providers.CodeInvalidToken, msg: "nonce is required"},
		{name: "an empty token is refused",
			token: func() string { return "" },
			want:  providers.CodeInvalidToken, msg: "no Limited Login id_token"},
		{name: "an oversized token is refused before it is decoded",
			token: func() string { return strings.Repeat("e", 40<<10) + "." + strings.Repeat("e", 40<<10) + ".sig" },
			want:  providers.CodeInvalidToken, msg: "larger than"},
		{name: "a token that is not a JWT is refused",
			token: func() string { return "EAAGm0PX4ZCpsBAKZBZCZAuIAbc123def456ghi789" },
			want:  providers.CodeInvalidToken, msg: "not a JWT"},
		{name: "a token whose header is not JSON is refused",
			token: func() string {
				return "bm90IGpzb24." + strings.Split(fake.LimitedLoginToken(appID, user, nonce), ".")[1] + ".c2ln"
			},
			want: providers.CodeInvalidToken, msg: "header"},
		{name: "a person without an email address when email is required",
			token: func() string {
				return fake.LimitedLoginToken(appID, facebooktest.User{ID: "104", Name: "Dan"}, nonce)
			},
			edit: func(c *facebook.Config) { c.RequireEmail = true },
			want: providers.CodeNotAllowed, msg: "did not share an email address"},
		{name: "a token is refused by an instance with Limited Login off",
			edit: func(c *facebook.Config) { c.DisableLimitedLogin = true },
			want: providers.CodeUnsupportedTokenType, msg: "limited_login is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw := ""
			if tt.token != nil {
				raw = tt.token()
			} else {
				raw = fake.LimitedLoginToken(appID, user, nonce)
			}
			sent := nonce
			if tt.nonce == "-" {
				sent = ""
			}
			p := limitedAdapter(t, fake, nil, tt.edit)
			ident, expires, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: sent})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused, want accepted: %v", err)
				}
				if ident.Key() != "facebook|"+user.ID || expires.IsZero() {
					t.Errorf("accepted as %q until %v", ident.Key(), expires)
				}
				return
			}
			if ident != nil || !expires.IsZero() {
				t.Errorf("VerifyNative returned identity %v and expiry %v with the error", ident, expires)
			}
			pe := wantError(t, err, "facebook", tt.want)
			if !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("message %q does not say %q", pe.Message, tt.msg)
			}
			wantNoToken(t, err, raw)
		})
	}
}

func TestAnExpiredLimitedLoginTokenIsATokenExpiredError(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	p := limitedAdapter(t, fake, nil, nil)
	_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
		Token: fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n", facebooktest.TokenExpiresIn(-time.Hour)),
		Type:  providers.TokenTypeIDToken, Nonce: "n",
	})
	var expired *gooidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Fatalf("error %v holds no *oidc.TokenExpiredError, so a caller cannot tell expired from forged", err)
	}
}

func TestLimitedLoginKeysAreRefetchedForANewKeyAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
	p := limitedAdapter(t, fake, nil, func(c *facebook.Config) { c.Now = clk.Now })
	user := facebooktest.DefaultUser
	verify := func(raw string) error {
		t.Helper()
		_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: "n"})
		return err
	}
	fetches := func() int { return fake.Count(facebooktest.LimitedLoginJWKS) }

	if err := verify(fake.LimitedLoginToken(fake.AppID(), user, "n")); err != nil {
		t.Fatalf("first token: %v", err)
	}
	if fetches() != 1 {
		t.Fatalf("key set fetches = %d, want 1", fetches())
	}

	t.Log("a token of an unknown key makes one refetch, then is refused")
	clk.Advance(61 * time.Second)
	err := verify(fake.LimitedLoginToken(fake.AppID(), user, "n", facebooktest.SignedByUnknownKey()))
	if pe := wantError(t, err, "facebook", providers.CodeInvalidToken); !strings.Contains(pe.Message, "does not publish") {
		t.Errorf("message %q", pe.Message)
	}
	if fetches() != 2 {
		t.Errorf("key set fetches = %d, want 2: one refetch for the unknown kid", fetches())
	}

	t.Log("another one within the minute is refused without asking Facebook")
	err = verify(fake.LimitedLoginToken(fake.AppID(), user, "n", facebooktest.SignedUnderKID("made-up-kid")))
	wantError(t, err, "facebook", providers.CodeInvalidToken)
	if fetches() != 2 {
		t.Errorf("key set fetches = %d, want still 2: refetches are rate-limited", fetches())
	}

	t.Log("Facebook rotates its key: a token of the new key is refused while refetching is held back...")
	beforeRotation := fake.LimitedLoginToken(fake.AppID(), user, "n")
	fake.RotateLimitedLoginKey()
	rotated := fake.LimitedLoginToken(fake.AppID(), user, "n")
	wantError(t, verify(rotated), "facebook", providers.CodeInvalidToken)

	t.Log("...and accepted after the interval, with one refetch")
	clk.Advance(61 * time.Second)
	if err := verify(rotated); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if fetches() != 3 {
		t.Errorf("key set fetches = %d, want 3", fetches())
	}

	t.Log("a token of the previous key, still published, still verifies, from the cache")
	clk.Advance(61 * time.Second)
	if err := verify(beforeRotation); err != nil {
		t.Fatalf("token of the previous key: %v", err)
	}
	if fetches() != 3 {
		t.Errorf("key set fetches = %d, want 3 (known kid, fresh keys)", fetches())
	}
}

func TestLimitedLoginKeysAreFetchedAgainAfterAnHourSoAWithdrawnKeyStopsVerifying(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
	p := limitedAdapter(t, fake, nil, func(c *facebook.Config) { c.Now = clk.Now })
	verify := func(raw string) error {
		t.Helper()
		_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken, Nonce: "n"})
		return err
	}
	// A token of the first key, valid for three hours; then two rotations
	// withdraw that key from the key set.
	old := fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n", facebooktest.TokenExpiresIn(3*time.Hour))
	if err := verify(old); err != nil {
		t.Fatalf("first token: %v", err)
	}
	fake.RotateLimitedLoginKey()
	fake.RotateLimitedLoginKey()
	fetches := func() int { return fake.Count(facebooktest.LimitedLoginJWKS) }

	clk.Advance(30 * time.Minute)
	if err := verify(old); err != nil || fetches() != 1 {
		t.Fatalf("within the hour the cached key verifies without a fetch: %v (fetches %d)", err, fetches())
	}

	t.Log("after the hour the keys are fetched again; while that fails, the cached ones are kept")
	clk.Advance(31 * time.Minute)
	fake.FailNext(facebooktest.LimitedLoginJWKS, http.StatusBadGateway, `{"error":"bad gateway"}`)
	if err := verify(old); err != nil || fetches() != 2 {
		t.Fatalf("with Facebook unreachable, the cached key still verifies: %v (fetches %d, want 2)", err, fetches())
	}
	if err := verify(old); err != nil || fetches() != 2 {
		t.Fatalf("and the failed fetch is not retried within the minute: %v (fetches %d, want 2)", err, fetches())
	}

	t.Log("once Facebook answers, the withdrawn key is gone")
	clk.Advance(61 * time.Second)
	if pe := wantError(t, verify(old), "facebook", providers.CodeInvalidToken); !strings.Contains(pe.Message, "does not publish") {
		t.Errorf("message %q, want the withdrawn key unknown", pe.Message)
	}
	if fetches() != 3 {
		t.Errorf("key set fetches = %d, want 3", fetches())
	}
}

func TestLimitedLoginKeysThatCannotBeFetchedMakeTheProviderUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"an HTTP 500", http.StatusInternalServerError, `{"error":"unavailable"}`},
		{"an HTML page", http.StatusOK, `<html>maintenance</html>`},
		{"a key set without RS256 keys", http.StatusOK, `{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"AA","y":"AA"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
			p := limitedAdapter(t, fake, nil, func(c *facebook.Config) { c.Now = clk.Now })
			verify := func() error {
				_, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
					Token: fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n"), Type: providers.TokenTypeIDToken, Nonce: "n",
				})
				return err
			}
			fake.FailNext(facebooktest.LimitedLoginJWKS, tt.status, tt.body)
			pe := wantError(t, verify(), "facebook", providers.CodeUnavailable)
			if !strings.Contains(pe.Message, "providers.facebook.limited_login_jwks_url") {
				t.Errorf("message %q does not name the setting", pe.Message)
			}
			// Within the interval the failure is not retried...
			wantError(t, verify(), "facebook", providers.CodeUnavailable)
			if n := fake.Count(facebooktest.LimitedLoginJWKS); n != 1 {
				t.Errorf("key set fetches = %d, want 1", n)
			}
			// ...after it, it is, and Facebook is back.
			clk.Advance(61 * time.Second)
			if err := verify(); err != nil {
				t.Errorf("after Facebook is back: %v", err)
			}
		})
	}
}

func TestTheSamePersonIsOneIdentityOnTheWebAndInTheApp(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	person := facebooktest.User{ID: "10161234567890123", Name: "Bo Example", FirstName: "Bo", LastName: "Example", Email: "bo@example.com"}
	fake.SetUser(person)
	p := limitedAdapter(t, fake, nil, nil)

	web, _ := signInOK(t, p)
	access, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
		Token: fake.IssueToken(fake.AppID(), person), Type: providers.TokenTypeAccessToken,
	})
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	limited, _, err := p.VerifyNative(t.Context(), providers.NativeToken{
		Token: fake.LimitedLoginToken(fake.AppID(), person, "n"), Type: providers.TokenTypeIDToken, Nonce: "n",
	})
	if err != nil {
		t.Fatalf("Limited Login token: %v", err)
	}
	for name, ident := range map[string]*providers.Identity{"access token": access, "Limited Login": limited} {
		if ident.Key() != web.Key() {
			t.Errorf("%s: Key() = %q, want the browser flow's %q", name, ident.Key(), web.Key())
		}
		if ident.Profile.Email != web.Profile.Email || ident.Profile.Name != web.Profile.Name ||
			ident.Profile.EmailVerified != web.Profile.EmailVerified {
			t.Errorf("%s: profile %+v, want the browser flow's %+v", name, ident.Profile, web.Profile)
		}
		for _, k := range []string{"id", "name", "first_name", "last_name", "email"} {
			if ident.Claims[k] != web.Claims[k] {
				t.Errorf("%s: claim %s = %v, want the browser flow's %v", name, k, ident.Claims[k], web.Claims[k])
			}
		}
	}
}
