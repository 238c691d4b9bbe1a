package googletest

import (
	"net/http"
	"slices"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// userinfo is the body of Google's userinfo response. Like the id_token it
// carries email fields only with the email scope and profile fields only
// with the profile scope.
type userinfo struct {
	Sub           string `json:"sub"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Locale        string `json:"locale,omitempty"`
	HD            string `json:"hd,omitempty"`
}

// handleUserinfo is Google's OpenID Connect userinfo endpoint; it takes the
// access token as a Bearer token (RFC 6750 §2.1).
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := fake.BearerToken(r)
	if !ok {
		// RFC 6750 §3.1: no credentials at all get a bare challenge.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.Issuer()+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_request", "error_description": "Invalid Credentials",
		})
		return
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.accessTokens[token]
	if ok && !now.Before(g.expiry) {
		ok = false
	}
	var info userinfo
	if ok {
		info = profile(g.user, g.scopes)
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.Issuer()+`", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_request", "error_description": "Invalid Credentials",
		})
		return
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, http.StatusOK, info)
}

func profile(u User, scopes []string) userinfo {
	info := userinfo{Sub: u.Sub, HD: u.HD}
	if slices.Contains(scopes, scopeEmailURL) {
		verified := u.EmailVerified
		info.Email, info.EmailVerified = u.Email, &verified
	}
	if slices.Contains(scopes, scopeProfileURL) {
		info.Name, info.GivenName, info.FamilyName = u.Name, u.GivenName, u.FamilyName
		info.Picture, info.Locale = u.Picture, u.Locale
	}
	return info
}
