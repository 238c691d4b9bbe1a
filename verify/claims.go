package verify

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Claims are the verified claims of an access token.
type Claims struct {
	Issuer  string
	Subject string // socialbridge's user id: stable, the key to your own user data
	// Audience is aud: the APIs the token is for.
	Audience  []string
	ClientID  string // the application the user signed in to
	SessionID string // sid: the sign-in session; logout revokes it
	JTI       string // the token's unique id
	// Scopes is scope, split at spaces (nil when the token has none).
	Scopes []string
	// IDP is the provider instance the user signed in with ("google").
	IDP string

	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	// Roles are socialbridge's roles of the user (from its claims rules).
	Roles []string

	IssuedAt  time.Time
	ExpiresAt time.Time
	AuthTime  time.Time // when the user last signed in with the provider (zero if absent)

	token string // for Raw
}

// Raw decodes every claim of the token, including those without a field
// (mapped provider claims such as a tenant id), into a map of decoded
// JSON: numbers are float64. It decodes on each call (Verify does not
// build the map, to stay fast), so keep the result rather than call it in
// a loop. It returns nil for Claims not made by Verify.
func (c *Claims) Raw() map[string]any {
	parts := strings.SplitN(c.token, ".", 3)
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	return m
}

// HasScope reports whether the token grants scope.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// HasRole reports whether the user has role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// CheckScope returns nil if the token grants every one of scopes, and
// otherwise an *Error with reason InsufficientScope that names them
// (WriteError answers it with 403).
func (c *Claims) CheckScope(scopes ...string) error {
	for _, s := range scopes {
		if !c.HasScope(s) {
			return insufficientScope(scopes)
		}
	}
	return nil
}

// CheckRole returns nil if the user has every one of roles, and otherwise
// an *Error with reason InsufficientScope that names them (WriteError
// answers it with 403).
func (c *Claims) CheckRole(roles ...string) error {
	for _, r := range roles {
		if !c.HasRole(r) {
			return insufficientRole(roles)
		}
	}
	return nil
}
