package oidctest

import (
	"crypto/subtle"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// tokenResponse is a successful token response (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

// tokenError is an RFC 6749 §5.2 error.
type tokenError struct {
	status      int
	code        string
	description string
	basicAuth   bool // the client tried HTTP Basic: answer with a Basic challenge
}

func badRequest(description string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", description: description}
}

func invalidGrant(description string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: description}
}

// handleToken is the token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	c, hang := s.count(Token, r.PostForm)
	s.mu.Lock()
	s.lastTokenAuth = ""
	s.mu.Unlock()
	if s.interfere(w, r, c, hang) {
		return
	}

	resp, terr := s.token(r, parseErr)
	// RFC 6749 §5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if terr != nil {
		if terr.basicAuth && terr.status == http.StatusUnauthorized {
			// RFC 6749 §5.2: a client that used the Authorization header
			// gets a matching challenge.
			w.Header().Set("WWW-Authenticate", `Basic realm="`+s.Issuer()+`"`)
		}
		writeJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.description})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token validates the request and mints the tokens it asks for.
func (s *Server) token(r *http.Request, parseErr error) (*tokenResponse, *tokenError) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("Content-Type must be application/x-www-form-urlencoded.")
	}
	if parseErr != nil {
		return nil, badRequest("The request body could not be parsed.")
	}
	form := r.PostForm
	if k, ok := fake.RepeatedParam(form); ok {
		return nil, badRequest("Parameter included more than once: " + k)
	}
	c, terr := s.authenticate(r, form)
	if terr != nil {
		return nil, terr
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		return s.exchangeCode(c, form)
	case "refresh_token":
		return s.refresh(c, form)
	case "":
		return nil, badRequest("Missing parameter: grant_type")
	default:
		return nil, &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: "Unsupported grant_type: " + gt}
	}
}

// authenticate accepts the methods of WithTokenAuthMethods, but never two
// at once (RFC 6749 §2.3).
func (s *Server) authenticate(r *http.Request, form url.Values) (client, *tokenError) {
	id, secret, basic, err := fake.ClientCredentials(r, form)
	switch {
	case errors.Is(err, fake.ErrBasicNotFormEncoded):
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Malformed client credentials.", basicAuth: true}
	case err != nil:
		return client{}, badRequest("Only one client authentication method may be used.")
	case id == "":
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Client authentication is required."}
	}
	method := ClientSecretPost
	if basic {
		method = ClientSecretBasic
	}
	s.mu.Lock()
	c, ok := s.client(id)
	allowed := slices.Contains(s.authMethods, method)
	s.lastTokenAuth = method
	s.mu.Unlock()
	switch {
	case !ok:
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Invalid client credentials.", basicAuth: basic}
	case !allowed:
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Client authentication method " + method + " is not allowed.", basicAuth: basic}
	case subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1:
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Invalid client credentials.", basicAuth: basic}
	}
	return c, nil
}

// exchangeCode redeems an authorization code. A code is burnt by the first
// attempt of its own client to redeem it, even a failed one, and a second
// attempt revokes the tokens the first one got (RFC 6749 §4.1.2).
func (s *Server) exchangeCode(c client, form url.Values) (*tokenResponse, *tokenError) {
	code := form.Get("code")
	if code == "" {
		return nil, badRequest("Missing parameter: code")
	}
	now := s.now()
	s.mu.Lock()
	ac, ok := s.codes[code]
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, invalidGrant("Code not valid")
	case ac.req.clientID != c.id:
		s.mu.Unlock()
		return nil, invalidGrant("Code was issued to another client")
	case ac.used:
		delete(s.accessTokens, ac.issuedAccess)
		delete(s.refreshTokens, ac.issuedRefresh)
		s.mu.Unlock()
		return nil, invalidGrant("Code already used")
	case !now.Before(ac.expiry):
		delete(s.codes, code)
		s.mu.Unlock()
		return nil, invalidGrant("Code expired")
	}
	ac.used = true
	s.mu.Unlock()

	// RFC 6749 §4.1.3: redirect_uri must be identical to the one of the
	// authorization request.
	if form.Get("redirect_uri") != ac.req.redirectURI {
		return nil, invalidGrant("Incorrect redirect_uri")
	}
	if terr := checkPKCE(ac.req.challenge, form); terr != nil {
		return nil, terr
	}

	s.mu.Lock()
	access := s.newAccessToken(c.id, ac.user, ac.req.scopes, ac.authTime, now)
	refresh := s.newRefreshToken(c.id, ac.user, ac.req.scopes, ac.authTime)
	ac.issuedAccess, ac.issuedRefresh = access, refresh
	claims := s.idTokenClaims(c.id, ac.user, ac.req.scopes, ac.req.nonce, access, ac.authTime, now)
	s.mu.Unlock()
	return s.respond(access, refresh, ac.req.scopes, claims)
}

