package oidctest

import (
	"net/http"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// handleUserinfo is the userinfo endpoint (OpenID Connect Core §5.3); it
// takes the access token as a Bearer token in the Authorization header
// (RFC 6750 §2.1) and answers with the user's claims the token's scopes
// allow, plus the user's UserinfoClaims.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if c, hang := s.count(Userinfo, nil); s.interfere(w, r, c, hang) {
		return
	}
	token, ok := fake.BearerToken(r)
	if !ok {
		// RFC 6750 §3.1: a request without credentials gets a bare
		// challenge.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.Issuer()+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.accessTokens[token]
	if ok && !now.Before(g.expiry) {
		ok = false
	}
	var claims map[string]any
	if ok {
		claims = userClaims(g.user, g.scopes)
		apply(claims, g.user.UserinfoClaims)
	}
	mutate := s.nextUserinfo
	if ok {
		s.nextUserinfo = nil
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.Issuer()+`", error="invalid_token", error_description="Token verification failed"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "invalid_token", "error_description": "Token verification failed",
		})
		return
	}
	if mutate != nil {
		mutate(claims)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, claims)
}
