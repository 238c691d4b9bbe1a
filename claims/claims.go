// Package claims defines socialbridge's normalized user profile, the mapping
// from each provider's raw profile to it, and the rules that turn a user into
// the claims of an access token. Everything here is a pure function: no I/O.
package claims

import (
	"strings"
)

// Profile is the provider-independent view of a person. Field names follow the
// OpenID Connect standard claims so that the access token reads naturally.
type Profile struct {
	Email         string `json:"email,omitempty" bson:"email,omitempty"`
	EmailVerified bool   `json:"email_verified" bson:"email_verified"`
	Name          string `json:"name,omitempty" bson:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty" bson:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty" bson:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty" bson:"picture,omitempty"`
	Locale        string `json:"locale,omitempty" bson:"locale,omitempty"`
	// HostedDomain is the Google Workspace domain (hd) when the provider
	// vouches for one.
	HostedDomain string `json:"hd,omitempty" bson:"hd,omitempty"`
	// Tenant is the organisation the account belongs to when the provider
	// has them (Microsoft Entra ID's tenant id, tid). FromOIDC leaves it
	// empty: tid is not a standard claim, and only the Entra adapter,
	// which has validated the issuer against it, may vouch for it.
	Tenant string `json:"tenant,omitempty" bson:"tenant,omitempty"`
}

// FromOIDC maps standard OpenID Connect claims (an id_token or a userinfo
// response) into a Profile. Unknown or mistyped claims are ignored; the
// email is lower-cased so that it compares reliably.
func FromOIDC(raw map[string]any) Profile {
	p := Profile{
		Email:        strings.ToLower(strings.TrimSpace(stringClaim(raw, "email"))),
		Name:         stringClaim(raw, "name"),
		GivenName:    stringClaim(raw, "given_name"),
		FamilyName:   stringClaim(raw, "family_name"),
		Picture:      stringClaim(raw, "picture"),
		Locale:       stringClaim(raw, "locale"),
		HostedDomain: strings.ToLower(stringClaim(raw, "hd")),
	}
	// A missing or malformed email_verified means "not verified": never
	// assume a provider vouched for an address it did not mention.
	p.EmailVerified = p.Email != "" && boolClaim(raw, "email_verified")
	if p.Name == "" {
		p.Name = strings.TrimSpace(p.GivenName + " " + p.FamilyName)
	}
	return p
}

// stringClaim returns raw[key] when it is a string, else "".
func stringClaim(raw map[string]any, key string) string {
	s, _ := raw[key].(string)
	return s
}

// boolClaim reads a boolean claim. Some providers send "true" as a string,
// which is accepted; anything else is false.
func boolClaim(raw map[string]any, key string) bool {
	switch v := raw[key].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	default:
		return false
	}
}

// ForToken returns the normalized claims that go into an access token (and
// userinfo) for a user with this profile and these roles, which it uses
// as given (nil becomes an empty list). The result never holds provider
// tokens or anything secret. Rules.Apply builds on it to add the
// configured roles and copied claims.
func ForToken(p Profile, roles []string) map[string]any {
	out := map[string]any{
		"email_verified": p.EmailVerified,
	}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("email", p.Email)
	set("name", p.Name)
	set("given_name", p.GivenName)
	set("family_name", p.FamilyName)
	set("picture", p.Picture)
	set("locale", p.Locale)
	set("tenant", p.Tenant)
	if roles == nil {
		roles = []string{}
	}
	out["roles"] = roles
	return out
}