// checkPKCE verifies code_verifier against the S256 challenge every code
// has (RFC 7636 §4.6).
func checkPKCE(challenge string, form url.Values) *tokenError {
	switch fake.VerifyPKCE(challenge, "S256", form) {
	case fake.ErrVerifierMissing:
		return invalidGrant("Missing parameter: code_verifier")
	case fake.ErrVerifierMismatch:
		return invalidGrant("PKCE verification failed")
	}
	return nil
}

// refresh serves the refresh_token grant: a new access token and id_token
// (without nonce, OpenID Connect Core §12.2), and with WithRefreshRotation
// a new refresh token in place of the one redeemed.
func (s *Server) refresh(c client, form url.Values) (*tokenResponse, *tokenError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("Missing parameter: refresh_token")
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.refreshTokens[rt]
	if !ok || g.clientID != c.id {
		s.mu.Unlock()
		return nil, invalidGrant("Invalid refresh token")
	}
	scopes := g.scopes
	if v := form.Get("scope"); v != "" {
		// RFC 6749 §6: a refresh may narrow the scope, never widen it.
		scopes = strings.Fields(v)
		for _, sc := range scopes {
			if !slices.Contains(g.scopes, sc) {
				s.mu.Unlock()
				return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_scope", description: "Scope not granted: " + sc}
			}
		}
	}
	access := s.newAccessToken(c.id, g.user, scopes, g.authTime, now)
	var refresh string
	if s.rotateRefresh {
		delete(s.refreshTokens, rt)
		refresh = s.newRefreshToken(c.id, g.user, g.scopes, g.authTime)
	}
	claims := s.idTokenClaims(c.id, g.user, scopes, "", access, g.authTime, now)
	s.mu.Unlock()
	return s.respond(access, refresh, scopes, claims)
}

// newAccessToken mints and records an opaque access token. s.mu is held.
func (s *Server) newAccessToken(clientID string, u User, scopes []string, authTime, now time.Time) string {
	access := fake.RandomString(32)
	s.accessTokens[access] = &grant{clientID: clientID, user: u, scopes: scopes, authTime: authTime, expiry: now.Add(accessTokenTTL)}
	return access
}

// newRefreshToken mints and records a refresh token. s.mu is held.
func (s *Server) newRefreshToken(clientID string, u User, scopes []string, authTime time.Time) string {
	refresh := fake.RandomString(48)
	s.refreshTokens[refresh] = &grant{clientID: clientID, user: u, scopes: scopes, authTime: authTime}
	return refresh
}

// respond applies the NextIDToken and ForgeNextIDToken hooks, signs the
// id_token and builds the response.
func (s *Server) respond(access, refresh string, scopes []string, claims map[string]any) (*tokenResponse, *tokenError) {
	s.mu.Lock()
	mutate, forgery := s.nextIDToken, s.forgery
	s.nextIDToken, s.forgery = nil, 0
	k := s.keys[s.alg]
	s.mu.Unlock()
	if mutate != nil {
		mutate(claims)
	}
	var (
		idToken string
		err     error
	)
	if forgery != 0 {
		idToken, err = s.forge(forgery, claims)
	} else {
		idToken, err = sign(k, k.kid, claims)
	}
	if err != nil {
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", description: "Could not sign the id_token."}
	}
	return &tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int(accessTokenTTL / time.Second),
		RefreshToken: refresh,
		IDToken:      idToken,
		Scope:        strings.Join(scopes, " "),
	}, nil
}
