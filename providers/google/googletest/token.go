package googletest

import (
	"crypto/subtle"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// tokenResponse is Google's successful token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token"`
}

// tokenError is an RFC 6749 §5.2 error, in Google's wording.
type tokenError struct {
	status      int
	code        string
	description string
	basicAuth   bool // the client tried HTTP Basic: answer with a Basic challenge
}

// errBadCode is what Google answers for an unknown, expired or used code.
var errBadCode = &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: "Bad Request"}

// handleToken is Google's token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	s.calls.Record(tokenEndpoint, r.PostForm)

	s.mu.Lock()
	canned := s.failToken
	s.failToken = nil
	s.mu.Unlock()

	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	if canned != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(canned.status)
		_, _ = w.Write([]byte(canned.body))
		return
	}

	resp, terr := s.token(r, parseErr)
	if terr != nil {
		if terr.basicAuth && terr.status == http.StatusUnauthorized {
			// RFC 6749 §5.2: a client that used the Authorization header
			// gets a matching challenge.
			h.Set("WWW-Authenticate", `Basic realm="`+s.Issuer()+`"`)
		}
		writeJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.description})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token validates the request and mints the tokens it asks for.
func (s *Server) token(r *http.Request, parseErr error) (*tokenResponse, *tokenError) {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/x-www-form-urlencoded" {
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
		return nil, badRequest("Missing required parameter: grant_type")
	default:
		return nil, &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: "Invalid grant_type: " + gt}
	}
}

// authenticate accepts client_secret_basic and client_secret_post, as
// Google does, but not both at once (RFC 6749 §2.3).
func (s *Server) authenticate(r *http.Request, form url.Values) (client, *tokenError) {
	id, secret, basic, err := fake.ClientCredentials(r, form)
	switch {
	case errors.Is(err, fake.ErrBasicNotFormEncoded):
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Unauthorized", basicAuth: true}
	case err != nil:
		return client{}, badRequest("Only one client authentication method may be used.")
	case id == "":
		return client{}, badRequest("Could not determine client ID from request.")
	}
	s.mu.Lock()
	c, ok := s.client(id)
	s.mu.Unlock()
	if !ok {
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "The OAuth client was not found.", basicAuth: basic}
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		return client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Unauthorized", basicAuth: basic}
	}
	return c, nil
}

// exchangeCode redeems an authorization code. A code is burnt by the first
// attempt of its own client to redeem it, even a failed one, and a second
// attempt revokes the tokens the first one got (RFC 6749 §4.1.2).
func (s *Server) exchangeCode(c client, form url.Values) (*tokenResponse, *tokenError) {
	code := form.Get("code")
	if code == "" {
		return nil, badRequest("Missing required parameter: code")
	}
	now := s.now()
	s.mu.Lock()
	ac, ok := s.codes[code]
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, errBadCode
	case ac.clientID != c.id:
		s.mu.Unlock()
		return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: "Unauthorized"}
	case ac.used:
		delete(s.accessTokens, ac.issuedAccess)
		delete(s.refreshTokens, ac.issuedRefresh)
		s.mu.Unlock()
		return nil, errBadCode
	case !now.Before(ac.expiry):
		delete(s.codes, code)
		s.mu.Unlock()
		return nil, errBadCode
	}
	ac.used = true
	s.mu.Unlock()

	if !form.Has("redirect_uri") {
		return nil, badRequest("Missing required parameter: redirect_uri")
	}
	if form.Get("redirect_uri") != ac.redirectURI {
		return nil, &tokenError{status: http.StatusBadRequest, code: "redirect_uri_mismatch", description: "Bad Request"}
	}
	if terr := checkPKCE(ac, form); terr != nil {
		return nil, terr
	}

	s.mu.Lock()
	access := s.newAccessToken(c.id, ac.user, ac.scopes, now)
	ac.issuedAccess = access
	var refresh string
	if ac.offline {
		refresh = "1//" + fake.RandomString(48)
		s.refreshTokens[refresh] = &grant{clientID: c.id, user: ac.user, scopes: ac.scopes}
		ac.issuedRefresh = refresh
	}
	claims := s.idTokenClaims(c.id, ac.user, ac.scopes, ac.nonce, access, now)
	s.mu.Unlock()

	return s.respond(access, refresh, ac.scopes, claims)
}

// checkPKCE verifies code_verifier against the code's challenge (RFC 7636
// §4.6), refusing a verifier for a code issued without one (RFC 9700
// §2.1.1), in Google's words.
func checkPKCE(ac *authCode, form url.Values) *tokenError {
	switch fake.VerifyPKCE(ac.challenge, ac.method, form) {
	case fake.ErrVerifierMissing:
		return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: "Missing code verifier."}
	case fake.ErrVerifierMismatch:
		return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: "Invalid code verifier."}
	}
	return nil
}

// refresh serves the refresh_token grant. Like Google, it returns a new
// access token and id_token but no new refresh token: Google's refresh
// tokens are not rotated.
func (s *Server) refresh(c client, form url.Values) (*tokenResponse, *tokenError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, badRequest("Missing required parameter: refresh_token")
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.refreshTokens[rt]
	if !ok || g.clientID != c.id {
		s.mu.Unlock()
		return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: "Token has been expired or revoked."}
	}
	access := s.newAccessToken(c.id, g.user, g.scopes, now)
	claims := s.idTokenClaims(c.id, g.user, g.scopes, "", access, now)
	s.mu.Unlock()

	return s.respond(access, "", g.scopes, claims)
}

// newAccessToken mints and records an opaque access token. s.mu is held.
func (s *Server) newAccessToken(clientID string, u User, scopes []string, now time.Time) string {
	access := "ya29." + fake.RandomString(48)
	s.accessTokens[access] = &grant{clientID: clientID, user: u, scopes: scopes, expiry: now.Add(s.accessTTL)}
	return access
}

// respond applies the NextIDToken hook, signs the id_token and builds the
// response.
func (s *Server) respond(access, refresh string, scopes []string, claims map[string]any) (*tokenResponse, *tokenError) {
	s.mu.Lock()
	mutate := s.nextIDToken
	s.nextIDToken = nil
	k := s.key
	s.mu.Unlock()
	if mutate != nil {
		mutate(claims)
	}
	idToken, err := sign(k.priv, k.kid, claims)
	if err != nil {
		return nil, &tokenError{status: http.StatusInternalServerError, code: "internal_failure", description: "Internal Server Error"}
	}
	return &tokenResponse{
		AccessToken:  access,
		ExpiresIn:    int(s.accessTTL / time.Second),
		RefreshToken: refresh,
		Scope:        strings.Join(scopes, " "),
		TokenType:    "Bearer",
		IDToken:      idToken,
	}, nil
}

func badRequest(description string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", description: description}
}
