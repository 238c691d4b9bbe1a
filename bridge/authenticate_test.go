package bridge

import (
	"errors"
	"testing"
)

// The comparison's timing cannot be asserted reliably in a unit test; this
// pins down that comparing digests still accepts exactly the configured
// secret, whatever the length of what is presented.
func TestAuthenticateClientAcceptsExactlyTheConfiguredSecret(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef0123456789abcdef"
	b := &Bridge{clients: map[string]*Client{
		"backend": {ID: "backend", Secret: secret},
		"spa":     {ID: "spa"},
	}}
	tests := []struct {
		name, id, secret string
		ok               bool
	}{
		{"the configured secret is accepted", "backend", secret, true},
		{"a wrong secret of the same length is refused", "backend", "0123456789abcdef0123456789abcdeX", false},
		{"a prefix of the secret is refused", "backend", secret[:16], false},
		{"the secret with more after it is refused", "backend", secret + "0", false},
		{"no secret is refused", "backend", "", false},
		{"a public client needs no secret", "spa", "", true},
		{"a public client presenting a secret is refused", "spa", secret, false},
		{"an unknown client is refused", "nobody", secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := b.authenticateClient(tt.id, tt.secret)
			var oe *OAuthError
			switch {
			case tt.ok && (err != nil || c == nil || c.ID != tt.id):
				t.Errorf("authenticateClient(%q) = %v, %v; want the client", tt.id, c, err)
			case !tt.ok && (!errors.As(err, &oe) || oe.Code != ErrCodeInvalidClient):
				t.Errorf("authenticateClient(%q) = %v, %v; want invalid_client", tt.id, c, err)
			}
		})
	}
}
