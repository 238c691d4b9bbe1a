package facebook_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

// otherApp is a second Facebook app registered at the fake.
const (
	otherAppID     = "6543210987654321"
	otherAppSecret = "abcdefabcdefabcdefabcdefabcdef12"
)

func TestVerifyAccessTokenAcceptsAUserTokenOfThisApp(t *testing.T) {
	t.Parallel()
	clk := newClock()
	fake := facebooktest.New(t, facebooktest.WithClock(clk.Now))
	p := newAdapter(t, fake, nil, func(c *facebook.Config) { c.Now = clk.Now })
	user := facebooktest.User{ID: "10229876543210987", Name: "Alice Example", Email: "ALICE@example.com"}
	token := fake.IssueToken(fake.AppID(), user)

	ident, err := p.VerifyAccessToken(t.Context(), token)
	if err != nil {
		t.Fatalf("VerifyAccessToken: %v", err)
	}
	if got, want := ident.Key(), "facebook|10229876543210987"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	if ident.Profile.Email != "alice@example.com" || ident.Profile.EmailVerified {
		t.Errorf("email = %q verified %t, want lower-cased and unverified", ident.Profile.Email, ident.Profile.EmailVerified)
	}
	tok := ident.Tokens
	if tok.AccessToken != token {
		t.Error("Tokens.AccessToken is not the verified token")
	}
	if want := clk.Now().Add(facebooktest.DefaultTokenLifetime).Truncate(time.Second); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want debug_token's expires_at %v", tok.Expiry, want)
	}
	if got := slices.Sorted(slices.Values(tok.Scopes)); !slices.Equal(got, []string{"email", "public_profile"}) {
		t.Errorf("Scopes = %v", tok.Scopes)
	}

	r, _ := fake.LastRequest(facebooktest.DebugToken)
	if got, want := r.Header.Get("Authorization"), "Bearer "+fake.AppID()+"|"+fake.AppSecret(); got != want {
		t.Error("debug_token was not asked with the app access token in the Authorization header")
	}
	if r.Params.Get("input_token") != token || r.Version != "v23.0" {
		t.Errorf("debug_token input_token matches: %t, version %q", r.Params.Get("input_token") == token, r.Version)
	}
	if !r.ProofValid {
		t.Error("debug_token call without a correct appsecret_proof")
	}
	if n := fake.Count(facebooktest.Me); n != 1 {
		t.Errorf("/me calls = %d, want 1", n)
	}
}

func TestVerifyAccessTokenRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token returns the token to verify; it may set up the fake.
		token   func(t *testing.T, fake *facebooktest.Server) string
		edit    func(*facebook.Config)
		want    string
		wantMsg string
		wantMe  int // /me calls expected
	}{
		{name: "a token of another app",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(otherAppID, facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "another Facebook app"},
		{name: "a token Facebook never issued",
			token: func(t *testing.T, _ *facebooktest.Server) string { return "EAA" + randomString(t) + randomString(t) },
			want:  providers.CodeInvalidToken, wantMsg: "not valid"},
		{name: "a malformed token, which Graph quotes back",
			token: func(t *testing.T, _ *facebooktest.Server) string { return "garbage-" + randomString(t) },
			want:  providers.CodeInvalidToken, wantMsg: "not valid"},
		{name: "an expired token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				tok := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
				fake.ExpireTokens()
				return tok
			},
			want: providers.CodeInvalidToken, wantMsg: "not valid"},
		{name: "a token whose expires_at has passed though Facebook calls it valid",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["expires_at"] = time.Now().Add(-time.Minute).Unix() })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "expired"},
		{name: "a token whose data access has expired",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["data_access_expires_at"] = time.Now().Add(-time.Minute).Unix() })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "data has expired"},
		{name: "a token debug_token calls invalid without saying why",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["is_valid"] = false })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "not valid"},
		{name: "a page token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["type"] = "PAGE" })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "USER token"},
		{name: "a token without a user id",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { delete(d, "user_id") })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "user id"},
		{name: "a token whose debug_token user is not /me's",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(d map[string]any) { d["user_id"] = "10000000000000001" })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "disagree", wantMe: 1},
		{name: "a token that expires between debug_token and /me",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.NextDebugToken(func(map[string]any) { fake.ExpireTokens() })
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeInvalidToken, wantMsg: "expired", wantMe: 1},
		{name: "an empty token, without asking Facebook",
			token: func(*testing.T, *facebooktest.Server) string { return "" },
			want:  providers.CodeInvalidToken},
		{name: "a person without an email address when email is required",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.User{ID: "104", Name: "Dan"})
			},
			edit: func(c *facebook.Config) { c.RequireEmail = true },
			want: providers.CodeNotAllowed, wantMsg: "did not share an email address", wantMe: 1},
		{name: "debug_token failing with 500",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				fake.FailNext(facebooktest.DebugToken, http.StatusInternalServerError,
					`{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1}}`)
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			want: providers.CodeUnavailable},
		{name: "socialbridge's app secret refused by debug_token",
			token: func(_ *testing.T, fake *facebooktest.Server) string {
				return fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
			},
			edit: func(c *facebook.Config) { c.ClientSecret = "fedcba9876543210fedcba9876543210" },
			want: providers.CodeUnavailable, wantMsg: "providers.facebook.client_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t,
				facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret),
				facebooktest.WithApp(otherAppID, otherAppSecret))
			p := newAdapter(t, fake, nil, tt.edit)
			token := tt.token(t, fake)
			ident, err := p.VerifyAccessToken(t.Context(), token)
			if ident != nil {
				t.Errorf("VerifyAccessToken returned identity %q with the error", ident.Key())
			}
			pe := wantError(t, err, "facebook", tt.want)
			if tt.wantMsg != "" && !strings.Contains(pe.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", pe.Error(), tt.wantMsg)
			}
			if n := fake.Count(facebooktest.Me); n != tt.wantMe {
				t.Errorf("/me calls = %d, want %d", n, tt.wantMe)
			}
			wantNoSecrets(t, err, token, fake.AppSecret(), "fedcba9876543210fedcba9876543210")
		})
	}
}
