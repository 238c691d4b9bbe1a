package verify

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

func TestVerifyAcceptsAGoodTokenAndReturnsItsClaims(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	token := f.iss.Token(map[string]any{
		"sub": "u-42", "sid": "s-1", "client_id": "spa", "jti": "j-1", "scope": "openid email orders:read",
		"roles": []string{"admin", "staff"}, "email": "a@example.com", "email_verified": true, "name": "Ada",
		"picture": "https://example.com/a.png", "idp": "google", "auth_time": now.Add(-time.Hour).Unix(),
		"tenant": "t-1",
	})
	c, err := f.v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Issuer", c.Issuer, f.iss.URL},
		{"Subject", c.Subject, "u-42"},
		{"SessionID", c.SessionID, "s-1"},
		{"ClientID", c.ClientID, "spa"},
		{"JTI", c.JTI, "j-1"},
		{"IDP", c.IDP, "google"},
		{"Email", c.Email, "a@example.com"},
		{"EmailVerified", c.EmailVerified, true},
		{"Name", c.Name, "Ada"},
		{"Picture", c.Picture, "https://example.com/a.png"},
		{"Scopes", strings.Join(c.Scopes, ","), "openid,email,orders:read"},
		{"Roles", strings.Join(c.Roles, ","), "admin,staff"},
		{"Audience", strings.Join(c.Audience, ","), f.iss.Audience},
		{"IssuedAt", c.IssuedAt.Unix(), now.Unix()},
		{"ExpiresAt", c.ExpiresAt.Unix(), now.Add(15 * time.Minute).Unix()},
		{"AuthTime", c.AuthTime.Unix(), now.Add(-time.Hour).Unix()},
		{"Raw tenant", c.Raw()["tenant"], "t-1"},
		{"HasScope orders:read", c.HasScope("orders:read"), true},
		{"HasScope orders:write", c.HasScope("orders:write"), false},
		{"HasRole admin", c.HasRole("admin"), true},
		{"HasRole root", c.HasRole("root"), false},
		{"CheckScope granted", c.CheckScope("openid", "email"), nil},
		{"CheckRole granted", c.CheckRole("admin", "staff"), nil},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	wantReason(t, c.CheckScope("email", "orders:write"), InsufficientScope)
	wantReason(t, c.CheckRole("root"), InsufficientScope)
}

func TestVerifyAcceptsTheForgivableVariants(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"typ in upper case", f.iss.Sign(map[string]any{"typ": "AT+JWT"}, nil)},
		{"typ as a media type", f.iss.Sign(map[string]any{"typ": "application/at+jwt"}, nil)},
		{"aud as a single string", f.iss.Token(map[string]any{"aud": f.iss.Audience})},
		{"aud naming this API among others", f.iss.Token(map[string]any{"aud": []string{"https://other.example.com", f.iss.Audience}})},
		{"exp passed within the leeway", f.iss.Token(map[string]any{"exp": now.Add(-20 * time.Second).Unix()})},
		{"nbf ahead within the leeway", f.iss.Token(map[string]any{"nbf": now.Add(20 * time.Second).Unix()})},
		{"iat ahead within the leeway (clock skew)", f.iss.Token(map[string]any{"iat": now.Add(20 * time.Second).Unix()})},
		{"no scope at all", f.iss.Token(map[string]any{"scope": nil})},
		{"no user claims at all", f.iss.Token(map[string]any{"email": nil, "name": nil, "email_verified": nil, "idp": nil, "auth_time": nil})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.v.Verify(t.Context(), tc.token); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// TestVerifyRefusesEveryBadToken runs the shared table of bad tokens
// through Verify and through the middleware, which must answer 401 with
// the reason in plain words.
func TestVerifyRefusesEveryBadToken(t *testing.T) {
	f := newFixture(t, nil)
	h := f.v.Middleware(ok)
	for _, bt := range f.iss.BadTokens() {
		t.Run(bt.Name, func(t *testing.T) {
			_, err := f.v.Verify(t.Context(), bt.Token)
			wantReason(t, err, Reason(bt.Reason))
			var e *Error
			errors.As(err, &e)

			w := do(h, bt.Token)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", w.Code)
			}
			want := `Bearer error="invalid_token", error_description="` + e.Description() + `"`
			if got := w.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %s, want %s", got, want)
			}
			wantBody := `{"error":"invalid_token","error_description":"` + e.Description() + `"}`
			if got := strings.TrimSpace(w.Body.String()); got != wantBody {
				t.Errorf("body = %s, want %s", got, wantBody)
			}
		})
	}
}

func TestDescriptionsSayWhatIsWrongInPlainWords(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		token string
		want  string
	}{
		{f.iss.Token(map[string]any{"sid": nil}), "the token lacks the sid claim"},
		{f.iss.Token(map[string]any{"exp": f.clock.Now().Add(-time.Hour).Unix(), "iat": f.clock.Now().Add(-2 * time.Hour).Unix()}), "the token has expired"},
		{f.iss.Token(map[string]any{"aud": "https://other.example.com"}), "the token is not meant for this API"},
		{f.iss.Sign(map[string]any{"typ": "JWT"}, nil), "the token is not an access token (typ is not at+jwt)"},
	} {
		_, err := f.v.Verify(t.Context(), tc.token)
		var e *Error
		if !errors.As(err, &e) || e.Description() != tc.want {
			t.Errorf("Verify: %v; description %q, want %q", err, e.Description(), tc.want)
		}
	}
}

func TestVerifyWithEveryAlgorithm(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, nil, verifytest.WithAlgorithm(alg))
			if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The table's alg-confusion cases adapt to the key's type.
			for _, bt := range f.iss.BadTokens() {
				_, err := f.v.Verify(t.Context(), bt.Token)
				if reasonOf(err) != Reason(bt.Reason) {
					t.Errorf("%s: err = %v, want %s", bt.Name, err, bt.Reason)
				}
			}
		})
	}
}

func TestAlgorithmsAllowListIsEnforced(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Algorithms = []string{"ES256"} })
	f.iss.Rotate("EdDSA")
	f.clock.Advance(time.Minute) // past JWKSRefetchInterval
	_, err := f.v.Verify(t.Context(), f.iss.Token(nil))
	wantReason(t, err, BadSignature)
	if _, ok := f.v.keys.lookup(f.iss.KeyID()); ok {
		t.Error("the EdDSA key was loaded although EdDSA is not allowed")
	}

	// An issuer with no allowed key at all cannot be used.
	iss := verifytest.NewIssuer(t, verifytest.WithAlgorithm("EdDSA"))
	_, err = New(t.Context(), Config{Issuer: iss.URL, Audience: []string{iss.Audience}, Algorithms: []string{"ES256"}})
	if err == nil || !strings.Contains(err.Error(), "no usable key") {
		t.Fatalf("New = %v, want an error saying there is no usable key", err)
	}
}

func TestVerifyRequiresAToken(t *testing.T) {
	f := newFixture(t, nil)
	_, err := f.v.Verify(t.Context(), "")
	wantReason(t, err, MissingToken)
}
