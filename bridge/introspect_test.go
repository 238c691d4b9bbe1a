package bridge_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/tokens"
)

// introspect asks as the api client.
func (e *env) introspect(token string) (map[string]any, error) {
	return e.b.Introspect(bg, bridge.IntrospectRequest{Client: apiCreds, Token: token})
}

// backendRefusals are the callers that may not read token state:
// introspection and the revocation feed refuse them alike.
var backendRefusals = []struct {
	name  string
	creds bridge.ClientCredentials
	code  string
}{
	{"a public client is invalid_client", bridge.ClientCredentials{ID: "spa"}, bridge.ErrCodeInvalidClient},
	{"a public client presenting a secret is invalid_client", bridge.ClientCredentials{ID: "spa", Secret: "x"}, bridge.ErrCodeInvalidClient},
	{"a wrong secret is invalid_client", bridge.ClientCredentials{ID: "api", Secret: "guess"}, bridge.ErrCodeInvalidClient},
	{"no secret is invalid_client", bridge.ClientCredentials{ID: "api"}, bridge.ErrCodeInvalidClient},
	{"an unknown client is invalid_client", bridge.ClientCredentials{ID: "nobody", Secret: "x"}, bridge.ErrCodeInvalidClient},
	{"a confidential client without introspection is unauthorized_client", bridge.ClientCredentials{ID: "reports", Secret: "r3ports"}, bridge.ErrCodeUnauthorizedClient},
}

func TestIntrospectAuthenticatesTheBackend(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, _ := e.signInAs(t, "spa", "fake", "openid email profile", nil)
	for _, tt := range backendRefusals {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.b.Introspect(bg, bridge.IntrospectRequest{Client: tt.creds, Token: ts.AccessToken})
			if got != nil || oauthCode(err) != tt.code {
				t.Errorf("Introspect() = %v, %v; want %s", got, err, tt.code)
			}
		})
	}
	if got, err := e.introspect(""); got != nil || oauthCode(err) != bridge.ErrCodeInvalidRequest {
		t.Errorf("Introspect(\"\") = %v, %v; want invalid_request", got, err)
	}
}

func TestIntrospectALiveAccessToken(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	ts, alice := e.signInAs(t, "spa", "fake", "openid email profile", nil)
	at, err := e.issuer.ParseAccess(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	got, err := e.introspect(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"active": true, "token_type": "Bearer", "iss": publicURL, "sub": alice, "client_id": "spa",
		"sid": at.SessionID, "jti": at.JTI, "scope": "openid email profile", "idp": "fake",
		"exp": at.Expiry.Unix(), "iat": at.IssuedAt.Unix(), "auth_time": at.AuthTime.Unix(),
		"email": "alice@example.com", "email_verified": true, "name": "Alice",
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("introspection %s = %#v, want %#v", k, got[k], v)
		}
	}
	if aud, _ := got["aud"].([]string); len(aud) != 1 || aud[0] != "https://api.example.com" {
		t.Errorf("introspection aud = %#v", got["aud"])
	}
	if exp := got["exp"].(int64); exp != e.clock.Now().Add(14*time.Minute).Unix() {
		t.Errorf("exp = %d, want 15 minutes after the sign-in", exp)
	}
}

