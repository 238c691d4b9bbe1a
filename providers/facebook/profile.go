package facebook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// profileFields are the /me fields read. permissions (a field-expanded
// edge) tells which scopes the person granted, so that a declined email
// permission can be told from an account without an address.
const profileFields = "id,name,email,first_name,last_name,picture,permissions"

// meResponse is what socialbridge reads of Graph's /me.
type meResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Picture   *struct {
		Data struct {
			URL          string `json:"url"`
			IsSilhouette bool   `json:"is_silhouette"`
		} `json:"data"`
	} `json:"picture"`
	Permissions *struct {
		Data []struct {
			Permission string `json:"permission"`
			Status     string `json:"status"`
		} `json:"data"`
	} `json:"permissions"`
}

// profile reads /me with token and builds the identity, without Tokens
// other than the granted Scopes (nil when Graph did not list them).
func (p *Provider) profile(ctx context.Context, token string, secrets []string) (*providers.Identity, error) {
	var raw json.RawMessage
	err := p.graph(ctx, http.MethodGet, "/me", url.Values{"fields": {profileFields}}, token, &raw, secrets)
	if err != nil {
		return nil, p.classify(opProfile, err)
	}
	var me meResponse
	if err := decodeJSON(raw, &me); err != nil {
		return nil, p.classify(opProfile, &malformedError{err})
	}
	var rawClaims map[string]any
	if err := decodeJSON(raw, &rawClaims); err != nil || rawClaims == nil {
		return nil, p.newError(providers.CodeInvalidToken, "Facebook's profile answer is not a JSON object", err)
	}
	if !validUserID(me.ID) {
		return nil, p.newError(providers.CodeInvalidToken, "Facebook's profile has no valid id", nil)
	}
	// The permissions are about this sign-in, not the person.
	delete(rawClaims, "permissions")

	var granted, declined []string
	if me.Permissions != nil {
		granted = []string{}
		for _, perm := range me.Permissions.Data {
			switch perm.Status {
			case "granted":
				granted = append(granted, perm.Permission)
			case "declined":
				declined = append(declined, perm.Permission)
			}
		}
	}

	profile := claims.Profile{
		Name:       strings.TrimSpace(me.Name),
		GivenName:  strings.TrimSpace(me.FirstName),
		FamilyName: strings.TrimSpace(me.LastName),
		Email:      normalizeEmail(me.Email),
	}
	if profile.Name == "" {
		profile.Name = strings.TrimSpace(profile.GivenName + " " + profile.FamilyName)
	}
	// The silhouette is Facebook's placeholder for "no picture": not the
	// person's. The URL is signed and expires after a while; it is renewed
	// at each sign-in.
	if pic := me.Picture; pic != nil && !pic.Data.IsSilhouette && isHTTPS(pic.Data.URL) {
		profile.Picture = pic.Data.URL
	}
	// Facebook does not say whether it verified the address.
	profile.EmailVerified = profile.Email != "" && p.cfg.TrustEmail

	if p.cfg.RequireEmail && profile.Email == "" {
		msg := noEmailMessage
		for _, d := range declined {
			if d == "email" {
				msg = "Facebook did not share an email address because access to it was declined; " +
					"this sign-in needs one. Sign in again and allow access to your email address"
			}
		}
		return nil, p.newError(providers.CodeNotAllowed, msg, nil)
	}
	return &providers.Identity{
		Provider: p.cfg.Name,
		Subject:  me.ID,
		Profile:  profile,
		Claims:   rawClaims,
		Tokens:   providers.Tokens{Scopes: granted},
	}, nil
}

// noEmailMessage refuses a sign-in without an email address when one is
// required.
const noEmailMessage = "Facebook did not share an email address; this sign-in needs one. " +
	"Sign in again and allow access to your email address, or add one to your Facebook account"

// validUserID reports whether id looks like an app-scoped user id: 1 to 32
// ASCII digits.
func validUserID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range []byte(id) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// normalizeEmail lower-cases an address so that it compares reliably, and
// drops what is not one.
func normalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "@ ") || strings.ContainsAny(local, " ") {
		return ""
	}
	return s
}

// isHTTPS reports whether raw is an absolute https URL with a host.
func isHTTPS(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != ""
}
