package bridge_test

import (
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
)

// TestRefreshScopeRequests pins how a refresh's scope parameter is read:
// blank is no request (the granted scope), a subset narrows the access
// token only, in the granted order, and a refused one spends nothing.
func TestRefreshScopeRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, scope, want, wantErr string
	}{
		{"no scope: the granted one", "", "openid profile email account", ""},
		{"a blank scope is no request", "   ", "openid profile email account", ""},
		{"a subset narrows, in the granted order", "account openid", "openid account", ""},
		{"a scope not granted is refused", "openid offline_access", "", bridge.ErrCodeInvalidScope},
		{"an unknown scope is refused", "admin", "", bridge.ErrCodeInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake"})
			ts, _ := e.signInAs(t, "spa", "fake", "openid profile email account", nil)
			got, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken, Scope: tt.scope})
			if tt.wantErr != "" {
				if oauthCode(err) != tt.wantErr {
					t.Fatalf("Refresh(scope %q) error %v, want %s", tt.scope, err, tt.wantErr)
				}
				// The refusal spent nothing: the same refresh token works.
				if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken}); err != nil {
					t.Errorf("the refresh token after a refused scope: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			at, err := e.issuer.ParseAccess(got.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if got.Scope != tt.want || at.Scope != tt.want {
				t.Errorf("scope = %q (token %q), want %q", got.Scope, at.Scope, tt.want)
			}
		})
	}
}