func TestIntrospectAnInactiveTokenIsExactlyActiveFalse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token returns the token to introspect, after changing the world.
		token func(t *testing.T, e *env, spa, api *bridge.TokenSet, alice string) string
	}{
		{"an expired access token", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			e.clock.Add(16 * time.Minute)
			return spa.AccessToken
		}},
		{"an access token of a revoked session", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: spa.RefreshToken}); err != nil {
				t.Fatal(err)
			}
			return spa.AccessToken
		}},
		{"an access token of a session that went idle", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			// A long-lived token of a session past its idle end.
			long := mintAccess(t, e, spa.AccessToken, 2*time.Hour)
			e.clock.Add(61 * time.Minute)
			return long
		}},
		{"an access token of a disabled user whose session is still active", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, alice string) string {
			if err := e.store.SetDisabled(bg, alice, true); err != nil {
				t.Fatal(err)
			}
			return spa.AccessToken
		}},
		{"an access token issued before the user's not-before", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, alice string) string {
			e.clock.Add(2 * time.Second)
			if err := e.store.SetUserNotBefore(bg, alice, e.clock.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			return spa.AccessToken
		}},
		{"an access token naming another user than its session's", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			return mintAccessFor(t, e, spa.AccessToken, "someone-else", time.Minute)
		}},
		{"garbage", func(t *testing.T, e *env, _, _ *bridge.TokenSet, _ string) string { return "garbage" }},
		{"an altered access token", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			return alter(spa.AccessToken, len(spa.AccessToken)-4)
		}},
		{"an ID token", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string { return spa.IDToken }},
		{"a refresh token of another client", func(t *testing.T, e *env, spa, _ *bridge.TokenSet, _ string) string {
			return spa.RefreshToken
		}},
		{"a rotated-out refresh token of its own client", func(t *testing.T, e *env, _, api *bridge.TokenSet, _ string) string {
			if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: apiCreds, RefreshToken: api.RefreshToken}); err != nil {
				t.Fatal(err)
			}
			return api.RefreshToken
		}},
		{"a refresh token of its own client's revoked session", func(t *testing.T, e *env, _, api *bridge.TokenSet, _ string) string {
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: apiCreds, Token: api.AccessToken}); err != nil {
				t.Fatal(err)
			}
			return api.RefreshToken
		}},
		{"a refresh token of its own client whose user is disabled", func(t *testing.T, e *env, _, api *bridge.TokenSet, alice string) string {
			if err := e.store.SetDisabled(bg, alice, true); err != nil {
				t.Fatal(err)
			}
			return api.RefreshToken
		}},
		{"an expired refresh token of its own client", func(t *testing.T, e *env, _, api *bridge.TokenSet, _ string) string {
			e.clock.Add(61 * time.Minute)
			return api.RefreshToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := opsEnv(t)
			spa, alice := e.signInAs(t, "spa", "fake", "openid email profile", nil)
			api := e.signInAPI(t)
			token := tt.token(t, e, spa, api, alice)
			got, err := e.introspect(token)
			if err != nil {
				t.Fatalf("Introspect: %v", err)
			}
			if !reflect.DeepEqual(got, map[string]any{"active": false}) {
				t.Errorf("Introspect() = %v, want exactly {active: false}", got)
			}
		})
	}
}

// mintAccess signs an access token like like's (same user, session and
// client), valid for ttl from now: a token the bridge could have issued.
func mintAccess(t *testing.T, e *env, like string, ttl time.Duration) string {
	t.Helper()
	at, err := e.issuer.ParseAccess(like)
	if err != nil {
		t.Fatal(err)
	}
	return mintAccessFor(t, e, like, at.Subject, ttl)
}

// mintAccessFor is mintAccess for another subject.
func mintAccessFor(t *testing.T, e *env, like, subject string, ttl time.Duration) string {
	t.Helper()
	at, err := e.issuer.ParseAccess(like)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.issuer.MintAccess(tokens.Access{
		Subject: subject, Audience: at.Audience, ClientID: at.ClientID, SessionID: at.SessionID, Scope: at.Scope,
		AuthTime: at.AuthTime, IDP: at.IDP, TTL: ttl,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIntrospectTheCurrentRefreshTokenOfItsOwnClient(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	api := e.signInAPI(t)
	e.clock.Add(time.Minute)
	next, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: apiCreds, RefreshToken: api.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := e.issuer.ParseRefresh(next.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.introspect(next.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"active": true, "iss": publicURL, "sub": rt.Subject, "client_id": "api", "sid": rt.SessionID,
		"exp": rt.Expiry.Unix(), "iat": rt.IssuedAt.Unix(), "scope": "openid email profile",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Introspect(refresh token) =\n%#v\nwant\n%#v", got, want)
	}
	// The access token of the refresh is active too, and the one before
	// it (same session, same user) as well.
	for _, tok := range []string{next.AccessToken, api.AccessToken} {
		if got, err := e.introspect(tok); err != nil || got["active"] != true || got["client_id"] != "api" {
			t.Errorf("Introspect(access token) = %v, %v; want active", got, err)
		}
	}
}

func TestIntrospectionFollowsTheNotBeforeToTheSecond(t *testing.T) {
	t.Parallel()
	e := opsEnv(t)
	old, alice := e.signInAs(t, "spa", "fake", "openid email profile", nil) // at t0
	e.clock.Add(2 * time.Second)
	fresh, err := refresh(e, old.RefreshToken) // at t0+2s, same session
	if err != nil {
		t.Fatal(err)
	}
	// The not-before falls within the second of the fresh token.
	if err := e.store.SetUserNotBefore(bg, alice, e.clock.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	tests := []struct {
		name   string
		token  string
		active bool
	}{
		{"a token issued seconds before the not-before is inactive", old.AccessToken, false},
		{"a token issued in the not-before's second is active", fresh.AccessToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.introspect(tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if got["active"] != tt.active {
				t.Errorf("active = %v, want %v", got["active"], tt.active)
			}
			_, err = e.b.UserInfo(bg, tt.token)
			switch {
			case tt.active && err != nil:
				t.Errorf("UserInfo() = %v, want the claims", err)
			case !tt.active:
				isOAuthError(t, err, bridge.ErrCodeInvalidToken, "revoked")
			}
		})
	}
}
