package facebooktest

import (
	"crypto/hmac"
	"net/http"
	"net/url"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// Graph's answers to a bad code exchange.
var (
	errMissingClientID = graphErr{message: "Missing client_id parameter.", typ: "OAuthException", code: 101}
	errUnknownApp      = graphErr{message: "Error validating application. Invalid application ID.", typ: "OAuthException", code: 101}
	errClientSecret    = graphErr{message: "Error validating client secret.", typ: "OAuthException", code: 1}
	errMissingRedirect = graphErr{message: "Missing redirect_uri parameter.", typ: "OAuthException", code: 191}
	errMissingCode     = graphErr{message: "Missing authorization code", typ: "OAuthException", code: 100}
	errCodeFormat      = graphErr{message: "Invalid verification code format.", typ: "OAuthException", code: 100}
	errCodeUsed        = graphErr{message: "This authorization code has been used.", typ: "OAuthException", code: 100, subcode: 36009}
	errCodeExpired     = graphErr{message: "This authorization code has expired.", typ: "OAuthException", code: 100, subcode: 36007}
	errRedirectURI     = graphErr{
		message: "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
		typ:     "OAuthException", code: 100, subcode: 36008,
	}
	errVerifierMissing = graphErr{message: "Missing code_verifier parameter.", typ: "OAuthException", code: 100}
	errVerifierInvalid = graphErr{message: "Invalid code verifier.", typ: "OAuthException", code: 100}
)

// tokenResponse is Graph's answer to a successful code exchange.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// handleToken is Graph's oauth/access_token, which takes its parameters
// in the query (GET) or a form (POST). A code is burnt by the first
// redemption attempt of its app, even a failed one; a second attempt
// revokes the token the first one got (RFC 6749 §4.1.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, _ string) {
	w.Header().Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
	q := r.Form
	appID := q.Get("client_id")
	if appID == "" {
		writeGraphError(w, http.StatusBadRequest, errMissingClientID)
		return
	}
	s.mu.Lock()
	a, known := s.app(appID)
	s.mu.Unlock()
	switch {
	case !known:
		writeGraphError(w, http.StatusBadRequest, errUnknownApp)
		return
	case !hmac.Equal([]byte(q.Get("client_secret")), []byte(a.secret)):
		writeGraphError(w, http.StatusBadRequest, errClientSecret)
		return
	case !q.Has("redirect_uri"):
		writeGraphError(w, http.StatusBadRequest, errMissingRedirect)
		return
	case q.Get("code") == "":
		writeGraphError(w, http.StatusBadRequest, errMissingCode)
		return
	}

	now := s.now()
	s.mu.Lock()
	ac, ok := s.codes[q.Get("code")]
	switch {
	case !ok || ac.appID != a.id:
		s.mu.Unlock()
		writeGraphError(w, http.StatusBadRequest, errCodeFormat)
		return
	case ac.used:
		delete(s.tokens, ac.issued)
		s.mu.Unlock()
		writeGraphError(w, http.StatusBadRequest, errCodeUsed)
		return
	case !now.Before(ac.expiry):
		s.mu.Unlock()
		writeGraphError(w, http.StatusBadRequest, errCodeExpired)
		return
	}
	ac.used = true
	s.mu.Unlock()

	if q.Get("redirect_uri") != ac.redirectURI {
		writeGraphError(w, http.StatusBadRequest, errRedirectURI)
		return
	}
	if gerr, bad := checkPKCE(ac, q); bad {
		writeGraphError(w, http.StatusBadRequest, gerr)
		return
	}
	s.mu.Lock()
	token := s.newToken(a.id, ac.user, ac.granted, ac.declined)
	ac.issued = token
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "bearer",
		ExpiresIn:   int64(s.tokenTTL / time.Second),
	})
}

// checkPKCE verifies the code_verifier of q against the code's challenge
// (RFC 7636 §4.6), refusing a verifier for a code issued without one (RFC
// 9700 §2.1.1), with Graph's errors.
func checkPKCE(ac *authCode, q url.Values) (graphErr, bool) {
	switch fake.VerifyPKCE(ac.challenge, ac.method, q) {
	case fake.ErrVerifierMissing:
		return errVerifierMissing, true
	case fake.ErrVerifierMismatch:
		return errVerifierInvalid, true
	}
	return graphErr{}, false
}
